"""What happened, where people look (issue 17): the isolation report in the job's own log on
GitHub, text logs for a person, what each job cost, and `runner-supervisor report`.

Against the fake GitHub and the fake actions/runner (tests/fakes/), whose Worker runs the
job-started hook as the real one does (fake_runner/bin/Runner.Worker, run_job_hook) and, with
its job_log_dir knob, writes each step's log where GitHub's log archive has it:
<dir>/<job id>/<n>_<step name>.txt. Every wait is bounded; conftest's per-test timeout is the
backstop.
"""
import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from lifecycle_fixtures import RUNNER_UID
from supervisor_process import RS_BIN

EX_OK, EX_DATAERR, EX_NOINPUT = 0, 65, 66
MiB = 1 << 20
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) "
                       r"[a-z_.]+: ")


def job_logs(lifecycle, **knobs):
    """An installation whose Worker writes the job's log where a test reads it; → (inst,
    the log directory)."""
    logs = Path(lifecycle.tmp) / "job-logs"
    logs.mkdir(exist_ok=True)
    logs.chmod(0o777)  # the runner uid writes it
    return lifecycle.install(job_log_dir=str(logs), **knobs), logs


def step_logs(logs, job):
    """{step name: its log} of the job, in the job's order."""
    files = sorted((logs / str(job.id)).iterdir(), key=lambda p: int(p.name.split("_")[0]))
    return {p.name.split("_", 1)[1][:-len(".txt")]: p.read_text() for p in files}


