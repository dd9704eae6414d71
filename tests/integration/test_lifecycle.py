"""The whole lifecycle of `runner-supervisor run`: register -> start the runner -> one job ->
stop -> wipe -> confirm deregistration -> report -> exit (DESIGN.md: "Process model", "The
runner contract", "Exit codes", "Reporting", "What the wipe covers").

Against the fake GitHub and the fake actions/runner (tests/fakes/), through the fixtures of
lifecycle_fixtures.py, which check after every test that no process of the runner uid is
alive, that RUNNER_ROOT/_work is empty, that the fake holds only the registrations the test
expected, and that the sanitizers said nothing. The core behaviours run twice: with the
supervisor as a child subreaper, and as real PID 1 of a PID namespace.

Every wait is bounded and waits for a log event or a record of the fake runner, never for
time to pass.
"""
import json
import os
import signal
import time
from pathlib import Path

import pytest

import conftest
from lifecycle_fixtures import MODES, RUNNER_UID

STOP_GRACE = 2  # SUPERVISOR_STOP_GRACE of every run (lifecycle_fixtures.Lifecycle.base_env)
EX_OK, EX_IOERR, EX_TEMPFAIL, EX_OUTDATED, EX_NOPERM = 0, 74, 75, 76, 77

# Walked whenever the runner was started, and long enough (tens of ms) to show in phases_ms,
# which leaves out a phase that took under 1 ms (a short wipe can).
RUNNER_PHASES = {"starting", "stopping"}


def phases(run):
    return set(run.summary["phases_ms"])


def listener_start(inst):
    """The record of `Runner.Listener run` starting (not `configure`)."""
    starts = [e for e in inst.events("start", "listener") if "run" in e["argv"][1:2]]
    assert starts, f"the runner never started: {inst.events()}"
    return starts[0]


def sigints_to_listener(inst):
    return [e for e in inst.events("signal", "listener") if e["signal"] == "SIGINT"]


def wait_step_running(inst, index=0):
    """The job's step `index` has started (the Worker recorded it)."""
    return inst.wait_event("step_started", "worker", count=index + 1)


def assert_deregistered(run, how="confirmed"):
    assert run.summary["github"]["deregistered"] == how, run.output()


# ---------------------------------------------------------------------------------------------
# 1. one job


@pytest.mark.parametrize("mode", MODES)
def test_one_job_with_a_pat_runs_and_reports_everything(lc_github, lifecycle, mode):
    inst = lifecycle.install()
    # phases_ms leaves out a phase that took under 1 ms: a slow deregistration GET, 500 files
    # to wipe, and a job queued only once the runner listens make every phase measurable.
    lc_github.inject("GET", r"/actions/runners/\d+$", kind="delay", times=None, seconds=0.05)
    run = lifecycle.start(mode, inst)
    run.wait_for_event("runner.listening")
    job = lc_github.queue_job("build", steps=["echo hello from the job", "umask", "id -u",
                                              "mkdir out && touch out/{1..500}"])

    assert run.wait() == EX_OK, run.output()

    assert lc_github.job(job.id).result == "Succeeded"
    assert run.event("supervisor.start").field("pid1") is (mode == "pid1")
    summary = run.summary
    registered = run.event("runner.registered")
    assert summary["runner"] == {"name": run.env["RUNNER_NAME"],
                                 "id": registered.field("runner_id")}
    assert run.job_summary == {"name": "build", "result": "Succeeded"}
    assert summary["exit"]["code"] == 0
    assert summary["exit"]["listener_code"] == 100  # Succeeded, with RETURN_JOB_RESULT_FOR_HOSTED
    assert summary["github"]["deregistered"] == "confirmed"
    # generate-jitconfig, then GET -> 404 (the service deleted the ephemeral runner after
    # its job): nothing more.
    assert summary["github"]["calls"] <= 2
    assert phases(run) >= {"registering", "starting", "listening", "job_running", "stopping",
                           "wiping", "deregistering"}

    # The termination log holds the same summary as the last log line, within 4096 bytes.
    text, from_file = run.termination_summary()
    assert len(text.encode()) <= 4096
    assert from_file == summary
    last = run.stderr.splitlines()[-1]
    assert '"event":"supervisor.exit"' in last and json.loads(last)["summary"] == from_file

    # Every line the runner printed is relayed as a runner.output event.
    lines = [(e.field("stream"), e.field("msg")) for e in run.events("runner.output")]
    assert ("stdout", "√ Connected to GitHub") in lines
    assert any(s == "stdout" and line.endswith(": Listening for Jobs") for s, line in lines)
    assert any(line.endswith("Running job: build") for _, line in lines)

    # The runner ran as the runner user, with umask 022 and the job-result exit codes on.
    start = listener_start(inst)
    assert (start["uid"], start["euid"], start["gid"]) == (RUNNER_UID, RUNNER_UID, RUNNER_UID)
    assert start["umask"] == 0o022
    assert start["env"].get("ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED") == "true"
    outputs = inst.step_outputs()
    assert outputs[0].strip() == "hello from the job"
    assert outputs[1].strip() == "0022"
    assert outputs[2].strip() == str(RUNNER_UID)
    # The credential files are gone with the rest.
    assert not [n for n in (".runner", ".credentials", ".credentials_rsaparams")
                if (inst.root / n).exists()]


# ---------------------------------------------------------------------------------------------
# 2. the other ways of registering


