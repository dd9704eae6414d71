#!/usr/bin/python3
"""Leaves N orphans to its parent (the init) and reports on stdout.

    orphans.py N [--dead]

A short-lived intermediate process forks N children and exits; this process reaps the
intermediate, so the N children are reparented to the nearest subreaper (the init), and
prints "ORPHANED N pid=P: PID1 PID2 ..." (its own pid, then the orphans').

Without --dead, the orphans block on a pipe until this process gets SIGUSR1: then it closes
the pipe, every orphan exits at once, and it prints "RELEASED". With --dead, the orphans
have already exited (as zombies, unreaped) before the intermediate exits, so the init
inherits N zombies.

SIGTERM makes it exit 0. After 30 s it prints "LIFETIME OVER" and exits 99.
"""
import argparse
import os
import select
import signal
import sys
import time


def make_orphans(count, dead, release_fd, write_end):
    """Returns the orphans' pids."""
    report_r, report_w = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        os.close(write_end)
        os.close(report_r)
        pids = []
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                os.close(report_w)
                if not dead:
                    os.read(release_fd, 1)  # returns at EOF, when the parent closes write_end
                os._exit(0)
            pids.append(pid)
        if dead:
            for pid in pids:  # wait until each is a zombie, without reaping it
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        with os.fdopen(report_w, "w") as report:
            report.write(" ".join(map(str, pids)))
        os._exit(0)
    os.close(release_fd)
    os.close(report_w)
    with os.fdopen(report_r) as report:
        pids = report.read().split()
    os.waitpid(intermediate, 0)
    return pids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int)
    parser.add_argument("--dead", action="store_true")
    args = parser.parse_args()

    release_fd, write_end = os.pipe()
    pids = make_orphans(args.count, args.dead, release_fd, write_end)

    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    for num in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(num, lambda *_: None)
    print(f"ORPHANED {args.count} pid={os.getpid()}: {' '.join(pids)}", flush=True)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        readable, _, _ = select.select([rfd], [], [], max(0, deadline - time.monotonic()))
        for num in os.read(rfd, 512) if readable else b"":
            if num == signal.SIGUSR1 and write_end >= 0:
                os.close(write_end)
                write_end = -1
                print("RELEASED", flush=True)
            elif num == signal.SIGTERM:
                sys.exit(0)
    print("LIFETIME OVER", flush=True)
    sys.exit(99)


if __name__ == "__main__":
    main()
