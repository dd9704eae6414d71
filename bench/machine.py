"""The machine a benchmark ran on, as docs/benchmarks.md names it."""
import os
import platform


def describe():
    """'2 cores (AMD EPYC), 24105 MiB, kernel 6.18.44'."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    return f"{os.cpu_count()} cores ({cpu}), {mem_kib // 1024} MiB, kernel {platform.release()}"
