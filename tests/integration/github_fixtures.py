"""Fixtures for the GitHub tests (test_github.py): a fake GitHub, a runner installation whose
Runner.Listener is a recording stand-in, and runner-supervisor runs that are checked after
every test.

    fake_github     a started FakeGitHub (tests/fakes/fake_github.py) with the org "acme", the
                    repo "acme/app" and the enterprise "ent". After the test it must hold
                    exactly the runners the test announced with fake_github.expect_runners(n)
                    (default 0: a whole run leaves nothing registered).
    runner_root     a RUNNER_ROOT (owned by the runner user, as in the runner image; inside a
                    directory of root's, so that the wipe of what the runner uid owns directly
                    in /tmp leaves it alone) whose bin/Runner.Listener is
                    helpers/fake_listener.py.
    supervisor      starts $RS_BIN with a clean environment (supervisor.start(...)). After the
                    test, every process is killed and reaped, and it is an error when: a
                    process outlived its supervisor, a sanitizer printed something, or any
                    secret (PATs, installation tokens, JWTs, JIT configurations, registration
                    tokens, private keys) appears in the supervisor's stdout, stderr or
                    termination log (SUPERVISOR_TERMINATION_LOG, set for every run), or in the
                    environment or argv the runner was started with.
    tinyproxy       an HTTP(S) proxy (Debian's tinyproxy) allowed to CONNECT to the fake only.

The runner user, the fake's client side and what a runner-supervisor process is to a test
are shared with the lifecycle fixtures (supervisor_process.py).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import conftest
from supervisor_process import (HERE, RS_BIN, RUNNER_GID, RUNNER_UID, WAIT,  # noqa: F401
                                FixtureGitHub, SupervisorProcess, apply_settings, base_env,
                                checked, private_file, serve, skip_unless_built, strays,
                                world_readable_tmpdir)

__all__ = ["fake_github", "runner_root", "supervisor", "tinyproxy"]

LISTENER = HERE / "helpers" / "fake_listener.py"
TINYPROXY = "/usr/bin/tinyproxy"
SECRET_FILES = (".runner", ".credentials", ".credentials_rsaparams")

_owned_pids = set()  # processes fixtures started on purpose (a proxy): not strays

# A hang these tests found (fixed by 52548e5, "http: stop the loop when a transfer ends"): a
# run that blocks that way again fails at once with this diagnosis instead of after WAIT.
HANG = ("runner-supervisor is blocked for good in epoll_wait(timeout -1) with no child "
        "process. Known cause (52548e5): http.c http_perform() loops `uv_run(loop, "
        "UV_RUN_ONCE)` until the transfer is done, but libuv 1.44 (Debian 12) runs due timers "
        "BEFORE it polls; when curl finishes a transfer inside that timer callback "
        "(on_curl_timeout: a reused connection whose answer is already readable), nothing is "
        "left to wake the poll unless check_done() calls uv_stop()")
EPOLL_WAIT = {"x86_64": {232, 281}, "aarch64": {22}}.get(os.uname().machine, set())


def _pem_body_lines(pem):
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


# ---------------------------------------------------------------------------------------------
# the fake GitHub


class GitHub(FixtureGitHub):
    """FixtureGitHub plus what the fixtures need: the JIT configurations it handed out
    (secrets), and the secrets a test made outside the fake."""

    USER_AGENT = "github-fixtures/1"

    def __init__(self, directory):
        super().__init__(directory)
        self.jit_blobs = []
        self.test_secrets = set()  # secrets a test made outside the fake (an unknown PAT)

    def expect_runners(self, n):
        """The test ends with n runners registered (default 0)."""
        self.expect(n)

    def forget_expectations(self):
        """A run hung (HANG): what it left registered says nothing."""
        self.expect(None)

    def _encoded_jit_config(self, r):
        blob = super()._encoded_jit_config(r)
        with self._lock:
            self.jit_blobs.append(blob)
        return blob

    def installation_tokens(self):
        with self._lock:
            return list(self._inst_tokens)

    def secrets(self):
        """Every secret this fake knows of, or that travelled in an Authorization header."""
        found = set(self.test_secrets) | set(self.jit_blobs) | set(self.installation_tokens())
        found |= {p["token"] for p in self.state()["pats"]}
        found |= {t["token"] for t in self.registration_tokens()}
        for call in self.calls:
            auth = call["headers"].get("authorization", "")
            if " " in auth:
                found.add(auth.split(" ", 1)[1].strip())
        with self._lock:
            apps = list(self._apps.values())
            rsa = dict(self._rsa_params_cache or {})
        for app in apps:
            found.update(_pem_body_lines(app.private_key_pem))
            found.update(_pem_body_lines(app.private_key_pkcs8_pem))
        for name in ("d", "p", "q", "dp", "dq", "inverseQ"):
            if rsa.get(name):
                found.add(rsa[name])
        return {s for s in found if s and len(s) >= 8}

    def api_calls(self, path_regex=".*", method=None):
        return self.calls_to(path_regex, method)


@pytest.fixture
def fake_github():
    directory = world_readable_tmpdir("rs-gh-fake-")
    fake = GitHub(directory)
    fake.add_org("acme")
    fake.add_repo("acme/app")
    fake.add_enterprise("ent")
    yield from serve(fake, directory)


# ---------------------------------------------------------------------------------------------
# the runner installation


class RunnerRoot(type(Path())):
    """RUNNER_ROOT, a Path."""

    def credential_files(self):
        return sorted(name for name in SECRET_FILES if (self / name).exists())


@pytest.fixture
def runner_root():
    base = world_readable_tmpdir("rs-gh-root-")
    root = RunnerRoot(base / "runner")
    (root / "bin").mkdir(mode=0o755, parents=True)
    root.chmod(0o755)
    listener = root / "bin" / "Runner.Listener"
    shutil.copyfile(LISTENER, listener)
    listener.chmod(0o755)
    # The runner owns its home (the image's /home/runner); the installation stays root's.
    os.chown(root, RUNNER_UID, RUNNER_GID)
    yield root
    shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# runner-supervisor


def _blocked_forever_in_epoll(pid):
    """pid sleeps in epoll_wait/epoll_pwait with an infinite timeout (/proc/PID/syscall:
    "NR arg1 ... arg6 sp pc"; the timeout is arg4)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return False
    if len(fields) < 5 or not fields[0].isdigit() or int(fields[0]) not in EPOLL_WAIT:
        return False
    return int(fields[4], 16) & 0xFFFFFFFF == 0xFFFFFFFF


