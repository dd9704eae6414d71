#!/usr/bin/python3
"""`make demo`: one whole runner lifecycle, locally, in under a minute.

Starts the bundled fake GitHub (HTTPS on 127.0.0.1 with a throw-away CA) and a fake runner
installation in a temp dir, queues one small job, and runs runner-supervisor as PID 1 of a
fresh PID namespace (`unshare --pid --fork --mount-proc`) with readable text logs: register,
run the runner as an unprivileged user, one job (which leaves a daemon and files behind),
teardown, wipe, deregistration, summary. Then it cleans up.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.fake_github import FakeGitHub  # noqa: E402
import runner_install  # noqa: E402

BIN = os.environ.get("BIN", os.path.join(ROOT, "build", "runner-supervisor"))


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def main():
    # Not under /tmp: the sandbox gives the runner a fresh /tmp, and the fake runner must
    # find the fake GitHub's CA file.
    tmp = tempfile.mkdtemp(prefix="rs-demo-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    try:
        with FakeGitHub(os.path.join(tmp, "github")) as gh:
            gh.add_org("acme")
            token = os.path.join(tmp, "token")
            with open(token, "w") as f:
                f.write(gh.add_pat(scopes=["admin:org"]))
            os.chmod(token, 0o400)
            runner = runner_install.install(os.path.join(tmp, "runner"), owner=(65534, 65534),
                                            ca_file=gh.ca_file, poll_wait=2,
                                            sigint_timeout=0.5, sigterm_timeout=0.5)
            job = gh.queue_job(name="build", steps=[
                "echo compiling...; mkdir -p out && echo artifact > out/app.bin",
                "setsid sleep 600 >/dev/null 2>&1 &  # a daemon the job forgets",
                "echo done",
            ])
            say(f"fake GitHub at {gh.url}, org 'acme'; one job queued: {job.name!r}")
            say("runner-supervisor as PID 1 of a new PID namespace (text logs)")
            summary = os.path.join(tmp, "termination-log")
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "GITHUB_URL": gh.url + "/acme", "GITHUB_TOKEN_FILE": token,
                   "GITHUB_CA_FILE": gh.ca_file, "RUNNER_ROOT": runner,
                   "RUNNER_USER": "65534:65534", "RUNNER_NAME": "demo-pod-1",
                   "RUNNER_LABELS": "demo", "SUPERVISOR_LOG_FORMAT": "text",
                   "SUPERVISOR_STOP_GRACE": "3", "SUPERVISOR_TERMINATION_LOG": summary}
            code = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                                   BIN, "run"], env=env, timeout=120).returncode
            say(f"runner-supervisor exited with {code}")
            with open(summary) as f:
                print(json.dumps(json.load(f), indent=2))
            left = os.listdir(os.path.join(runner, "_work")) if os.path.isdir(
                os.path.join(runner, "_work")) else []
            say(f"GitHub lists {len(gh.runners())} runner(s); the job is "
                f"{gh.job(job.id).status} ({gh.job(job.id).result}); _work holds {left}")
            return code
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
