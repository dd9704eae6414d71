"""Lifecycle benchmark: the supervisor's own time from the runner's exit to its own exit
(teardown, wipe of a small workspace, report), without the network wait of the
deregistration, against the fake GitHub and the fake runner on loopback."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime

RUNS = 10


def ts(event):
    return datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000


def one_run(binary, gh, runner, token, tmp):
    gh.queue_job(name="bench", steps=["mkdir -p out && for i in $(seq 200); do echo $i > out/$i; done"])
    env = {"PATH": os.environ["PATH"], "SUPERVISOR_LOG_FORMAT": "json",
           "GITHUB_URL": gh.url + "/acme", "GITHUB_TOKEN_FILE": token,
           "GITHUB_CA_FILE": gh.ca_file, "RUNNER_ROOT": runner, "RUNNER_USER": "65534:65534",
           "RUNNER_NAME": "bench-life", "SUPERVISOR_STOP_GRACE": "5"}
    p = subprocess.run([binary, "run"], env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    events = {}
    for line in p.stderr.splitlines():
        if line.startswith("{"):
            e = json.loads(line)
            events[e["event"]] = e
    total = ts(events["supervisor.exit"]) - ts(events["runner.exited"])
    network = events["runner.deregistered"].get("took_ms", 0)
    return total - network, network


def run(root):
    sys.path.insert(0, os.path.join(root, "tests"))
    sys.path.insert(0, os.path.join(root, "tests", "fakes"))
    from fakes.fake_github import FakeGitHub
    import runner_install

    binary = os.path.join(root, "build", "runner-supervisor")
    # Not under /tmp: the sandbox gives the runner a fresh /tmp, where the fake runner would
    # not find the fake GitHub's CA file.
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        os.chmod(tmp, 0o755)
        with FakeGitHub(os.path.join(tmp, "fake")) as gh:
            gh.add_org("acme")
            token = os.path.join(tmp, "token")
            with open(token, "w") as f:
                f.write(gh.add_pat(scopes=["admin:org"]))
            runner = runner_install.install(os.path.join(tmp, "runner"), owner=(65534, 65534),
                                            ca_file=gh.ca_file, poll_wait=2)
            one_run(binary, gh, runner, token, tmp)
            results = [one_run(binary, gh, runner, token, tmp) for _ in range(RUNS)]
    own = statistics.median(r[0] for r in results)
    net = statistics.median(r[1] for r in results)
    print("lifecycle", own, net, flush=True)
    return "\n".join([
        "## From the runner's exit to the supervisor's exit", "",
        f"Method: `runner-supervisor run` (release build) with the fake runner taking one job "
        f"that writes 200 files, {RUNS} runs after a warm-up, medians. Measured from the "
        "`runner.exited` event to the `supervisor.exit` event (log timestamps, ms), minus the "
        "deregistration's network time (`runner.deregistered` took_ms): teardown of the "
        "runner's processes, the wipe of the workspace and `_diag`, the installation check, "
        "and the report.", "",
        "| supervisor's own time after the runner exits (ms) | deregistration on loopback (ms) |",
        "| --- | --- |",
        f"| {own:.1f} | {net:.1f} |", ""])