class Run(SupervisorProcess):
    """One runner-supervisor process (SupervisorProcess), what the runner saw, and the known
    hang (HANG) told apart from a slow run."""

    def __init__(self, argv, env, record_dir, on_hang=None):
        self.record_dir = record_dir
        self.termination_log = env.get("SUPERVISOR_TERMINATION_LOG")
        self.termination_log_under_test = False  # a test checks it itself: teardown does not
        self.on_hang = on_hang
        self.hung = False
        self._stuck_since = None
        super().__init__(argv, env)

    # -- the process -----------------------------------------------------------------------

    def send_signal(self, sig):
        self.proc.send_signal(sig)  # not once it is reaped: its pid may be reused

    def stuck(self):
        """Blocked for good: no child (so not running the runner), and waiting for I/O with
        no timeout, which no phase that talks to GitHub ever does (they all have deadlines)."""
        return (_blocked_forever_in_epoll(self.proc.pid)
                and not conftest.children_of(self.proc.pid))

    def wait(self, timeout=WAIT):
        """The exit status; fails the test (with the output) when it is still running, and
        at once when it hangs the known way (HANG)."""
        self._stuck_since = None
        return super().wait(timeout)

    def _while_running(self):
        """A second stuck is the hang of HANG, not a slow answer: fail now, not after WAIT."""
        if not self.stuck():
            self._stuck_since = None
            return
        now = time.monotonic()
        self._stuck_since = self._stuck_since or now
        if now - self._stuck_since >= 1.0:
            self.hung = True
            if self.on_hang:
                self.on_hang()
            self.kill()
            pytest.fail(f"{HANG}\n{self.output()}")

    # -- output ----------------------------------------------------------------------------

    def summary(self):
        """The final summary the supervisor wrote to SUPERVISOR_TERMINATION_LOG, or None."""
        text = self.termination_log_text()
        return json.loads(text) if text else None

    def termination_log_text(self):
        try:
            with open(self.termination_log) as f:
                return f.read()
        except (TypeError, OSError):
            return ""

    # -- the runner's side -----------------------------------------------------------------

    def listener(self, verb="run"):
        """What Runner.Listener VERB recorded (argv, uid, cwd, env, files), or None."""
        path = self.record_dir / f"{verb}.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def wait_for_listener(self, verb="run", timeout=WAIT):
        return conftest.wait_until(lambda: self.listener(verb), timeout=timeout,
                                   interval=0.02, what=f"Runner.Listener {verb}")