def test_one_job_with_a_github_app(lc_github, lifecycle):
    app = lc_github.add_app()
    app.install(org="acme")
    key = lifecycle.secret_file("app-key-", app.private_key_pem)
    job = lc_github.queue_job("app-job", steps=["true"])
    run = lifecycle.start(GITHUB_TOKEN_FILE=None, GITHUB_APP_ID=app.app_id,
                          GITHUB_APP_PRIVATE_KEY_FILE=key)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert run.job_summary == {"name": "app-job", "result": "Succeeded"}
    assert_deregistered(run)
    # The runner was registered and confirmed gone with an installation token.
    auth = [c["headers"].get("authorization", "") for c in
            lc_github.calls_to(r"/actions/runners")]
    assert auth and all(a.startswith(("token ghs_", "Bearer ghs_")) for a in auth), auth


def test_an_arc_jit_config_runs_without_credentials_and_leaves_removal_to_arc(lc_github,
                                                                              lifecycle):
    name = "arc-" + os.urandom(4).hex()
    blob, runner = lc_github.generate_jitconfig(name, lifecycle.pat)
    lc_github.reset_calls()
    inst = lifecycle.install()
    job = lc_github.queue_job("arc-job", steps=["true"])
    # As in an ARC pod, whose name (the default RUNNER_NAME) is the runner's.
    run = lifecycle.start(installation=inst, ACTIONS_RUNNER_INPUT_JITCONFIG=blob,
                          GITHUB_URL=None, GITHUB_TOKEN_FILE=None, GITHUB_CA_FILE=None,
                          RUNNER_NAME=name)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert run.summary["runner"] == {"name": name, "id": runner["id"]}
    assert_deregistered(run, "left to ARC")
    assert lc_github.calls == []  # no API call at all: ARC registered, and removes
    assert lc_github.runners() == []  # the service removed the ephemeral runner after its job
    start = listener_start(inst)
    assert not [k for k in start["env"] if k.startswith("ACTIONS_RUNNER_INPUT_")]
    assert blob not in " ".join(start["argv"])
    assert blob not in run.output()


def test_an_arc_jit_config_is_reported_under_the_name_it_registered(lc_github, lifecycle):
    # Not RUNNER_NAME (the pod's name by default): GitHub knows the runner by the blob's.
    name = "arc-" + os.urandom(4).hex()
    blob, runner = lc_github.generate_jitconfig(name, lifecycle.pat)
    lc_github.queue_job("arc-job", steps=["true"])
    run = lifecycle.start(ACTIONS_RUNNER_INPUT_JITCONFIG=blob, GITHUB_URL=None,
                          GITHUB_TOKEN_FILE=None, GITHUB_CA_FILE=None,
                          RUNNER_NAME="pod-name-is-not-the-runner-name")

    assert run.wait() == EX_OK, run.output()
    assert run.event("runner.registered").field("runner_name") == name
    assert run.summary["runner"] == {"name": name, "id": runner["id"]}


def test_token_mode_configures_then_runs_one_job(lc_github, lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("token-job", steps=["true"])
    run = lifecycle.start(installation=inst, SUPERVISOR_REGISTRATION="token")

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert_deregistered(run)
    configure = inst.event("configure", "listener")
    assert "--ephemeral" in configure["argv"] and "--unattended" in configure["argv"]
    token = lc_github.registration_tokens()[0]["token"]
    assert token not in " ".join(configure["argv"])
    assert token not in listener_start(inst)["env"].values()


# ---------------------------------------------------------------------------------------------
# 3. SIGTERM in each phase


def sigterm_while_registering(lc_github, lifecycle, delay=3, **env):
    """Starts a run whose generate-jitconfig GitHub answers after `delay` s (and only then
    registers the runner), and sends SIGTERM while that request is in flight."""
    fault = lc_github.inject("POST", "generate-jitconfig", kind="delay", seconds=delay)
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst, **env)
    conftest.wait_until(lambda: any(f["id"] == fault and f["hits"] for f in lc_github.faults())
                        or not run.alive(), what="generate-jitconfig in flight")
    run.send_signal(signal.SIGTERM)
    return run, inst


def registrations_once_github_answered(lc_github):
    """The registrations left once the delayed generate-jitconfig has been processed (the
    call log records a call when GitHub has handled it), told to the fixture as expected:
    the test itself says what they should be."""
    conftest.wait_until(lambda: lc_github.calls_to("generate-jitconfig"), timeout=10,
                        what="GitHub to process the delayed generate-jitconfig")
    left = lc_github.runners()
    lc_github.expect(len(left))
    return left


def test_sigterm_during_registration_exits_0_at_once_without_starting_the_runner(lc_github,
                                                                                lifecycle):
    run, inst = sigterm_while_registering(lc_github, lifecycle)

    assert run.wait(10) == EX_OK, run.output()
    assert run.elapsed < 3, "the registration request was not cut short"
    assert run.summary["exit"]["reason"] == "stopped by signal during registration"
    assert not inst.events("start")  # the runner never started
    assert "registering" in phases(run)
    assert phases(run) <= {"registering", "deregistering"}
    # It looked for a registration the cut request might have made (none yet: GitHub is
    # still sitting on the request). What GitHub does with the request afterwards is the
    # next test's.
    assert lc_github.calls_to(r"/actions/runners$", "GET")
    registrations_once_github_answered(lc_github)