def table_lines(text):
    """The lines of an isolation table (from its header on) in text."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("LAYER "))
    return lines[start:start + 1 + len([line for line in lines[start + 1:]
                                        if re.match(r"^[a-z_]+ +(applied|unavailable|disabled)",
                                                    line)])]


def check_table(env):
    """What `runner-supervisor check` prints with the same settings."""
    r = subprocess.run([RS_BIN, "check"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return table_lines(r.stdout)


def report(*args, stdin=None):
    return subprocess.run([RS_BIN, "report", *args], input=stdin, capture_output=True,
                          text=True, timeout=30,
                          env={"PATH": os.environ["PATH"], "SUPERVISOR_LOG_FORMAT": "json"})


# ---------------------------------------------------------------------------------------------
# 1. the job's log on GitHub


def test_the_jobs_log_shows_runner_pod_and_isolation_before_its_first_step(lc_github,
                                                                          lifecycle):
    inst, logs = job_logs(lifecycle)
    job = lc_github.queue_job("build", steps=["echo the first step"])
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    steps = step_logs(logs, job)
    # "Set up runner" is the Worker's step for the job-started hook: after "Set up job",
    # before the workflow's first step.
    assert list(steps) == ["Set up job", "Set up runner", "Run echo the first step",
                           "Complete job"]
    shown = steps["Set up runner"]
    summary = run.summary
    name, runner_id = run.env["RUNNER_NAME"], summary["runner"]["id"]
    assert (f"runner-supervisor 0.1.0: runner {name} (id {runner_id}) in pod "
            f"{socket.gethostname()}\n") in shown
    applied = sum(state == "applied" for state in summary["isolation"].values())
    assert (f"isolation (SUPERVISOR_SANDBOX=auto, profile nnp): {applied} of "
            f"{len(summary['isolation'])} layers applied") in shown
    # The table as `check` prints it, each layer with its state and the reason.
    assert table_lines(shown) == check_table(run.env)
    for layer, state in summary["isolation"].items():
        assert re.search(rf"^{layer} +{state} ", shown, re.M), (layer, shown)
    # No extra API call (the registration and the deregistration's GET), nothing secret, and
    # nothing left in the runner's root.
    assert summary["github"]["calls"] == 2
    for text in steps.values():
        assert lifecycle.pat not in text
    assert not (inst.root / ".runner-supervisor-job-started.sh").exists()
    assert run.event("workspace.wiped").field("installation_intact") is True


def test_the_operators_own_hook_still_runs_after_the_report(lc_github, lifecycle):
    inst, logs = job_logs(lifecycle)
    hook = Path(lifecycle.tmp) / "operator-hook.sh"
    hook.write_text('echo "operator hook in $PWD"\necho FROM_OPERATOR=yes >> "$GITHUB_ENV"\n')
    hook.chmod(0o644)
    job = lc_github.queue_job("build", steps=["echo step sees $FROM_OPERATOR"])
    run = lifecycle.start(installation=inst, ACTIONS_RUNNER_HOOK_JOB_STARTED=str(hook))

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    steps = step_logs(logs, job)
    shown = steps["Set up runner"]
    assert shown.index("runner-supervisor 0.1.0: runner") < shown.index("operator hook in ")
    assert f"running the pod's own job-started hook, {hook}" in shown
    assert "step sees yes" in steps["Run echo step sees $FROM_OPERATOR"]
    # The runner was given the supervisor's hook, never both.
    env = [e for e in inst.events("start", "listener") if e["argv"][1:2] == ["run"]][0]["env"]
    assert env["ACTIONS_RUNNER_HOOK_JOB_STARTED"] == str(
        inst.root / ".runner-supervisor-job-started.sh")


def test_an_operators_hook_that_fails_still_fails_the_job(lc_github, lifecycle):
    inst, logs = job_logs(lifecycle)
    hook = Path(lifecycle.tmp) / "strict-hook.sh"
    hook.write_text("echo refusing this job; exit 3\n")
    hook.chmod(0o644)
    job = lc_github.queue_job("build", steps=["echo never"])
    run = lifecycle.start(installation=inst, ACTIONS_RUNNER_HOOK_JOB_STARTED=str(hook))

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Failed"
    shown = step_logs(logs, job)["Set up runner"]
    assert "refusing this job" in shown
    assert "##[error]Process completed with exit code 3." in shown
    assert inst.events("step_skipped")


# ---------------------------------------------------------------------------------------------
# 2. text logs for a person


def test_text_logs_are_one_line_per_event_with_the_table_and_a_paragraph(lc_github, lifecycle):
    lc_github.queue_job("build", steps=["echo hello"])
    run = lifecycle.start(SUPERVISOR_LOG_FORMAT="text")

    assert run.wait() == EX_OK, run.output()
    lines = run.stderr.splitlines()
    # Every line is an event's, or indented below one (the table, the paragraph).
    assert all(TEXT_LINE.match(line) or line.startswith("  ") for line in lines), lines
    assert not [line for line in lines if "{" in line and "summary" in line]
    events = [line for line in lines if TEXT_LINE.match(line)]
    # The runner's lines once each, as it printed them, nothing added.
    listening = [line for line in events if "Listening for Jobs" in line]
    assert len(listening) == 1, events
    assert re.search(r"runner\.output: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: Listening for Jobs$",
                     listening[0])
    # The isolation report: the table `check` prints, below its event.
    at = next(i for i, line in enumerate(lines) if " sandbox.report: " in line)
    block = []
    for line in lines[at + 1:]:
        if not line.startswith("  "):
            break
        block.append(line[2:])
    assert block == check_table(run.env)
    # The summary: a paragraph, the same `report` prints from the termination message.
    at = next(i for i, line in enumerate(lines) if " supervisor.exit: " in line)
    paragraph = [line[2:] for line in lines[at + 1:] if line.startswith("  ")]
    text = " ".join(paragraph)
    name = run.env["RUNNER_NAME"]
    assert re.search(rf'Runner {name} \(id \d+\) ran job "build": Succeeded\. It took '
                     r'\d+\.\d\d s CPU', text), text
    assert "Exit 0: job ran (Runner.Listener exited 100)." in text
    assert "and left nothing." in text and "GitHub no longer lists the runner" in text
    r = report(str(run.termination_log))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == paragraph


def test_json_stays_the_default_and_keeps_every_field(lc_github, lifecycle):
    lc_github.queue_job("build", steps=["echo hello"])
    run = lifecycle.start(SUPERVISOR_LOG_FORMAT=None)  # stderr is a pipe: JSON

    assert run.wait() == EX_OK, run.output()
    out = run.events("runner.output")[0]
    assert {"ts", "level", "event", "msg", "stream", "trace", "continued"} <= set(out)
    assert run.event("sandbox.report").field("layers")
    assert run.summary["job"]["name"] == "build"
    assert not [line for line in run.stderr.splitlines() if line and line[0] != "{"]


# ---------------------------------------------------------------------------------------------
# 3. what each job cost


COSTLY_STEPS = [
    # 0.6 s of CPU
    "python3 -c 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: "
    "pass'",
    # one process with 80 MiB resident
    "python3 -c 'x = bytearray(80 << 20); x[::4096] = b\"x\" * len(x[::4096])'",
    # 3 MiB written under the work folder
    "head -c 3145728 /dev/zero > data.bin",
    # 40 processes
    "for i in $(seq 40); do /bin/true; done",
]


def test_the_job_completed_event_and_the_summary_say_what_the_job_cost(lc_github, lifecycle):
    # This machine's containers have no memory limit: no job cgroup, the figures come from
    # the sandbox init's rusage (its largest process's peak).
    lc_github.queue_job("costly", steps=COSTLY_STEPS)
    run = lifecycle.start()

    assert run.wait() == EX_OK, run.output()
    completed = run.event("job.completed")
    job = run.summary["job"]
    assert run.summary["isolation"]["job_memory"] == "unavailable"
    for figures in (completed, job):
        assert figures["cpu_ms"] >= 550, figures
        assert figures["memory_peak_bytes"] >= 80 * MiB, figures
        assert figures["memory_from"] == "rusage"
        assert figures["workdir_bytes"] >= 3 * MiB, figures
        assert figures["tasks"] >= 40, figures
        assert figures["oom_kills"] is None
    assert completed["result"] == "Succeeded" and completed["took_ms"] > 0
    assert "s CPU, peak memory" in completed["msg"]
    # Logged once the sandbox is gone, when the cost is known.
    names = run.names()
    assert names.index("sandbox.teardown") < names.index("job.completed")


def test_with_a_job_cgroup_the_peak_is_all_its_processes_and_an_oom_is_counted(lc_github,
                                                                              lifecycle):
    # Two processes of 60 MiB at once: the cgroup's peak holds both, a process's never would.
    lc_github.queue_job("pair", steps=[
        "for i in 1 2; do python3 -c 'import time\nx = bytearray(60 << 20)\n"
        "x[::4096] = b\"x\" * len(x[::4096])\ntime.sleep(1)' & done; wait",
        "python3 -c 'x = bytearray(400 << 20); x[::4096] = b\"x\" * len(x[::4096])'"])
    run = lifecycle.start(SUPERVISOR_JOB_MEMORY_MAX="256Mi")

    assert run.wait() == EX_OK, run.output()
    assert run.summary["isolation"]["job_memory"] == "applied"
    completed = run.event("job.completed")
    assert completed["result"] == "Failed"
    assert completed["memory_from"] == "cgroup"
    assert completed["memory_peak_bytes"] >= 120 * MiB, completed
    assert completed["oom_kills"] >= 1
    assert "killed for memory (OOM)" in completed["msg"]
    assert run.summary["job"]["oom_kills"] == completed["oom_kills"]


# ---------------------------------------------------------------------------------------------
# 4. runner-supervisor report


def test_report_prints_a_pods_summary_from_its_termination_message_or_its_log(lc_github,
                                                                            lifecycle):
    lc_github.queue_job("build", steps=["exit 1"])
    run = lifecycle.start()
    assert run.wait() == EX_OK, run.output()
    text, summary = run.termination_summary()

    from_file = report(str(run.termination_log))
    from_stdin = report(stdin=text)
    from_log = report("-", stdin=run.stderr)  # kubectl logs POD | runner-supervisor report
    assert from_file.returncode == from_stdin.returncode == from_log.returncode == 0
    assert from_file.stdout == from_stdin.stdout == from_log.stdout
    paragraph = " ".join(from_file.stdout.splitlines())
    assert (f'Runner {summary["runner"]["name"]} (id {summary["runner"]["id"]}) ran job '
            f'"build": Failed.') in paragraph
    assert "Exit 0: job ran" in paragraph
    assert all(len(line) <= 96 for line in from_file.stdout.splitlines())


def test_report_fleet_prints_a_row_per_pod_and_the_totals(lc_github, lifecycle):
    lc_github.queue_job("build", steps=["echo fine"])
    ran = lifecycle.start()
    assert ran.wait() == EX_OK, ran.output()
    idle = lifecycle.start()
    idle.wait_for_event("runner.listening")
    idle.send_signal(signal.SIGTERM)
    assert idle.wait() == EX_OK, idle.output()
    lines = [ran.termination_summary()[0], "", "still running: no message",
             idle.termination_summary()[0]]

    r = report("--fleet", stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split()[:4] == ["RUNNER", "JOB", "RESULT", "EXIT"]
    assert rows[1].split()[:4] == [ran.env["RUNNER_NAME"], "build", "Succeeded", "0"]
    assert rows[2].split()[:4] == [idle.env["RUNNER_NAME"], "-", "-", "0"]
    assert "2 pods, 1 job, 1 pod without a job" in r.stdout
    assert "results: Succeeded (1 job)" in r.stdout
    assert "exit codes: 0 (2 pods)" in r.stdout
    assert "registrations that may remain (ghosts): 0;" in r.stdout
    assert re.search(r"isolation seen: \d+ of \d+ layers applied.*\(2 pods\)", r.stdout)
    assert "1 line without a summary skipped" in r.stdout


def test_report_says_when_there_is_no_summary(tmp_path):
    assert report(str(tmp_path / "missing")).returncode == EX_NOINPUT
    r = report(stdin="{\"ts\":\"x\",\"event\":\"runner.output\"}\nnot json\n")
    assert r.returncode == EX_DATAERR
    assert "no runner-supervisor summary" in r.stderr
    assert report("--fleet", stdin="\n\n").returncode == EX_DATAERR
    assert report("--online").returncode == 64  # another command's option
    help_text = subprocess.run([RS_BIN, "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    assert "runner-supervisor report [--fleet] [FILE]" in help_text


def test_the_runner_uid_is_not_the_hooks_owner(lc_github, lifecycle):
    # The job cannot rewrite the hook the Worker is about to run: it is the supervisor's.
    inst, _ = job_logs(lifecycle)
    lc_github.queue_job("look", steps=[
        "ls -ln \"$ACTIONS_RUNNER_HOOK_JOB_STARTED\"; "
        "echo x >> \"$ACTIONS_RUNNER_HOOK_JOB_STARTED\" && echo WRITABLE || echo refused"])
    run = lifecycle.start(installation=inst)
    assert run.wait() == EX_OK, run.output()
    out = inst.step_outputs()[-1]
    assert "refused" in out and "WRITABLE" not in out
    assert f" {RUNNER_UID} " not in out.splitlines()[0]
