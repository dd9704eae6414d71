"""Fixtures of the image tests (tests/image/): a private dockerd, the images, the fake GitHub,
and one whole lifecycle of a runner container.

Settings (environment):
    RS_IMAGE_CONTEXT      the source tree to build from (default: this repository's root); its
                          Dockerfile.runner, image/, supervisor/, sandbox/, Makefile and
                          tests/fakes/ are copied to a staging directory that is the build
                          context (so build/ and .git never reach the daemon)
    RS_IMAGE_TEST_CACHE   where the engines' data roots live between runs (default
                          /var/tmp/runner-supervisor-image-test): images and build cache
    RS_IMAGE_TEST_REQUIRED=1  a missing or failing engine fails the tests instead of skipping
    RS_IMAGE_TEST_MIRROR  the Debian mirror (or sources file) for mmdebstrap (default: the
                          host's /etc/apt/sources.list.d/debian.sources)

Images (tags in the private engine):
    rs-test/debian:bookworm-HASH      mmdebstrap minbase, BUILD_IMAGE and fixtures' base
    rs-test/runner-fixture:test       image/fixture/Dockerfile: the official image's stand-in
    rs-test/runner-supervisor:test    Dockerfile.runner with the two above
    rs-test/runner-supervisor-build:test    Dockerfile.runner --target build (kept for the cache)
    rs-test/runner-supervisor-bundle:test   Dockerfile.runner --target bundle
    rs-test/custom-runner:test        image/fixture/Dockerfile.custom: another layout, the
                                      bundle copied in, none of its libraries installed
    rs-test/runner-supervisor-podman:test  Dockerfile.runner --build-arg CONTAINERS=podman
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "fakes"))
import engine as eng  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402
import runner_install  # noqa: E402

CONTEXT = Path(os.environ.get("RS_IMAGE_CONTEXT") or REPO).resolve()
CACHE = Path(os.environ.get("RS_IMAGE_TEST_CACHE") or eng.DEFAULT_CACHE)
REQUIRED = os.environ.get("RS_IMAGE_TEST_REQUIRED") == "1"

IMAGE = "rs-test/runner-supervisor:test"
BUNDLE = "rs-test/runner-supervisor-bundle:test"
BUILD_STAGE = "rs-test/runner-supervisor-build:test"
FIXTURE = "rs-test/runner-fixture:test"
CUSTOM = "rs-test/custom-runner:test"
PODMAN_IMAGE = "rs-test/runner-supervisor-podman:test"

# Inside the containers: where the test mounts the fake GitHub's CA, the runner's record and
# the token; the fixture images' fake runner is built to use the first two.
CA_PATH = "/rs-test/ca.pem"
RECORD_DIR = "/rs-test/record"
TOKEN_PATH = "/run/secrets/github/token"
FAKE_RUNNER_OPTIONS = dict(poll_wait=1, retry_interval=1, session_retry_interval=1,
                           sigint_timeout=0.3, sigterm_timeout=0.3, output_drain_seconds=1,
                           cancel_poll_interval=0.2, ca_file=CA_PATH,
                           record=f"{RECORD_DIR}/record.jsonl")

# containerd's (and Docker's) default capability set: what a Kubernetes container gets.
K8S_DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                    "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                    "AUDIT_WRITE"]
CAPS_ARGS = ["--cap-drop=ALL", *[f"--cap-add={c}" for c in K8S_DEFAULT_CAPS]]

# What each scenario recorded of the isolation report, printed at the end of the session.
REPORTS = []


def _makefile_version(root):
    m = re.search(r"^VERSION\s*:=\s*(\S+)", (root / "Makefile").read_text(), re.M)
    return m.group(1) if m else "unknown"


def _stage_context(dest):
    """The build context: the parts of CONTEXT the Dockerfiles COPY (no build/, no .git)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.o", "*.pyc")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "Dockerfile.runner"):
        shutil.copy2(CONTEXT / name, dest / name)
    for name in ("supervisor", "sandbox", "image"):
        shutil.copytree(CONTEXT / name, dest / name, ignore=ignore)
    shutil.copytree(CONTEXT / "tests" / "fakes", dest / "tests" / "fakes", ignore=ignore)
    return dest


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(f"image tests required (RS_IMAGE_TEST_REQUIRED=1) but: {reason}")
    pytest.skip(f"image tests skipped: {reason}")



def json_events(text):
    """The supervisor's JSON log lines in text (stderr), in order; other lines skipped."""
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events

