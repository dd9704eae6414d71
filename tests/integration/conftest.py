"""Fixtures for the PID-1 tests: an `init` that runs a command the way a pod's PID 1 would.

The `init` fixture is parametrized over four inits, so the same test shows what
runner-supervisor does and what tini (the usual reference) does:

    rs-pid1         unshare --pid --fork --mount-proc --kill-child RS_BIN exec -- CMD...
    rs-subreaper    RS_BIN exec -- CMD...                  (not PID 1: a child subreaper)
    tini-pid1       unshare --pid --fork --mount-proc --kill-child tini -- CMD...
    tini-subreaper  tini -s -- CMD...

Tests marked `@pytest.mark.rs_only("why")` are skipped for tini with that reason. With
RS_TESTS_UNSKIP_TINI=1 they run for tini too, and fail: that shows they test something an
init can fail to do.

Every process a test starts is owned by the fixture: on teardown the init, everything below
it and every pid the test tracked are SIGKILLed and reaped. pytest itself is made a child
subreaper, so a process that escapes an init (because the init exited, or was killed) is
reparented to pytest, where teardown finds it, instead of to the machine's init.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

# Test files live in /var/tmp, not /tmp: the sandbox gives the runner a fresh /tmp, so a CA
# file or a runner installation under the pod's /tmp would not be there for it (RUNNER_ROOT
# and RUNNER_WORKDIR are bound back, other paths are not).
tempfile.tempdir = "/var/tmp"
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent / "helpers"
PYTHON = "/usr/bin/python3"
TINI = "/usr/bin/tini"
RS_BIN = os.environ.get("RS_BIN", "/work/main/build/asan/runner-supervisor")
UNSKIP_TINI = os.environ.get("RS_TESTS_UNSKIP_TINI") == "1"

STOP_GRACE = 1  # seconds; SUPERVISOR_STOP_GRACE for every rs run unless a test says otherwise
WAIT = 10  # seconds; the bound of every wait that should succeed well before it
TEST_TIMEOUT = 60  # seconds; a backstop per test, in case some wait is unbounded after all

PR_SET_CHILD_SUBREAPER = 36
# What makes an init PID 1 of a new PID namespace. unshare does not forward signals: a test
# signals the init itself, the child unshare forked (find it with exec_child()).
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]

_live_runs = []  # every Running not torn down yet, across fixtures

SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer"
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "rs_only(reason): the behaviour is runner-supervisor's; skipped for tini"
    )
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


# ---------------------------------------------------------------------------------------------
# signals by name ("SIGUSR1", "SIGRTMIN+3"), the same way helpers/signals.py names them


def signum(name):
    if name.startswith("SIGRTMIN"):
        return signal.SIGRTMIN + int(name[len("SIGRTMIN"):] or 0)
    if name.startswith("SIGRTMAX"):
        return signal.SIGRTMAX + int(name[len("SIGRTMAX"):] or 0)
    return int(getattr(signal, name))


def helper(name):
    """The argv prefix that runs helpers/NAME."""
    path = str(HELPERS / name)
    return [PYTHON, path] if name.endswith(".py") else ["/bin/sh", path]


# ---------------------------------------------------------------------------------------------
# /proc


def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def proc_state(pid):
    stat = proc_stat(pid)
    return stat[0] if stat else None


def proc_status(pid):
    """/proc/PID/status as a dict of str."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children_of(pid):
    """The children of pid, zombies included (they stay on the list until reaped)."""
    kids = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.update(int(p) for p in f.read().split())
        except FileNotFoundError:
            pass
    return kids


def descendants_of(roots):
    parent = {}
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat:
            parent[pid] = stat[1]
    found, frontier = set(), set(roots)
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - found
        found |= frontier
    return found


def zombie_children_of(pid):
    return {kid for kid in children_of(pid) if proc_state(kid) == "Z"}


def exec_child(proc, binary, timeout=WAIT):
    """The child proc (unshare --fork) made, once it has exec'd binary; None when proc came
    and went before that was seen (only for a command that fails at once)."""
    want = os.path.realpath(binary)

    def found():
        for kid in children_of(proc.pid):
            try:
                if os.readlink(f"/proc/{kid}/exe") == want:
                    return kid
            except OSError:
                pass
        return -1 if proc.poll() is not None else None

    pid = wait_until(found, timeout=timeout, what=f"{want} under unshare")
    return None if pid == -1 else pid


