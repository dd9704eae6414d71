"""py_work.py - Python checks for workload.sh.

  python3 py_work.py basic   threading, multiprocessing.Pool(2), subprocess
  python3 py_work.py memfd   os.memfd_create (+ mmap) and membarrier(QUERY)

Prints one "py <what> ok ..." line per check; any failure raises (exit 1).
"""
import ctypes
import mmap
import multiprocessing
import os
import platform
import subprocess
import sys
import threading


def square(x):
    return x * x


def check_threading():
    results = [0] * 4

    def work(i):
        results[i] = sum(range(i * 100000, (i + 1) * 100000))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
        assert not t.is_alive(), "thread did not finish"
    n = 400000
    assert sum(results) == n * (n - 1) // 2, results
    print("py threading ok sum=%d" % sum(results))


def check_multiprocessing():
    with multiprocessing.Pool(2) as pool:
        got = pool.map(square, range(100), chunksize=10)
    assert got == [x * x for x in range(100)], got
    print("py multiprocessing ok sum=%d" % sum(got))


def check_subprocess():
    out = subprocess.run(
        [sys.executable, "-c", "import os; print('child', os.getpid())"],
        check=True, capture_output=True, text=True, timeout=20,
    ).stdout
    assert out.startswith("child "), out
    out = subprocess.run(["sh", "-c", "echo hello-from-sh"], check=True,
                         capture_output=True, text=True, timeout=20).stdout
    assert out == "hello-from-sh\n", out
    print("py subprocess ok")


# membarrier syscall numbers (no libc wrapper)
MEMBARRIER_NR = {"x86_64": 324, "aarch64": 283, "arm64": 283}
MEMBARRIER_CMD_QUERY = 0


def check_memfd():
    fd = os.memfd_create("workload", os.MFD_CLOEXEC)
    try:
        data = b"memfd-" * 1000
        os.ftruncate(fd, 8192)
        os.pwrite(fd, data, 0)
        with mmap.mmap(fd, 8192) as m:
            assert m[:len(data)] == data
            m[0:6] = b"MEMFD-"
        assert os.pread(fd, 6, 0) == b"MEMFD-"
    finally:
        os.close(fd)
    print("py memfd_create ok")

    nr = MEMBARRIER_NR.get(platform.machine())
    if nr is None:
        raise SystemExit("unknown machine %s for membarrier" % platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    mask = libc.syscall(ctypes.c_long(nr), ctypes.c_int(MEMBARRIER_CMD_QUERY),
                        ctypes.c_uint(0), ctypes.c_int(0))
    if mask < 0:
        err = ctypes.get_errno()
        raise OSError(err, "membarrier(QUERY): " + os.strerror(err))
    print("py membarrier ok query=0x%x" % mask)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "basic"
    if what == "basic":
        check_threading()
        check_multiprocessing()
        check_subprocess()
    elif what == "memfd":
        check_memfd()
    else:
        raise SystemExit("usage: py_work.py basic|memfd")


if __name__ == "__main__":
    main()
