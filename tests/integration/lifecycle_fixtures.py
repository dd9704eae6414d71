"""Fixtures for the lifecycle tests (test_lifecycle.py): `runner-supervisor run` against the
fake GitHub (tests/fakes/fake_github.py) with the fake actions/runner installation
(tests/fakes/runner_install.py), as a child subreaper or as real PID 1 of a PID namespace.

    lc_github   a started FakeGitHub with the org "acme". After the test it must hold exactly
                the registrations the test announced with lc_github.expect(n) (default 0).
    lifecycle   installs fake runners (lifecycle.install(**knobs)) and starts supervisors
                (lifecycle.start(mode, **settings)). After every test, for every supervisor
                that ended by itself, it is an error when:
                  - a process of the runner uid is still alive (a scan of /proc),
                  - something the supervisor started outlived it (it landed on pytest),
                  - RUNNER_ROOT/_work is not empty (or absent),
                  - ASan/UBSan printed a report on stderr.
                Every process and temporary directory is removed whatever happened.

The runner uid. The brief of these tests says 65534, and RS_TEST_RUNNER_UID=65534 runs them
so. The default is a uid of this test session's own (the same rule as github_fixtures.py),
because the lifecycle SIGKILLs every process of the runner uid on the machine and deletes
what that uid created in /tmp during the run (DESIGN.md, "Process model" and "What the wipe
covers"): with a uid shared with other sessions on this machine, their supervisors would kill
our runners and ours theirs, and the "no process of the runner uid" check would see theirs.
"""
import json
import os
import re
import shutil
import signal
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
import runner_install  # noqa: E402

__all__ = ["lc_github", "lifecycle", "RUNNER_UID", "MODES", "FAST_RUNNER"]

RS_BIN = conftest.RS_BIN
RUNNER_UID = RUNNER_GID = int(os.environ.get("RS_TEST_RUNNER_UID")
                              or 300000 + os.getpid() % 100000)
MODES = ["subreaper", "pid1"]
WAIT = 20  # seconds: the bound of a wait for something that should come well before it

# Knobs that make the fake runner quick: 1 s long polls, a canceled step is SIGTERMed after
# 0.3 s and SIGKILLed 0.3 s later (real: 7.5 s and 2.5 s), a step's output pipe held by a
# daemon is given up after 1 s (real: 5 s).
FAST_RUNNER = dict(poll_wait=1, retry_interval=1, session_retry_interval=1,
                   sigint_timeout=0.3, sigterm_timeout=0.3, output_drain_seconds=1,
                   cancel_poll_interval=0.2)


def _world_readable_tmpdir(prefix):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the runner uid must traverse it
    return path


# ---------------------------------------------------------------------------------------------
# the fake GitHub


