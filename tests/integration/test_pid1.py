"""`runner-supervisor exec -- CMD`: the PID-1 duties, next to tini doing the same.

Every test runs under four inits (see conftest.py): runner-supervisor and tini, each as PID 1
of a new pid namespace and as a plain child subreaper. What tini does not do is skipped for
it, with the reason; tini was checked (0.19.0) for every skip below.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (STOP_GRACE, WAIT, helper, proc_stat, proc_status, signum,
                      wait_until, zombie_children_of)

NOT_FOR_TINI_TEARDOWN = ("tini exits as soon as its child does: it neither signals nor waits "
                         "for what the child left behind")
NOT_FOR_TINI_GRACE = ("tini has no grace period: it forwards SIGTERM/SIGINT and waits for "
                      "the child forever")
NOT_FOR_TINI_LOGS = "the JSON log events are runner-supervisor's"


def signals_child(*args):
    return helper("signals.py") + list(args)


def ready(run):
    """Waits for helpers/signals.py's READY line; returns (pid, ppid) as the child sees them."""
    match = run.stdout.wait_for(r"READY pid=(\d+) ppid=(\d+)")[0]
    return int(match[1]), int(match[2])


def status_masks(text):
    fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
    return {key: int(fields[key], 16) for key in ("SigBlk", "SigIgn")}


# --- PID 1 --------------------------------------------------------------------------------


def test_child_sees_the_init_as_its_parent(init):
    run = init.start(signals_child("--exit-on", "SIGUSR1:0"))
    pid, ppid = ready(run)

    assert run.host_pid(pid) in run.children()
    if init.pid1:
        assert ppid == 1
        assert proc_status(run.sup_pid)["NSpid"].split()[-1] == "1"
    else:
        assert ppid == run.sup_pid
    run.send_signal(signal.SIGUSR1)
    assert run.wait() == 0


# --- exit status --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_status_is_the_childs_exit_code(init, code):
    run = init.start(helper("exit_with.sh") + [str(code)])
    assert run.wait() == code


@pytest.mark.parametrize("name", ["TERM", "KILL"])
def test_child_killed_by_a_signal_gives_128_plus_the_signal(init, name):
    run = init.start(helper("kill_self.sh") + [name])
    assert run.wait() == 128 + signum("SIG" + name)
    assert "STILL ALIVE" not in run.stdout.lines


def test_forwarded_signal_that_kills_the_child_gives_128_plus_the_signal(init):
    run = init.start(["/bin/sleep", "30"])
    wait_until(run.children, what="the init to start its child")
    run.send_signal(signal.SIGTERM)
    assert run.wait() == 128 + signal.SIGTERM


# --- signals ------------------------------------------------------------------------------

# Every catchable signal but SIGCHLD (the init's own) and SIGTTIN/SIGTTOU (ignored, below).
# Left out: the fault signals (SEGV, BUS, ILL, FPE, TRAP, ABRT), which an init receiving them
# has most likely raised itself, and which a sanitizer build catches for its own reports.
FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH",
             "SIGCONT", "SIGALRM", "SIGPIPE", "SIGTSTP", "SIGURG", "SIGPWR", "SIGSYS",
             "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGSTKFLT",
             "SIGRTMIN", "SIGRTMIN+1", "SIGRTMAX"]


@pytest.mark.parametrize("name", FORWARDED)
def test_signal_to_the_init_is_forwarded_to_the_child(init, name):
    if name == "SIGSYS":
        init.skip_for_tini("tini leaves SIGSYS unblocked, with the fault signals, and does "
                           "not forward it")
    run = init.start(signals_child("--exit-on", f"{name}:77"))
    ready(run)

    run.send_signal(signum(name))

    run.stdout.wait_for(f"^GOT {re.escape(name)}$")
    assert run.wait() == 77


