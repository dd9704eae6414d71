"""Self-test of the fake actions/runner installation (runner_install.py + fake_runner/).

A FakeGitHub runs in-process; the fake runner is installed into a world-readable temporary
directory and run as a real process against it. Run:

    /usr/bin/python3 -m pytest -q tests/fakes/test_fake_runner.py

Every wait is bounded; every process a test starts carries FAKE_RUNNER_SELFTEST=<id> in its
environment and is killed at teardown (with anything it left behind that still carries it).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import runner_install as ri  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402

WAIT = 15  # seconds: the bound of every wait that should end well before it
NOBODY = 65534
TS = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z"
FAST = dict(poll_wait=1, retry_interval=0.2, session_retry_interval=0.2, sigint_timeout=0.3,
            sigterm_timeout=0.3, output_drain_seconds=0.5, cancel_poll_interval=0.1,
            finalize_seconds=0)
API_HEADERS = {"User-Agent": "fake-runner-selftest/1", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------
# processes


class Proc:
    """A started process with its output collected line by line (bounded waits only)."""

    def __init__(self, argv, env, cwd, user=None):
        kwargs = {}
        if user is not None:
            kwargs = dict(user=user, group=user, extra_groups=[])
        self.started = time.monotonic()
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  process_group=0, **kwargs)
        self.lines = {"out": [], "err": []}
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(self.p.stdout, "out"),
                                         daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, "err"),
                                         daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self, stream, name):
        for raw in iter(stream.readline, b""):
            with self.cond:
                self.lines[name].append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        stream.close()

    @property
    def pid(self):
        return self.p.pid

    def out(self):
        with self.cond:
            return list(self.lines["out"])

    def err(self):
        with self.cond:
            return list(self.lines["err"])

    def output(self):
        return ("--- stdout\n" + "\n".join(self.out()) + "\n--- stderr\n" +
                "\n".join(self.err()))

    def wait(self, timeout=WAIT):
        try:
            code = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.p.args[0]} still running after {timeout} s\n{self.output()}")
        for t in self.readers:
            t.join(5)
        self.elapsed = time.monotonic() - self.started
        return code

    def wait_line(self, regex, stream="out", timeout=WAIT, count=1):
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [line for line in self.lines[stream] if pattern.search(line)]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no {count}x /{regex}/ on std{stream} in {timeout} s "
                                f"(exit {self.p.poll()})\n{self.output()}")
                self.cond.wait(min(left, 0.1))

    def send(self, sig):
        self.p.send_signal(sig)

    def alive(self):
        return self.p.poll() is None


def wait_for(predicate, timeout=WAIT, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def marked_pids(marker):
    """Pids of processes whose environment holds FAKE_RUNNER_SELFTEST=marker."""
    needle = f"FAKE_RUNNER_SELFTEST={marker}".encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(name))
        except OSError:
            pass
    return pids


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# fixtures


def _rmtree(path):
    def onerror(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if not os.path.islink(p) and os.path.isdir(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)


@pytest.fixture
def world():
    """A temporary directory every uid can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="fake-runner-test-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    _rmtree(path)


@pytest.fixture
def gh(world):
    fake = FakeGitHub(world / "gh")
    fake.start()
    fake.add_org("acme")
    fake.add_repo("acme", "app")
    fake.pat = fake.add_pat()
    yield fake
    fake.stop()


class Env:
    """Starts runner processes and cleans up after them."""

    def __init__(self, world, gh):
        self.world, self.gh = world, gh
        self.marker = uuid.uuid4().hex
        self.procs = []
        self.root = None
        self.record = world / "record.jsonl"

    def install(self, owner=None, **options):
        opts = dict(FAST, record=str(self.record), ca_file=self.gh.ca_file)
        opts.update(options)
        self.root = ri.install(self.world / "runner", owner=owner, **opts)
        return self.root

    def env(self, **extra):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": str(self.root), "LANG": "C.UTF-8", "FAKE_RUNNER_SELFTEST": self.marker}
        env.update({k: v for k, v in extra.items() if v is not None})
        return env

    def start(self, *args, env=None, user=None, exe="bin/Runner.Listener"):
        proc = Proc([str(self.root / exe), *args], env or self.env(), cwd=str(self.root),
                    user=user)
        self.procs.append(proc)
        return proc

    def events(self, event=None, proc=None):
        return ri.events(self.record, event, proc)

    def wait_event(self, event, proc=None, timeout=WAIT, count=1):
        return wait_for(lambda: (self.events(event, proc)[count - 1:] or [None])[0], timeout,
                        f"record event {event!r}")

    def cleanup(self):
        for proc in self.procs:
            if proc.alive():
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                proc.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for _ in range(50):
            pids = marked_pids(self.marker)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)


@pytest.fixture
def rt(world, gh):
    env = Env(world, gh)
    yield env
    env.cleanup()


# ---------------------------------------------------------------------------------------------
# GitHub helpers (the real REST API of the fake, over verified HTTPS)


def api(gh, method, path, body=None):
    ctx = ssl.create_default_context(cafile=gh.ca_file)
    req = urllib.request.Request(gh.api_url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers=dict(API_HEADERS, Authorization=f"token {gh.pat}"))
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def jit_config(gh, name="jit-1", labels=("self-hosted", "Linux", "X64")):
    reply = api(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig",
                {"name": name, "runner_group_id": 1, "labels": list(labels)})
    return reply["encoded_jit_config"], reply["runner"]["id"]


def jit_files(blob):
    files = json.loads(base64.b64decode(blob))
    return {name: json.loads(base64.b64decode(value)) for name, value in files.items()}


def registration_token(gh):
    return api(gh, "POST", "/orgs/acme/actions/runners/registration-token")["token"]


