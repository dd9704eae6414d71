"""The supervisor against the runner as actions/runner 2.336 and its official image really
behave (DESIGN.md, "The runner contract"; docs/runner-facts.md names the source of each fake
behaviour): job text on the Listener's stdout, updates pushed by the service, the result GitHub
shows after a stop, the real stop timings, umask, HOME, session conflicts, ARC's blob.

Same fixtures as test_lifecycle.py (lifecycle_fixtures.py): every process and file is checked
and cleaned after each test.
"""
import json
import os
import signal
import stat
import time

import pytest

from lifecycle_fixtures import RUNNER_UID
from test_lifecycle import (EX_OK, EX_OUTDATED, EX_TEMPFAIL, STOP_GRACE, assert_deregistered,
                            listener_start, wait_step_running)

TS = "2026-12-07 10:00:00Z"
OFFICIAL_IMAGE_ENV = {"ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT": "1", "RUNNER_MANUALLY_TRAP_SIG": "1"}

# What a job can print that the supervisor reacts to when the runner says it.
PHRASES = [
    f"{TS}: Runner connect error: Registration 42 was not found. Retrying until reconnected.",
    "The runner no longer exists on the server. Cleaning up local configuration.",
    "A session for this runner already exists.",
    f"{TS}: Listening for Jobs",
    f"{TS}: Running job: other",
    f"{TS}: Job build completed with result: Succeeded",
    "Runner update in progress, do not shutdown runner.",
    "An error occurred: Runner version v2.300.0 is deprecated and cannot receive messages.",
]


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------------------------
# 1. job text never drives the supervisor


def test_a_job_printing_the_runners_phrases_runs_to_its_end_and_is_reported_truthfully(
        lc_github, lifecycle):
    # The official image copies the Worker's trace, the job message with every script among
    # it, to the Listener's stdout (JobDispatcher.cs); the job echoes each phrase too, then
    # outlives the stop grace, then fails.
    steps = [f"echo {shell_quote(p)}; echo {shell_quote(p)} >&2" for p in PHRASES]
    steps += [f"sleep {STOP_GRACE + 2}", "echo last-step-ran; exit 1"]
    job = lc_github.queue_job("build", steps=steps)
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst, **OFFICIAL_IMAGE_ENV)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Failed"
    assert run.job_summary == {"name": "build", "result": "Failed"}
    assert run.summary["exit"]["reason"] == "job ran"
    assert "last-step-ran" in inst.step_outputs()[-1]
    for name in ("runner.ghost", "runner.session_conflict", "runner.updating"):
        assert not run.events(name), name
    assert len(run.events("job.completed")) == 1
    assert_deregistered(run)
    # The phrases did reach the supervisor, inside the runner's trace lines, kept as data.
    traced = [e for e in run.events("runner.output") if e.field("trace")]
    assert any("Registration 42 was not found" in e.field("msg") for e in traced)
    assert any(f"{TS}: Job build completed with result: Succeeded" in e.field("msg")
               for e in traced)


def test_the_runner_always_prefixes_its_trace_lines(lc_github, lifecycle):
    # Without the prefix on every line of a multi-line trace message (StdoutTraceListener.cs),
    # the job message would reach stdout as bare lines: the supervisor never passes the switch.
    lc_github.queue_job("build", steps=["true"])
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst, ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING=1,
                          **OFFICIAL_IMAGE_ENV)

    assert run.wait() == EX_OK, run.output()
    assert "ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING" not in listener_start(inst)["env"]
    lines = [e.field("msg") for e in run.events("runner.output")]
    message = [line for line in lines if '"steps"' in line]
    assert message and all(line.startswith("[WORKER ") for line in message)


# ---------------------------------------------------------------------------------------------
# 2. no self-update surprise


def test_a_new_runner_release_is_not_pushed_to_the_runner(lc_github, lifecycle):
    # GitHub pushes each release to a runner whose .runner does not disable updates; the
    # supervisor writes DisableUpdate: true, as configure --disableupdate does.
    lc_github.latest_runner_version = "2.337.0"
    job = lc_github.queue_job("build", steps=["true"])
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert not inst.events("self_update", "listener")
    assert not (inst.root / "bin.2.337.0").exists()


def test_an_outdated_image_is_reported_76(lc_github, lifecycle):
    lc_github.min_runner_version = "2.337.0"
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OUTDATED, run.output()
    assert run.summary["exit"]["listener_code"] == 7
    assert "outdated" in run.summary["exit"]["reason"]
    assert inst.events("access_denied", "listener")
    assert_deregistered(run)