def test_signal_sent_right_after_start_reaches_the_child(init):
    # The child handles SIGUSR1 once it has started; if the signal comes earlier it kills it.
    # Either way it must arrive: a lost signal lets the child live to its end (exit 99).
    run = init.start(signals_child("--exit-on", "SIGUSR1:0", "--lifetime", "5"))
    # As soon as the child exists, which is as early as a test can tell that the init has
    # taken its signals over (before, SIGUSR1 would kill a subreaper init, and the kernel
    # would discard it for a PID 1). The child has most likely not exec'd python yet.
    wait_until(run.children, interval=0.001, what="the init to start its child")
    run.send_signal(signal.SIGUSR1)

    status = run.wait()

    assert "LIFETIME OVER" not in run.stdout.lines
    if status == 0:
        assert "GOT SIGUSR1" in run.stdout.lines
    else:
        assert status == 128 + signal.SIGUSR1


@pytest.mark.rs_only("tini restores, in the child, the signal mask and the ignored "
                     "dispositions it was started with (checked: SigBlk and SigIgn not zero)")
def test_child_starts_with_no_blocked_or_ignored_signals(init):
    def ignore_usr1_block_usr2():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])

    inherited = subprocess.run(["/bin/cat", "/proc/self/status"], capture_output=True,
                               text=True, preexec_fn=ignore_usr1_block_usr2, timeout=WAIT)
    masks = status_masks(inherited.stdout)
    assert masks["SigBlk"] & (1 << (signal.SIGUSR2 - 1))
    assert masks["SigIgn"] & (1 << (signal.SIGUSR1 - 1))

    run = init.start(["/bin/cat", "/proc/self/status"], preexec_fn=ignore_usr1_block_usr2)

    assert run.wait() == 0
    assert status_masks(run.stdout.text) == {"SigBlk": 0, "SigIgn": 0}


@pytest.mark.parametrize("name", ["SIGUSR1", "SIGHUP"])
def test_init_survives_a_signal_the_child_handles(init, name):
    run = init.start(signals_child(name, "--exit-on", "SIGUSR2:5"))
    ready(run)

    for times in (1, 2):
        run.send_signal(signum(name))
        run.stdout.wait_for(f"^GOT {name}$", count=times)
        assert run.alive()

    run.send_signal(signal.SIGUSR2)
    assert run.wait() == 5


@pytest.fixture(scope="module")
def stop_signals_stop_a_process():
    """Checks the premise of the SIGTTIN/SIGTTOU test: a process in its own group of our
    session stops on them (in an orphaned process group, the kernel would discard them)."""
    proc = subprocess.Popen(["/bin/sleep", "30"], process_group=0)
    try:
        for sig in (signal.SIGTTIN, signal.SIGTTOU):
            proc.send_signal(sig)
            wait_until(lambda: proc_stat(proc.pid)[0] == "T", what=f"{sig!r} to stop sleep")
            proc.send_signal(signal.SIGCONT)
            wait_until(lambda: proc_stat(proc.pid)[0] != "T", what="SIGCONT to resume sleep")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("name", ["SIGTTIN", "SIGTTOU"])
def test_init_neither_stops_on_nor_forwards(init, name, stop_signals_stop_a_process):
    run = init.start(signals_child(name, "SIGWINCH", "--exit-on", "SIGUSR2:0"))
    ready(run)

    run.send_signal(signum(name))
    # A round trip through the init: a stopped init forwards nothing. (SIGWINCH, numbered
    # above SIGTTIN/SIGTTOU, is not dequeued before them when both are pending.)
    run.send_signal(signal.SIGWINCH)
    run.stdout.wait_for("^GOT SIGWINCH$")

    assert run.state() not in ("T", "t")
    run.send_signal(signal.SIGUSR2)
    assert run.wait() == 0
    assert f"GOT {name}" not in run.stdout.lines


# --- reaping ------------------------------------------------------------------------------


