"""A fleet of pods sharing one credential against the fake GitHub's documented limits (issue 16:
the pass/fail tests in this directory and the figures of `make bench`, bench/fleet_bench.py).

What a simulated pod is, and what the pods share:
- its own `runner-supervisor run` process (the real binary: $RS_BIN or $RS_RELEASE_BIN), its own
  RUNNER_ROOT, runner uid (the lifecycle kills every process of the runner uid: pods on one
  machine need one each), termination log and output file; SUPERVISOR_SANDBOX=off by default
  (the sandbox is not what a fleet's GitHub traffic depends on, and 1,000 sandboxes would not
  fit 2 cores), SUPERVISOR_FLEET set, as the manifests do;
- its own Runner.Listener process, listener.sh: a shell script, not a runner. The Listener's
  broker session (what makes GitHub show the runner online) is kept for every pod by one thread
  of this process, the hub (Fleet._hub), because a thousand long polls would not fit either:
  the hub marks a runner online while its listener lives (FakeGitHub.keep_online), offline at
  once when the listener was stopped (its session deleted), and lets it go offline by itself
  after offline_after_seconds when the listener was killed with its pod;
- the fake GitHub (one process, as GitHub is one service) with GitHub's limits on by default
  (tests/fakes/fake_github.py, "Secondary rate limits"); every pod's API base is
  URL/_pod/INDEX/api/v3, so that each call in the fake's log names its pod.
Nothing is time-scaled: the fake's windows are real minutes, the supervisor's waits real
seconds.

A pod "crashes" as a pod the kubelet SIGKILLs does: the supervisor and everything of its runner
uid are killed at once, its registration left behind.
"""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "fakes"))
from fake_github import SECONDARY_POINTS, FakeGitHub  # noqa: E402