def broker(gh, method, path, client_id, body=None):
    ctx = ssl.create_default_context(cafile=gh.ca_file)
    req = urllib.request.Request(f"{gh.url}/_fake/broker/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Fake-Runner-Client": client_id,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def assert_in_order(lines, patterns):
    """Each pattern matches a line, in this order (other lines may come between)."""
    at = 0
    for pattern in patterns:
        for i in range(at, len(lines)):
            if re.fullmatch(pattern, lines[i]):
                at = i + 1
                break
        else:
            raise AssertionError(f"/{pattern}/ not found in order after line {at}:\n" +
                                 "\n".join(lines))


CRED_FILES = (".runner", ".credentials", ".credentials_rsaparams")


def present(root):
    return [name for name in CRED_FILES if (root / name).exists()]


# ---------------------------------------------------------------------------------------------
# the installation


def test_layout_and_modes(rt):
    root = rt.install(owner=(NOBODY, NOBODY))
    for rel in ("bin/Runner.Listener", "bin/Runner.Worker", "config.sh", "run.sh", "env.sh",
                "safe_sleep.sh", "run-helper.sh.template", "externals/node20/bin/node"):
        assert stat.S_IMODE((root / rel).stat().st_mode) == 0o755, rel
    assert stat.S_IMODE((root / "bin/fake_runner_common.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "bin").stat().st_mode) == 0o755
    assert root.stat().st_uid == NOBODY and (root / "bin").stat().st_uid == 0
    assert stat.S_IMODE(rt.record.stat().st_mode) == 0o666
    options = json.loads((root / ".fake-runner.json").read_text())
    assert options["poll_wait"] == 1 and options["ca_file"] == rt.gh.ca_file
    assert not list(root.rglob("__pycache__"))
    out = subprocess.run([str(root / "externals/node20/bin/node"), "--version"],
                         capture_output=True, text=True, timeout=WAIT)
    assert out.stdout.strip().startswith("v20.")
    with pytest.raises(TypeError, match="unknown fake runner option"):
        ri.install(rt.world / "other", no_such_knob=1)
    ri.update_options(root, version="2.399.0")
    assert ri.read_options(root)["version"] == "2.399.0"
    assert ri.read_options(root)["poll_wait"] == 1


def test_version_and_help(rt):
    rt.install(version="2.336.0")
    p = rt.start("--version")
    assert p.wait() == 0
    assert p.out() == ["2.336.0"]


# ---------------------------------------------------------------------------------------------
# run --jitconfig


@pytest.mark.parametrize("hosted, code", [(None, 0), ("true", 100)])
def test_jit_job_succeeds(rt, hosted, code):
    root = rt.install()
    blob, runner_id = jit_config(rt.gh)
    job = rt.gh.queue_job("build", steps=[
        "echo hello from the step",
        "echo from-step > out.txt; mkdir -p \"$RUNNER_TEMP/scratch\"; touch \"$RUNNER_TEMP/x\"",
        "echo NEXT=value >> \"$GITHUB_ENV\"",
        "test \"$NEXT\" = value",
    ])
    installed = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    p = rt.start("run", "--jitconfig", blob,
                 env=rt.env(ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED=hosted))
    assert p.wait() == code, p.output()
    assert_in_order(p.out(), [
        "\u221a Connected to GitHub",
        r"Current runner version: '2\.336\.0'",
        f"{TS}: Listening for Jobs",
        f"{TS}: Running job: build",
        f"{TS}: Job build completed with result: Succeeded",
        "\u221a Removed .credentials",
        "\u221a Removed .runner",
    ])
    assert p.err() == [], p.output()
    assert rt.gh.job(job.id).status == "completed"
    assert rt.gh.job(job.id).result == "Succeeded"
    assert rt.gh.runner(runner_id) is None  # the service removed the ephemeral runner
    assert present(root) == []
    workspace = root / "_work" / "repo" / "repo"
    assert (workspace / "out.txt").read_text() == "from-step\n"
    assert list((root / "_work" / "_temp").iterdir()) == []  # only _temp's contents go
    assert list((root / "_diag").glob("Runner_*-utc.log"))
    assert list((root / "_diag").glob("Worker_*-utc.log"))
    assert "hello from the step" in (root / "_diag" / "pages" / f"{job.id}_0.log").read_text()
    # the installation itself is unchanged (no __pycache__, no rewritten files)
    for path, mtime in installed.items():
        assert path.exists() and path.stat().st_mtime_ns == mtime, path
    assert not list(root.rglob("__pycache__"))
    assert [e["code"] for e in rt.events("exit", "listener")] == [code]


@pytest.mark.parametrize("hosted, code", [(None, 0), ("true", 102)])
def test_failing_step_fails_the_job(rt, hosted, code):
    root = rt.install()
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job("build", steps=["echo one", "exit 3", "touch never.txt"])
    p = rt.start("run", "--jitconfig", blob,
                 env=rt.env(ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED=hosted))
    assert p.wait() == code, p.output()
    p.wait_line(f"^{TS}: Job build completed with result: Failed$")
    assert rt.gh.job(job.id).result == "Failed"
    assert not (root / "_work" / "repo" / "repo" / "never.txt").exists()
    assert [e["exit_code"] for e in rt.events("step_completed")] == [0, 3]
    assert [e["index"] for e in rt.events("step_skipped")] == [2]


def test_jit_from_environment_and_record(rt):
    """ARC style (ACTIONS_RUNNER_INPUT_JITCONFIG): the Listener sees the variable, its
    children do not; the record shows argv, ids, environment and the root's files."""
    root = rt.install()
    blob, _ = jit_config(rt.gh)
    rt.gh.queue_job("env", steps=["env > \"$GITHUB_WORKSPACE/env.txt\""])
    p = rt.start("run", env=rt.env(ACTIONS_RUNNER_INPUT_JITCONFIG=blob))
    assert p.wait() == 0, p.output()
    start = rt.events("start", "listener")[0]
    assert start["argv"] == [str(root / "bin" / "Runner.Listener"), "run"]
    assert start["uid"] == os.getuid() and start["gid"] == os.getgid()
    assert start["cwd"] == str(root)
    assert start["env"]["ACTIONS_RUNNER_INPUT_JITCONFIG"] == blob
    assert start["env"]["FAKE_RUNNER_SELFTEST"] == rt.marker
    assert ".fake-runner.json" in start["files"] and "bin" in start["files"]
    assert "CapEff" in start["status"]
    worker = rt.events("start", "worker")[0]
    assert "ACTIONS_RUNNER_INPUT_JITCONFIG" not in worker["env"]
    assert worker["cwd"] == str(root / "bin")
    step_env = dict(line.split("=", 1) for line in
                    (root / "_work/repo/repo/env.txt").read_text().splitlines() if "=" in line)
    assert "ACTIONS_RUNNER_INPUT_JITCONFIG" not in step_env
    tracking = rt.events("job_dirs")[0]["tracking_id"]
    assert step_env["RUNNER_TRACKING_ID"] == tracking and tracking.startswith("github_")
    assert step_env["RUNNER_TEMP"] == str(root / "_work" / "_temp")
    assert step_env["GITHUB_WORKSPACE"] == str(root / "_work" / "repo" / "repo")
    assert step_env["HOME"] == str(root)
    assert rt.events("jit_config_written")[0]["files"] == list(CRED_FILES)
    assert [e["result"] for e in rt.events("job_completed")] == ["Succeeded"]


# ---------------------------------------------------------------------------------------------
# configure (registration token) + run


def test_configure_and_run_with_registration_token(rt):
    root = rt.install()
    token = registration_token(rt.gh)
    args = ["--unattended", "--ephemeral", "--disableupdate", "--url", f"{rt.gh.url}/acme",
            "--name", "cfg-1", "--labels", "gpu,big", "--runnergroup", "Default",
            "--work", "_work"]
    refused = rt.start(*args, exe="config.sh", env=rt.env(ACTIONS_RUNNER_INPUT_TOKEN=token))
    assert refused.wait() == 1
    assert refused.out() == ["Must not run with sudo"]

    p = rt.start(*args, exe="config.sh",
                 env=rt.env(ACTIONS_RUNNER_INPUT_TOKEN=token, RUNNER_ALLOW_RUNASROOT="1"))
    assert p.wait() == 0, p.output()
    assert_in_order(p.out(), ["# Authentication", "\u221a Connected to GitHub",
                              "# Runner Registration", "\u221a Runner successfully added",
                              "# Runner settings", "\u221a Settings Saved."])
    assert token not in " ".join(rt.events("start")[-1]["argv"])
    runner = json.loads((root / ".runner").read_text())
    assert runner["AgentName"] == "cfg-1" and runner["Ephemeral"] is True
    assert runner["DisableUpdate"] is True and runner["WorkFolder"] == "_work"
    assert runner["ServerUrlV2"] == f"{rt.gh.url}/_fake/broker/"
    assert stat.S_IMODE((root / ".credentials_rsaparams").stat().st_mode) == 0o600
    assert (root / "svc.sh").exists() and (root / ".path").exists() and (root / ".env").exists()
    registered = rt.gh.runner(runner["AgentId"])
    assert registered["name"] == "cfg-1"
    assert "gpu" in [label["name"] for label in registered["labels"]]

    again = rt.start("configure", "--unattended", "--url", f"{rt.gh.url}/acme",
                     "--token", token)
    assert again.wait() == 1
    again.wait_line("already configured", stream="err")

    job = rt.gh.queue_job("labelled", steps=["true"], runner_labels=["gpu"])
    run = rt.start("run")
    assert run.wait() == 0, run.output()
    run.wait_line(f"^{TS}: Job labelled completed with result: Succeeded$")
    assert rt.gh.job(job.id).runner_name == "cfg-1"
    assert present(root) == []


def test_configure_errors(rt):
    root = rt.install()
    token = registration_token(rt.gh)
    base = ["configure", "--unattended", "--url", f"{rt.gh.url}/acme", "--name", "dup"]

    p = rt.start(*base, "--bogus")
    assert p.wait() == 1
    p.wait_line("Unrecognized command-line input arguments for command configure: 'bogus'",
                stream="err")
    p.wait_line("^Invalid configuration provided for token. Terminating unattended "
                "configuration.$", stream="err")

    p = rt.start(*base, "--token", "WRONGTOKEN")
    assert p.wait() == 1
    p.wait_line("401", stream="err")

    p = rt.start("configure", "--unattended", "--url", f"{rt.gh.url}/a/b/c", "--token", token)
    assert p.wait() == 1
    p.wait_line("should point to an org or repository", stream="err")

    rt.gh.register_runner("acme", "dup")
    p = rt.start(*base, "--token", token)
    assert p.wait() == 1
    p.wait_line("^A runner exists with the same name dup.$", stream="err")
    assert present(root) == []

    p = rt.start(*base, "--token", token, "--replace")
    assert p.wait() == 0, p.output()
    assert present(root) == list(CRED_FILES)


def configure(rt, *extra, name="cfg-2"):
    token = registration_token(rt.gh)
    p = rt.start("configure", "--unattended", "--url", f"{rt.gh.url}/acme", "--name", name,
                 *extra, env=rt.env(ACTIONS_RUNNER_INPUT_TOKEN=token))
    assert p.wait() == 0, p.output()
    return json.loads((rt.root / ".runner").read_text())


def test_remove(rt):
    root = rt.install()
    runner = configure(rt)
    token = api(rt.gh, "POST", "/orgs/acme/actions/runners/remove-token")["token"]
    p = rt.start("remove", "--token", token)
    assert p.wait() == 0, p.output()
    assert_in_order(p.out(), ["\u221a Runner removed successfully", "\u221a Removed .credentials",
                              "\u221a Removed .runner"])
    assert rt.gh.runner(runner["AgentId"]) is None
    assert present(root) == []


def test_not_ephemeral_self_update_is_3(rt):
    rt.install()
    rt.gh.latest_runner_version = "2.337.0"
    assert configure(rt)["DisableUpdate"] is False  # configured without --disableupdate
    p = rt.start("run")
    assert p.wait() == 3, p.output()


# ---------------------------------------------------------------------------------------------
# signals


def test_sigint_while_idle(rt):
    root = rt.install()
    blob, runner_id = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    p.wait_line(f"^{TS}: Listening for Jobs$")
    wait_for(lambda: rt.gh.runner(runner_id)["status"] == "online", what="runner online")
    p.send(signal.SIGINT)
    assert p.wait(5) == 0, p.output()
    assert p.elapsed < 5
    assert "Exiting..." in p.out()
    assert rt.gh.runner(runner_id)["status"] == "offline"  # the session was deleted
    assert present(root) == list(CRED_FILES)  # not deleted on a signal
    assert [e["signal"] for e in rt.events("signal", "listener")] == ["SIGINT"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("hosted", [None, "true"])
def test_signal_during_job_cancels_it(rt, sig, hosted):
    """The Listener tells the worker to shut down; the worker sends SIGINT, then SIGTERM, then
    SIGKILL to the step's direct child; `sleep` left behind dies by RUNNER_TRACKING_ID.
    The Listener exits 0 even with ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED (Runner.cs:
    a shutdown leaves RunAsync by OperationCanceledException → Program returns 0)."""
    root = rt.install()
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job("build", steps=["echo start; sleep 600", "touch never.txt"])
    p = rt.start("run", "--jitconfig", blob,
                 env=rt.env(ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED=hosted))
    p.wait_line(f"^{TS}: Running job: build$")
    step = rt.wait_event("step_started")
    time.sleep(0.2)
    sent = time.monotonic()
    p.send(sig)
    assert p.wait() == 0, p.output()
    assert time.monotonic() - sent < 5
    # The Listener prints Canceled; the Worker fails the job on a shutdown, and that is what
    # the service records (StepsRunner.cs).
    p.wait_line(f"^{TS}: Job build completed with result: Canceled$")
    assert rt.gh.job(job.id).result == "Failed"
    assert ("Exiting..." in p.out()) == (sig == signal.SIGINT)
    assert [e["signal"] for e in rt.events("step_signal")][:2] == ["SIGINT", "SIGTERM"]
    assert not pid_alive(step["child"])
    wait_for(lambda: not marked_pids(rt.marker), 5, "no process left")
    assert not (root / "_work/repo/repo/never.txt").exists()
    assert present(root) == list(CRED_FILES)  # RunAsync deletes them only after a whole job
    assert [e["reason"] for e in rt.events("cancel", "listener")] == ["shutdown"]


def test_the_job_message_reaches_the_listeners_stdout_in_worker_trace_lines(rt):
    """Worker.cs traces the job message, scripts included; with PRINT_LOG_TO_STDOUT the
    Listener copies the Worker's stdout to its own (JobDispatcher.cs), each line of a
    multi-line message prefixed (StdoutTraceListener.cs)."""
    rt.install()
    blob, _ = jit_config(rt.gh)
    rt.gh.queue_job("build", steps=["echo 'A session for this runner already exists.'"])
    p = rt.start("run", "--jitconfig", blob, env=rt.env(ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT="1"))
    assert p.wait() == 0, p.output()
    line = p.wait_line("A session for this runner already exists")
    assert re.match(f"^\\[WORKER {TS} INFO Worker\\] ", line), line
    assert "A session for this runner already exists." not in p.err()


def test_without_multiline_prefixing_only_the_first_line_is_prefixed(rt):
    rt.install()
    blob, _ = jit_config(rt.gh)
    rt.gh.queue_job("build", steps=["true"])
    p = rt.start("run", "--jitconfig", blob, env=rt.env(
        ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT="1",
        ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING="1"))
    assert p.wait() == 0, p.output()
    p.wait_line(f"^\\[WORKER {TS} INFO Worker\\] Job message:$")
    p.wait_line('^  "steps": \\[$')


def test_a_finalisation_runs_after_a_shutdown_cancelled_the_steps(rt):
    rt.install(finalize_seconds=1)
    blob, _ = jit_config(rt.gh)
    rt.gh.queue_job("build", steps=["sleep 600"])
    p = rt.start("run", "--jitconfig", blob)
    rt.wait_event("step_started")
    sent = time.monotonic()
    p.send(signal.SIGINT)
    assert p.wait() == 0, p.output()
    assert time.monotonic() - sent >= 1 + 0.3  # the step's SIGINT..SIGTERM, then finalising


def test_shutdown_message_with_print_log_to_stdout(rt):
    """ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT=1 (set by the official image): trace lines, the
    worker's included, are mixed into stdout, among them the shutdown message."""
    rt.install()
    blob, _ = jit_config(rt.gh)
    rt.gh.queue_job("build", steps=["sleep 600"])
    p = rt.start("run", "--jitconfig", blob, env=rt.env(ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT="1"))
    rt.wait_event("step_started")
    p.send(signal.SIGINT)
    assert p.wait() == 0, p.output()
    p.wait_line(f"^\\[RUNNER {TS} INFO [A-Za-z.]+\\] ")
    p.wait_line(f"^\\[WORKER {TS} ERR  JobRunner\\] The runner has received a shutdown signal. "
                f"This can happen when the runner service is stopped, or a manually started "
                f"runner is canceled.$")
    p.wait_line(f"^{TS}: Job build completed with result: Canceled$")


def test_sigterm_gives_up_after_shutdown_timeout(rt):
    rt.install(sigint_timeout=30, sigterm_timeout=30, shutdown_timeout=0.5)
    blob, _ = jit_config(rt.gh)
    rt.gh.queue_job("build", steps=["trap '' INT TERM; sleep 600"])
    p = rt.start("run", "--jitconfig", blob)
    rt.wait_event("step_started")
    p.send(signal.SIGTERM)
    assert p.wait(5) == 143, p.output()
    assert p.elapsed < WAIT
    assert rt.events("shutdown_timeout")


def test_ignore_sigterm(rt):
    rt.install(ignore_sigterm=True)
    blob, _ = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    p.wait_line("Listening for Jobs")
    p.send(signal.SIGTERM)
    rt.wait_event("signal")
    time.sleep(0.5)
    assert p.alive()
    p.send(signal.SIGINT)
    assert p.wait() == 0


@pytest.mark.parametrize("hosted, code", [(None, 0), ("true", 103)])
def test_server_side_cancel(rt, hosted, code):
    root = rt.install()
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job("build", steps=["sleep 600"])
    p = rt.start("run", "--jitconfig", blob,
                 env=rt.env(ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED=hosted))
    rt.wait_event("step_started")
    rt.gh.cancel_job(job.id)
    assert p.wait() == code, p.output()
    p.wait_line(f"^{TS}: Job build completed with result: Canceled$")
    assert rt.gh.job(job.id).result == "Canceled"
    assert [e["reason"] for e in rt.events("cancel", "listener")] == ["server"]
    assert present(root) == []  # a whole (canceled) job: ephemeral config removed


# ---------------------------------------------------------------------------------------------
# server-side states


def test_runner_deleted_while_idle(rt):
    root = rt.install()
    blob, runner_id = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    p.wait_line("Listening for Jobs")
    rt.gh.delete_runner(runner_id)
    assert p.wait() == 0, p.output()
    assert "The runner no longer exists on the server. Cleaning up local configuration." \
        in p.err()
    assert "\u221a Removed .credentials" in p.out()
    assert present(root) == []


def test_runner_deleted_before_start(rt):
    rt.install()
    blob, runner_id = jit_config(rt.gh)
    rt.gh.delete_runner(runner_id)
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == 1, p.output()
    p.wait_line("^Failed to create a session. The runner registration has been deleted",
                stream="err")


def test_ghost_runner_retries_then_exits_1(rt):
    """One "Runner connect error" line for the run of failures (BrokerMessageListener.cs),
    retries, then the exit 1 of a registration the service deleted."""
    rt.install(ghost=True, ghost_retries=3)
    blob, runner_id = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    p.wait_line("Listening for Jobs")
    rt.gh.delete_runner(runner_id)
    assert p.wait() == 1, p.output()
    ghost = [line for line in p.err() if "Runner connect error" in line]
    assert len(ghost) == 1
    assert re.match(f"^{TS}: Runner connect error: Registration {runner_id} was not found. "
                    f"Retrying until reconnected.$", ghost[0])
    assert len(rt.events("poll_error")) == 3


def test_ghost_runner_at_start_retries_its_session_then_exits_1(rt):
    rt.install(ghost=True, ghost_retries=2)
    blob, runner_id = jit_config(rt.gh)
    rt.gh.delete_runner(runner_id)
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == 1, p.output()
    assert [line for line in p.err() if "Runner connect error" in line][0].endswith(
        f"Registration {runner_id} was not found. Retrying until reconnected.")
    p.wait_line("^Failed to create a session. The runner registration has been deleted",
                stream="err")


def test_github_unreachable_while_listening(rt):
    """Retriable poll errors: one "Runner connect error" line, then exit 2 after
    max_poll_errors consecutive failures (BrokerMessageListener: maxRetryCount 10)."""
    rt.install(max_poll_errors=3)
    blob, _ = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    p.wait_line("Listening for Jobs")
    rt.gh.stop()
    assert p.wait() == 2, p.output()
    errors = [line for line in p.err() if "Runner connect error" in line]
    assert len(errors) == 1 and errors[0].endswith("Retrying until reconnected.")
    assert len(rt.events("poll_error")) == 3


def test_session_conflict(rt):
    rt.install(session_retry_interval=0.2, session_conflict_seconds=0.6)
    blob, _ = jit_config(rt.gh)
    client = jit_files(blob)[".credentials"]["Data"]["clientId"]
    assert broker(rt.gh, "POST", "sessions", client, {})[0] == 200
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == 5, p.output()
    assert p.err().count("A session for this runner already exists.") == 3
    p.wait_line("^Stop retry on SessionConflictException after retried for 0.6 seconds.$",
                stream="err")


# ---------------------------------------------------------------------------------------------
# exit codes the supervisor must map


def test_not_configured(rt):
    rt.install()
    p = rt.start("run")
    assert p.wait() == 1
    assert p.err() == ["An error occurred: Not configured. Run config.(sh/cmd) to configure "
                       "the runner."]


def test_jit_decode_failure(rt):
    root = rt.install()
    p = rt.start("run", "--jitconfig", "not base64 at all!")
    assert p.wait() == 1
    p.wait_line("is not a valid Base-64 string", stream="err")
    assert present(root) == []


def test_crash_before_job_is_retryable(rt):
    rt.install(crash_before_job=True)
    blob, _ = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == 2, p.output()
    assert p.err() == ["An error occurred: Object reference not set to an instance of an "
                       "object."]
    p.wait_line("Listening for Jobs")


def test_crash_abort(rt):
    rt.install(crash_before_job="abort")
    blob, _ = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == -signal.SIGABRT
    p.wait_line("^Unhandled exception. System.NullReferenceException", stream="err")


def test_self_update_when_the_service_pushes_a_release(rt):
    """A JIT .runner does not disable updates: the service pushes the newer release and the
    Listener downloads it into the root and exits 4 (SelfUpdaterV2.cs, Runner.cs)."""
    root = rt.install()
    rt.gh.latest_runner_version = "2.337.0"
    blob, _ = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == 4, p.output()
    assert_in_order(p.out(), [f"{TS}: Listening for Jobs",
                              "Runner update in progress, do not shutdown runner.",
                              "Downloading 2.337.0 runner"])
    assert (root / "bin.2.337.0").is_dir() and (root / "_work" / "_update").is_dir()


def test_no_update_when_dot_runner_disables_it(rt):
    rt.install()
    rt.gh.latest_runner_version = "2.337.0"
    blob, _ = jit_config(rt.gh)
    files = jit_files(blob)
    files[".runner"]["DisableUpdate"] = True
    p = rt.start("run", "--jitconfig", ri.encode_jit_config(files))
    p.wait_line(f"^{TS}: Listening for Jobs$")
    rt.gh.queue_job("after", steps=["true"])
    assert p.wait() == 0, p.output()
    assert "Runner update in progress, do not shutdown runner." not in p.out()


@pytest.mark.parametrize("flag, code", [(None, 1), ("1", 7)])
def test_deprecated_version(rt, flag, code):
    rt.install()
    rt.gh.min_runner_version = "2.337.0"
    blob, _ = jit_config(rt.gh)
    p = rt.start("run", "--jitconfig", blob,
                 env=rt.env(ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=flag))
    assert p.wait() == code, p.output()
    p.wait_line("^An error occurred: Runner version v2.336.0 is deprecated", stream="err")


@pytest.mark.parametrize("listener_code, var, code, line", [
    (5, None, 0, "Runner listener exit with Session Conflict error"),
    (7, "1", 7, "Runner listener exit with deprecated version exit code: 7."),
    (1, None, 0, "Runner listener exit with terminated error"),
])
def test_run_sh_maps_exit_codes(rt, listener_code, var, code, line):
    root = rt.install(exit_at_start=listener_code)
    p = rt.start(exe="run.sh", env=rt.env(RUNNER_ALLOW_RUNASROOT="1",
                                          ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=var))
    assert p.wait() == code, p.output()
    p.wait_line(re.escape(line))
    assert (root / "run-helper.sh").exists()


# ---------------------------------------------------------------------------------------------
# steps that misbehave


# ---------------------------------------------------------------------------------------------
# job hooks (ACTIONS_RUNNER_HOOK_JOB_STARTED / _COMPLETED), as the real Worker runs them


def hook_file(rt, name, text):
    path = rt.world / name
    path.write_text(text)
    path.chmod(0o644)
    return path


def run_job_with_hooks(rt, steps, **env):
    """One job with the runner's environment env; → (listener exit code, job, log dir)."""
    logs = rt.world / "job-logs"
    logs.mkdir()
    rt.install(job_log_dir=str(logs))
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job("build", steps=steps)
    p = rt.start("run", "--jitconfig", blob, env=rt.env(**env))
    return p.wait(), job, logs / str(job.id)


def test_a_job_started_hook_is_the_set_up_runner_step_before_the_jobs_steps(rt):
    # JobExtension.cs, JobHookProvider.cs, ScriptHandler.cs: the announcement, the group with
    # the shell line, the hook's output, in a step of its own between "Set up job" and the
    # job's first step; run with `bash -e`, in the workspace; GITHUB_ENV reaches later steps.
    hook = hook_file(rt, "started.sh", 'echo "hook in $PWD as $0 with $-"\n'
                                       'echo FROM_HOOK=yes >> "$GITHUB_ENV"\n')
    code, job, logs = run_job_with_hooks(rt, ["echo step sees $FROM_HOOK"],
                                         ACTIONS_RUNNER_HOOK_JOB_STARTED=str(hook))
    assert code == 0
    assert rt.gh.job(job.id).result == "Succeeded"
    assert sorted(p.name for p in logs.iterdir()) == [
        "1_Set up job.txt", "2_Set up runner.txt", "3_Run echo step sees $FROM_HOOK.txt",
        "4_Complete job.txt"]
    workspace = rt.root / "_work" / "repo" / "repo"
    bash = shutil.which("bash")
    lines = (logs / "2_Set up runner.txt").read_text().splitlines()
    assert lines[:4] == [
        "A job started hook has been configured by the self-hosted runner administrator",
        f"##[group]Run '{hook}'", f"shell: {bash} --noprofile --norc -e -o pipefail {{0}}",
        "##[endgroup]"]
    assert lines[4].startswith(f"hook in {workspace} as {hook} with ")
    assert "e" in lines[4].rsplit(" ", 1)[1]  # bash -e, as RunAsync runs a system shell
    assert "step sees yes" in (logs / "3_Run echo step sees $FROM_HOOK.txt").read_text()
    started = rt.events("hook_started")[0]
    assert started["argv"] == [bash, "-e", str(hook)]
    assert [e["exit_code"] for e in rt.events("hook_completed")] == [0]
    assert rt.events("step_started")[0]["ts"] > rt.events("hook_completed")[0]["ts"]


@pytest.mark.parametrize("name, text, error", [
    ("missing.sh", None, "##[error]File doesn't exist"),
    ("hook.py", "print('never')\n", "is not a valid path to a script. Make sure it ends in "
                                     "'.sh', '.ps1' or '.js'."),
    ("fails.sh", "echo failing; exit 3\n", "##[error]Process completed with exit code 3."),
])
def test_a_job_started_hook_that_fails_fails_the_job_and_skips_its_steps(rt, name, text, error):
    hook = hook_file(rt, name, text) if text is not None else rt.world / name
    code, job, logs = run_job_with_hooks(rt, ["touch never.txt"],
                                         ACTIONS_RUNNER_HOOK_JOB_STARTED=str(hook),
                                         ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED="true")
    assert code == 102  # Failed
    assert rt.gh.job(job.id).result == "Failed"
    assert error in (logs / "2_Set up runner.txt").read_text()
    assert [e["index"] for e in rt.events("step_skipped")] == [0]
    assert not (rt.root / "_work" / "repo" / "repo" / "never.txt").exists()


def test_a_js_hook_runs_with_the_runners_own_node(rt):
    # HostContext.GetDefaultShellForScript: externals/<NodeUtil.GetInternalNodeVersion()>.
    hook = hook_file(rt, "started.js", "console.log('js')\n")
    code, _, logs = run_job_with_hooks(rt, ["true"], ACTIONS_RUNNER_HOOK_JOB_STARTED=str(hook))
    assert code == 0
    node = str(rt.root / "externals" / "node20" / "bin" / "node")
    assert rt.events("hook_started")[0]["argv"] == [node, str(hook)]
    assert f"shell: {node} {{0}}" in (logs / "2_Set up runner.txt").read_text()


def test_a_job_completed_hook_is_the_complete_runner_step_after_the_jobs_steps(rt):
    hook = hook_file(rt, "completed.sh", "echo completed-hook-ran\n")
    code, _, logs = run_job_with_hooks(rt, ["echo step"],
                                       ACTIONS_RUNNER_HOOK_JOB_COMPLETED=str(hook))
    assert code == 0
    assert sorted(p.name for p in logs.iterdir()) == [
        "1_Set up job.txt", "2_Run echo step.txt", "3_Complete runner.txt",
        "4_Complete job.txt"]
    text = (logs / "3_Complete runner.txt").read_text()
    assert text.startswith("A job completed hook has been configured by the self-hosted "
                           "runner administrator\n")
    assert "completed-hook-ran" in text


@pytest.mark.parametrize("kill_orphans", [True, False])
def test_daemons_are_not_waited_for(rt, kill_orphans):
    rt.install(kill_orphans=kill_orphans)
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job("daemons", steps=[
        "setsid nohup sleep 1000 & echo $! > \"$RUNNER_TEMP/../daemon1.pid\"",
        "(sleep 1001 & echo $! > \"$RUNNER_TEMP/../daemon2.pid\") ; echo parent-done",
    ])
    p = rt.start("run", "--jitconfig", blob)
    assert p.wait() == 0, p.output()
    assert p.elapsed < 8
    assert rt.gh.job(job.id).result == "Succeeded"
    pids = [int((rt.root / "_work" / f"daemon{i}.pid").read_text()) for i in (1, 2)]
    completed = rt.events("step_completed")
    assert not completed[0]["output_closed"]  # the daemon held the step's output pipe
    if kill_orphans:
        wait_for(lambda: not any(pid_alive(pid) for pid in pids), 5, "daemons killed")
        assert set(pids) <= set(rt.events("orphans_killed")[0]["pids"])
    else:
        assert all(pid_alive(pid) for pid in pids)
        assert set(pids) <= set(marked_pids(rt.marker))


# ---------------------------------------------------------------------------------------------
# as an unprivileged uid


def test_runs_as_nobody(rt):
    """The installation works for an unprivileged uid that owns only the root directory.

    Other test suites on the same machine may SIGKILL every process of uid 65534 (a
    supervisor's teardown does exactly that); a run that died of SIGKILL is retried."""
    for attempt in range(3):
        if rt.root is not None:
            _rmtree(rt.root)
            rt.record.unlink()
        root = rt.install(owner=(NOBODY, NOBODY))
        blob, _ = jit_config(rt.gh, name=f"nobody-{attempt}")
        job = rt.gh.queue_job(f"build-{attempt}",
                              steps=["id -u > uid.txt", "mkdir -p sub && chmod 000 sub"])
        p = rt.start("run", "--jitconfig", blob, user=NOBODY)
        code = p.wait()
        if code != -signal.SIGKILL:
            break
    assert code == 0, p.output()
    assert rt.gh.job(job.id).result == "Succeeded"
    start = rt.events("start", "listener")[0]
    assert (start["uid"], start["gid"], start["groups"]) == (NOBODY, NOBODY, [])
    assert rt.events("start", "worker")[0]["uid"] == NOBODY
    out = root / "_work" / "repo" / "repo" / "uid.txt"
    assert out.read_text() == f"{NOBODY}\n" and out.stat().st_uid == NOBODY
    assert present(root) == []


# ---------------------------------------------------------------------------------------------
# Container jobs: the docker commands of actions/runner (docs/container-facts.md), against a
# stand-in CLI that records them (tests/fakes/fake_docker/docker)

DOCKER_STUB = HERE / "fake_docker"
sys.path.insert(0, str(HERE / "fake_runner" / "bin"))
import fake_containers as FC  # noqa: E402


@pytest.mark.parametrize("arguments, argv", [
    ("version --format '{{.Server.APIVersion}}'",
     ["version", "--format", "'{{.Server.APIVersion}}'"]),
    ('-v "/a b":"/c":ro', ["-v", "/a b:/c:ro"]),
    ('-e "K=a\\"b" -e "T=c\\\\\\\\"', ["-e", 'K=a"b', "-e", "T=c\\\\"]),
    ('inspect --format="{{if .X}}{{print .Y}}{{end}}" id',
     ["inspect", "--format={{if .X}}{{print .Y}}{{end}}", "id"]),
    ('create "" x', ["create", "", "x"]),
])
def test_docker_arguments_are_split_as_dotnet_splits_them(arguments, argv):
    assert FC.dotnet_split(arguments) == argv


def test_env_options_are_escaped_as_dockerutil_does():
    assert FC.escaped_option("-e", "K", "") == '-e "K"'
    assert FC.dotnet_split(FC.escaped_option("-e", "K", 'say "hi" \\')) == ["-e", 'K=say "hi" \\']
    assert FC.sanitize("ghcr.io/acme/node:20-alpine") == "ghcrioacmenode20alpine"
    assert FC.sanitize("9lives") == "lives"


def test_the_instance_label_is_the_lowercased_runner_files_sha256(tmp_path):
    (tmp_path / ".runner").write_text('{"AgentId": 7, "AgentName": "Pod-A"}')
    expected = hashlib.sha256(b'{"agentid": 7, "agentname": "pod-a"}').hexdigest()[:6]
    assert FC.instance_label(str(tmp_path)) == expected


def docker_calls(record):
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def run_container_job(rt, world, **docker_env):
    root = rt.install(docker_retry_seconds=0)
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job(
        "build", steps=["echo in-container=$GITHUB_WORKSPACE; pwd; echo home=$HOME"],
        container={"image": "node:20", "options": "--cpus 1",
                   "env": {"NODE_ENV": "test", "EMPTY": ""}},
        services={"db": {"image": "postgres:16", "ports": ["5432:5432"]}})
    record = world / "docker.jsonl"
    env = rt.env(FAKE_DOCKER_RECORD=str(record), FAKE_DOCKER_WORK=str(root / "_work"),
                 **docker_env)
    env["PATH"] = f"{DOCKER_STUB}:{env['PATH']}"
    p = rt.start("run", "--jitconfig", blob, env=env)
    assert p.wait() == 0, p.output()
    return root, job, [c["argv"] for c in docker_calls(record)], p


def after(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_a_container_job_drives_docker_as_the_runner_does(rt, world):
    root, job, calls, _ = run_container_job(rt, world)

    assert rt.gh.job(job.id).result == "Succeeded"
    label = calls[2][-1][len("label="):]  # sha256 of .runner, 6 digits (gone after the job)
    assert re.fullmatch(r"[0-9a-f]{6}", label)
    kinds = [c[0] if c[0] != "network" else " ".join(c[:2]) for c in calls]
    assert kinds == ["version", "version", "ps", "network prune", "network create",
                     "pull", "create", "start", "ps", "inspect",
                     "pull", "create", "start", "ps", "port",
                     "inspect", "exec",
                     "logs", "rm", "rm", "network rm"], calls
    assert calls[0] == ["version", "--format", "'{{.Server.APIVersion}}'"]
    assert calls[2] == ["ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={label}"]
    assert calls[3] == ["network", "prune", "--force", "--filter", f"label={label}"]
    network = calls[4][-1]
    assert calls[4] == ["network", "create", "--label", label, network]
    assert re.fullmatch(r"github_network_[0-9a-f]{32}", network)

    job_create, svc_create = calls[6], calls[11]
    assert re.fullmatch(r"[0-9a-f]{32}_node20_[0-9a-f]{6}", after(job_create, "--name")[0])
    assert job_create[1:9] == ["--name", job_create[2], "--label", label, "--workdir",
                               "/__w/repo/repo", "--network", network]
    assert job_create[9:11] == ["--cpus", "1"]  # the workflow's options, raw, after them
    envs = after(job_create, "-e")
    assert envs == ["NODE_ENV=test", "EMPTY", "HOME=/github/home", "GITHUB_ACTIONS=true",
                    "CI=true"]
    volumes = after(job_create, "-v")
    assert volumes[0] == "/var/run/docker.sock:/var/run/docker.sock"
    assert volumes[1:] == [f"{root}/_work:/__w", f"{root}/externals:/__e:ro",
                           f"{root}/_work/_temp:/__w/_temp",
                           f"{root}/_work/_actions:/__w/_actions",
                           f"{root}/_work/_tool:/__w/_tool",
                           f"{root}/_work/_temp/_github_home:/github/home",
                           f"{root}/_work/_temp/_github_workflow:/github/workflow"]
    assert job_create[-5:] == ["--entrypoint", "tail", "node:20", "-f", "/dev/null"]

    assert after(svc_create, "--network-alias") == ["db"] and after(svc_create, "-p") == [
        "5432:5432"]
    assert not after(svc_create, "--workdir") and "--entrypoint" not in svc_create
    assert not [v for v in after(svc_create, "-v") if "docker.sock" in v]
    assert svc_create[-1] == "postgres:16"
    assert re.fullmatch(r"[0-9a-f]{32}_postgres16_[0-9a-f]{6}", after(svc_create, "--name")[0])

    job_id = hashlib.sha256(after(job_create, "--name")[0].encode()).hexdigest()
    svc_id = hashlib.sha256(after(svc_create, "--name")[0].encode()).hexdigest()
    assert calls[8] == ["ps", "--all", "--filter", f"id={job_id}", "--filter", "status=running",
                        "--no-trunc", "--format", "{{.ID}} {{.Status}}"]
    assert calls[9] == ["inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}",
                        job_id]
    assert calls[14] == ["port", svc_id]
    assert calls[15] == ["inspect",
                         "--format={{if .Config.Healthcheck}}{{print .State.Health.Status}}"
                         "{{end}}", svc_id]
    step = calls[16]
    assert step[:4] == ["exec", "-i", "--workdir", "/__w/repo/repo"]
    assert "GITHUB_WORKSPACE" in after(step, "-e") and "PATH" not in after(step, "-e")
    assert step[-4] == job_id and step[-3:-1] == ["sh", "-e"]
    assert re.fullmatch(r"/__w/_temp/[0-9a-f-]{36}\.sh", step[-1])
    page = (root / "_diag" / "pages" / f"{job.id}_0.log").read_text()
    assert "in-container=/__w/repo/repo" in page  # values translated, through the CLI's env
    assert calls[17:] == [["logs", "--details", svc_id], ["rm", "--force", job_id],
                          ["rm", "--force", svc_id], ["network", "rm", network]]


def test_a_docker_api_older_than_1_35_fails_the_job_and_still_cleans_up(rt, world):
    root, job, calls, _ = run_container_job(rt, world, FAKE_DOCKER_API="1.34")

    assert rt.gh.job(job.id).result == "Failed"
    assert [c[0] for c in calls] == ["version", "version"]  # nothing created: nothing to stop
    assert not rt.events("step_completed") and [e["index"] for e in rt.events("step_skipped")] == [0]
    setup = (root / "_diag" / "pages" / f"{job.id}_containers.log").read_text()
    assert "Min required docker engine API server version is '1.35'" in setup


def test_a_failed_pull_is_tried_three_times_then_fails_the_job(rt, world):
    root, job, calls, _ = run_container_job(rt, world, FAKE_DOCKER_FAIL="pull")

    assert rt.gh.job(job.id).result == "Failed"
    assert [c[0] for c in calls].count("pull") == 3
    assert calls[-1][:2] == ["network", "rm"]  # Stop containers runs always()


def test_docker_container_actions_are_pulled_built_and_run_as_the_runner_does(rt, world):
    root = rt.install(docker_retry_seconds=0)
    blob, _ = jit_config(rt.gh)
    job = rt.gh.queue_job("build", steps=[
        "mkdir -p .github/actions/hello && echo 'FROM scratch' > .github/actions/hello/Dockerfile",
        {"uses": "docker://alpine:3.19", "with": {"who-to-greet": "Mona"},
         "args": ["a b", 'say "hi"'], "entrypoint": "/bin/echo"},
        {"uses": "./.github/actions/hello", "image": "Dockerfile"},
    ])
    record = world / "docker.jsonl"
    env = rt.env(FAKE_DOCKER_RECORD=str(record))
    env["PATH"] = f"{DOCKER_STUB}:{env['PATH']}"
    p = rt.start("run", "--jitconfig", blob, env=env)
    assert p.wait() == 0, p.output()

    assert rt.gh.job(job.id).result == "Succeeded"
    entries = docker_calls(record)
    calls = [c["argv"] for c in entries]
    assert [c[0] for c in calls] == ["pull", "run", "build", "run"], calls
    assert calls[0] == ["pull", "alpine:3.19"]  # before any step: ActionManager
    assert rt.events("step_completed")[0]["index"] == 0
    ws = root / "_work" / "repo" / "repo"
    run = calls[1]
    assert re.fullmatch(r"alpine319_[0-9a-f]{6}", after(run, "--name")[0])
    label = after(run, "--label")[0]
    assert re.fullmatch(r"[0-9a-f]{6}", label)
    assert run[5:8] == ["--workdir", "/github/workspace", "--rm"]
    names = after(run, "-e")
    assert "INPUT_WHO-TO-GREET" in names and "HOME" in names and "GITHUB_WORKSPACE" in names
    assert "GITHUB_ACTIONS=true" in names and "--network" not in run
    values = entries[1]["env"]
    assert values["INPUT_WHO-TO-GREET"] == "Mona" and values["HOME"] == "/github/home"
    assert values["GITHUB_WORKSPACE"] == "/github/workspace"  # translated
    assert after(run, "--entrypoint") == ["/bin/echo"]
    temp = root / "_work" / "_temp"
    assert after(run, "-v") == ["/var/run/docker.sock:/var/run/docker.sock",
                                f"{temp}:/github/runner_temp",
                                f"{temp}/_github_home:/github/home",
                                f"{temp}/_github_workflow:/github/workflow",
                                f"{temp}/_runner_file_commands:/github/file_commands",
                                f"{ws}:/github/workspace"]
    assert run[-3:] == ["alpine:3.19", "a b", 'say "hi"']
    build = calls[2]
    action = ws / ".github" / "actions" / "hello"
    assert build[:2] == ["build", "-t"] and re.fullmatch(rf"{label}:[0-9a-f]{{32}}", build[2])
    assert build[3:] == ["-f", f"{action}/Dockerfile", str(action)]
    assert calls[3][-1] == build[2]  # the image it built, no args