def test_an_outdated_runner_under_arc_exits_7_for_arcs_outdated_handling(lc_github, lifecycle):
    # ARC's EphemeralRunner controller marks the runner Outdated on the pod's exit code 7.
    lc_github.min_runner_version = "2.337.0"
    name = "arc-" + os.urandom(4).hex()
    blob, _ = lc_github.generate_jitconfig(name, lifecycle.pat)
    lc_github.expect(1)  # left to ARC: the supervisor holds no credentials
    run = lifecycle.start(ACTIONS_RUNNER_INPUT_JITCONFIG=blob, GITHUB_URL=None,
                          GITHUB_TOKEN_FILE=None, GITHUB_CA_FILE=None, RUNNER_NAME=name)

    assert run.wait() == 7, run.output()
    assert run.summary["exit"]["listener_code"] == 7
    assert_deregistered(run, "left to ARC")


@pytest.mark.parametrize("listener_code", [3, 4, 7])
def test_an_outdated_exit_code_without_the_runners_line_is_not_76(lc_github, lifecycle,
                                                                 listener_code):
    # A Listener made to exit 3/4/7 (a job can ptrace it) says nothing of its version.
    run = lifecycle.start(installation=lifecycle.install(exit_at_start=listener_code))

    assert run.wait() == EX_TEMPFAIL, run.output()
    assert run.summary["exit"]["listener_code"] == listener_code


# ---------------------------------------------------------------------------------------------
# 3. the job result GitHub shows


def test_a_job_the_supervisor_stops_is_reported_failed_as_github_shows_it(lc_github, lifecycle):
    job = lc_github.queue_job("long", steps=["sleep 600"])
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)
    wait_step_running(inst)
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 12) == EX_OK, run.output()
    # The Listener prints Canceled; the Worker marks the job Failed ("The runner has received
    # a shutdown signal", StepsRunner.cs), and that is what GitHub shows.
    assert inst.event("job_completed", "listener")["result"] == "Canceled"
    assert lc_github.job(job.id).result == "Failed"
    assert run.job_summary == {"name": "long", "result": "Failed"}
    assert "GitHub shows it Failed" in run.summary["exit"]["reason"]
    # The Listener's own completion line, printed after the stop began, is taken as such.
    assert run.event("job.completed").field("result") == "Canceled"
    assert not run.events("runner.line_ignored")


def test_a_job_cancelled_on_github_is_reported_canceled(lc_github, lifecycle):
    job = lc_github.queue_job("long", steps=["sleep 600"])
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)
    wait_step_running(inst)
    lc_github.cancel_job(job.id)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Canceled"
    assert run.job_summary == {"name": "long", "result": "Canceled"}


# ---------------------------------------------------------------------------------------------
# 4. a stop that lets the real runner finish


def test_the_default_stop_grace_lets_the_real_runners_stop_finish(lc_github, lifecycle):
    # The real timings: a step that ignores SIGINT and SIGTERM is killed 7.5 + 2.5 s after the
    # cancel, the job's finalisation takes its time, then the Listener deletes its session.
    # 10 + 16 + 5 s outlast the old 25 s default: the job stayed in progress on GitHub and
    # the runner could not be deleted (422).
    lc_github.session_delete_seconds = 5
    job = lc_github.queue_job("stubborn", steps=["trap '' INT TERM; sleep 600"])
    inst = lifecycle.install(sigint_timeout=7.5, sigterm_timeout=2.5, finalize_seconds=16)
    run = lifecycle.start(installation=inst, SUPERVISOR_STOP_GRACE=None)
    wait_step_running(inst)
    run.send_signal(signal.SIGTERM)

    assert run.wait(60) == EX_OK, run.output()
    assert run.summary["exit"]["listener_code"] == 0  # it finished; nothing was killed
    assert lc_github.job(job.id).result == "Failed"
    assert inst.events("session_deleted", "listener")
    assert_deregistered(run)


# ---------------------------------------------------------------------------------------------
# 6. umask 022


def test_the_runner_and_the_job_get_umask_022_and_the_credentials_stay_0600(lc_github,
                                                                           lifecycle):
    lc_github.queue_job("build", steps=["umask", "mkdir out && touch out/file && stat -c %a out "
                                                "out/file"])
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    start = listener_start(inst)
    assert start["umask"] == 0o022
    outputs = inst.step_outputs()
    assert outputs[0].strip() == "0022"
    assert outputs[1].split() == ["755", "644"]
    for name in (".runner", ".credentials", ".credentials_rsaparams"):
        assert stat.S_IMODE(start["files"][name]["mode"]) == 0o600, name
        assert start["files"][name]["uid"] == RUNNER_UID


