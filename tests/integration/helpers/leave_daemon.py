#!/usr/bin/python3
"""Leaves one process behind, then exits when told to.

    leave_daemon.py LOGFILE [--kind setsid|plain] [--ignore-term] [--exit CODE]

--kind setsid (default): the leftover is a classic daemon, double-forked with setsid(), so it
is in its own session and process group. --kind plain: the leftover is a plain child that
this process simply does not wait for.

The leftover appends the name of every SIGTERM, SIGINT or SIGHUP it receives to LOGFILE
(one per line); on SIGTERM it then exits 0, unless --ignore-term, in which case it keeps
running (only SIGKILL ends it). It gives up by itself after 60 s.

This process prints "DAEMON <pid>" (the leftover's pid, as seen in its pid namespace) once the
leftover's handlers are in place, then waits for SIGUSR1 and exits with CODE (default 0);
after 30 s without SIGUSR1 it prints "LIFETIME OVER" and exits 99.
"""
import argparse
import os
import select
import signal
import sys
import time


def leftover(logfile, ignore_term, ready_fd):
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    log = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(num, _frame):
        os.write(log, f"{signal.Signals(num).name}\n".encode())
        if num == signal.SIGTERM and not ignore_term:
            os._exit(0)

    for num in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(num, record)
    os.write(ready_fd, f"{os.getpid()}\n".encode())
    os.close(ready_fd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1)
    os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("logfile")
    parser.add_argument("--kind", choices=("setsid", "plain"), default="setsid")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--exit", type=int, default=0)
    args = parser.parse_args()

    ready_r, ready_w = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(ready_r)
        if args.kind == "setsid":
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
        leftover(args.logfile, args.ignore_term, ready_w)
    os.close(ready_w)
    if args.kind == "setsid":
        os.waitpid(first, 0)
    readable, _, _ = select.select([ready_r], [], [], 10)
    pid = int(os.read(ready_r, 64).decode()) if readable else -1
    if pid < 0:
        print("LEFTOVER NOT READY", flush=True)
        sys.exit(98)

    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    signal.signal(signal.SIGUSR1, lambda *_: None)
    print(f"DAEMON {pid}", flush=True)
    readable, _, _ = select.select([rfd], [], [], 30)
    if not readable:
        print("LIFETIME OVER", flush=True)
        sys.exit(99)
    sys.exit(args.exit)


if __name__ == "__main__":
    main()