def sigkill(pids):
    """SIGKILLs every pid; one that is gone already is not an error (it may have exited since
    it was listed)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_tree(proc, first=None, timeout=WAIT):
    """SIGKILLs a still running proc (a Popen), everything below it and `first` (a pid or a
    Pid: the init under unshare), and reaps proc. The wait is bounded, not checked: teardown
    goes on to find what is left. → True when proc was still running."""
    if proc.poll() is not None:
        return False
    everything = descendants_of({proc.pid}) | {proc.pid}
    if isinstance(first, Pid):
        first.kill()  # as PID 1 of a namespace, SIGKILL takes the namespace with it
    elif first:
        sigkill([first])
    sigkill(everything)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    return True


def kill_and_reap(strays):
    """SIGKILLs strays (children of pytest) and everything below them, and reaps the strays;
    → what each process was (describe(), read before the kill, for the report)."""
    everything = descendants_of(strays) | set(strays)
    seen = [describe(pid) for pid in everything]
    sigkill(everything)
    for pid in strays:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return seen


def wait_until(predicate, timeout=WAIT, interval=0.01, what="condition"):
    """Polls predicate until it returns something true; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Pid:
    """A process identified by pid and start time, so a reused pid is not mistaken for it."""

    def __init__(self, pid):
        stat = proc_stat(pid)
        assert stat is not None, f"pid {pid} does not exist"
        self.pid, self.starttime = pid, stat[2]

    def exists(self):
        """True while the process exists, zombie or not."""
        stat = proc_stat(self.pid)
        return stat is not None and stat[2] == self.starttime

    def kill(self):
        if self.exists():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __repr__(self):
        return f"Pid({self.pid})"


# ---------------------------------------------------------------------------------------------
# output


class LineStream:
    """Collects the lines of a pipe in a thread, so a test can wait for one."""

    def __init__(self, pipe, name):
        self.name = name
        self._lines = []
        self._cond = threading.Condition()
        self._closed = False
        self.exit_status = None  # set by Running: the init's returncode, None while it runs
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe):
        for raw in iter(pipe.readline, b""):
            with self._cond:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def lines(self):
        with self._cond:
            return list(self._lines)

    @property
    def text(self):
        return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=WAIT, count=1):
        """Waits until `count` lines match `pattern`; returns the matches. Gives up early,
        with the init's exit status, when the init has exited without the lines coming."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        exited_at = None
        with self._cond:
            while True:
                found = [m for m in map(regex.search, self._lines) if m]
                if len(found) >= count:
                    return found
                now = time.monotonic()
                why = None
                if exited_at is None and self.exit_status and self.exit_status() is not None:
                    exited_at = now
                if self._closed:
                    why = "the stream closed"
                elif now >= deadline:
                    why = f"{timeout}s passed"
                elif exited_at is not None and now - exited_at > 1:
                    # 1 s: enough for what was written before the init exited to arrive
                    why = f"the init exited with {self.exit_status()}"
                if why:
                    pytest.fail(
                        f"{self.name}: {why} before {count} line(s) matched {pattern!r}; "
                        f"got:\n" + "\n".join(self._lines)
                    )
                self._cond.wait(min(0.05, deadline - now))

    def wait_closed(self, timeout=WAIT):
        self._thread.join(timeout)
        return not self._thread.is_alive()


def start_streamed(argv, env, **popen_kwargs):
    """Starts argv with its stdout and stderr read line by line (LineStream), whose waits give
    up soon after the process exits. → (Popen, stdout stream, stderr stream)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **popen_kwargs)
    out, err = LineStream(proc.stdout, "stdout"), LineStream(proc.stderr, "stderr")
    out.exit_status = err.exit_status = proc.poll
    return proc, out, err


def close_streams(proc, out, err):
    """Closes proc's output pipes once nothing writes to them; False if something still holds
    them open (then they are left to the reader threads)."""
    if not (out.wait_closed(2) and err.wait_closed(2)):
        return False
    proc.stdout.close()
    proc.stderr.close()
    return True


def json_events(lines, name=None):
    """The JSON log lines among lines (others are skipped), in order; only those of event
    `name` when it is given."""
    found = []
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and (name is None or obj.get("event") == name):
            found.append(Event(obj))
    return found


class Event(dict):
    """One JSON log line. Fields are read from the top level or from a nested "fields"."""

    def field(self, key, default=None):
        if key in self:
            return self[key]
        nested = self.get("fields")
        if isinstance(nested, dict) and key in nested:
            return nested[key]
        return default