class Supervisor:
    """The `supervisor` fixture: runs $RS_BIN against fake_github with runner_root."""

    def __init__(self, fake, root, tmp):
        self.fake, self.root, self.tmp = fake, root, tmp
        self.runs = []
        self.default_pat = fake.add_pat()
        self.base_env = base_env(fake, self.pat_file(self.default_pat))
        self.base_env.update({
            "RUNNER_ROOT": str(root),
            "RUNNER_NAME": "pod-" + os.urandom(4).hex(),
            "FAKE_LISTENER_MODE": "job",
            "FAKE_LISTENER_WAIT": "10",
            "FAKE_LISTENER_CA": fake.ca_file,
        })

    @property
    def runner_name(self):
        return self.base_env["RUNNER_NAME"]

    def pat_file(self, token):
        """A GITHUB_TOKEN_FILE holding token (a Kubernetes secret ends with a newline)."""
        self.fake.test_secrets.add(token)
        return private_file(self.tmp, "token-", token + "\n")

    def key_file(self, pem):
        self.fake.test_secrets.update(_pem_body_lines(pem))
        return private_file(self.tmp, "app-key-", pem)

    def app_env(self, app, key="pkcs1", installation_id=None, use_client_id=False):
        """The settings that authenticate as app instead of the default PAT."""
        pem = app.private_key_pem if key == "pkcs1" else app.private_key_pkcs8_pem
        env = {"GITHUB_TOKEN_FILE": None,
               "GITHUB_APP_ID": app.client_id if use_client_id else str(app.app_id),
               "GITHUB_APP_PRIVATE_KEY_FILE": self.key_file(pem)}
        if installation_id is not None:
            env["GITHUB_APP_INSTALLATION_ID"] = str(installation_id)
        return env

    def start(self, *args, **settings):
        """Starts RS_BIN ARGS with the base environment updated by settings (None unsets)."""
        env = dict(self.base_env)
        record_dir = Path(tempfile.mkdtemp(prefix="record-", dir=self.tmp))
        record_dir.chmod(0o777)
        env["FAKE_LISTENER_RECORD"] = str(record_dir)
        # what Kubernetes' terminationMessagePath would show (a root-only directory)
        env["SUPERVISOR_TERMINATION_LOG"] = str(self.tmp / f"termination-{len(self.runs)}.json")
        apply_settings(env, settings)
        run = Run([RS_BIN, *args], env, record_dir, on_hang=self.fake.forget_expectations)
        self.runs.append(run)
        return run

    def run(self, *args, timeout=WAIT, **settings):
        """start() and wait(): → the finished Run (its code in .code)."""
        run = self.start(*args, **settings)
        run.code = run.wait(timeout)
        return run

    # -- the checks after every test -------------------------------------------------------

    def problems(self):
        found = []
        for run in self.runs:
            run.kill()
        left = strays(self.runs, owned=_owned_pids)
        if left:
            found.append("processes outlived runner-supervisor: "
                         + "; ".join(conftest.describe(p) for p in sorted(left)))
            conftest.kill_and_reap(left)
        secrets = self.fake.secrets()
        for i, run in enumerate(self.runs):
            found.extend(run.output_problems(i))
            streams = [("stderr", run.stderr), ("stdout", run.stdout)]
            if not run.termination_log_under_test:
                streams.append(("the termination log", run.termination_log_text()))
            for stream, text in streams:
                leaked = [s for s in secrets if s in text]
                if leaked:
                    found.append(f"run {i}: secret(s) on {stream}: "
                                 + ", ".join(s[:6] + "..." for s in leaked))
            started = run.listener("run")
            if started:
                seen = json.dumps([started["argv"], started["env"]])
                leaked = [s for s in secrets if s in seen]
                if leaked:
                    found.append(f"run {i}: secret(s) in the runner's argv or environment: "
                                 + ", ".join(s[:6] + "..." for s in leaked))
        return found


@pytest.fixture
def supervisor(fake_github, runner_root):
    skip_unless_built()
    tmp = world_readable_tmpdir("rs-gh-sup-")
    yield from checked(Supervisor(fake_github, runner_root, tmp), tmp)


# ---------------------------------------------------------------------------------------------
# an HTTP proxy


class Proxy:
    def __init__(self, port, log_file):
        self.port, self.log_file = port, log_file
        self.url = f"http://127.0.0.1:{port}"

    def log(self):
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def connects(self):
        """The CONNECT requests the proxy received ("host:port")."""
        return re.findall(r"CONNECT (\S+) HTTP", self.log())


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tinyproxy(fake_github):
    if not os.access(TINYPROXY, os.X_OK):
        pytest.skip("tinyproxy is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="rs-gh-proxy-"))
    port = _free_port()
    conf = tmp / "tinyproxy.conf"
    conf.write_text(f'Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\n'
                    f'ConnectPort {fake_github.port}\nLogFile "{tmp}/tinyproxy.log"\n'
                    f'LogLevel Info\nPidFile "{tmp}/tinyproxy.pid"\nTimeout 30\n')
    proc = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _owned_pids.add(proc.pid)
    proxy = Proxy(port, tmp / "tinyproxy.log")

    def listening():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        conftest.wait_until(listening, timeout=10, interval=0.05, what="tinyproxy listening")
        yield proxy
        print(f"--- tinyproxy log\n{proxy.log()}")
    finally:
        proc.kill()
        proc.wait(10)
        _owned_pids.discard(proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)