@dataclass
class Images:
    base: str
    image: str = IMAGE
    bundle: str = BUNDLE
    fixture: str = FIXTURE
    custom: str = CUSTOM
    version: str = ""
    timings: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def run_dir():
    path = Path(tempfile.mkdtemp(prefix="rs-it-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def cache_lock():
    if os.geteuid() != 0:
        _unavailable("dockerd needs root")
    try:
        with eng.CacheLock(CACHE):
            yield
    except eng.EngineError as e:
        _unavailable(str(e))


@pytest.fixture(scope="session")
def engine(cache_lock, run_dir):
    """The private dockerd (no user namespaces)."""
    e = eng.Engine("docker", CACHE, run_dir)
    try:
        e.start()
        e.remove_containers()
    except (eng.EngineError, OSError, subprocess.SubprocessError) as err:
        e.stop()
        _unavailable(f"cannot start dockerd: {err}")
    yield e
    e.prune()
    e.stop()


@pytest.fixture(scope="session")
def userns_engine(cache_lock, run_dir, engine, images):
    """A second dockerd with --userns-remap=default (container root is uid 100000+ on the
    host), holding a copy of the runner image, and a bridge network: userns-remap refuses the
    host's network namespace. → (engine, network name, gateway address)."""
    e = eng.Engine("docker-userns", CACHE, run_dir, extra_args=["--userns-remap=default"])
    try:
        e.start()
        e.remove_containers()
    except (eng.EngineError, OSError, subprocess.SubprocessError) as err:
        e.stop()
        _unavailable(f"cannot start dockerd with --userns-remap: {err}")
    try:
        engine.transfer(images.image, e)
        gateway = e.network("rs-userns")
        yield e, "rs-userns", gateway
    finally:
        e.prune()
        e.stop()


@pytest.fixture(scope="session")
def images(engine, run_dir):
    """Builds (or finds cached) every image."""
    t = {}
    started = time.monotonic()
    base = eng.base_image(engine)
    t["base"] = time.monotonic() - started
    ctx = _stage_context(run_dir / "context")
    version = _makefile_version(ctx)
    revision = subprocess.run(["git", "-C", str(CONTEXT), "rev-parse", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    options = json.dumps(FAKE_RUNNER_OPTIONS, sort_keys=True)

    def timed(name, fn, *args, **kw):
        s = time.monotonic()
        fn(*args, **kw)
        t[name] = time.monotonic() - s

    timed("fixture", engine.build, ctx, "image/fixture/Dockerfile", FIXTURE,
          {"BASE_IMAGE": base, "FAKE_RUNNER_OPTIONS": options})
    args = {"BUILD_IMAGE": base, "RUNNER_IMAGE": FIXTURE, "VERSION": version,
            "REVISION": revision, "SOURCE": "tests/image"}
    # The build stage is tagged too: `docker image prune` at the end would otherwise remove
    # its untagged layers (apt-get of the build dependencies, make) from the cache.
    timed("build-stage", engine.build, ctx, "Dockerfile.runner", BUILD_STAGE, args,
          target="build")
    timed("runner", engine.build, ctx, "Dockerfile.runner", IMAGE, args)
    timed("bundle", engine.build, ctx, "Dockerfile.runner", BUNDLE, args, target="bundle")
    timed("custom", engine.build, ctx, "image/fixture/Dockerfile.custom", CUSTOM,
          {"BASE_IMAGE": base, "BUNDLE_IMAGE": BUNDLE, "FAKE_RUNNER_OPTIONS": options})
    eng.log("image build times: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    return Images(base=base, version=version, timings=t)


@pytest.fixture(scope="session")
def podman_image(engine, images, userns_engine, run_dir):
    """Dockerfile.runner --build-arg CONTAINERS=podman (the job's container engine, README
    "Containers"), copied to the user-namespaced engine. → its tag."""
    ctx = _stage_context(run_dir / "context-podman")
    revision = subprocess.run(["git", "-C", str(CONTEXT), "rev-parse", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    args = {"BUILD_IMAGE": images.base, "RUNNER_IMAGE": FIXTURE, "VERSION": images.version,
            "REVISION": revision, "SOURCE": "tests/image", "CONTAINERS": "podman"}
    started = time.monotonic()
    engine.build(ctx, "Dockerfile.runner", PODMAN_IMAGE, args)
    eng.log(f"podman image built in {time.monotonic() - started:.1f}s")
    engine.transfer(PODMAN_IMAGE, userns_engine[0])
    return PODMAN_IMAGE


# -- the fake GitHub ----------------------------------------------------------------------------

class GitHub:
    """A started FakeGitHub with org acme and a PAT, bound to host (127.0.0.1 for host-network
    containers, a bridge gateway for the userns engine)."""

    def __init__(self, directory, host="127.0.0.1"):
        self.fake = FakeGitHub(directory, host=host, url_host=host,
                               extra_names=[host]).start()
        self.fake.add_org("acme")
        self.pat = self.fake.add_pat(scopes=["admin:org"])

    def stop(self):
        self.fake.stop()


@pytest.fixture(scope="session")
def github(run_dir):
    gh = GitHub(run_dir / "github")
    yield gh
    gh.stop()


# -- one lifecycle in a container ---------------------------------------------------------------

@dataclass
class Run:
    name: str
    code: int
    stdout: str
    stderr: str
    events: list
    termination_log: str
    record: list
    job: object
    runners_left: list
    elapsed: float
    stop_seconds: float = None
    container_view: dict = None
    diff: list = None  # `docker diff` after the exit: "A|C|D path" of the container's layer

    def find(self, event):
        return [e for e in self.events if e.get("event") == event]

    def one(self, event):
        found = self.find(event)
        assert len(found) == 1, f"{len(found)} {event!r} events\n{self.output()}"
        return found[0]

    @property
    def summary(self):
        summary = self.one("supervisor.exit").get("summary")
        assert isinstance(summary, dict), f"supervisor.exit has no summary\n{self.output()}"
        return summary

    def output(self):
        return (f"=== {self.name}: exit {self.code} after {self.elapsed:.1f}s\n--- stdout\n"
                f"{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-12000:]}")

    def step_outputs(self):
        """What each step of the job printed, as the fake Worker recorded it."""
        return [e.get("output", "") for e in self.record
                if e.get("event") == "step_completed" and e.get("proc") == "worker"]

    def runner_view(self):
        """What the fake Listener saw of itself at start (uid, capabilities, seccomp...)."""
        for e in self.record:
            if e.get("event") == "start" and e.get("proc") == "listener":
                status = e.get("status") or {}
                return {"uid": e.get("uid"), "euid": e.get("euid"), "groups": e.get("groups"),
                        **{k: status.get(k) for k in ("CapEff", "CapBnd", "NoNewPrivs",
                                                      "Seccomp", "NSpid")}}
        return None


def _remapped_root(engine):
    """The host uid of the container's root (0 unless the engine remaps users)."""
    if not any(a.startswith("--userns-remap") for a in engine.extra_args):
        return 0
    for line in Path("/etc/subuid").read_text().splitlines():
        user, start, _count = line.split(":")
        if user == "dockremap":
            return int(start)
    raise eng.EngineError("no dockremap range in /etc/subuid")


def run_lifecycle(engine, image, gh, name, run_args, tmp, steps, settings=None,
                  stop_after=None, timeout=120):
    """Queues one job in the fake GitHub and runs the image once (detached), like a pod:
    the token as a read-only 0400 file, the CA, an empty termination log at
    /dev/termination-log, a record directory for the fake runner. steps None: no job is queued.
    stop_after="job.started" (or another event): waits for that event in the log, then
    `docker stop`s the container (SIGTERM, SIGKILL after 60 s).
    → Run (the container is removed)."""
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
    work.chmod(0o755)
    root_uid = _remapped_root(engine)
    ca = work / "ca.pem"
    shutil.copyfile(gh.fake.ca_file, ca)
    ca.chmod(0o644)
    token = work / "token"
    token.write_text(gh.pat + "\n")
    token.chmod(0o400)
    os.chown(token, root_uid, root_uid)
    term = work / "termination-log"
    term.write_text("")
    term.chmod(0o644)
    os.chown(term, root_uid, root_uid)
    record = work / "record"
    record.mkdir()
    record.chmod(0o1777)
    job = gh.fake.queue_job(name=f"job-{name}", steps=steps) if steps is not None else None
    runner_name = f"it-{name}-{uuid.uuid4().hex[:6]}"
    env = {"GITHUB_URL": f"{gh.fake.url}/acme", "GITHUB_TOKEN_FILE": TOKEN_PATH,
           "GITHUB_CA_FILE": CA_PATH, "RUNNER_NAME": runner_name,
           "SUPERVISOR_STOP_GRACE": "5", "SUPERVISOR_REGISTER_DEADLINE": "30",
           "SUPERVISOR_DEREGISTER_DEADLINE": "15", "SUPERVISOR_IDLE_TIMEOUT": "60"}
    env.update(settings or {})
    argv = ["run", "-d", "--name", runner_name, *run_args,
            "-v", f"{ca}:{CA_PATH}:ro", "-v", f"{token}:{TOKEN_PATH}:ro",
            "-v", f"{term}:/dev/termination-log", "-v", f"{record}:{RECORD_DIR}"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    argv.append(image)
    started = time.monotonic()
    cid = engine.docker(*argv, timeout=60).stdout.strip()
    stop_seconds = None
    try:
        container_view = _container_view(engine, cid)
        if stop_after:
            deadline = time.monotonic() + 60
            while True:
                logs = engine.docker("logs", cid, timeout=30, quiet=True, check=False)
                if f'"event":"{stop_after}"' in logs.stderr:
                    break
                if time.monotonic() > deadline or not engine.inspect(cid)["State"]["Running"]:
                    raise AssertionError(f"{name}: no {stop_after} within 60 s\n"
                                         f"{logs.stdout[-3000:]}\n{logs.stderr[-8000:]}")
                time.sleep(0.3)
            time.sleep(1)  # e.g. the job's long step is running
            s = time.monotonic()
            engine.docker("stop", "-t", "60", cid, timeout=90)
            stop_seconds = time.monotonic() - s
        try:
            engine.docker("wait", cid, timeout=timeout)
        except eng.EngineError:
            logs = engine.docker("logs", cid, timeout=30, check=False)
            raise AssertionError(f"{name}: still running after {timeout}s\n"
                                 f"{logs.stdout[-3000:]}\n{logs.stderr[-8000:]}") from None
        elapsed = time.monotonic() - started
        state = engine.inspect(cid)["State"]
        logs = engine.docker("logs", cid, timeout=60, quiet=True)
        diff = engine.docker("diff", cid, timeout=60, quiet=True).stdout.splitlines()
    finally:
        engine.docker("rm", "-f", cid, timeout=60, check=False, quiet=True)
    events = json_events(logs.stderr)
    run = Run(name=name, code=state["ExitCode"], stdout=logs.stdout, stderr=logs.stderr,
              events=events, termination_log=term.read_text(),
              record=runner_install.read_record(record / "record.jsonl"),
              job=gh.fake.job(job.id) if job else None, runners_left=gh.fake.runners(), elapsed=elapsed,
              stop_seconds=stop_seconds, container_view=container_view, diff=diff)
    _note_report(run)
    return run


MASKED_PROC_PATHS = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/acpi",
                     "/proc/scsi", "/proc/sched_debug")


def _container_view(engine, cid):
    """What the container's PID 1 (the supervisor) got from the engine, read from the host
    right after the start (the sandbox cannot change it): its uid map, seccomp mode,
    capability bounding set, and which of /proc's paths are masked (mounted over)."""
    return proc_view(engine.inspect(cid)["State"]["Pid"])


def proc_view(pid):
    """_container_view's reading of process pid (any engine's container PID 1)."""
    view = {}
    try:
        view["uid_map"] = " ".join(Path(f"/proc/{pid}/uid_map").read_text().split())
        status = dict(line.split(":\t", 1) for line in
                      Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
        for key in ("Seccomp", "CapBnd", "NoNewPrivs"):
            view[key] = status.get(key, "").strip()
        points = [line.split()[4] for line in
                  Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]
        view["masked_proc"] = sorted(p for p in points if p in MASKED_PROC_PATHS
                                     or p.startswith("/proc/sys") or p == "/proc/bus")
    except (OSError, ValueError) as e:
        view["error"] = f"container PID 1 ({pid}) gone before it was read: {e}"
    return view


def _note_report(run):
    report = [e for e in run.events if e.get("event") == "sandbox.report"]
    entry = {"scenario": run.name, "exit": run.code,
             "sandbox.report": [{k: v for k, v in e.items() if k not in ("ts",)}
                                for e in report]}
    try:
        entry["summary.isolation"] = run.summary.get("isolation")
    except AssertionError:
        entry["summary.isolation"] = None
    entry["runner_view"] = run.runner_view()
    entry["container_view"] = run.container_view
    REPORTS.append(entry)


def pytest_terminal_summary(terminalreporter):
    if not REPORTS:
        return
    terminalreporter.section("isolation reports (sandbox.report) per container scenario")
    for entry in REPORTS:
        terminalreporter.write_line(json.dumps(entry, sort_keys=True))
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "last-sandbox-reports.json").write_text(json.dumps(REPORTS, indent=2) + "\n")
        terminalreporter.write_line(f"(also in {CACHE / 'last-sandbox-reports.json'})")
    except OSError:
        pass