# ---------------------------------------------------------------------------------------------
# the inits


class Variant:
    def __init__(self, name):
        self.name = name
        self.is_rs = name.startswith("rs-")
        self.is_tini = name.startswith("tini-")
        self.pid1 = name.endswith("-pid1")
        self.binary = RS_BIN if self.is_rs else TINI

    def argv(self, cmd, init_args):
        if self.is_rs:
            inner = [self.binary, "exec", *init_args, "--", *cmd]
        else:
            inner = [self.binary, *(() if self.pid1 else ("-s",)), *init_args, "--", *cmd]
        return [*UNSHARE, *inner] if self.pid1 else inner


VARIANTS = ["rs-pid1", "rs-subreaper", "tini-pid1", "tini-subreaper"]


def rs_runs():
    """False when the binary is not built (the suite is skipped); a binary that is there but
    cannot run `exec -- true` fails the tests instead, so that it never hides behind skips."""
    if not os.access(RS_BIN, os.X_OK):
        return False
    p = subprocess.run([RS_BIN, "exec", "--", "true"], capture_output=True, text=True,
                       timeout=WAIT)
    if p.returncode != 0:
        pytest.fail(f"{RS_BIN} exec -- true exits {p.returncode}:\n{p.stderr}")
    return True


_RS_RUNS = None


class Running:
    """One init started by a test: the init's pid, its output, signals and exit status."""

    def __init__(self, variant, cmd, init_args, env, popen_kwargs):
        self.variant = variant
        self.argv = variant.argv(cmd, init_args)
        self.tracked = []
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        # Its own process group in pytest's session: a group whose parent is in another group
        # of the same session is not orphaned, so SIGTTIN/SIGTTOU would really stop it.
        popen_kwargs.setdefault("process_group", 0)
        self.proc, self.stdout, self.stderr = start_streamed(self.argv, env, **popen_kwargs)
        # None when the init was already gone (only for a command that fails at once)
        self.sup_pid = (exec_child(self.proc, variant.binary) if variant.pid1
                        else self.proc.pid)
        self.sup = Pid(self.sup_pid) if self.sup_pid else None

    # -- the init --------------------------------------------------------------------------

    def send_signal(self, sig):
        """Sends sig to the init itself (not to unshare)."""
        os.kill(self.sup_pid, sig)

    def wait(self, timeout=WAIT):
        """The init's exit status: its exit code, or -N if the init itself died of signal N
        (unshare --fork exits with its child's code, and re-raises a signal its child died
        of; for SIGKILL, which it cannot re-raise, it prints an error and exits 1)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.variant.name} still running after {timeout}s\n{self.output()}")
        # What the init wrote just before exiting may still be in the pipes: let the reader
        # threads reach EOF (bounded: a leftover process may hold a pipe open).
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.wait_closed(2)
        if self.variant.pid1 and code == 1 and "sigprocmask unblock failed" in self.stderr.text:
            return -signal.SIGKILL
        return code

    def alive(self):
        """The init is running (not exited, not a zombie)."""
        return self.proc.poll() is None and proc_state(self.sup_pid) not in (None, "Z")

    def state(self):
        return proc_state(self.sup_pid)

    def children(self):
        return children_of(self.sup_pid)

    def pids_in_namespace(self):
        """{pid as the child sees it: our pid} for every process in the init's namespace."""
        if not self.variant.pid1:
            return {pid: pid for pid in all_pids()}
        ns = os.readlink(f"/proc/{self.sup_pid}/ns/pid")
        found = {}
        for candidate in all_pids():
            try:
                if os.readlink(f"/proc/{candidate}/ns/pid") == ns:
                    found[int(proc_status(candidate)["NSpid"].split()[-1])] = candidate
            except OSError:
                continue
        return found

    def host_pid(self, pid):
        """Translates a pid as the child sees it (in the init's pid namespace) to ours."""
        host = self.pids_in_namespace().get(pid)
        if host is None:
            pytest.fail(f"no process is pid {pid} in the namespace of {self.sup_pid}")
        return host

    def track(self, pid):
        """Owns pid (a host pid) from now on: it is killed at teardown if still there."""
        tracked = Pid(pid)
        self.tracked.append(tracked)
        return tracked

    # -- logs ------------------------------------------------------------------------------

    def events(self):
        """The JSON log lines on stderr, in order (other lines are skipped)."""
        return json_events(self.stderr.lines)

    def events_named(self, name):
        return json_events(self.stderr.lines, name)

    def output(self):
        return (f"argv: {self.argv}\n--- stdout\n{self.stdout.text}\n"
                f"--- stderr\n{self.stderr.text}")

    # -- teardown --------------------------------------------------------------------------

    def kill(self):
        """SIGKILLs the init, everything below it and every tracked pid; reaps the init."""
        kill_tree(self.proc, first=self.sup)
        for tracked in self.tracked:
            tracked.kill()

    def close(self):
        """Closes the output pipes once nothing writes to them; False if something still
        holds them open (then they are left to the reader threads)."""
        return close_streams(self.proc, self.stdout, self.stderr)


