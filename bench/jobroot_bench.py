"""The job root's cost (SUPERVISOR_JOB_ROOT=overlay, README "The job root"), measured in the
simulated user-namespaced pod of the tests (tests/sandbox/userns_pod.c), in the same run:

1. setup: `exec -- /bin/true` with the job root against the same sandbox without it
   (strict both), alternating; the child's setup time (clone to execve) and the parent's
   planning time (the sandbox.report event's took_us, which includes the probe);
2. a `make -j2` build of 40 C files in the work folder, the toolchain read through the job
   root's overlays, against the same build without the job root;
3. `apt-get install` of a local .deb into the job root (an overlay over the pod's overlay)
   against the same install into the pod's own root (no supervisor), each in a fresh pod.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_RUNS = 15
LIFECYCLE_RUNS = 7
GITHUB_LATENCY = 0.3  # s: generate-jitconfig's answer time (GitHub's: a few hundred ms)
BUILD_RUNS = 5
APT_RUNS = 5


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def build_pod_tool(tmp):
    out = os.path.join(tmp, "userns_pod")
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-o", out,
                    os.path.join(ROOT, "tests", "sandbox", "userns_pod.c")], check=True)
    return out


def pod(tool, script, env=None, ok=(0,)):
    p = subprocess.run([tool, "--", "sh", "-c", script], capture_output=True, text=True,
                       env=dict(os.environ, SUPERVISOR_LOG_FORMAT="json", **(env or {})))
    if p.returncode not in ok:
        raise RuntimeError(f"userns_pod failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def events(stderr, name):
    out = []
    for line in stderr.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == name:
            out.append(e)
    return out


def setup_times(tool, rs):
    res = {"overlay": [], "off": []}
    for i in range(SETUP_RUNS + 1):
        for mode in (("overlay", "off") if i % 2 == 0 else ("off", "overlay")):
            p = pod(tool, f"{rs} exec --sandbox=strict -- /bin/true",
                    {"SUPERVISOR_JOB_ROOT": mode})
            if i == 0:
                continue  # warm-up
            started = events(p.stderr, "child.started")[-1]
            report = events(p.stderr, "sandbox.report")[-1]
            res[mode].append((started["setup_us"] / 1000, report["took_us"] / 1000,
                              started.get("stage_us", 0) / 1000))
    overlays = events(p.stderr, "sandbox.report")[-1]["layers"]["job_root"]["detail"]
    return {m: {"setup": median([r[0] for r in rows]), "plan": median([r[1] for r in rows]),
                "stage": median([r[2] for r in rows])}
            for m, rows in res.items()}, overlays


def lifecycle_setup_times(tool, rs, tmp):
    """The sandbox made while the runner registers (supervisor/ahead.h): `run` in the pod
    against the fake GitHub, which answers generate-jitconfig after GITHUB_LATENCY s, one job
    each, alternating with and without the job root. → {mode: {"setup": ms from the
    registered runner being asked for to its execve, "prepared": ms the sandbox was ready
    ahead of that}}."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
    from fakes.fake_github import FakeGitHub
    import runner_install

    res = {"overlay": [], "off": []}
    with FakeGitHub(os.path.join(tmp, "fake")) as gh:
        gh.add_org("acme")
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write(gh.add_pat(scopes=["admin:org"]))
        gh.inject("POST", "generate-jitconfig", kind="delay", seconds=GITHUB_LATENCY,
                  times=None)
        # Not 65534: in the pod that is also the owner every unmapped id shows as, and the
        # pod binds this machine's /dev/shm, where other users' files would look the
        # runner's to the IPC clean-up (an artefact of the simulation: a pod has its own).
        runner = runner_install.install(os.path.join(tmp, "runner"), owner=(1001, 1001),
                                        ca_file=gh.ca_file, poll_wait=1)
        env = {"GITHUB_URL": gh.url + "/acme", "GITHUB_TOKEN_FILE": token,
               "GITHUB_CA_FILE": gh.ca_file, "RUNNER_ROOT": runner,
               "RUNNER_USER": "1001:1001", "SUPERVISOR_STOP_GRACE": "5",
               "SUPERVISOR_SANDBOX": "strict"}
        for i in range(LIFECYCLE_RUNS + 1):
            for mode in (("overlay", "off") if i % 2 == 0 else ("off", "overlay")):
                gh.queue_job(name="bench", steps=["true"])
                p = pod(tool, f"{rs} run", dict(env, SUPERVISOR_JOB_ROOT=mode,
                                                RUNNER_NAME=f"jr-bench-{i}-{mode}"))
                if i == 0:
                    continue  # warm-up
                started = events(p.stderr, "child.started")[-1]
                res[mode].append((started["setup_us"] / 1000, started["prepared_us"] / 1000))
    return {m: {"setup": median([r[0] for r in rows]), "prepared": median([r[1] for r in rows])}
            for m, rows in res.items()}


