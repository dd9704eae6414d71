#!/usr/bin/python3
"""`make demo`: one whole runner lifecycle, locally, in under a minute.

Starts the bundled fake GitHub (HTTPS on 127.0.0.1 with a throw-away CA) and a fake runner
installation in a temp dir, queues one small job, and runs runner-supervisor as PID 1 of a
fresh PID namespace (`unshare --pid --fork --mount-proc`) with readable text logs: register,
run the runner as an unprivileged user, one job (which leaves a daemon and files behind),
teardown, wipe, deregistration, summary. Then it shows what people see elsewhere (issue 17):
the job's log as GitHub has it, with the isolation report in its "Set up runner" step; what
the job cost; `runner-supervisor report` on the pod's termination message; and, after a second
pod whose job fails, `report --fleet` over both. Then it cleans up.
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
NOBODY = 65534


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(text, indent="   "):
    for line in text.rstrip("\n").splitlines():
        print(f"{indent}{line}")
    sys.stdout.flush()


def run_pod(gh, tmp, token, name, steps, log=None):
    """One pod: a fresh runner installation, one job queued, the supervisor as PID 1 of a
    new PID namespace; → (exit code, job, termination message, job log directory)."""
    logs = os.path.join(tmp, f"{name}-github-logs")
    os.mkdir(logs)
    os.chmod(logs, 0o777)  # the runner's uid writes the job's log there
    # job_log_dir: the fake Worker writes each step's log as GitHub's log archive holds it.
    runner = runner_install.install(os.path.join(tmp, f"{name}-runner"), owner=(NOBODY, NOBODY),
                                    ca_file=gh.ca_file, poll_wait=2, sigint_timeout=0.5,
                                    sigterm_timeout=0.5, job_log_dir=logs)
    hook = os.path.join(tmp, "operators-hook.sh")
    with open(hook, "w") as f:
        f.write('echo "the operator\'s own job-started hook: warming caches"\n')
    os.chmod(hook, 0o644)
    job = gh.queue_job(name=steps[0], steps=steps[1:])
    summary = os.path.join(tmp, f"{name}-termination-log")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "GITHUB_URL": gh.url + "/acme", "GITHUB_TOKEN_FILE": token,
           "GITHUB_CA_FILE": gh.ca_file, "RUNNER_ROOT": runner,
           "RUNNER_USER": f"{NOBODY}:{NOBODY}", "RUNNER_NAME": name,
           "RUNNER_LABELS": "demo", "SUPERVISOR_LOG_FORMAT": "text",
           "SUPERVISOR_STOP_GRACE": "3", "SUPERVISOR_TERMINATION_LOG": summary,
           # The job's own memory cgroup where the machine delegates one: its peak then
           # counts all its processes (else the largest one's, from rusage).
           "SUPERVISOR_JOB_MEMORY_MAX": "1Gi",
           # A hook the operator set for the runner: it still runs, after the report.
           "ACTIONS_RUNNER_HOOK_JOB_STARTED": hook}
    code = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                           BIN, "run"], env=env, stderr=log, timeout=120).returncode
    with open(summary) as f:
        return code, job, f.read(), os.path.join(logs, str(job.id))


def report(*args, stdin):
    return subprocess.run([BIN, "report", *args], input=stdin, capture_output=True, text=True,
                          timeout=30).stdout


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
            steps = ["build",
                     "echo compiling...; mkdir -p out && head -c 1000000 /dev/urandom > "
                     "out/app.bin; python3 -c 'sum(range(3_000_000))'",
                     "setsid sleep 600 >/dev/null 2>&1 &  # a daemon the job forgets",
                     "echo done"]
            say(f"fake GitHub at {gh.url}, org 'acme'; one job queued: {steps[0]!r}")
            say("runner-supervisor as PID 1 of a new PID namespace (text logs: one line per "
                "event, the isolation table, the summary as a paragraph)")
            code, job, message, logs = run_pod(gh, tmp, token, "demo-pod-1", steps)
            say(f"runner-supervisor exited with {code}; GitHub lists {len(gh.runners())} "
                f"runner(s); the job is {gh.job(job.id).status} ({gh.job(job.id).result})")

            say("the job's log on GitHub: its \"Set up runner\" step, before the first step "
                "of the workflow (the runner's job-started hook; no API call)")
            for name in sorted(os.listdir(logs), key=lambda n: int(n.split("_")[0])):
                print(f"   -- {name[:-4]}")
                if "Set up runner" in name:
                    with open(os.path.join(logs, name)) as f:
                        show(f.read(), "      ")

            say("what the job cost, in the termination message (job.*; also in the "
                "job.completed event)")
            show(json.dumps(json.loads(message)["job"], indent=2))

            say("runner-supervisor report < the pod's termination message")
            show(report(stdin=message))

            say("a second pod, whose job fails (its log not shown)")
            with open(os.path.join(tmp, "pod-2.log"), "w") as log:
                code2, job2, message2, _ = run_pod(
                    gh, tmp, token, "demo-pod-2",
                    ["test", "echo running the tests", "echo '1 test failed' >&2; exit 1"],
                    log=log)
            print(f"   exited with {code2}; the job is {gh.job(job2.id).result}")

            say("runner-supervisor report --fleet < both termination messages, one per line "
                "(kubectl get pods -o jsonpath=...)")
            show(report("--fleet", stdin=message + "\n" + message2 + "\n"))
            return code
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