def test_a_registration_github_completes_after_sigterm_is_not_left_behind(lc_github,
                                                                          lifecycle):
    # The supervisor lets a registration in flight answer for half the stop grace (GitHub
    # aborts requests after 10 s): with 8 s, GitHub's 3 s answer arrives and is deleted.
    run, _ = sigterm_while_registering(lc_github, lifecycle, SUPERVISOR_STOP_GRACE=8)

    assert run.wait(15) == EX_OK, run.output()
    assert registrations_once_github_answered(lc_github) == []


def sandbox_inits_of(pid):
    """{pid as its parent sees it: host pid} of pid's children that are a sandbox init
    (argv[1] "__sandbox-init", initexec.h)."""
    found = {}
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for kid in kids:
        try:
            argv = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{kid}/status").read_text()
        except OSError:
            continue
        if argv[1:2] == [b"__sandbox-init"]:
            nspid = next(line.split()[1:] for line in status.splitlines()
                         if line.startswith("NSpid:"))
            found[int(nspid[-2])] = int(kid)  # the last is 1: its own namespace's
    return found


def init_made_while_registering(lc_github, lifecycle, mode="subreaper", delay=3):
    """Starts a run whose generate-jitconfig GitHub answers after delay s; → (run, inst,
    {pid: host pid} of the sandbox init that exists while GitHub has not answered)."""
    fault = lc_github.inject("POST", "generate-jitconfig", kind="delay", seconds=delay)
    inst = lifecycle.install()
    run = lifecycle.start(mode, inst)
    conftest.wait_until(lambda: any(f["id"] == fault and f["hits"] for f in lc_github.faults())
                        or not run.alive(), what="generate-jitconfig in flight")
    inits = conftest.wait_until(lambda: sandbox_inits_of(run.sup_pid) or not run.alive(),
                                what="the sandbox init, during the registration")
    assert run.alive(), run.output()
    assert not lc_github.calls_to("generate-jitconfig"), "GitHub answered too early"
    assert not run.events("runner.registered")
    return run, inst, inits


@pytest.mark.parametrize("mode", MODES)
def test_the_sandbox_is_made_while_the_runner_registers_and_then_runs_it(lc_github, lifecycle,
                                                                         mode):
    # ahead.h: the sandbox's set-up runs while GitHub answers, off the way from "registered"
    # to "listening"; the very init made then runs the runner.
    run, inst, inits = init_made_while_registering(lc_github, lifecycle, mode, delay=1)
    run.wait_for_event("runner.listening")
    started = run.event("child.started")
    assert started["sandbox_init"] and started["pid"] in inits, (started, inits)
    assert started["prepared_us"] > 0  # made before the runner was asked for
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 10) == EX_OK, run.output()
    assert inst.events("start")
    assert_deregistered(run)


def test_a_sandbox_made_for_a_registration_cut_short_is_torn_down(lc_github, lifecycle):
    run, inst, inits = init_made_while_registering(lc_github, lifecycle)
    run.send_signal(signal.SIGTERM)

    assert run.wait(10) == EX_OK, run.output()
    abandoned = run.event("sandbox.abandoned")
    assert abandoned["pid"] in inits, (abandoned, inits)
    names = run.names()
    assert names.index("sandbox.abandoned") < names.index("supervisor.exit")
    assert not run.events("child.started") and not inst.events("start")
    registrations_once_github_answered(lc_github)


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_while_listening_stops_the_runner_and_deregisters(lc_github, lifecycle, mode):
    inst = lifecycle.install()
    run = lifecycle.start(mode, inst)
    run.wait_for_event("runner.listening")
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 10) == EX_OK, run.output()
    assert sigints_to_listener(inst), "the runner did not get SIGINT"
    assert inst.event("exit", "listener")["code"] == 0  # it stopped by itself, not killed
    assert not inst.events("job_started")
    assert run.job_summary == {"name": None, "result": None}
    assert run.summary["exit"]["listener_code"] == 0
    assert_deregistered(run)
    assert "job_running" not in phases(run)
    # ("listening" too, unless the SIGTERM came within the same millisecond: phases_ms
    # leaves out a phase that took under 1 ms.)
    assert phases(run) >= {"registering"} | RUNNER_PHASES


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_during_a_job_without_drain_cancels_it_at_once(lc_github, lifecycle, mode):
    inst = lifecycle.install()
    job = lc_github.queue_job("long", steps=["sleep 600"])
    run = lifecycle.start(mode, inst, SUPERVISOR_DRAIN_TIMEOUT=0)
    wait_step_running(inst)
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 10) == EX_OK, run.output()
    # The Worker fails a job the runner's shutdown cancels; GitHub shows Failed.
    assert lc_github.job(job.id).result == "Failed"
    assert sigints_to_listener(inst)
    assert run.job_summary == {"name": "long", "result": "Failed"}
    # SIGINT: the Listener cancels the job, then exits 0 (contract, "Signals"), not 103.
    assert run.summary["exit"]["listener_code"] == 0
    assert_deregistered(run)
    assert "job_running" in phases(run)