def mount_costs(tmp):
    """One overlay and one pivot_root, each alone (bench/mount_cost.c), medians of
    SETUP_RUNS runs: → (overlay ms, pivot_root ms)."""
    out = os.path.join(tmp, "mount_cost")
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(ROOT, "bench", "mount_cost.c")],
                   check=True)
    runs = [subprocess.run(["unshare", "-Urm", out], check=True, capture_output=True,
                           text=True).stdout.split() for _ in range(SETUP_RUNS)]
    return (median([int(r[0]) for r in runs]) / 1000, median([int(r[1]) for r in runs]) / 1000)


def make_project(base):
    src = os.path.join(base, "proj")
    os.makedirs(src)
    objs = []
    for i in range(40):
        with open(os.path.join(src, f"f{i}.c"), "w") as f:
            f.write("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
            f.write(f"int f{i}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x);"
                    f" return (int)strlen(b) + atoi(b) + {i}; }}\n")
        objs.append(f"f{i}.o")
    with open(os.path.join(src, "Makefile"), "w") as f:
        f.write(f"all: {' '.join(objs)}\n%.o: %.c\n\tgcc -O2 -c $< -o $@\n"
                "clean:\n\trm -f *.o\n")
    return src


def build_times(tool, rs, base):
    src = make_project(base)
    os.chmod(base, 0o755)
    script = (f"{rs} exec --sandbox=strict --workdir={src} -- sh -c "
              "'s=$(date +%s%N); make -s -j2 >/dev/null; "
              "echo T=$(( ($(date +%s%N) - s) / 1000 ))'")
    res = {"overlay": [], "off": []}
    for i in range(BUILD_RUNS + 1):
        for mode in (("overlay", "off") if i % 2 == 0 else ("off", "overlay")):
            p = pod(tool, script, {"SUPERVISOR_JOB_ROOT": mode})
            t = [int(x[2:]) / 1e6 for x in p.stdout.split() if x.startswith("T=")]
            if i and t:
                res[mode].append(t[0])
    return {m: median(v) for m, v in res.items()}


def make_deb(base):
    tree = os.path.join(base, "deb")
    os.makedirs(os.path.join(tree, "DEBIAN"))
    with open(os.path.join(tree, "DEBIAN", "control"), "w") as f:
        f.write("Package: rs-bench\nVersion: 1.0\nArchitecture: all\n"
                "Maintainer: bench <bench@example.invalid>\nDescription: bench\n")
    for i in range(200):  # a package of 200 small files
        d = os.path.join(tree, "usr", "share", "rs-bench", f"d{i % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}"), "w") as f:
            f.write("x" * 4096)
    deb = os.path.join(base, "rs-bench.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", tree, deb], check=True,
                   capture_output=True)
    os.chmod(deb, 0o644)
    return deb


def apt_times(tool, rs, base):
    deb = make_deb(base)
    inner = ("s=$(date +%s%N); apt-get install -y -q " + deb + " >/dev/null 2>&1; "
             "echo T=$(( ($(date +%s%N) - s) / 1000 ))")
    res = {"overlay": [], "pod": []}
    for i in range(APT_RUNS + 1):
        for mode in (("overlay", "pod") if i % 2 == 0 else ("pod", "overlay")):
            script = inner if mode == "pod" else f"{rs} exec --sandbox=strict -- sh -c '{inner}'"
            p = pod(tool, script, {"SUPERVISOR_JOB_ROOT": "overlay"})
            t = [int(x[2:]) / 1e6 for x in p.stdout.split() if x.startswith("T=")]
            if i and t:
                res[mode].append(t[0])
    return {m: median(v) for m, v in res.items()}


def run(root):
    """→ the section's markdown."""
    return markdown(measure(root))


def measure(root):
    rs = os.path.join(root, "build", "runner-supervisor")
    tmp = tempfile.mkdtemp(prefix="rs-jr-bench-", dir="/var/tmp")
    try:
        os.chmod(tmp, 0o755)
        tool = build_pod_tool(tmp)
        setup, overlays = setup_times(tool, rs)
        setup["overlay_ms"], setup["pivot_root"] = mount_costs(tmp)
        print("job root setup", setup, flush=True)
        setup["run"] = lifecycle_setup_times(tool, rs, tmp)
        print("job root setup in run", setup["run"], flush=True)
        build = build_times(tool, rs, tmp)
        print("job root build", build, flush=True)
        apt = apt_times(tool, rs, tmp)
        print("job root apt", apt, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"setup": setup, "overlays": overlays, "build": build, "apt": apt}