# ---------------------------------------------------------------------------------------------
# 7. HOME is the runner root


def test_a_job_writing_its_dotfiles_in_home_ends_0_and_leaves_nothing(lc_github, lifecycle):
    inst = lifecycle.install(chown_all=True)  # the official image: the runner user owns it
    bashrc = (inst.root / ".bashrc").read_bytes()
    lc_github.queue_job("dotfiles", steps=[
        'test "$HOME" = "$(cd "$RUNNER_WORKSPACE/../.." && pwd)"',
        'echo "export PATH=$HOME/.local/bin:$PATH" >> ~/.bashrc',
        "mkdir -p ~/.docker && echo '{\"auths\":{}}' > ~/.docker/config.json",
        "echo //registry.npmjs.org/:_authToken=x > ~/.npmrc",
        "git config --global user.name job",
        "mkdir -p ~/.cache/pip && head -c 100000 /dev/zero > ~/.cache/pip/blob",
        "chmod 600 ~/.profile && rm ~/.bash_logout",
    ])
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    assert lifecycle.gh.jobs()[0]["result"] == "Succeeded"
    assert (inst.root / ".bashrc").read_bytes() == bashrc
    assert stat.S_IMODE((inst.root / ".profile").stat().st_mode) == 0o644
    assert (inst.root / ".bash_logout").exists()
    assert (inst.root / ".bash_logout").stat().st_uid == RUNNER_UID
    for name in (".docker", ".npmrc", ".gitconfig", ".cache"):
        assert not (inst.root / name).exists(), name
    wiped = run.event("workspace.wiped")
    assert wiped.field("restored") == 3
    assert wiped.field("installation_intact") is True


def test_a_job_changing_the_runners_code_still_fails_the_pod(lc_github, lifecycle):
    # Without a mount namespace bin/ is writable by the runner user in the official image.
    inst = lifecycle.install(chown_all=True)
    lc_github.queue_job("tamper", steps=["echo x >> \"$HOME/bin/Runner.Common.dll\""])
    run = lifecycle.start(installation=inst, SUPERVISOR_SANDBOX="off")

    assert run.wait() == 74, run.output()
    assert run.events("installation.changed")


# ---------------------------------------------------------------------------------------------
# 8. session conflicts are retried


def test_a_session_conflict_is_retried_by_the_runner_not_stopped(lc_github, lifecycle):
    inst = lifecycle.install(startup_delay=1)
    run = lifecycle.start(installation=inst)
    runner_id = run.wait_for_event("runner.registered").field("runner_id")
    lc_github.hold_session(runner_id)  # another process holds this registration
    inst.wait_event("session_conflict", "listener", count=2)
    lc_github.release_session(runner_id)
    job = lc_github.queue_job("after-conflict", steps=["true"])

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert run.events("runner.session_conflict")
    assert not run.events("runner.ghost")


def test_a_runner_that_gives_up_on_a_session_conflict_is_75(lc_github, lifecycle):
    inst = lifecycle.install(startup_delay=1, session_conflict_seconds=2)
    run = lifecycle.start(installation=inst)
    runner_id = run.wait_for_event("runner.registered").field("runner_id")
    lc_github.hold_session(runner_id)

    assert run.wait() == EX_TEMPFAIL, run.output()
    assert run.summary["exit"]["listener_code"] == 5
    assert "session conflict" in run.summary["exit"]["reason"]


# ---------------------------------------------------------------------------------------------
# 9. ARC's blob as the runner reads it


@pytest.mark.parametrize("garnish", ["\n", "\r\n", "  \n"], ids=["newline", "crlf", "spaces"])
def test_an_arc_blob_from_a_file_with_a_trailing_newline_works(lc_github, lifecycle, garnish):
    name = "arc-" + os.urandom(4).hex()
    blob, _ = lc_github.generate_jitconfig(name, lifecycle.pat)
    job = lc_github.queue_job("arc-job", steps=["true"])
    run = lifecycle.start(ACTIONS_RUNNER_INPUT_JITCONFIG=blob + garnish, GITHUB_URL=None,
                          GITHUB_TOKEN_FILE=None, GITHUB_CA_FILE=None, RUNNER_NAME=name)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