def test_sigterm_during_a_job_with_drain_lets_it_finish(lc_github, lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("short", steps=["sleep 2"])
    run = lifecycle.start(installation=inst, SUPERVISOR_DRAIN_TIMEOUT=30)
    wait_step_running(inst)
    run.send_signal(signal.SIGTERM)
    run.wait_for_event("job.draining")

    assert run.wait(15) == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert not sigints_to_listener(inst)
    assert run.job_summary == {"name": "short", "result": "Succeeded"}
    assert_deregistered(run)


def test_second_sigterm_while_draining_cancels_the_job_at_once(lc_github, lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("long", steps=["sleep 600"])
    run = lifecycle.start(installation=inst, SUPERVISOR_DRAIN_TIMEOUT=30)
    wait_step_running(inst)
    run.send_signal(signal.SIGTERM)
    run.wait_for_event("job.draining")
    assert not sigints_to_listener(inst)
    second = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 10) == EX_OK, run.output()
    assert run.exited_at - second < STOP_GRACE + 5  # not the 30 s of the drain
    assert lc_github.job(job.id).result == "Failed"
    assert run.summary["job"]["result"] == "Failed"
    assert_deregistered(run)


def test_a_drain_that_runs_out_cancels_the_job(lc_github, lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("long", steps=["sleep 600"])
    run = lifecycle.start(installation=inst, SUPERVISOR_DRAIN_TIMEOUT=1)
    wait_step_running(inst)
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 10) == EX_OK, run.output()
    assert run.events("job.draining")
    assert 1 <= run.exited_at - sent < 1 + STOP_GRACE + 4
    assert lc_github.job(job.id).result == "Failed"
    assert sigints_to_listener(inst)
    assert_deregistered(run)


def test_a_runner_that_ignores_sigint_is_killed_after_the_grace_and_still_cleaned_up(
        lc_github, lifecycle):
    inst = lifecycle.install(ignore_sigint=True)
    run = lifecycle.start(installation=inst)
    run.wait_for_event("runner.listening")
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 10) == EX_OK, run.output()
    assert STOP_GRACE - 0.5 <= run.exited_at - sent < STOP_GRACE + 5
    assert sigints_to_listener(inst)
    assert not inst.events("exit", "listener")  # it never exited by itself
    assert run.summary["exit"]["listener_code"] == 128 + signal.SIGKILL
    wiped = run.event("workspace.wiped")
    assert wiped.field("left") == 0
    assert_deregistered(run)
    assert run.termination_summary()[1] == run.summary


def test_a_second_sigterm_kills_a_runner_that_ignores_sigint_at_once(lc_github, lifecycle):
    inst = lifecycle.install(ignore_sigint=True)
    run = lifecycle.start(installation=inst, SUPERVISOR_STOP_GRACE=20)
    run.wait_for_event("runner.listening")
    run.send_signal(signal.SIGTERM)
    conftest.wait_until(lambda: sigints_to_listener(inst), what="the runner to get SIGINT")
    second = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(10) == EX_OK, run.output()
    assert run.exited_at - second < 5  # not the 20 s grace
    assert run.summary["exit"]["listener_code"] == 128 + signal.SIGKILL
    assert_deregistered(run)


def test_a_long_job_name_still_fits_the_termination_log(lc_github, lifecycle):
    name = "ü" * 3000
    lc_github.queue_job(name, steps=["true"])
    run = lifecycle.start()

    assert run.wait() == EX_OK, run.output()
    text, summary = run.termination_summary()
    assert len(text.encode()) <= 4096
    assert summary == run.summary
    assert summary["job"]["result"] == "Succeeded"
    assert summary["job"]["name"] and set(summary["job"]["name"]) == {"ü"}


# ---------------------------------------------------------------------------------------------
# 4. idle and job timeouts


def test_idle_timeout_without_a_job_stops_deregisters_and_exits_0(lc_github, lifecycle):
    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=2)

    assert run.wait(15) == EX_OK, run.output()
    assert 2 <= run.elapsed <= 6
    assert "idle" in run.summary["exit"]["reason"]
    assert run.summary["job"]["name"] is None
    assert_deregistered(run)
    assert "job_running" not in phases(run)