def orphans_started(run, count):
    """Waits for helpers/orphans.py to have orphaned `count` processes; returns the main
    child's host pid and the orphans' pids (as seen in the init's namespace)."""
    match = run.stdout.wait_for(rf"ORPHANED {count} pid=(\d+): ([\d ]+)$", timeout=30)[0]
    return run.host_pid(int(match[1])), {int(pid) for pid in match[2].split()}


def gone(run, orphans):
    """None of the orphans exists any more, not even as a zombie."""
    return not orphans & run.pids_in_namespace().keys()


def test_orphans_are_reparented_to_the_init(init):
    # pytest is a subreaper too: an init that is neither PID 1 nor a subreaper would see
    # the orphans go to pytest instead.
    run = init.start(helper("orphans.py") + ["20"])
    child, orphans = orphans_started(run, 20)

    assert run.children() == {child} | {run.host_pid(pid) for pid in orphans}
    run.send_signal(signal.SIGUSR1)
    run.stdout.wait_for("^RELEASED$")
    run.send_signal(signal.SIGTERM)
    assert run.wait() == 0


def test_orphans_that_exit_are_reaped(init):
    run = init.start(helper("orphans.py") + ["20"])
    child, orphans = orphans_started(run, 20)
    assert len(run.children()) == 21

    run.send_signal(signal.SIGUSR1)
    run.stdout.wait_for("^RELEASED$")

    wait_until(lambda: gone(run, orphans), what="the 20 orphans to be reaped")
    assert run.children() == {child}
    assert zombie_children_of(run.sup_pid) == set()
    run.send_signal(signal.SIGTERM)
    assert run.wait() == 0


def test_zombies_inherited_from_the_child_are_reaped(init):
    # They are zombies before the init inherits them: only the pids tell where they went.
    run = init.start(helper("orphans.py") + ["20", "--dead"])
    child, orphans = orphans_started(run, 20)

    wait_until(lambda: gone(run, orphans), what="the 20 zombies to be reaped")
    assert run.children() == {child}
    run.send_signal(signal.SIGTERM)
    assert run.wait() == 0


def test_a_thousand_orphans_are_reaped_within_two_seconds(init):
    run = init.start(helper("orphans.py") + ["1000"])
    child, orphans = orphans_started(run, 1000)
    assert len(run.children()) == 1001

    run.send_signal(signal.SIGUSR1)
    run.stdout.wait_for("^RELEASED$")

    wait_until(lambda: gone(run, orphans), timeout=2, interval=0.05,
               what="1000 orphans to be reaped")
    assert run.children() == {child}
    run.send_signal(signal.SIGTERM)
    assert run.wait() == 0


# --- what the child leaves behind ---------------------------------------------------------


def leave_daemon(init, log, *args, env=None):
    """Starts helpers/leave_daemon.py; returns the run and the leftover (tracked)."""
    run = init.start(helper("leave_daemon.py") + [str(log), *args], env=env)
    match = run.stdout.wait_for(r"DAEMON (\d+)")[0]
    return run, run.track(run.host_pid(int(match[1])))


@pytest.mark.rs_only(NOT_FOR_TINI_TEARDOWN)
@pytest.mark.parametrize("kind", ["setsid", "plain"])
def test_leftovers_get_sigterm_when_the_child_exits(init, tmp_dir, kind):
    log = tmp_dir / "leftover.log"
    run, leftover = leave_daemon(init, log, "--kind", kind, "--exit", "7")

    run.send_signal(signal.SIGUSR1)  # the child exits 7, the leftover stays

    assert run.wait() == 7
    assert log.read_text() == "SIGTERM\n"
    assert not leftover.exists()


@pytest.mark.rs_only(NOT_FOR_TINI_TEARDOWN)
def test_supervisor_exits_as_soon_as_the_leftovers_are_gone(init, tmp_dir):
    grace = 10  # long, so that waiting it out needlessly shows
    run, leftover = leave_daemon(init, tmp_dir / "leftover.log", "--exit", "7",
                                 env={"SUPERVISOR_STOP_GRACE": str(grace)})

    run.send_signal(signal.SIGUSR1)
    started = time.monotonic()

    assert run.wait() == 7
    assert time.monotonic() - started < grace / 2
    assert not leftover.exists()


