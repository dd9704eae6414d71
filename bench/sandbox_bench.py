"""Sandbox benchmarks, same run:

- setup time: `setup_us` of `exec --sandbox=strict -- /bin/true` (clone of the sandbox
  child to the command's successful execve, measured by the supervisor) against
  `--sandbox=off` (the same uid switch, a plain clone + exec), and the wall time of the
  whole `exec`, both ways;
- the seccomp filter on real workloads: `find` over 100,000 files, `git status` in a
  20,000-file repository and a `make -j2` build of the project's own C files, each run under
  bench/with_filter.c with the sandbox's filter and with `--none` (no_new_privs and
  everything else the same), in alternating order;
- per syscall: bench/getppid_loop.c times raw getppid() (a syscall the filter does not name:
  the kernel's seccomp action cache answers it) and ioctl(FIONREAD) (argument-checked: the
  BPF program runs), with the filter, with a one-instruction allow-all filter and without.

Run alone with `python3 bench/sandbox_bench.py` (prints the section), or through
bench/run.py (`python3 bench/run.py sandbox` rewrites only this section).
"""
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SETUP_RUNS = 30
FIND_FILES = 100_000
FIND_FILES_PER_DIR = 1000
FIND_RUNS = 15
GIT_FILES = 20_000
GIT_FILES_PER_DIR = 200
GIT_RUNS = 21
MAKE_RUNS = 7
MICRO_RUNS = 5
GETPPID_N = 10_000_000
FIONREAD_N = 3_000_000
RUNNER_UID = 65534
SHM = "/dev/shm"

# Flags of the project's release objects that matter for the code generated (no warnings,
# no hardening: the point is a realistic compile load, not the project's build).
PROJECT_CFLAGS = "-std=gnu11 -O2 -D_GNU_SOURCE -DRS_VERSION='\"0\"' " \
                 "-DRS_LIBCAP_VERSION='\"0\"' -Isupervisor -Isandbox"
PKGS = ["libuv", "libcurl", "jansson", "libseccomp", "libcap", "libcrypto"]


def median(xs):
    return statistics.median(xs)


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def quartiles(xs):
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def pkg_cflags():
    r = subprocess.run(["pkg-config", "--cflags"] + PKGS, capture_output=True, text=True)
    return r.stdout.strip()


def build_helpers(root):
    needed = [os.path.join(root, "build", "runner-supervisor"),
              os.path.join(root, "build", "obj", "sandbox", "seccomp.o"),
              os.path.join(root, "build", "obj", "supervisor", "err.o")]
    if not all(os.path.exists(p) for p in needed):
        subprocess.run(["make", "-C", root, "all"], check=True)
    out = os.path.join(root, "build", "bench")
    os.makedirs(out, exist_ok=True)
    seccomp = subprocess.run(["pkg-config", "--cflags", "--libs", "libseccomp"],
                             capture_output=True, text=True).stdout.split()
    cflags = [f for f in seccomp if not f.startswith("-l")]
    libs = [f for f in seccomp if f.startswith("-l")] or ["-lseccomp"]
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                    "-I" + os.path.join(root, "supervisor"), "-I" + os.path.join(root, "sandbox")]
                   + cflags + ["-o", os.path.join(out, "with_filter"),
                               os.path.join(root, "bench", "with_filter.c"),
                               os.path.join(root, "build", "obj", "sandbox", "seccomp.o"),
                               os.path.join(root, "build", "obj", "supervisor", "err.o")]
                   + libs, check=True)
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-o",
                    os.path.join(out, "getppid_loop"),
                    os.path.join(root, "bench", "getppid_loop.c")], check=True)
    return out


# --- 1. setup time -------------------------------------------------------------------------