class Init:
    """The `init` fixture: starts commands under one of the four inits."""

    def __init__(self, variant, tmp):
        self.variant = variant
        self.name = variant.name
        self.is_rs = variant.is_rs
        self.is_tini = variant.is_tini
        self.pid1 = variant.pid1
        self.tmp = tmp
        self.runs = []

    def start(self, cmd, env=None, init_args=(), cwd=None, **popen_kwargs):
        """Starts cmd under the init. env is added to pytest's environment, in which
        SUPERVISOR_LOG_FORMAT=json and SUPERVISOR_STOP_GRACE=1 are set."""
        full_env = dict(os.environ)
        full_env.update(SUPERVISOR_LOG_FORMAT="json", SUPERVISOR_STOP_GRACE=str(STOP_GRACE),
                        SUPERVISOR_SANDBOX="off", PYTHONDONTWRITEBYTECODE="1")
        full_env.update(env or {})
        run = Running(self.variant, list(cmd), list(init_args), full_env,
                      dict(popen_kwargs, cwd=cwd or self.tmp))
        self.runs.append(run)
        _live_runs.append(run)
        return run

    def skip_for_tini(self, reason):
        if self.is_tini and not UNSKIP_TINI:
            pytest.skip(f"tini: {reason}")


def stray_children():
    """Processes reparented to pytest (the subreaper of last resort) that it did not start."""
    ours = {run.proc.pid for run in _live_runs}
    return {pid for pid in children_of(os.getpid()) if pid not in ours}



def describe(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = ""
    return f"{pid} ({proc_state(pid)}): {cmdline or '?'}"


def kill_strays():
    """SIGKILLs and reaps every process that ended up under pytest; describes each."""
    seen = []
    for _ in range(50):
        strays = stray_children()
        if not strays:
            break
        seen.extend(kill_and_reap(strays))
    return seen


@pytest.fixture
def tmp_dir():
    """A temporary directory, removed with everything in it after the test."""
    path = Path(tempfile.mkdtemp(prefix="rs-pid1-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=VARIANTS)
def init(request, tmp_dir):
    global _RS_RUNS
    variant = Variant(request.param)
    marker = request.node.get_closest_marker("rs_only")
    if variant.is_tini and marker and not UNSKIP_TINI:
        pytest.skip(f"tini: {marker.args[0]}")
    if variant.is_rs:
        if _RS_RUNS is None:
            _RS_RUNS = rs_runs()
        if not _RS_RUNS:
            pytest.skip(f"{RS_BIN} is missing or `exec -- true` fails")

    start_dir = tmp_dir / "start"
    start_dir.mkdir()
    fixture = Init(variant, start_dir)
    yield fixture

    problems = []
    exited_by_themselves = all(run.proc.poll() is not None for run in fixture.runs)
    for run in fixture.runs:
        run.kill()
        _live_runs.remove(run)
    # Whatever an init leaves behind lands on pytest. runner-supervisor must leave nothing.
    left = kill_strays()
    if left and variant.is_rs and exited_by_themselves:
        problems.append(f"processes outlived {variant.name}: {left}")
    for run in fixture.runs:
        if not run.close():
            problems.append(f"a process that teardown could not find holds the output of "
                            f"{run.argv}")
        if SANITIZER_REPORT.search(run.stderr.text):
            problems.append(f"sanitizer report on stderr:\n{run.stderr.text}")
        print(run.output())
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(autouse=True)
def per_test_timeout():
    """Fails a test that runs longer than TEST_TIMEOUT (pytest-timeout is not a dependency)."""

    def expired(_signum, _frame):
        pytest.fail(f"test ran longer than {TEST_TIMEOUT}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


from github_fixtures import *  # noqa: E402,F401,F403  (fixtures of the GitHub tests)
from lifecycle_fixtures import *  # noqa: E402,F401,F403  (fixtures of the lifecycle tests)