@pytest.mark.rs_only(NOT_FOR_TINI_TEARDOWN)
def test_leftover_ignoring_sigterm_is_killed_after_the_grace_period(init, tmp_dir):
    log = tmp_dir / "leftover.log"
    run, leftover = leave_daemon(init, log, "--ignore-term", "--exit", "7")

    started = time.monotonic()
    run.send_signal(signal.SIGUSR1)

    assert run.wait(STOP_GRACE + WAIT) == 7
    assert time.monotonic() - started >= STOP_GRACE
    assert log.read_text() == "SIGTERM\n"
    assert not leftover.exists()


@pytest.mark.rs_only(NOT_FOR_TINI_LOGS)
@pytest.mark.parametrize("ignore_term,signals", [(False, ["SIGTERM"]),
                                                 (True, ["SIGTERM", "SIGKILL"])],
                         ids=["leftover-obeys-sigterm", "leftover-ignores-sigterm"])
def test_teardown_logs_each_signal_and_how_many_got_it(init, tmp_dir, ignore_term, signals):
    args = ["--exit", "7"] + (["--ignore-term"] if ignore_term else [])
    run, _ = leave_daemon(init, tmp_dir / "leftover.log", *args)

    run.send_signal(signal.SIGUSR1)

    assert run.wait(STOP_GRACE + WAIT) == 7
    kills = run.events_named("teardown.kill")
    assert [(e.field("signal"), e.field("count")) for e in kills] == [(s, 1) for s in signals]


# --- stopping -----------------------------------------------------------------------------


@pytest.mark.rs_only(NOT_FOR_TINI_GRACE)
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_child_ignoring_a_stop_signal_is_killed_after_the_grace_period(init, name):
    run = init.start(signals_child("SIGTERM", "SIGINT"))  # reports them, keeps running
    ready(run)

    started = time.monotonic()
    run.send_signal(signum(name))

    run.stdout.wait_for(f"^GOT {name}$")
    assert run.wait(STOP_GRACE + WAIT) == 128 + signal.SIGKILL
    assert time.monotonic() - started >= STOP_GRACE


# --- exec failures ------------------------------------------------------------------------


def lines_naming(run, command):
    return [line for line in run.stderr.lines if command in line]


@pytest.mark.parametrize("command", ["no-such-command-rs", "/nonexistent/no-such-command-rs"])
def test_command_not_found_exits_127_naming_it(init, command):
    run = init.start([command])
    assert run.wait() == 127
    assert lines_naming(run, command)


def test_file_without_exec_permission_exits_126_naming_it(init, tmp_dir):
    script = tmp_dir / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)

    run = init.start([str(script)])

    assert run.wait() == 126
    assert lines_naming(run, str(script))


def test_directory_as_command_exits_126_naming_it(init, tmp_dir):
    run = init.start([str(tmp_dir)])
    assert run.wait() == 126
    assert lines_naming(run, str(tmp_dir))


@pytest.mark.rs_only(NOT_FOR_TINI_LOGS)
def test_exec_failure_is_logged_with_path_and_errno(init):
    run = init.start(["no-such-command-rs"])
    assert run.wait() == 127

    failed = run.events_named("child.exec_failed")

    assert len(failed) == 1
    assert "no-such-command-rs" in str(failed[0].field("path"))
    assert failed[0].field("errno") in (2, "ENOENT")


# --- what the child inherits, and what the init keeps ------------------------------------


@pytest.mark.rs_only("tini stays in the directory it was started in (checked)")
def test_supervisor_moves_to_the_root_directory(init):
    run = init.start(signals_child("--exit-on", "SIGUSR1:0"))
    ready(run)

    assert os.readlink(f"/proc/{run.sup_pid}/cwd") == "/"
    run.send_signal(signal.SIGUSR1)
    assert run.wait() == 0