def one_exec(rs, mode, workdir):
    env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json",
               RUNNER_USER=f"{RUNNER_UID}:{RUNNER_UID}")
    # No timeout: with one, subprocess waits by polling with sleeps of up to 50 ms.
    t0 = time.perf_counter()
    r = subprocess.run([rs, "exec", f"--sandbox={mode}", f"--workdir={workdir}", "--",
                        "/bin/true"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"exec --sandbox={mode} failed ({r.returncode}): {r.stderr[-2000:]}")
    for line in r.stderr.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "child.started":
            return ev["setup_us"], bool(ev.get("sandbox_init")), wall * 1e3
    raise RuntimeError(f"no child.started event with --sandbox={mode}")


def setup_times(root):
    rs = os.path.join(root, "build", "runner-supervisor")
    workdir = tempfile.mkdtemp(prefix="rs-sbx-bench-")
    try:
        os.chown(workdir, RUNNER_UID, RUNNER_UID)
        res = {"strict": [], "off": []}
        for mode in ("strict", "off"):  # warm-up
            one_exec(rs, mode, workdir)
        for i in range(SETUP_RUNS):
            order = ("strict", "off") if i % 2 == 0 else ("off", "strict")
            for mode in order:
                res[mode].append(one_exec(rs, mode, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = {}
    for mode, rows in res.items():
        setup = [r[0] / 1000 for r in rows]
        wall = [r[2] for r in rows]
        out[mode] = {"setup_med": median(setup), "setup_p90": p90(setup),
                     "wall_med": median(wall), "wall_p90": p90(wall),
                     "init": all(r[1] for r in rows)}
    return out


# --- 2. workloads --------------------------------------------------------------------------

def make_tree(base, nfiles, per_dir, content=None):
    for d in range((nfiles + per_dir - 1) // per_dir):
        dpath = os.path.join(base, f"d{d:04d}")
        os.mkdir(dpath)
        dfd = os.open(dpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(min(per_dir, nfiles - d * per_dir)):
                fd = os.open(f"f{i:04d}.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                             dir_fd=dfd)
                if content is not None:
                    os.write(fd, content % (d, i))
                os.close(fd)
        finally:
            os.close(dfd)


def cpu_s():
    """User + system time of this process's waited-for descendants (s)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd, cwd=None, env=None):
    """(wall s, CPU s of the command and its descendants). No timeout: with one, subprocess
    waits by polling with sleeps of up to 50 ms, which quantises short runs (find took
    either 165 or 215 ms)."""
    c0 = cpu_s()
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, cpu_s() - c0


VARIANTS = ("none", "allow", "filter")


def compare(helpers, cmd, runs, cwd=None, env=None, before=None):
    """Each variant once per round, in the order ABC then CBA, after one warm-up round."""
    wf = os.path.join(helpers, "with_filter")
    argv = {"filter": [wf, "--"], "allow": [wf, "--allow-all", "--"], "none": [wf, "--none", "--"]}
    wall = {v: [] for v in VARIANTS}
    cpu = {v: [] for v in VARIANTS}
    for i in range(runs + 1):
        for v in VARIANTS if i % 2 == 0 else tuple(reversed(VARIANTS)):
            if before:
                before()
            w, c = timed(argv[v] + cmd, cwd=cwd, env=env)
            if i > 0:
                wall[v].append(w)
                cpu[v].append(c)
    r = {v: median(wall[v]) for v in VARIANTS}
    n = r["none"]
    r["overhead"] = (r["filter"] - n) / n * 100
    r["overhead_allow"] = (r["allow"] - n) / n * 100
    r["pairs"] = quartiles([(a - b) / b * 100 for a, b in zip(wall["filter"], wall["none"])])
    cn = median(cpu["none"])
    r["cpu_overhead"] = (median(cpu["filter"]) - cn) / cn * 100
    return r


def busy_jiffies():
    """CPU time the whole machine spent busy (all but idle and iowait), in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]


def own_cpu_s():
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def workload_find(helpers, base):
    tree = os.path.join(base, "tree")
    os.mkdir(tree)
    make_tree(tree, FIND_FILES, FIND_FILES_PER_DIR)
    # -size +1k stats every file (no file matches): getdents64 + newfstatat per entry.
    r = compare(helpers, ["find", tree, "-type", "f", "-size", "+1k"], FIND_RUNS)
    shutil.rmtree(tree)
    return r


def git_env(base):
    return dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
                HOME=base, LC_ALL="C", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@e",
                GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="b@e")


def workload_git(helpers, base):
    repo = os.path.join(base, "repo")
    os.mkdir(repo)
    env = git_env(base)
    make_tree(repo, GIT_FILES, GIT_FILES_PER_DIR, b"file %d/%d\n")
    q = {"cwd": repo, "env": env, "check": True, "stdout": subprocess.DEVNULL}
    subprocess.run(["git", "init", "-q"], **q)
    subprocess.run(["git", "add", "-A"], **q)
    subprocess.run(["git", "commit", "-q", "-m", "tree"], **q)
    # Files as new as the index are "racily clean" and re-read by every status: wait a
    # second, then one status rewrites the index, newer than every file.
    time.sleep(1.1)
    subprocess.run(["git", "status", "--porcelain"], **q)
    r = compare(helpers, ["git", "status"], GIT_RUNS, cwd=repo, env=env)
    shutil.rmtree(repo)
    return r


def workload_make(helpers, base, root):
    proj = os.path.join(base, "proj")
    os.mkdir(proj)
    nsrc = 0
    for sub in ("sandbox", "supervisor"):
        os.mkdir(os.path.join(proj, sub))
        for name in sorted(os.listdir(os.path.join(root, sub))):
            if name.endswith((".c", ".h")) and name != "main.c":
                shutil.copy(os.path.join(root, sub, name), os.path.join(proj, sub, name))
                nsrc += name.endswith(".c")
    with open(os.path.join(proj, "Makefile"), "w") as f:
        f.write(f"CFLAGS := {PROJECT_CFLAGS} {pkg_cflags()}\n"
                "OBJS := $(patsubst %.c,%.o,$(wildcard sandbox/*.c supervisor/*.c))\n"
                "all: $(OBJS)\n"
                "%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n"
                "clean:\n\trm -f $(OBJS)\n")

    def clean():
        subprocess.run(["make", "-s", "clean"], cwd=proj, check=True)

    r = compare(helpers, ["make", "-s", "-j2"], MAKE_RUNS, cwd=proj, before=clean)
    r["nsrc"] = nsrc
    shutil.rmtree(proj)
    return r


# --- 3. per syscall ------------------------------------------------------------------------

def micro(helpers):
    wf = os.path.join(helpers, "with_filter")
    loop = os.path.join(helpers, "getppid_loop")
    variants = {"none": [wf, "--none"], "allow": [wf, "--allow-all"], "filter": [wf]}
    out = {}
    for what, n in (("getppid", GETPPID_N), ("fionread", FIONREAD_N)):
        res = {v: [] for v in variants}
        for i in range(MICRO_RUNS):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for v in order:
                r = subprocess.run(variants[v] + [loop, what, str(n)], capture_output=True,
                                   text=True, check=True, timeout=120)
                res[v].append(float(r.stdout.strip()))
        out[what] = {v: median(xs) for v, xs in res.items()}
    return out


def run(root):
    helpers = build_helpers(root)
    hz = os.sysconf("SC_CLK_TCK")
    busy0, own0, t_start = busy_jiffies(), own_cpu_s(), time.perf_counter()
    setup = setup_times(root)
    print("setup", setup, flush=True)
    base = tempfile.mkdtemp(prefix="rs-sbx-bench-", dir=SHM if os.path.isdir(SHM) else None)
    try:
        t0 = time.perf_counter()
        wl = {"find": workload_find(helpers, base)}
        print("find", wl["find"], flush=True)
        wl["git"] = workload_git(helpers, base)
        print("git", wl["git"], flush=True)
        wl["make"] = workload_make(helpers, base, root)
        print("make", wl["make"], flush=True)
        wl_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(base, ignore_errors=True)
    mc = micro(helpers)
    print("micro", mc, flush=True)
    elapsed = time.perf_counter() - t_start
    other = max(0.0, (busy_jiffies() - busy0) / hz - (own_cpu_s() - own0))
    other_pct = other / (elapsed * (os.cpu_count() or 1)) * 100

    st, off = setup["strict"], setup["off"]
    add_med = st["setup_med"] - off["setup_med"]

    def verdict(r):
        w = "met" if r["overhead"] <= 1 else "not met"
        c = "met" if r["cpu_overhead"] <= 1 else "not met"
        noisy = r["pairs"][0] < 0 < r["pairs"][1]
        return (f"≤ 1 %: wall {w}, CPU {c}"
                + ("; wall within the noise" if noisy else ""))

    def pct(x):
        return f"{x:+.1f} %"

    wl_rows = [
        ("find", f"`find` over {FIND_FILES:,} empty files ({FIND_FILES // FIND_FILES_PER_DIR} "
                 f"directories), `-type f -size +1k` (stats every file, prints nothing)",
         FIND_RUNS),
        ("git", f"`git status` in a clean repository of {GIT_FILES:,} files "
                f"({GIT_FILES // GIT_FILES_PER_DIR} directories)", GIT_RUNS),
        ("make", f"`make -j2` of the project's {wl['make']['nsrc']} C files (sandbox/, "
                 f"supervisor/ but main.c), -O2", MAKE_RUNS),
    ]
    g, fi = mc["getppid"], mc["fionread"]
    lines = [
        "## Sandbox (`exec --sandbox=strict` setup, and the seccomp filter's cost)", "",
        "### Setup time", "",
        "| metric | `--sandbox=strict` | `--sandbox=off` | target |",
        "| --- | --- | --- | --- |",
        f"| `setup_us`, median (ms) | {st['setup_med']:.2f} | {off['setup_med']:.2f} | "
        f"≤ 5 ms: {'met' if st['setup_med'] <= 5 else 'not met'} |",
        f"| `setup_us`, p90 (ms) | {st['setup_p90']:.2f} | {off['setup_p90']:.2f} | "
        f"≤ 5 ms: {'met' if st['setup_p90'] <= 5 else 'not met'} |",
        f"| whole `exec -- /bin/true`, median (ms) | {st['wall_med']:.2f} | "
        f"{off['wall_med']:.2f} | — |",
        f"| whole `exec -- /bin/true`, p90 (ms) | {st['wall_p90']:.2f} | "
        f"{off['wall_p90']:.2f} | — |",
        "",
        f"Method: `runner-supervisor exec --sandbox=MODE --workdir=DIR -- /bin/true` with "
        f"`RUNNER_USER={RUNNER_UID}:{RUNNER_UID}` (DIR chowned to it) and "
        f"`SUPERVISOR_LOG_FORMAT=json`, {SETUP_RUNS} runs per mode after one warm-up each, the "
        f"modes alternating (ABBA). `setup_us` is the `child.started` event's field: from the "
        f"clone of the child to its successful execve of the command, measured in the "
        f"supervisor; strict adds the user/PID/mount/IPC/UTS/cgroup namespaces, the uid maps, "
        f"the sandbox init as PID 1, a fresh /proc and /tmp, dropped capabilities, "
        f"no_new_privs and the seccomp filter (sandbox init "
        f"{'present' if st['init'] else 'MISSING'} in every strict run), about "
        f"{add_med:.2f} ms more than off at the median. The whole `exec` is the wall time "
        f"seen by the caller (process start, configuration, the isolation report, the "
        f"teardown); the setup target applies to `setup_us`.",
        "",
        "### The seccomp filter on real workloads", "",
        "| workload | no filter (s) | allow-all filter (s) | the sandbox's filter (s) | "
        "overhead, wall | per-round overhead, middle half | overhead, CPU time | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, desc, runs in wl_rows:
        r = wl[key]
        lines.append(f"| {desc} | {r['none']:.3f} | {r['allow']:.3f} "
                     f"({pct(r['overhead_allow'])}) | {r['filter']:.3f} | "
                     f"{pct(r['overhead'])} | {r['pairs'][0]:+.1f} … {r['pairs'][1]:+.1f} % | "
                     f"{pct(r['cpu_overhead'])} | {verdict(r)} |")
    lines += [
        "",
        f"Method: each command runs under bench/with_filter.c, which sets no_new_privs, loads "
        f"the sandbox's filter (compiled by `sbx_seccomp_build()` from sandbox/seccomp.c, the "
        f"same objects the supervisor links) and execs the command; `with_filter --none` does "
        f"everything but the filter, `--allow-all` loads a one-instruction `RET ALLOW` filter "
        f"instead (what any seccomp filter costs). Everything runs as root on /dev/shm "
        f"(tmpfs), so no disk wait dilutes the syscalls' cost: a worst case for the filter. "
        f"The tree and the repository are created once (git add + commit once, a second later "
        f"one `git status` to refresh the index); the build gets `make clean` (not timed) "
        f"before each run. One warm-up round, then rounds of the three variants in the order "
        f"ABC, CBA, ABC, ...; wall time of the command, median of {FIND_RUNS} (find), "
        f"{GIT_RUNS} (git) and {MAKE_RUNS} (make) runs each way; overhead = (filter − none) / "
        f"none of the medians (in brackets for allow-all). Per-round overhead: the same ratio "
        f"within each round, first to third quartile: the noise; a range that holds 0 means "
        f"no overhead is visible above it. CPU time: user + system time of the command and "
        f"its descendants (getrusage), medians, filter against none. The three workloads took "
        f"{wl_s:.0f} s in all.",
        "",
        "### Per syscall", "",
        "| syscall (ns per call) | no filter | allow-all filter (1 instruction) | "
        "the sandbox's filter |",
        "| --- | --- | --- | --- |",
        f"| raw `getppid()`: not named by the filter (action cache) | {g['none']:.1f} | "
        f"{g['allow']:.1f} ({g['allow'] - g['none']:+.1f}) | "
        f"{g['filter']:.1f} ({g['filter'] - g['none']:+.1f}) |",
        f"| `ioctl(pipe, FIONREAD)`: argument-checked, the BPF runs | {fi['none']:.1f} | "
        f"{fi['allow']:.1f} ({fi['allow'] - fi['none']:+.1f}) | "
        f"{fi['filter']:.1f} ({fi['filter'] - fi['none']:+.1f}) |",
        "",
        f"Method: bench/getppid_loop.c times {GETPPID_N:,} raw `syscall(SYS_getppid)` or "
        f"{FIONREAD_N:,} `ioctl(fd, FIONREAD)` on an empty pipe with "
        f"`clock_gettime(CLOCK_MONOTONIC)` around the loop, under `with_filter --none`, "
        f"`with_filter --allow-all` (a single `RET ALLOW`: the fixed cost of having a filter at "
        f"all, i.e. the kernel's slow syscall-entry path) and `with_filter` (the sandbox's "
        f"filter), median of {MICRO_RUNS} runs each, the variants alternating. getppid's "
        f"result is constant in the filter, so the kernel's seccomp action cache (≥ 5.11) "
        f"allows it without running the BPF; ioctl's rules compare its second argument "
        f"(TIOCSTI, TIOCLINUX), so every ioctl walks the program. In brackets: the difference "
        f"to no filter.",
        "",
        f"Machine load: other processes used {other_pct:.0f} % of the machine's CPU time "
        f"during this section's {elapsed:.0f} s (busy time in /proc/stat minus this "
        f"benchmark's own); figures taken on a busy machine are noisier.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    sys.exit(0)