class LcGitHub(FakeGitHub):
    """FakeGitHub plus the registrations a test expects to be left, and a client for set-up."""

    def __init__(self, directory):
        super().__init__(directory)
        self.expected = 0

    def expect(self, n):
        """The test ends with n registrations left (default 0; None: not checked)."""
        self.expected = n

    def api(self, method, path, token, body=None):
        """One well-formed REST call (the way ARC would make it) → (status, JSON)."""
        headers = {"User-Agent": "lifecycle-tests/1", "Accept": "application/vnd.github+json",
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

    def generate_jitconfig(self, name, token, org="acme"):
        """What ARC does before it starts a pod: → (encoded_jit_config, runner JSON)."""
        status, answer = self.api("POST", f"/orgs/{org}/actions/runners/generate-jitconfig",
                                  token, {"name": name, "runner_group_id": 1,
                                          "labels": ["self-hosted", "Linux", "X64"]})
        assert status == 201, answer
        return answer["encoded_jit_config"], answer["runner"]


@pytest.fixture
def lc_github():
    directory = _world_readable_tmpdir("rs-lc-gh-")
    fake = LcGitHub(directory)
    fake.add_org("acme")
    fake.start()
    try:
        yield fake
        left = fake.runners()
        assert fake.expected is None or len(left) == fake.expected, (
            f"the fake holds {len(left)} registration(s), the test expected {fake.expected}: "
            f"{left}")
    finally:
        fake.stop()
        shutil.rmtree(directory, ignore_errors=True)


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
    for pid in pids_of_uid(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------------------------------------
# a runner installation


class Installation:
    """A fake runner installation: its root, and what its Listener and Worker recorded."""

    def __init__(self, root, record):
        self.root = Path(root)
        self.record = Path(record)
        self.work = self.root / "_work"

    def events(self, event=None, proc=None):
        return runner_install.events(self.record, event, proc)

    def event(self, event, proc=None):
        found = self.events(event, proc)
        assert found, f"the runner recorded no {event!r}: {self.events()}"
        return found[0]

    def wait_event(self, event, proc=None, timeout=WAIT, count=1):
        """Waits until the runner has recorded `count` events named `event`; → the last."""
        found = conftest.wait_until(lambda: len(self.events(event, proc)) >= count
                                    and self.events(event, proc), timeout=timeout,
                                    interval=0.02, what=f"the runner's {event!r} record")
        return found[count - 1]

    def step_outputs(self):
        return [e.get("output", "") for e in self.events("step_completed", "worker")]


# ---------------------------------------------------------------------------------------------
# runner-supervisor runs


class SupervisorRun:
    """One `runner-supervisor run`, directly (mode "subreaper": it makes itself the child
    subreaper) or as PID 1 of a new PID namespace (mode "pid1", under unshare, which does not
    forward signals: signals go to the supervisor itself)."""

    def __init__(self, mode, env, installation, termination_log):
        self.mode = mode
        self.env = env
        self.installation = installation
        self.termination_log = Path(termination_log)
        self.argv = [RS_BIN, "run"]
        if mode == "pid1":
            self.argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                         *self.argv]
        self.started_at = time.monotonic()
        self.exited_at = None
        self.killed = False  # by the tests: then what it leaves behind says nothing
        self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     process_group=0, cwd="/")
        self._stdout = conftest.LineStream(self.proc.stdout, "stdout")
        self._stderr = conftest.LineStream(self.proc.stderr, "stderr")
        self._stdout.exit_status = self._stderr.exit_status = self.proc.poll
        threading.Thread(target=self._note_exit, daemon=True).start()
        self.sup_pid = self._find_supervisor() if mode == "pid1" else self.proc.pid

    def _note_exit(self):
        self.proc.wait()
        self.exited_at = time.monotonic()

    def _find_supervisor(self):
        """The child unshare forked, once it has exec'd runner-supervisor."""
        want = os.path.realpath(RS_BIN)

        def found():
            for kid in conftest.children_of(self.proc.pid):
                try:
                    if os.readlink(f"/proc/{kid}/exe") == want:
                        return kid
                except OSError:
                    pass
            return -1 if self.proc.poll() is not None else None

        pid = conftest.wait_until(found, timeout=WAIT, what="runner-supervisor under unshare")
        return None if pid == -1 else pid

    # -- the process -----------------------------------------------------------------------

    def send_signal(self, sig):
        """To the supervisor itself (as PID 1: the namespace's init, not unshare)."""
        os.kill(self.sup_pid, sig)

    def wait(self, timeout=WAIT):
        """The exit code; when it is still running after timeout, kills it and fails the
        test with its output."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"runner-supervisor ({self.mode}) still running after {timeout}s: "
                        f"killed\n{self.output()}")
        self._stderr.wait_closed(5)
        self._stdout.wait_closed(5)
        return code

    @property
    def elapsed(self):
        """Seconds from start to exit (None while running)."""
        return None if self.exited_at is None else self.exited_at - self.started_at

    def alive(self):
        return self.proc.poll() is None

    # -- logs ------------------------------------------------------------------------------

    @property
    def stderr(self):
        return self._stderr.text

    def output(self):
        return (f"argv: {self.argv}\n--- stdout\n{self._stdout.text}\n"
                f"--- stderr\n{self._stderr.text}")

    def events(self, name=None):
        found = []
        for line in self._stderr.lines:
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and (name is None or obj.get("event") == name):
                found.append(conftest.Event(obj))
        return found

    def event(self, name):
        """The one event of that name."""
        found = self.events(name)
        assert len(found) == 1, f"{len(found)} {name!r} events\n{self.output()}"
        return found[0]

    def names(self):
        return [e.get("event") for e in self.events()]

    def wait_for_event(self, name, timeout=WAIT):
        self._stderr.wait_for(rf'"event":"{re.escape(name)}"', timeout=timeout)
        return self.events(name)[0]

    @property
    def summary(self):
        """The final summary, from the supervisor.exit line."""
        summary = self.event("supervisor.exit").field("summary")
        assert isinstance(summary, dict), f"supervisor.exit has no summary\n{self.output()}"
        return summary

    def termination_summary(self):
        text = self.termination_log.read_text()
        return text, json.loads(text)

    # -- teardown --------------------------------------------------------------------------

    def kill(self):
        if self.proc.poll() is None:
            self.killed = True
            below = conftest.descendants_of({self.proc.pid})
            for pid in [self.sup_pid, self.proc.pid, *below]:
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        if self._stdout.wait_closed(2) and self._stderr.wait_closed(2):
            self.proc.stdout.close()
            self.proc.stderr.close()
            return True
        return False


class Lifecycle:
    """The `lifecycle` fixture."""

    def __init__(self, gh, tmp):
        self.gh, self.tmp = gh, tmp
        self.runs = []
        self.installations = []
        self.pat = gh.add_pat(scopes=["admin:org"])
        self.base_env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SUPERVISOR_LOG_FORMAT": "json",
            "GITHUB_URL": gh.url + "/acme",
            "GITHUB_TOKEN_FILE": self.secret_file("token-", self.pat + "\n"),
            "GITHUB_CA_FILE": gh.ca_file,
            "RUNNER_USER": f"{RUNNER_UID}:{RUNNER_GID}",
            "SUPERVISOR_STOP_GRACE": "2",
            "SUPERVISOR_REGISTER_DEADLINE": "15",
            "SUPERVISOR_DEREGISTER_DEADLINE": "10",
        }
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if os.environ.get(name):
                self.base_env[name] = os.environ[name]

    def secret_file(self, prefix, content):
        fd, path = tempfile.mkstemp(prefix=prefix, dir=self.tmp)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(path, 0o600)
        return path

    def install(self, chown_all=False, **knobs):
        """A fake runner installation whose root directory the runner uid owns (every file
        too with chown_all, as in the runner image), with the FAST_RUNNER knobs updated by
        knobs; → Installation."""
        base = Path(tempfile.mkdtemp(prefix="inst-", dir=self.tmp))
        base.chmod(0o755)
        record = base / "record.jsonl"
        options = dict(FAST_RUNNER, ca_file=self.gh.ca_file, record=str(record))
        options.update(knobs)
        root = runner_install.install(base / "runner", owner=(RUNNER_UID, RUNNER_GID),
                                      chown_all=chown_all, **options)
        inst = Installation(root, record)
        self.installations.append(inst)
        return inst

    def start(self, mode="subreaper", installation=None, **settings):
        """Starts `runner-supervisor run` in mode with the base environment, RUNNER_ROOT of
        installation (a new default one when None), a fresh RUNNER_NAME and termination log,
        updated by settings (None unsets). → SupervisorRun."""
        assert mode in MODES, mode
        inst = installation or self.install()
        env = dict(self.base_env)
        env["RUNNER_ROOT"] = str(inst.root)
        env["RUNNER_NAME"] = f"lc-{mode}-{os.urandom(4).hex()}"
        fd, term = tempfile.mkstemp(prefix="termination-", dir=self.tmp)
        os.close(fd)
        env["SUPERVISOR_TERMINATION_LOG"] = term
        for name, value in settings.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        run = SupervisorRun(mode, env, inst, term)
        self.runs.append(run)
        return run

    # -- the checks after every test -------------------------------------------------------

    def problems(self):
        found = []
        by_themselves = all(not run.alive() and not run.killed for run in self.runs)
        for run in self.runs:
            if run.alive():
                found.append(f"runner-supervisor ({run.mode}) was still running when the test "
                             f"ended: killed")
            run.kill()
        ended = self.runs if by_themselves else []
        if not by_themselves:
            self.gh.expect(None)  # a killed supervisor never deregistered: says nothing
        if ended:
            # Every supervisor ended by itself: what they leave must be nothing.
            left = pids_of_uid(RUNNER_UID)
            if left:
                found.append(f"processes of the runner uid {RUNNER_UID} outlived the "
                             f"supervisor: " + "; ".join(conftest.describe(p) for p in left))
            ours = {run.proc.pid for run in self.runs}
            strays = conftest.children_of(os.getpid()) - ours
            if strays:
                found.append("processes outlived runner-supervisor (reparented to pytest): "
                             + "; ".join(conftest.describe(p) for p in sorted(strays)))
            for inst in {run.installation.root: run.installation for run in ended}.values():
                if inst.work.is_symlink():
                    found.append(f"{inst.work} is a symlink to {os.readlink(inst.work)}")
                elif inst.work.exists() and any(inst.work.iterdir()):
                    found.append(f"{inst.work} is not empty: "
                                 f"{sorted(p.name for p in inst.work.iterdir())}")
        # Whatever happened: nothing of ours survives the test.
        for _ in range(50):
            kill_uid(RUNNER_UID)
            strays = conftest.children_of(os.getpid()) - {run.proc.pid for run in self.runs}
            for pid in conftest.descendants_of(strays) | strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in strays:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            if not pids_of_uid(RUNNER_UID) and not strays:
                break
            time.sleep(0.02)
        for i, run in enumerate(self.runs):
            if not run.close():
                found.append(f"run {i}: something still holds its output pipes")
            if conftest.SANITIZER_REPORT.search(run.stderr):
                found.append(f"run {i}: sanitizer report on stderr")
        return found


@pytest.fixture
def lifecycle(lc_github):
    if not os.access(RS_BIN, os.X_OK):
        pytest.skip(f"{RS_BIN} is not built (make asan)")
    tmp = _world_readable_tmpdir("rs-lc-")
    lc = Lifecycle(lc_github, tmp)
    try:
        yield lc
    finally:
        problems = lc.problems()
        for i, run in enumerate(lc.runs):
            print(f"=== run {i} ({run.mode})\n{run.output()}")
        _remove_tree(tmp)
    if problems:
        pytest.fail("\n".join(problems))


def _remove_tree(path):
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