def test_job_timeout_cancels_the_job_and_exits_0(lc_github, lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("endless", steps=["sleep 600"])
    run = lifecycle.start(installation=inst, SUPERVISOR_JOB_TIMEOUT=2)

    assert run.wait(STOP_GRACE + 12) == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Failed"
    assert sigints_to_listener(inst)
    assert run.job_summary == {"name": "endless", "result": "Failed"}
    assert run.summary["phases_ms"]["job_running"] >= 1900  # 2 s, give or take a tick
    assert_deregistered(run)


def test_a_sigterm_while_draining_does_not_extend_the_job_timeout(lc_github, lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("endless", steps=["sleep 600"])
    run = lifecycle.start(installation=inst, SUPERVISOR_JOB_TIMEOUT=2,
                          SUPERVISOR_DRAIN_TIMEOUT=20)
    wait_step_running(inst)
    run.send_signal(signal.SIGTERM)
    run.wait_for_event("job.draining")

    # Stopped by the job timeout (2 s after the start), not after the 20 s drain.
    assert run.wait(2 + STOP_GRACE + 4) == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Failed"


# ---------------------------------------------------------------------------------------------
# 5. the runner ends on its own


@pytest.mark.parametrize("knobs,listener_code,code", [
    ({"crash_before_job": True}, 2, EX_TEMPFAIL),
    ({"crash_before_job": "abort"}, 128 + signal.SIGABRT, EX_TEMPFAIL),
    ({"exit_at_start": 1}, 1, EX_TEMPFAIL),
    ({"exit_at_start": 5}, 5, EX_TEMPFAIL),
    ({"exit_at_start": 42}, 42, EX_TEMPFAIL),
    ({"exit_at_start": 3}, 3, EX_TEMPFAIL),
], ids=["crash", "abort", "exit-1", "session-conflict-5", "unknown-42", "exit-3-unsaid"])
def test_a_runner_that_ends_before_a_job_maps_to_its_exit_code(lc_github, lifecycle, knobs,
                                                               listener_code, code):
    run = lifecycle.start(installation=lifecycle.install(**knobs))

    assert run.wait() == code, run.output()
    assert run.summary["exit"]["listener_code"] == listener_code
    assert run.summary["exit"]["code"] == code
    assert run.summary["job"]["name"] is None
    assert_deregistered(run)
    assert "job_running" not in phases(run)
    if knobs.get("crash_before_job") is True:  # its stderr is relayed too
        assert any(e.field("stream") == "stderr" and "An error occurred" in e.field("msg")
                   for e in run.events("runner.output"))


@pytest.mark.parametrize("steps,knobs,result,listener_code", [
    (["exit 3"], {}, "Failed", 102),
    (["true"], {"exit_code_after_job": 2}, "Succeeded", 2),
], ids=["failed-job", "exit-2-after-the-job"])
def test_a_job_that_ran_exits_0_whatever_its_result(lc_github, lifecycle, steps, knobs,
                                                     result, listener_code):
    job = lc_github.queue_job("any", steps=steps)
    run = lifecycle.start(installation=lifecycle.install(**knobs))

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == result
    assert run.job_summary == {"name": "any", "result": result}
    assert run.summary["exit"]["listener_code"] == listener_code
    assert_deregistered(run)


def test_a_runner_that_never_listens_is_stopped_at_the_start_deadline(lc_github, lifecycle):
    # The start has the registration deadline to reach "Listening for Jobs".
    inst = lifecycle.install(startup_delay=60)
    run = lifecycle.start(installation=inst, SUPERVISOR_REGISTER_DEADLINE=2)

    assert run.wait(2 + STOP_GRACE + 8) == EX_TEMPFAIL, run.output()
    assert "listening" in run.summary["exit"]["reason"]
    assert sigints_to_listener(inst)
    assert "listening" not in phases(run) and "job_running" not in phases(run)
    assert_deregistered(run)


def test_a_ghost_runner_is_stopped_instead_of_polling_forever(lc_github, lifecycle):
    inst = lifecycle.install(ghost=True)
    run = lifecycle.start(installation=inst)
    run.wait_for_event("runner.listening")
    deleted = time.monotonic()
    assert lc_github.delete_runner(run.event("runner.registered").field("runner_id"))

    assert run.wait(15) == EX_TEMPFAIL, run.output()
    assert run.exited_at - deleted < 6
    assert inst.events("ghost", "listener")
    assert run.events("runner.ghost")
    assert sigints_to_listener(inst)
    assert_deregistered(run)  # GET -> 404


def test_a_runner_deleted_server_side_exits_0_and_the_supervisor_says_75(lc_github, lifecycle):
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)
    run.wait_for_event("runner.listening")
    assert lc_github.delete_runner(run.event("runner.registered").field("runner_id"))

    assert run.wait(15) == EX_TEMPFAIL, run.output()
    assert inst.events("runner_not_found", "listener")
    assert run.summary["exit"]["listener_code"] == 0
    assert_deregistered(run)


# ---------------------------------------------------------------------------------------------
# 6. leftovers of a job


LEAVE_PROCESSES = """
setsid nohup sleep 1000 >/dev/null 2>&1 &
python3 -c 'import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in (0, 1, 2):
            os.close(fd)
        time.sleep(1000)
    os._exit(0)
os.wait()'
setsid sh -c 'trap "" TERM HUP INT; exec sleep 1000' >/dev/null 2>&1 &
"""


@pytest.mark.parametrize("mode", MODES)
def test_processes_a_job_leaves_are_killed_before_the_wipe(lc_github, lifecycle, mode):
    # kill_orphans=False: the runner's own orphan cleanup is off, so the supervisor must do it.
    inst = lifecycle.install(kill_orphans=False)
    lc_github.queue_job("leave", steps=[LEAVE_PROCESSES])
    run = lifecycle.start(mode, inst)

    assert run.wait() == EX_OK, run.output()
    assert run.summary["job"]["result"] == "Succeeded"
    assert run.summary["teardown"]["killed"] >= 3
    names = run.names()
    assert names.index("runner.exited") < names.index("sandbox.teardown") \
        < names.index("workspace.wiped")
    # (the fixture checks that no process of the runner uid is alive)


# ---------------------------------------------------------------------------------------------
# 7. files


MANY_FILES = 100_000


def test_the_wipe_removes_whatever_files_a_job_leaves(lc_github, lifecycle):
    outside = Path(lifecycle.tmp) / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel"
    sentinel.write_text("must survive")
    tmp_file = Path("/tmp") / f"lc-job-{os.urandom(4).hex()}"
    var_tmp_dir = Path("/var/tmp") / f"lc-job-{os.urandom(4).hex()}"
    steps = [
        "mkdir ro && echo x > ro/f && chmod 444 ro/f && chmod 555 ro",
        "mkdir -p locked/inner && echo x > locked/inner/f && chmod 000 locked/inner locked",
        f"ln -s {sentinel} link-to-file && ln -s {outside} link-to-dir",
        f"python3 -c 'import os\nos.mkdir(\"many\")\n"
        f"for i in range({MANY_FILES}): open(\"many/%d\" % i, \"w\").close()'",
        "python3 -c 'import os; os.makedirs(\"/\".join([\"deep\"] + [\"d\"] * 299))'",
        f"echo x > {tmp_file} && mkdir {var_tmp_dir} && echo y > {var_tmp_dir}/f",
    ]
    inst = lifecycle.install()
    job = lc_github.queue_job("files", steps=steps)
    run = lifecycle.start(installation=inst)

    assert run.wait(50) == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded", inst.step_outputs()
    assert sentinel.read_text() == "must survive"
    assert sorted(p.name for p in outside.iterdir()) == ["sentinel"]
    assert not tmp_file.exists() and not os.path.lexists(tmp_file)
    assert not var_tmp_dir.exists()
    wipe = run.summary["wipe"]
    assert wipe["left"] == 0
    assert MANY_FILES < wipe["files"] < MANY_FILES + 100
    assert wipe["dirs"] >= 300
    assert run.event("workspace.wiped").field("installation_intact") is True


# The installation check is the last line of defence, for pods where no mount namespace can
# be made (the sandbox binds bin/ and externals/ read-only where it can: see the test after
# these). These tests turn the sandbox off to reach it.
NO_SANDBOX = {"SUPERVISOR_SANDBOX": "off"}


@pytest.mark.parametrize("tamper,paths", [
    ("echo '# tampered' >> bin/runsvc.sh", ["bin/runsvc.sh"]),
    ("chmod 777 bin/runsvc.sh", ["bin/runsvc.sh"]),
    ("rm bin/Runner.PluginHost", ["bin/Runner.PluginHost"]),
    ("cp bin/runsvc.sh bin/.new && mv -f bin/.new bin/runsvc.sh", ["bin/runsvc.sh"]),
], ids=["append", "chmod", "delete", "replace"])
def test_a_job_that_changes_the_installation_fails_the_pod_with_74(lc_github, lifecycle,
                                                                   tamper, paths):
    inst = lifecycle.install(chown_all=True)  # the image's runner owns its installation
    lc_github.queue_job("tamper", steps=[f"cd {inst.root} && {tamper}"])
    run = lifecycle.start(installation=inst, **NO_SANDBOX)

    assert run.wait() == EX_IOERR, run.output()
    assert [e.field("path") for e in run.events("installation.changed")] == paths
    assert run.event("workspace.wiped").field("installation_intact") is False
    assert run.summary["exit"]["code"] == EX_IOERR
    assert run.summary["job"]["result"] == "Succeeded"
    assert_deregistered(run)


def test_a_job_that_rewrites_a_binary_and_restores_its_mtime_fails_the_pod_with_74(
        lc_github, lifecycle):
    inst = lifecycle.install(chown_all=True)
    rewrite = ("python3 -c 'import os, sys\nst = os.stat(sys.argv[1])\n"
               "f = open(sys.argv[1], \"r+b\"); f.write(b\"#!/bin/false\\n\"); f.close()\n"
               "os.utime(sys.argv[1], ns=(st.st_atime_ns, st.st_mtime_ns))' "
               f"{inst.root}/bin/runsvc.sh")
    lc_github.queue_job("tamper", steps=[rewrite])
    run = lifecycle.start(installation=inst, **NO_SANDBOX)

    code = run.wait()
    assert (inst.root / "bin" / "runsvc.sh").read_bytes().startswith(b"#!/bin/false\n")
    assert code == EX_IOERR, run.output()
    assert [e.field("path") for e in run.events("installation.changed")] == ["bin/runsvc.sh"]


def test_a_file_a_job_adds_inside_the_installation_fails_the_pod_with_74(lc_github, lifecycle):
    inst = lifecycle.install(chown_all=True)
    lc_github.queue_job("plant", steps=[f"echo evil > {inst.root}/bin/newtool"])
    run = lifecycle.start(installation=inst, **NO_SANDBOX)

    assert run.wait() == EX_IOERR, run.output()
    assert run.events("installation.changed")
    assert not (inst.root / "bin" / "newtool").exists()


def test_the_sandbox_keeps_a_job_from_changing_the_installation(lc_github, lifecycle):
    inst = lifecycle.install(chown_all=True)  # owned by the runner uid: only the mount stops it
    lc_github.queue_job("tamper", steps=[
        f"echo evil > {inst.root}/bin/newtool || echo refused-new",
        f"echo '# tampered' >> {inst.root}/bin/runsvc.sh || echo refused-append",
    ])
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    out = "\n".join(inst.step_outputs())
    assert "refused-new" in out and "refused-append" in out, out
    assert not run.events("installation.changed")
    assert run.event("workspace.wiped").field("installation_intact") is True
    assert run.summary["isolation"]["readonly_install"] == "applied"


def test_a_work_folder_outside_the_installation_is_used_and_wiped(lc_github, lifecycle):
    work = Path(lifecycle.tmp) / "elsewhere" / "work"
    work.mkdir(parents=True)
    os.chmod(work.parent, 0o755)
    os.chown(work, RUNNER_UID, RUNNER_UID)
    inst = lifecycle.install()
    lc_github.queue_job("away", steps=["pwd", "echo x > left-behind"])
    run = lifecycle.start(installation=inst, RUNNER_WORKDIR=str(work))

    assert run.wait() == EX_OK, run.output()
    out = "\n".join(inst.step_outputs())
    assert str(work) in out, out  # the job ran there, not in RUNNER_ROOT/_work
    assert work.is_dir() and list(work.iterdir()) == []
    assert run.summary["wipe"]["files"] >= 1


def test_a_root_owned_work_folder_is_given_to_the_runner(lc_github, lifecycle):
    # A volume mounted at RUNNER_WORKDIR that the runtime made root's 0755 (a PVC, a
    # hostPath, podman's emptyDir): the runner must still be able to make its folders.
    work = Path(lifecycle.tmp) / "volume" / "work"
    work.mkdir(parents=True)
    os.chmod(work.parent, 0o755)
    os.chmod(work, 0o755)
    inst = lifecycle.install()
    job = lc_github.queue_job("volume", steps=["echo x > f"])
    run = lifecycle.start(installation=inst, RUNNER_WORKDIR=str(work))

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert work.stat().st_uid == RUNNER_UID
    assert list(work.iterdir()) == []


def test_an_earlier_jobs_files_in_the_work_folder_are_wiped_before_registering(lc_github,
                                                                              lifecycle):
    # A Deployment's container restarted over the same volume: the next job must not see
    # what the last one left, even if that pod died before its own wipe.
    inst = lifecycle.install()
    stale = inst.work / "old-job" / "secret-output"
    stale.parent.mkdir(parents=True)
    stale.write_text("from the previous job")
    job = lc_github.queue_job("peek", steps=[f"ls -A {inst.work}"])
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    assert "old-job" not in "\n".join(inst.step_outputs())
    first = run.events("workspace.wiped")[0]
    assert first.field("at_start") is True and first.field("files") == 1
    names = run.names()
    assert names.index("workspace.wiped") < names.index("runner.registered")
    assert lc_github.job(job.id).result == "Succeeded"


def test_a_file_a_job_adds_to_the_runner_root_is_removed(lc_github, lifecycle):
    inst = lifecycle.install()
    lc_github.queue_job("litter", steps=[f"echo x > {inst.root}/newfile"])
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    assert not (inst.root / "newfile").exists()
    assert not run.events("installation.changed")
    assert run.summary["wipe"]["left"] == 0


def test_a_work_folder_replaced_by_a_symlink_is_removed_or_fails_the_pod(lc_github, lifecycle):
    outside = Path(lifecycle.tmp) / "outside"
    outside.mkdir()
    (outside / "sentinel").write_text("must survive")
    inst = lifecycle.install()
    lc_github.queue_job("swap", steps=[f"cd {inst.root} && mv _work _work.old && "
                                       f"ln -s {outside} _work"])
    run = lifecycle.start(installation=inst)
    try:
        code = run.wait()
        assert (outside / "sentinel").read_text() == "must survive"
        assert not (inst.root / "_work.old").exists()
        # Either the symlink is gone and the wipe is clean, or the pod is marked unusable.
        if code == EX_OK:
            assert not inst.work.is_symlink(), run.summary["wipe"]
        else:
            assert code == EX_IOERR and run.summary["wipe"]["left"] >= 1, run.output()
    finally:
        if inst.work.is_symlink():
            inst.work.unlink()  # so that the fixture's own check of _work says nothing more


def test_a_file_of_the_runner_user_in_tmp_from_before_the_run_survives(lc_github, lifecycle):
    before = Path("/tmp") / f"lc-before-{os.urandom(4).hex()}"
    before.write_text("not this job's")
    os.chown(before, RUNNER_UID, RUNNER_UID)
    during = Path("/tmp") / f"lc-during-{os.urandom(4).hex()}"
    try:
        lc_github.queue_job("tmp", steps=[f"echo x > {during}"])
        run = lifecycle.start()

        assert run.wait() == EX_OK, run.output()
        assert not during.exists()
        assert before.read_text() == "not this job's"
    finally:
        before.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# 8. GitHub down at deregistration


def test_github_down_after_the_job_started_leaves_deregistration_unconfirmed(lc_github,
                                                                           lifecycle):
    inst = lifecycle.install()
    job = lc_github.queue_job("outage", steps=["sleep 1"])
    run = lifecycle.start(installation=inst, SUPERVISOR_DEREGISTER_PATIENCE=3,
                          SUPERVISOR_DEREGISTER_DEADLINE=3)
    run.wait_for_event("job.started")
    lc_github.set_down(True)
    run.wait_for_event("job.completed")
    completed = time.monotonic()

    # The job ran, but a registration that may remain is reported as the failure it is.
    assert run.wait(15) == EX_TEMPFAIL, run.output()
    assert run.exited_at - completed < 3 + 4
    assert lc_github.job(job.id).result == "Succeeded"
    assert_deregistered(run, "unconfirmed")
    dereg = run.event("runner.deregistered")
    assert dereg.field("confirmed") is False
    assert run.event("runner.ghost_left").field("runner_id") == run.summary["runner"]["id"]
    # The service removed the ephemeral runner after its job (its broker is not down): 0 left.


def test_github_down_while_listening_leaves_the_registration_behind_and_says_so(lc_github,
                                                                              lifecycle):
    run = lifecycle.start(SUPERVISOR_DEREGISTER_DEADLINE=3)
    run.wait_for_event("runner.listening")
    lc_github.set_down(True)
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(15) == EX_TEMPFAIL, run.output()  # the stop was ours, the ghost is not
    assert run.exited_at - sent < 3 + 4
    assert_deregistered(run, "unconfirmed")
    assert "may remain" in run.event("runner.ghost_left")["msg"]
    lc_github.set_down(False)
    lc_github.expect(1)  # the registration GitHub could not be told to drop
    assert [r["name"] for r in lc_github.runners()] == [run.env["RUNNER_NAME"]]


# ---------------------------------------------------------------------------------------------
# 8b. deregistration that outlasts a rate limit, a SIGTERM that hurries it, a busy runner

RUNNER_PATH = r"/actions/runners/\d+$"


def runner_calls(gh):
    return [(c["method"], c["status"]) for c in gh.calls_to(RUNNER_PATH)]


def test_a_rate_limit_longer_than_the_sigterm_bound_is_outlasted_when_nothing_hurries(
        lc_github, lifecycle):
    # Issue 16: 20 pods that idled out exited 0 and all stayed registered, their DELETEs
    # refused with a retry-after longer than SUPERVISOR_DEREGISTER_DEADLINE.
    lc_github.inject("DELETE", RUNNER_PATH, kind="secondary_limit", retry_after=4, times=1)
    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=1, SUPERVISOR_DEREGISTER_DEADLINE=2,
                          SUPERVISOR_DEREGISTER_PATIENCE=30)

    assert run.wait(40) == EX_OK, run.output()
    assert_deregistered(run)
    # The cheapest proof: no job ran, so DELETE (204) alone, no GET before it.
    assert runner_calls(lc_github) == [("DELETE", 403), ("DELETE", 204)]
    (retry,) = run.events("github.retry")
    assert 4000 <= retry.field("wait_ms") < 4000 + 2000  # the hint, plus its jitter
    assert lc_github.runners() == []


