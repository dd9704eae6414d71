"""PID 1 benchmarks, runner-supervisor (`exec`) against Debian's tini, same run:

- reaping throughput: the main child makes 10,000 orphans (double fork) and waits until
  the init has reaped them all; wall time of the whole run in a fresh PID namespace;
- signal forwarding latency: SIGUSR1 sent to the init until the child has received it;
- memory of the init while its child runs: VmRSS and Private_Dirty (smaps_rollup).
"""
import os
import select
import signal
import statistics
import subprocess
import time

ORPHANS = 10000
RUNS = 5
SIGNALS = 300


def build_helpers(root):
    out = os.path.join(root, "build", "bench")
    os.makedirs(out, exist_ok=True)
    for name in ("orphans", "sigecho"):
        subprocess.run(["cc", "-O2", "-o", os.path.join(out, name),
                        os.path.join(root, "bench", name + ".c")], check=True)
    return out


def inits(root):
    rs = os.path.join(root, "build", "runner-supervisor")
    env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json", SUPERVISOR_STOP_GRACE="5")
    return [
        ("runner-supervisor", [rs, "exec", "--"], env),
        ("tini", ["/usr/bin/tini", "--"], env),
    ]


def in_pidns(cmd):
    return ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + cmd


def reap_time(cmd, env, helpers):
    t0 = time.perf_counter()
    subprocess.run(in_pidns(cmd + [os.path.join(helpers, "orphans"), str(ORPHANS)]),
                   env=env, check=True, stderr=subprocess.DEVNULL, timeout=300)
    return time.perf_counter() - t0


def init_pid_of(unshare_pid, timeout=10):
    deadline = time.monotonic() + timeout
    path = f"/proc/{unshare_pid}/task/{unshare_pid}/children"
    while time.monotonic() < deadline:
        try:
            kids = open(path).read().split()
        except FileNotFoundError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.001)
    raise TimeoutError("init did not start")


def start_sigecho(cmd, env, helpers):
    p = subprocess.Popen(in_pidns(cmd + [os.path.join(helpers, "sigecho")]), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    if not ready or os.read(p.stdout.fileno(), 1) != b"R":
        p.kill()
        raise RuntimeError("sigecho did not start")
    return p, init_pid_of(p.pid)


def signal_latencies(cmd, env, helpers):
    p, init = start_sigecho(cmd, env, helpers)
    fd = p.stdout.fileno()
    lat = []
    try:
        for _ in range(SIGNALS):
            t0 = time.perf_counter_ns()
            os.kill(init, signal.SIGUSR1)
            ready, _, _ = select.select([fd], [], [], 5)
            if not ready:
                raise TimeoutError("signal not forwarded")
            os.read(fd, 1)
            lat.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        os.kill(init, signal.SIGTERM)
        p.wait(timeout=10)
    return statistics.median(lat)


def memory(cmd, env, helpers):
    p, init = start_sigecho(cmd, env, helpers)
    fields = {}
    try:
        with open(f"/proc/{init}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("Rss:", "Private_Dirty:"):
                    fields[parts[0][:-1]] = int(parts[1])
    finally:
        os.kill(init, signal.SIGTERM)
        p.wait(timeout=10)
    return fields["Rss"], fields["Private_Dirty"]


def run(root):
    helpers = build_helpers(root)
    rows = {}
    for name, cmd, env in inits(root):
        reaps = [reap_time(cmd, env, helpers) for _ in range(RUNS)]
        sigs = [signal_latencies(cmd, env, helpers) for _ in range(RUNS)]
        mems = [memory(cmd, env, helpers) for _ in range(RUNS)]
        rows[name] = {
            "reap_s": statistics.median(reaps),
            "sig_us": statistics.median(sigs),
            "rss_kib": statistics.median(m[0] for m in mems),
            "dirty_kib": statistics.median(m[1] for m in mems),
        }
        print(name, rows[name], flush=True)
    rs, tini = rows["runner-supervisor"], rows["tini"]
    ratio = tini["reap_s"] / rs["reap_s"]
    lines = [
        "## PID 1 (`runner-supervisor exec` against Debian's `tini`)", "",
        f"Method: each init runs as PID 1 of a fresh PID namespace (`unshare --pid --fork "
        f"--mount-proc`). Reaping: the main child makes {ORPHANS:,} orphans (double fork) and "
        f"waits until /proc shows none left, i.e. until the init has reaped them all; wall time "
        f"of the whole run, median of {RUNS}. Signal latency: SIGUSR1 sent to the init until the "
        f"child (blocked in sigwait) has written a byte back, median of {SIGNALS} round trips, "
        f"median of {RUNS} runs; the round trip includes the same driver overhead for both. "
        f"Memory: the init's `/proc/PID/smaps_rollup` while its child waits, median of {RUNS}.",
        "",
        "| metric | runner-supervisor | tini | target |",
        "| --- | --- | --- | --- |",
        f"| reap {ORPHANS:,} orphans (s) | {rs['reap_s']:.3f} | {tini['reap_s']:.3f} | "
        f"throughput ≥ 0.9× tini: measured {ratio:.2f}× |",
        f"| signal forwarding round trip (µs) | {rs['sig_us']:.1f} | {tini['sig_us']:.1f} | — |",
        f"| VmRSS while the child runs (KiB) | {rs['rss_kib']:.0f} | {tini['rss_kib']:.0f} | — |",
        f"| Private_Dirty while the child runs (KiB) | {rs['dirty_kib']:.0f} | "
        f"{tini['dirty_kib']:.0f} | ≤ 2048 |",
        "",
    ]
    return "\n".join(lines)
