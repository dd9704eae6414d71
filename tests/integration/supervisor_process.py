"""What the GitHub fixtures (github_fixtures.py) and the lifecycle fixtures
(lifecycle_fixtures.py) share: the runner uid, the fake GitHub's client side, a started
runner-supervisor process with its JSON log, and the checks and clean-up after a test.

Both fixture modules start the same binary against the same fake with the same runner user,
and check the same things after it; written once here, a fix to how a run is waited for,
killed or read reaches both suites. What differs stays in the modules: the GitHub tests'
Runner.Listener is a recording stand-in and a run can hang the known way (github_fixtures.HANG);
the lifecycle tests' runner is a fake installation, and runs can be PID 1 of a namespace.

The runner user is an unprivileged uid (RUNNER_UID below), so every directory these fixtures
make is world-readable (0755) and lives under /tmp (pytest's own tmp_path is 0700, which that
user cannot traverse).
"""
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import conftest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fakes"))
from fake_github import FakeGitHub  # noqa: E402

RS_BIN = conftest.RS_BIN
# The runner user: a uid of its own per test session, not 65534 (nobody). The lifecycle kills
# every process of the runner uid and wipes what that uid owns directly under /tmp (DESIGN.md,
# "Process model" and "What the wipe covers"): on a machine shared with other test sessions,
# a common uid would have their supervisors kill our runners and delete our files, and ours
# theirs, and the "no process of the runner uid" check would see theirs. RS_TEST_RUNNER_UID
# overrides it (e.g. 65534).
RUNNER_UID = RUNNER_GID = int(os.environ.get("RS_TEST_RUNNER_UID")
                              or 300000 + os.getpid() % 100000)
WAIT = 20  # seconds: the bound of any wait for something that should come well before it


def world_readable_tmpdir(prefix):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the runner uid must traverse it
    return path


def remove_tree(path):
    """rm -rf that also gets through directories a job made unreadable (chmod 000)."""
    def onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)
    if os.path.exists(path):
        subprocess.run(["chmod", "-R", "u+rwx", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def private_file(directory, prefix, content, mode=0o600):
    """A new file in directory holding content, readable by root only (as a mounted
    Kubernetes secret is for the supervisor); → its path."""
    fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


# ---------------------------------------------------------------------------------------------
# the fake GitHub


class FixtureGitHub(FakeGitHub):
    """FakeGitHub plus the registrations a test expects to be left, and a direct client for
    test set-up."""

    USER_AGENT = "supervisor-fixtures/1"

    def __init__(self, directory):
        super().__init__(directory)
        self.expected = 0

    def expect(self, n):
        """The test ends with n registrations left (default 0; None: not checked)."""
        self.expected = n

    def call_api(self, method, path, token, body=None):
        """One request as a well-behaved client would send it (the way ARC would make it);
        → (status, JSON). The call is recorded like any other: reset_calls() after set-up."""
        headers = {"User-Agent": self.USER_AGENT, "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28", "Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.api_url + path, data=data, method=method,
                                     headers=headers)
        ctx = ssl.create_default_context(cafile=self.ca_file)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=ctx))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def jit_config_for(self, scope_path, name, token, labels=("self-hosted", "Linux", "X64")):
        """A JIT configuration made the way ARC makes one before it starts a pod;
        → (encoded_jit_config, runner JSON)."""
        status, answer = self.call_api(
            "POST", f"{scope_path}/actions/runners/generate-jitconfig", token,
            {"name": name, "runner_group_id": 1, "labels": list(labels)})
        assert status == 201, answer
        return answer["encoded_jit_config"], answer["runner"]


def serve(fake, directory):
    """The body of a fake-GitHub fixture: starts fake, yields it, and after the test checks
    that it holds exactly the registrations the test expected (fake.expect()). The fake is
    stopped and directory removed whatever happened."""
    fake.start()
    try:
        yield fake
        left = fake.runners()
        assert fake.expected is None or len(left) == fake.expected, (
            f"the fake holds {len(left)} runner registration(s), the test expected "
            f"{fake.expected}: {left}")
    finally:
        fake.stop()
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# the supervisor's environment


def base_env(fake, token_file):
    """The settings every run starts from: JSON logs, the fake's org "acme" with a PAT in
    token_file, the runner uid, short deadlines, and the sanitizers' options of this session."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SUPERVISOR_LOG_FORMAT": "json",
        "GITHUB_URL": fake.url + "/acme",
        "GITHUB_CA_FILE": fake.ca_file,
        "GITHUB_TOKEN_FILE": token_file,
        "RUNNER_USER": f"{RUNNER_UID}:{RUNNER_GID}",
        "SUPERVISOR_REGISTER_DEADLINE": "15",
        "SUPERVISOR_DEREGISTER_DEADLINE": "10",
        "SUPERVISOR_DEREGISTER_PATIENCE": "10",
        "SUPERVISOR_STOP_GRACE": "2",
    }
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def apply_settings(env, settings):
    """env updated by a test's settings: a value is set as a string, None unsets the name."""
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


# ---------------------------------------------------------------------------------------------
# /proc