def test_a_sigterm_during_a_patient_deregistration_bounds_it_and_reports_the_ghost(
        lc_github, lifecycle):
    lc_github.inject("DELETE", RUNNER_PATH, kind="secondary_limit", retry_after=60,
                     times=None)
    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=1, SUPERVISOR_DEREGISTER_DEADLINE=2,
                          SUPERVISOR_DEREGISTER_PATIENCE=300)
    run.wait_for_event("github.retry")
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(20) == EX_TEMPFAIL, run.output()
    assert run.exited_at - sent < 2 + 3  # SUPERVISOR_DEREGISTER_DEADLINE from the SIGTERM
    assert_deregistered(run, "unconfirmed")
    ghost = run.event("runner.ghost_left")
    assert ghost.field("runner_id") == run.summary["runner"]["id"]
    assert "unconfirmed" in run.summary["exit"]["reason"]
    lc_github.clear_faults()
    lc_github.expect(1)  # what the pod reported it left


def test_a_runner_left_busy_by_its_job_is_watched_until_github_gives_the_job_up(lc_github,
                                                                                lifecycle):
    # The job kills the Listener (same uid): GitHub keeps the runner busy, DELETE answers
    # 422, until it gives the job up (here after 3 s).
    lc_github.job_abandon_seconds = 3
    job = lc_github.queue_job("killer", steps=[
        "kill -9 $(pgrep -u $(id -u) -f 'bin/Runner.Listener run'); sleep 5"])
    run = lifecycle.start(SUPERVISOR_DEREGISTER_PATIENCE=30)

    assert run.wait(60) == EX_OK, run.output()  # a job ran, and the runner is gone
    assert_deregistered(run)
    calls = runner_calls(lc_github)
    # Deleted first (its job never completed, so it is still listed), refused as busy, then
    # watched with GETs (1 point each, not 5) until idle, then deleted.
    assert calls[0] == ("DELETE", 422), calls
    assert calls[-1] == ("DELETE", 204), calls
    assert set(calls[1:-1]) == {("GET", 200)}, calls
    assert lc_github.job(job.id).result == "Failed"
    assert lc_github.runners() == []