def test_child_runs_in_the_directory_the_init_was_started_in(init):
    run = init.start(["/bin/pwd", "-P"])
    assert run.wait() == 0
    assert run.stdout.lines == [os.path.realpath(init.tmp)]


@pytest.mark.rs_only("--workdir is runner-supervisor's option")
def test_workdir_is_created_and_becomes_the_childs_directory(init, tmp_dir):
    workdir = tmp_dir / "work"
    assert not workdir.exists()

    run = init.start(["/bin/pwd", "-P"], init_args=[f"--workdir={workdir}"])

    assert run.wait() == 0
    assert run.stdout.lines == [str(workdir)]
    assert workdir.is_dir()


@pytest.mark.rs_only("--workdir is runner-supervisor's option")
def test_workdir_is_created_with_its_missing_parents(init, tmp_dir):
    workdir = tmp_dir / "a" / "b" / "work"

    run = init.start(["/bin/pwd", "-P"], init_args=[f"--workdir={workdir}"])

    assert run.wait() == 0
    assert run.stdout.lines == [str(workdir)]


@pytest.mark.rs_only("tini passes every inherited fd on to the child (checked)")
def test_child_inherits_only_stdin_stdout_stderr(init, tmp_dir):
    extra_file = os.open(tmp_dir, os.O_RDONLY | os.O_DIRECTORY)
    pipe_r, pipe_w = os.pipe()
    extra = [extra_file, pipe_r, pipe_w]
    try:
        direct = subprocess.run(helper("fds.py"), pass_fds=extra, capture_output=True,
                                text=True, timeout=WAIT)
        assert direct.stdout.split()[1:] == [str(fd) for fd in sorted([0, 1, 2, *extra])]

        run = init.start(helper("fds.py"), pass_fds=extra)

        assert run.wait() == 0
        assert run.stdout.lines == ["FDS 0 1 2"]
    finally:
        for fd in extra:
            os.close(fd)


# --- logs ---------------------------------------------------------------------------------


@pytest.mark.rs_only(NOT_FOR_TINI_LOGS)
def test_every_stderr_line_is_a_json_event(init):
    run = init.start(["/bin/true"])
    assert run.wait() == 0
    assert run.stderr.wait_closed()

    lines = [json.loads(line) for line in run.stderr.lines]

    assert lines
    assert all({"ts", "level", "event", "msg"} <= set(line) for line in lines)


@pytest.mark.rs_only(NOT_FOR_TINI_LOGS)
def test_events_follow_the_childs_life(init):
    run = init.start(signals_child("--exit-on", "SIGUSR1:5"))
    child, _ = ready(run)
    run.send_signal(signal.SIGUSR1)
    assert run.wait() == 5

    names = ["supervisor.start", "child.started", "signal.forwarded", "child.exited",
             "supervisor.exit"]
    events = [e for e in run.events() if e.get("event") in names]
    start, started, forwarded, exited, end = events

    assert [e["event"] for e in events] == names
    assert start.field("pid") == (1 if init.pid1 else run.sup_pid)
    assert start.field("pid1") is init.pid1
    assert start.field("command") == "exec"
    assert started.field("pid") == child
    assert (forwarded.field("signal"), forwarded.field("pid")) == ("SIGUSR1", child)
    assert (exited.field("pid"), exited.field("code")) == (child, 5)
    assert end.field("code") == 5


@pytest.mark.rs_only(NOT_FOR_TINI_LOGS)
def test_child_killed_by_a_signal_is_logged_with_the_signal(init):
    run = init.start(helper("kill_self.sh") + ["TERM"])
    assert run.wait() == 128 + signal.SIGTERM

    (exited,) = run.events_named("child.exited")
    (end,) = run.events_named("supervisor.exit")

    assert exited.field("signal") == "SIGTERM"
    assert end.field("code") == 128 + signal.SIGTERM