def markdown(r):
    s, b, a = r["setup"], r["build"], r["apt"]
    overlays_n = int(re.search(r"(\d+) overlays", r["overlays"]).group(1)) + 1  # + the skeleton's
    added = s["overlay"]["setup"] - s["off"]["setup"]
    plan = s["overlay"]["plan"] - s["off"]["plan"]
    run = s["run"]
    on_path = run["overlay"]["setup"] - run["off"]["setup"]
    return f"""## Job root (SUPERVISOR_JOB_ROOT=overlay)

Method: in the simulated user-namespaced pod of the tests (`tests/sandbox/userns_pod.c`: an
overlay root idmapped from this machine's, the kubelet's bind mounts), the same run measures
the sandbox with the job root against the same sandbox without it (`--sandbox=strict`
both, alternating, medians). The job root here: {r["overlays"]}.

| | without | with the job root | added |
| --- | --- | --- | --- |
| `run`: from the registered runner being asked for to its execve, the sandbox made while GitHub answered (median of {LIFECYCLE_RUNS}) | {run["off"]["setup"]:.1f} ms | {run["overlay"]["setup"]:.1f} ms | {on_path:+.1f} ms |
| `run`: how long the sandbox was ready before that (median) | {run["off"]["prepared"]:.0f} ms | {run["overlay"]["prepared"]:.0f} ms | |
| `exec`: sandbox setup, clone to execve, nothing to overlap with (median of {SETUP_RUNS}) | {s["off"]["setup"]:.1f} ms | {s["overlay"]["setup"]:.1f} ms | {added:+.1f} ms |
| planning in the parent, probe included (once per spawn) | {s["off"]["plan"]:.1f} ms | {s["overlay"]["plan"]:.1f} ms | {plan:+.1f} ms |
| staging the skeleton in the parent (a thread, while the runner registers) | - | {s["overlay"]["stage"]:.1f} ms | {s["overlay"]["stage"]:+.1f} ms |
| of the setup: one overlay of `/usr`, alone (`bench/mount_cost.c`, median) | - | {s["overlay_ms"]:.2f} ms | |
| of the setup: the `pivot_root` into the new root, alone (median) | - | {s["pivot_root"]:.2f} ms | |
| `make -j2`, 40 C files, toolchain through the overlays (median of {BUILD_RUNS}) | {b["off"]:.2f} s | {b["overlay"]:.2f} s | {(b["overlay"] / b["off"] - 1) * 100:+.0f} % |
| `apt-get install` of a local .deb of 200 files (median of {APT_RUNS}; without: into the pod's own root) | {a["pod"]:.2f} s | {a["overlay"]:.2f} s | {(a["overlay"] / a["pod"] - 1) * 100:+.0f} % |

The `run` rows: `runner-supervisor run` in the same pod against the fake GitHub, which
answers generate-jitconfig after {GITHUB_LATENCY * 1000:.0f} ms (GitHub's answers take a few
hundred), one job each. The supervisor makes the sandbox while the runner registers
(supervisor/ahead.h): once the skeleton is staged, the clone enters the namespaces, mounts the
overlays and execs the sandbox init, which waits for the runner's command; after the
registration only the command is sent and the runner forked and exec'd (with its lockdown and
seccomp filter). The issue's target, ≤ 2 ms of setup on top of the sandbox's, is
{"met" if on_path <= 2 else "not met"} on that path ({on_path:+.1f} ms). The `exec` rows are
the set-up itself, which still costs {added:+.1f} ms of the child's time but no longer
delays the runner after its registration; with `exec` there is no registration to overlap,
and the command waits for it. Why the set-up itself is above 2 ms: the runtime's bind mounts
under `/etc` are locked in a user namespace, so `/` cannot be one overlay and its directories
with mounts below are rebuilt (copies, links, one overlay per directory without a mount
below). The rebuilt part is staged by the parent, in a thread, and the child only mounts
overlays: one of the staged skeleton and one per directory (README, "The job root"). The
overlays alone ({overlays_n} here, {s["overlay_ms"]:.2f} ms each:
{overlays_n * s["overlay_ms"]:.1f} ms), the job root's own `/dev` (a tmpfs, six devices bound,
a devpts), `/proc`, `/sys` and `/tmp`, and the `pivot_root` make it. Copying more of the image
into the staged skeleton saves overlays (tried: /etc's directories copied, 6 overlays instead
of 16) but the plan then walks those trees to size them, before the registration, and cost
+20 to +40 ms more there for about 1 ms less here: not kept.

The cost is per sandbox (one per pod), against a job's
seconds to minutes.
"""
