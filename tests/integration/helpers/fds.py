#!/usr/bin/python3
"""Prints the file descriptors this process was started with: "FDS 0 1 2"."""
import os

listed = [int(name) for name in os.listdir("/proc/self/fd")]


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:  # the directory fd listdir() used, closed by now
        return False


print("FDS " + " ".join(str(fd) for fd in sorted(listed) if is_open(fd)), flush=True)
