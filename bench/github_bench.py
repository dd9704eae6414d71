"""Registration benchmark: runner-supervisor `run` against the fake GitHub on loopback.

- time from process start to the JIT files written (the Listener stand-in starts right
  after), split into the supervisor's own CPU time (schedstat of all its threads) and the
  rest (waiting on the network and the fake);
- REST calls per pod lifetime (register, one job, confirm deregistration), with a PAT and
  with an App whose installation id is given.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 10


def build_probe(root):
    out = os.path.join(root, "build", "bench")
    os.makedirs(out, exist_ok=True)
    probe = os.path.join(out, "listener_probe")
    subprocess.run(["cc", "-O2", "-o", probe, os.path.join(root, "bench", "listener_probe.c")],
                   check=True)
    return probe


def make_runner_root(tmp, probe):
    root = os.path.join(tmp, "runner")
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(probe, os.path.join(root, "bin", "Runner.Listener"))
    for d in (tmp, root, os.path.join(root, "bin")):
        os.chmod(d, 0o755)
    return root


def one_run(root, binary, gh, env_extra, tmp):
    record = os.path.join(tmp, "probe.txt")
    if os.path.exists(record):
        os.unlink(record)
    gh.queue_job(name="bench", steps=["true"])
    env = {"PATH": os.environ["PATH"], "SUPERVISOR_LOG_FORMAT": "json",
           "GITHUB_URL": gh.url + "/acme", "GITHUB_CA_FILE": gh.ca_file,
           "RUNNER_ROOT": root, "RUNNER_USER": "0:0", "RUNNER_NAME": "bench-pod",
           "PROBE_RECORD": record, "PROBE_NEXT": os.path.join(ROOT, "bench", "take_job.py"),
           "PROBE_FAKE_URL": gh.url, "PROBE_CA_FILE": gh.ca_file,
           # The probe reads its parent's CPU time: without the sandbox its parent is the
           # supervisor (with it, the sandbox init). The sandbox's own cost is measured in
           # its section.
           "SUPERVISOR_SANDBOX": "off"}
    env.update(env_extra)
    t0 = time.monotonic()
    try:
        p = subprocess.run([binary, "run"], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"run timed out: {e.stderr!r}"[-3000:]) from None
    if p.returncode != 0:
        raise RuntimeError(f"run failed ({p.returncode}): {p.stderr[-2000:]}")
    ts, cpu_ns = open(record).read().split()
    exit_event = [json.loads(l) for l in p.stderr.splitlines()
                  if '"supervisor.exit"' in l][-1]
    wall_ms = (float(ts) - t0) * 1000
    return wall_ms, int(cpu_ns) / 1e6, exit_event["github_calls"]


def run(root):
    global ROOT
    ROOT = root
    sys.path.insert(0, os.path.join(root, "tests"))
    from fakes.fake_github import FakeGitHub

    binary = os.path.join(root, "build", "runner-supervisor")
    probe = build_probe(root)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        runner_root = make_runner_root(tmp, probe)
        with FakeGitHub(os.path.join(tmp, "fake")) as gh:
            gh.add_org("acme")
            token_file = os.path.join(tmp, "token")
            with open(token_file, "w") as f:
                f.write(gh.add_pat(scopes=["admin:org"]))
            app = gh.add_app()
            inst = app.install(org="acme")
            key_file = os.path.join(tmp, "app.pem")
            with open(key_file, "w") as f:
                f.write(app.private_key_pem)
            setups = {
                "PAT": {"GITHUB_TOKEN_FILE": token_file},
                "App (installation id given)": {"GITHUB_APP_ID": str(app.app_id),
                                                "GITHUB_APP_PRIVATE_KEY_FILE": key_file,
                                                "GITHUB_APP_INSTALLATION_ID": str(inst)},
            }
            for name, extra in setups.items():
                one_run(runner_root, binary, gh, extra, tmp)  # warm-up (page cache)
                results = [one_run(runner_root, binary, gh, extra, tmp) for _ in range(RUNS)]
                assert gh.runners() == [], "a runner was left registered"
                rows[name] = {
                    "wall_ms": statistics.median(r[0] for r in results),
                    "cpu_ms": statistics.median(r[1] for r in results),
                    "calls": max(r[2] for r in results),
                }
                print(name, rows[name], flush=True)
    lines = [
        "## Registration (`run` against the fake GitHub on loopback)", "",
        f"Method: `runner-supervisor run` (release build) against `tests/fakes/fake_github.py` "
        f"over HTTPS on 127.0.0.1, {RUNS} runs per auth kind after one warm-up, medians. A "
        "stand-in `bin/Runner.Listener` (bench/listener_probe.c) records, the moment it starts "
        "(the JIT files are written just before), the monotonic clock and the supervisor's CPU "
        "time so far (sum of `/proc/PID/task/*/schedstat`); the rest of the wall time is waiting "
        "on the network and the fake (a Python server). It then takes one job from the fake's "
        "broker, so that the fake removes the ephemeral runner as GitHub does, and the "
        "supervisor confirms the deregistration. Calls: every REST call of the pod's lifetime. "
        "Measured with `SUPERVISOR_SANDBOX=off` (the probe reads its parent's CPU time, which "
        "with the sandbox is the sandbox init); the sandbox's probe and setup are in the "
        "sandbox section.",
        "",
        "| auth | start → JIT files written (ms) | own CPU (ms) | waiting (ms) | REST calls per pod | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    targets = {"PAT": "CPU ≤ 10 ms; calls ≤ 2", "App (installation id given)": "CPU ≤ 10 ms; calls ≤ 3"}
    for name, r in rows.items():
        lines.append(f"| {name} | {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | "
                     f"{r['wall_ms'] - r['cpu_ms']:.1f} | {r['calls']} | {targets[name]} |")
    lines.append("")
    return "\n".join(lines)
