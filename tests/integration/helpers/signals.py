#!/usr/bin/python3
"""Reports the signals it receives: one line per signal on stdout.

    signals.py [--exit-on SIGNAME:CODE]... [--lifetime SECONDS] SIGNAME...

Installs a handler for every SIGNAME (and every --exit-on signal), prints
"READY pid=P ppid=Q", then "GOT SIGNAME" for each signal delivered. After a --exit-on
signal it exits with CODE. When nothing ends it first, it prints "LIFETIME OVER" and exits
99, so a lost signal shows up as 99 instead of a hang.

The handlers do nothing but exist: the C-level handler writes the signal number to the
wakeup fd, and the main loop reads it, so no signal is missed between two checks and no
print() runs inside a handler.
"""
import argparse
import os
import select
import signal
import sys
import time


def signum(name):
    if name.startswith("SIGRTMIN"):
        return signal.SIGRTMIN + int(name[len("SIGRTMIN"):] or 0)
    if name.startswith("SIGRTMAX"):
        return signal.SIGRTMAX + int(name[len("SIGRTMAX"):] or 0)
    return int(getattr(signal, name))


def signame(num):
    if signal.SIGRTMIN <= num <= signal.SIGRTMAX:
        if num == signal.SIGRTMAX:
            return "SIGRTMAX"
        return "SIGRTMIN" if num == signal.SIGRTMIN else f"SIGRTMIN+{num - signal.SIGRTMIN}"
    return signal.Signals(num).name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--exit-on", action="append", default=[], metavar="SIGNAME:CODE")
    parser.add_argument("--lifetime", type=float, default=20.0)
    parser.add_argument("signals", nargs="*", metavar="SIGNAME")
    args = parser.parse_args()

    exit_on = {}
    for spec in args.exit_on:
        name, code = spec.split(":")
        exit_on[signum(name)] = int(code)
    handled = {signum(name) for name in args.signals} | set(exit_on)

    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    for num in handled:
        signal.signal(num, lambda *_: None)

    print(f"READY pid={os.getpid()} ppid={os.getppid()}", flush=True)
    deadline = time.monotonic() + args.lifetime
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            print("LIFETIME OVER", flush=True)
            sys.exit(99)
        readable, _, _ = select.select([rfd], [], [], remaining)
        if not readable:
            continue
        for num in os.read(rfd, 512):
            print(f"GOT {signame(num)}", flush=True)
            if num in exit_on:
                sys.exit(exit_on[num])


if __name__ == "__main__":
    main()