def test_a_runner_busy_past_the_patience_is_a_ghost_reported_as_75(lc_github, lifecycle):
    lc_github.job_abandon_seconds = 600
    lc_github.queue_job("killer", steps=[
        "kill -9 $(pgrep -u $(id -u) -f 'bin/Runner.Listener run'); sleep 5"])
    run = lifecycle.start(SUPERVISOR_DEREGISTER_PATIENCE=4, SUPERVISOR_DEREGISTER_DEADLINE=4)

    assert run.wait(60) == EX_TEMPFAIL, run.output()
    assert_deregistered(run, "unconfirmed")
    assert "busy" in run.event("runner.deregistered")["msg"]
    assert run.event("runner.ghost_left").field("runner_id") == run.summary["runner"]["id"]
    assert run.summary["exit"]["reason"].startswith("the runner's deregistration")
    lc_github.expect(1)  # busy until GitHub gives its job up


# ---------------------------------------------------------------------------------------------
# 9. phases of a failed registration


def test_a_rejected_registration_walks_only_the_registering_phase(lc_github, lifecycle):
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst,
                          GITHUB_TOKEN_FILE=lifecycle.secret_file("bad-", "ghp_unknown\n"))

    assert run.wait() == EX_NOPERM, run.output()
    assert not inst.events("start")
    assert "registering" in phases(run)
    assert phases(run) <= {"registering", "deregistering"}
    assert run.summary["exit"]["listener_code"] is None