LISTENER = HERE / "listener.sh"
ORG = "acme"
FLEET = "sim"
# What the supervisor keeps between two mutating requests of a pod (github.c MUTATION_GAP_MS,
# GitHub's "Best practices for using the REST API": at least one second): an App pod's
# registration comes at least this long after its token. Part of the minimum time.
MUTATION_GAP_S = 1.0
WINDOW_S = 60.0  # the secondary limit's minute
EX_OK, EX_TEMPFAIL = 0, 75
def world_dir(path):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def pids_of_uids(uids):
    """Processes whose real or effective uid is in uids."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        real, effective = line.split()[1:3]
                        if int(real) in uids or int(effective) in uids:
                            found.append(int(name))
                        break
        except (OSError, ValueError):
            continue
    return found


def kill_uids(uids):
    """SIGKILL every process of these uids, until none is left (a dying shell may fork)."""
    for _ in range(50):
        pids = pids_of_uids(uids)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def earliest(ready, capacity, window=WINDOW_S):
    """The earliest times at which requests that can be sent at `ready` pass a limit of
    `capacity` requests in any `window` seconds: sorted, request k goes at its ready time, or
    one window after request k - capacity. For a sliding window this greedy order is optimal
    (no schedule lets the last request go earlier)."""
    out = []
    for k, t in enumerate(sorted(ready)):
        out.append(t if k < capacity else max(t, out[k - capacity] + window))
    return out


class FleetGitHub(FakeGitHub):
    """The fake GitHub with the org a fleet registers in, its limits as GitHub's (the fake's
    defaults), and a listen backlog for a thousand pods starting at once."""

    def __init__(self, directory, **limits):
        super().__init__(directory)
        self.add_org(ORG)
        self.listen_backlog = 4096
        for name, value in limits.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, value)
        self._runner_rsa_params()  # made now, not during the first registration


@dataclass
class Pod:
    index: int
    name: str
    uid: int
    dir: Path
    env: dict
    proc: subprocess.Popen = None
    started: float = None  # time.time()
    ended: float = None
    code: int = None
    crashed: bool = False
    summary: dict = None
    calls: list = field(default_factory=list)  # the fake's log entries of this pod

    @property
    def root(self):
        return self.dir / "runner"

    @property
    def output_file(self):
        return self.dir / "output.log"

    def output(self):
        try:
            return self.output_file.read_text(errors="replace")
        except OSError:
            return ""

    def events(self, name):
        found = []
        for line in self.output().splitlines():
            if f'"event":"{name}"' in line:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    pass
        return found

    def registered_at(self):
        """When GitHub registered this pod's runner (the 201's request), or None."""
        for c in self.calls:
            if c["path"].endswith("/generate-jitconfig") and c["status"] == 201:
                return c["ts"]
        return None

    def first_attempt(self, path_end):
        """When the pod first sent a POST to a path ending so, or None."""
        for c in self.calls:
            if c["method"] == "POST" and c["path"].endswith(path_end):
                return c["ts"]
        return None


class Fleet:
    """Pods of one fleet sharing one credential (auth "pat" or "app") against gh."""

    def __init__(self, gh, binary, workdir, auth="pat", sandbox="off", uid_base=None):
        self.gh, self.binary, self.auth = gh, str(binary), auth
        self.dir = world_dir(workdir)
        self.hub = self.dir / "hub"
        self.hub.mkdir(mode=0o1777)
        self.hub.chmod(0o1777)  # every runner uid writes its file there
        self.sandbox = sandbox
        # A uid range of this process's own (pods of another test session on this machine
        # must not kill ours): 4,000 uids from 1,000,000 + 4,000 × (pid mod 1,000).
        self.uid_base = uid_base or 1_000_000 + (os.getpid() % 1000) * 4000
        self.pods = []
        self.t0 = None
        self.credential = {}
        if auth == "pat":
            self.token = gh.add_pat(scopes=["admin:org"])
            self.credential = {"GITHUB_TOKEN_FILE": self._secret("token", self.token + "\n")}
        elif auth == "app":
            self.app = gh.add_app()
            self.installation_id = self.app.install(org=ORG)
            self.credential = {
                "GITHUB_APP_ID": str(self.app.app_id),
                "GITHUB_APP_PRIVATE_KEY_FILE": self._secret("app-key", self.app.private_key_pem),
                "GITHUB_APP_INSTALLATION_ID": str(self.installation_id),
            }
        else:
            raise ValueError(f"auth is 'pat' or 'app', not {auth!r}")
        self._stop = threading.Event()
        self._hub_thread = threading.Thread(target=self._hub, name="fleet-hub", daemon=True)
        self._hub_thread.start()

    def _secret(self, name, content):
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        return str(path)

    # -- the Listeners' sessions ------------------------------------------------------------

    def _hub(self):
        """Keeps the runner of every live listener online (see the module's docstring)."""
        known = {}  # runner id → the listener's pid
        while not self._stop.wait(1.0):
            try:
                names = [n for n in os.listdir(self.hub) if n.isdigit()]
            except OSError:
                continue
            for name in names:
                rid = int(name)
                if rid not in known:
                    try:
                        known[rid] = int((self.hub / name).read_text().split()[0])
                    except (OSError, ValueError, IndexError):
                        continue
                if _alive(known[rid]):
                    self.gh.keep_online(rid)
            present = {int(n) for n in names}
            for rid in [r for r in known if r not in present]:
                self.gh.keep_online(rid, online=False)  # stopped: its session deleted
                del known[rid]

    # -- pods -------------------------------------------------------------------------------

    def prepare(self, n, **settings):
        """n pods ready to start (directories, environment), not started; → the pods.
        settings: supervisor settings for all of them (None unsets)."""
        pods = []
        for _ in range(n):
            i = len(self.pods)
            uid = self.uid_base + i
            pod_dir = world_dir(self.dir / f"pod-{i}")
            root = pod_dir / "runner"
            (root / "bin").mkdir(parents=True)
            root.chmod(0o755)
            shutil.copyfile(LISTENER, root / "bin" / "Runner.Listener")
            (root / "bin" / "Runner.Listener").chmod(0o755)
            os.chown(root, uid, uid)  # the runner owns its home, the installation stays root's
            name = f"{FLEET}-{os.getpid()}-{i}"
            env = {
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SUPERVISOR_LOG_FORMAT": "json",
                "GITHUB_URL": f"{self.gh.url}/{ORG}",
                "GITHUB_API_URL": f"{self.gh.url}/_pod/{i}/api/v3",
                "GITHUB_CA_FILE": self.gh.ca_file,
                "RUNNER_USER": f"{uid}:{uid}",
                "RUNNER_ROOT": str(root),
                "RUNNER_NAME": name,
                "SUPERVISOR_SANDBOX": self.sandbox,
                "SUPERVISOR_FLEET": FLEET,
                "SUPERVISOR_TERMINATION_LOG": str(pod_dir / "termination.json"),
                "FLEET_HUB": str(self.hub),
                **self.credential,
            }
            for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
                if os.environ.get(var):
                    env[var] = os.environ[var]
            for k, v in settings.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = str(v)
            pod = Pod(i, name, uid, pod_dir, env)
            self.pods.append(pod)
            pods.append(pod)
        return pods

    def launch(self, pods):
        """Starts the pods, as fast as one process can (the time of the first is t0)."""
        for pod in pods:
            with open(pod.output_file, "wb") as out:
                pod.started = time.time()
                if self.t0 is None:
                    self.t0 = pod.started
                pod.proc = subprocess.Popen([self.binary, "run"], env=pod.env, cwd="/",
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return pods

    def start(self, n, **settings):
        return self.launch(self.prepare(n, **settings))

    def crash(self, pod):
        """SIGKILL, as the kubelet does: the supervisor and everything of its runner uid."""
        pod.crashed = True
        try:
            os.killpg(pod.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_uids({pod.uid})
        pod.proc.wait()
        pod.ended, pod.code = time.time(), None

    def _reap(self):
        running = 0
        for pod in self.pods:
            if pod.proc is None or pod.code is not None or pod.crashed:
                continue
            code = pod.proc.poll()
            if code is None:
                running += 1
            else:
                pod.ended, pod.code = time.time(), code
        return running

    def wait(self, timeout, pods=None):
        """Waits until every started pod (or those given) ended; → True, or False at timeout."""
        deadline = time.monotonic() + timeout
        watch = pods if pods is not None else self.pods
        while True:
            self._reap()
            if all(p.proc is None or p.crashed or p.code is not None for p in watch):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.25)

    def wait_listening(self, pods, timeout):
        """Waits until each of pods logged runner.listening; → True, or False at timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all('"event":"runner.listening"' in p.output() for p in pods):
                return True
            time.sleep(0.2)
        return False

    def close(self):
        """Kills whatever still runs (pods, their runners), stops the hub, removes the files."""
        self._stop.set()
        for pod in self.pods:
            if pod.proc is not None and pod.proc.poll() is None:
                try:
                    os.killpg(pod.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pod in self.pods:
            if pod.proc is not None:
                pod.proc.wait()
        kill_uids({p.uid for p in self.pods})
        self._hub_thread.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- what happened ----------------------------------------------------------------------

    def collect(self):
        """Reads each ended pod's summary and the fake's log of its calls."""
        self._reap()
        by_pod = collections.defaultdict(list)
        for c in self.gh.calls:
            if c.get("pod") is not None:
                by_pod[int(c["pod"])].append(c)
        for pod in self.pods:
            pod.calls = sorted(by_pod.get(pod.index, []), key=lambda c: c["ts"])
            try:
                pod.summary = json.loads((pod.dir / "termination.json").read_text())
            except (OSError, ValueError):
                pod.summary = None

    def contract_problems(self, pods=None):
        """Each pod that ended by itself, against the README's exit codes: → problems."""
        found = []
        for pod in pods if pods is not None else self.pods:
            if pod.crashed or pod.proc is None:
                continue
            if pod.code is None:
                found.append(f"pod {pod.index}: still running")
                continue
            s = pod.summary or {}
            ex, gh_part = s.get("exit") or {}, s.get("github") or {}
            dereg = gh_part.get("deregistered")
            if ex.get("code") != pod.code:
                found.append(f"pod {pod.index}: exit {pod.code}, its summary says {ex}")
            elif pod.code == EX_OK and dereg not in ("confirmed", "none"):
                # 0: deregistered, or never registered (README, "Exit codes")
                found.append(f"pod {pod.index}: exit 0 with the deregistration {dereg!r}")
            elif pod.code == EX_TEMPFAIL and dereg == "unconfirmed" and not pod.events(
                    "runner.ghost_left"):
                found.append(f"pod {pod.index}: unconfirmed deregistration without "
                             f"runner.ghost_left")
            elif pod.code == EX_TEMPFAIL and dereg not in ("none", "unconfirmed"):
                found.append(f"pod {pod.index}: exit 75 ({ex.get('reason')}) with the "
                             f"deregistration {dereg!r}")
            elif pod.code not in (EX_OK, EX_TEMPFAIL):
                # Rate limits end a pod with 0 or 75, never another code.
                found.append(f"pod {pod.index}: exit {pod.code} ({ex.get('reason')})\n"
                             f"{pod.output()[-3000:]}")
        return found

    def figures(self, pods=None):
        """The simulation's figures for pods (default: all): registrations, time to the last
        one against the minimum the limits allow, calls against the minimum, ghosts."""
        self.collect()
        pods = pods if pods is not None else self.pods
        gh = self.gh
        limit = gh.secondary_points_per_minute
        capacity = (limit // SECONDARY_POINTS["POST"]) if limit else 10**9
        # With every endpoint of the credential in one budget, registrations and
        # deregistrations share it: no minimum is computed for that reading.
        pooled = limit is not None and gh.secondary_points_scope != "endpoint"
        registered = [p.registered_at() for p in pods]
        done = [t for t in registered if t is not None]
        t0 = min(p.started for p in pods)
        if self.auth == "pat":
            ready = [p.first_attempt("/generate-jitconfig") for p in pods]
            ready = [t for t in ready if t is not None]
            best = earliest(ready, capacity)
        else:
            ready = [p.first_attempt("/access_tokens") for p in pods]
            ready = [t for t in ready if t is not None]
            mintable = len(ready)
            if gh.token_requests_per_hour is not None:
                mintable = max(0, min(mintable, gh.token_requests_per_hour
                                      - getattr(self, "tokens_before", 0)))
            minted = earliest(ready, capacity)[:mintable]
            best = earliest([t + MUTATION_GAP_S for t in minted], capacity)
        calls = [c for p in pods for c in p.calls]
        refused = [c for c in calls if c["status"] in (403, 429)]
        # The fewest calls a pod can make: its registration and its deregistration (or the
        # sweep's DELETE of a crashed pod's runner); an App pod mints its token first.
        per_pod_min = 3 if self.auth == "app" else 2
        codes = collections.Counter("killed" if p.crashed else p.code for p in pods)
        ghosts = gh.runners(ORG)
        swept = sum(len((p.summary or {}).get("github", {}).get("swept") or []) for p in pods)
        return {
            "pods": len(pods),
            "auth": self.auth,
            "registrations": len(done),
            "possible": len(best),
            "t_last": (max(done) - t0) if done else None,
            "t_min": (max(best) - t0) if best and not pooled else None,
            "calls": len(calls),
            "refused": len(refused),
            "mints": sum(1 for c in calls if c["path"].endswith("/access_tokens")),
            "calls_min": per_pod_min * len(pods),
            "list_calls": sum(1 for c in calls if c["method"] == "GET"
                              and c["path"].endswith("/actions/runners")),
            "ghosts": len(ghosts),
            "unconfirmed": sum(1 for p in pods if (p.summary or {}).get("github", {}).get(
                "deregistered") == "unconfirmed"),
            "sweeps": sum(1 for p in pods if any(
                c["method"] == "GET" and c["path"].endswith("/actions/runners")
                for c in p.calls)),
            "inflight_peak": gh.inflight_peak,
            "last_exit": max((p.ended for p in pods if p.ended), default=t0) - t0,
            "swept": swept,
            "exits": dict(codes),
            "crashed": sum(1 for p in pods if p.crashed),
            "contract_problems": self.contract_problems(pods),
        }


def format_figures(f):
    """One line for a test's output."""
    ratio = (f"{f['t_last'] / f['t_min']:.2f}×" if f["t_last"] and f["t_min"] else "n/a")
    return (f"{f['pods']} pods ({f['auth']}): {f['registrations']} registered, last at "
            f"{f['t_last'] or 0:.1f} s (minimum {f['t_min'] or 0:.1f} s, {ratio}); "
            f"{f['calls']} calls ({f['refused']} refused; minimum {f['calls_min']}: "
            f"{f['calls'] / max(1, f['calls_min']):.2f}×); {f['ghosts']} ghosts; exits "
            f"{f['exits']}")


def new_workdir(prefix):
    """A directory under /var/tmp (the supervisor's wipe covers /tmp) the runner uids can
    traverse."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    os.chmod(path, 0o755)
    return path