def pids_of_uid(uid):
    """Processes whose real or effective uid is uid (zombies included)."""
    found = []
    for pid in conftest.all_pids():
        try:
            status = conftest.proc_status(pid)
        except OSError:
            continue
        uids = status.get("Uid", "").split()
        if len(uids) >= 2 and str(uid) in uids[:2]:
            found.append(pid)
    return found


def kill_uid(uid):
    conftest.sigkill(pids_of_uid(uid))


def strays(runs, owned=()):
    """Children of pytest (the subreaper of last resort) that are neither a run's process nor
    one a fixture started on purpose (owned): they outlived the supervisor that started them."""
    return conftest.children_of(os.getpid()) - {run.proc.pid for run in runs} - set(owned)


# ---------------------------------------------------------------------------------------------
# runner-supervisor


class SupervisorProcess:
    """One runner-supervisor process: its exit, its output and its JSON log events. With pid1,
    PID 1 of a new PID namespace (under unshare, which does not forward signals: signals go to
    the supervisor itself, sup_pid)."""

    def __init__(self, argv, env, pid1=False, title="runner-supervisor"):
        self.env, self.title = env, title
        self.argv = [*conftest.UNSHARE, *argv] if pid1 else list(argv)
        self.started_at = time.monotonic()
        self.exited_at = None
        self.killed = False  # by the fixtures: then what it leaves behind says nothing
        self.proc, self._stdout, self._stderr = conftest.start_streamed(
            self.argv, env, stdin=subprocess.DEVNULL, process_group=0, cwd="/")
        self._waiter = threading.Thread(target=self._note_exit, daemon=True)
        self._waiter.start()
        self.sup_pid = (conftest.exec_child(self.proc, RS_BIN, timeout=WAIT) if pid1
                        else self.proc.pid)

    def _note_exit(self):
        self.proc.wait()
        self.exited_at = time.monotonic()

    # -- the process -----------------------------------------------------------------------

    def send_signal(self, sig):
        """To the supervisor itself (as PID 1: the namespace's init, not unshare)."""
        os.kill(self.sup_pid, sig)

    def _while_running(self):
        """Called about every 0.1 s while wait() waits: a subclass may fail the test early
        when the process is known to be stuck."""

    def wait(self, timeout=WAIT):
        """The exit code; when it is still running after timeout, kills it and fails the
        test with its output."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                code = self.proc.wait(0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            self._while_running()
            if time.monotonic() >= deadline:
                self.kill()
                pytest.fail(f"{self.title} still running after {timeout}s: killed\n"
                            f"{self.output()}")
        # exited_at is set, and what it wrote just before exiting has been read (bounded: a
        # leftover process may hold a pipe open)
        self._waiter.join(1)
        self._stderr.wait_closed(5)
        self._stdout.wait_closed(5)
        return code

    @property
    def elapsed(self):
        """Seconds from start to exit (None while running)."""
        return None if self.exited_at is None else self.exited_at - self.started_at

    def alive(self):
        return self.proc.poll() is None

    # -- output ----------------------------------------------------------------------------

    @property
    def stderr(self):
        return self._stderr.text

    @property
    def stdout(self):
        return self._stdout.text

    def output(self):
        return f"argv: {self.argv}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def events(self, name=None):
        return conftest.json_events(self._stderr.lines, name)

    def event(self, name):
        """The one event of that name."""
        found = self.events(name)
        assert len(found) == 1, f"{len(found)} {name!r} events\n{self.output()}"
        return found[0]

    def names(self):
        return [e.get("event") for e in self.events()]

    def wait_for_event(self, name, timeout=WAIT):
        """The first event of that name, once it is logged; fails the test after timeout, or
        soon after the process exits without logging it."""
        self._stderr.wait_for(rf'"event":"{re.escape(name)}"', timeout=timeout)
        return self.events(name)[0]

    # -- teardown --------------------------------------------------------------------------

    def kill(self):
        """SIGKILLs the process, unshare's child (pid1) and everything below, and reaps it."""
        if conftest.kill_tree(self.proc, first=self.sup_pid):
            self.killed = True

    def close(self):
        return conftest.close_streams(self.proc, self._stdout, self._stderr)

    def output_problems(self, i):
        """What is wrong with the output of run i, once it is over: something still holds its
        pipes (a process that escaped teardown), or a sanitizer printed a report."""
        found = []
        if not self.close():
            found.append(f"run {i}: something still holds its output pipes")
        if conftest.SANITIZER_REPORT.search(self.stderr):
            found.append(f"run {i}: sanitizer report on stderr:\n{self.stderr}")
        return found


def skip_unless_built():
    if not os.access(RS_BIN, os.X_OK):
        pytest.skip(f"{RS_BIN} is not built (make asan)")


def checked(fixture, tmp):
    """The body of a supervisor fixture: yields fixture (with .runs and .problems()); after the
    test prints every run's output and fails the test with what problems() found. tmp is
    removed whatever happened."""
    try:
        yield fixture
    finally:
        problems = fixture.problems()
        for i, run in enumerate(fixture.runs):
            print(f"=== run {i}: {run.title}\n{run.output()}")
        remove_tree(tmp)
    if problems:
        pytest.fail("\n".join(problems))
