"""A private Docker engine for the image tests, and the local base image.

    engine = Engine("docker", cache_dir, run_dir, extra_args=["--userns-remap=default"])
    engine.start()                      # dockerd + its own containerd; EngineError when it can't
    engine.docker("run", ..., timeout=60)   # /usr/bin/docker -H unix://… ; every call bounded
    engine.stop()

Debian's docker.io: `dockerd --data-root CACHE/NAME --exec-root RUN/NAME-exec -H unix://RUN/NAME.sock
--bridge=none --iptables=false --ip6tables=false`. The data root (images, build cache) lives in
the cache directory and survives the run, so the next run reuses the images (the pidfile is
there too, so that a dockerd left by a killed run is found and stopped); the exec root, socket
and log live in a per-run directory under /tmp (a unix socket path must stay short). `docker build` is the classic builder (DOCKER_BUILDKIT=0). Containers reach the fake
GitHub on the host with --network=host, except under userns-remap, which refuses the host's
network namespace: those use a bridge network (network()).

Also a small CLI for poking at the cached engine by hand:

    python3 tests/image/engine.py start   # prints `export DOCKER_HOST=…`; stop with `stop`
    python3 tests/image/engine.py stop    # (a test run also stops it: it looks orphaned)
"""
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's client (a newer one may sit earlier in PATH)
MMDEBSTRAP = "/usr/bin/mmdebstrap"
DEFAULT_CACHE = "/var/tmp/runner-supervisor-image-test"



def pipe_image(ref, save_env, load_argv, load_env):
    """`docker save ref | LOAD`, LOAD being load_argv (docker or podman) run with load_env.
    → the load's CompletedProcess, with returncode non-zero when either side failed."""
    save = subprocess.Popen([DOCKER, "save", ref], env=save_env, stdout=subprocess.PIPE)
    try:
        r = subprocess.run(load_argv, env=load_env, stdin=save.stdout, capture_output=True,
                           text=True, timeout=600)
    finally:
        save.stdout.close()
        save.wait(60)
    if save.returncode != 0 and r.returncode == 0:
        r.returncode = save.returncode
    return r

class EngineError(Exception):
    pass


def log(msg):
    print(f"[image-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _mounts_under(path):
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


class Engine:
    def __init__(self, name, cache_dir, run_dir, extra_args=()):
        self.name = name
        self.data_root = Path(cache_dir) / name
        self.run_dir = Path(run_dir)
        self.exec_root = self.run_dir / f"{name}-exec"
        self.sock = self.run_dir / f"{name}.sock"
        # In the cache directory, not the run directory: a dockerd orphaned by a killed run
        # is found there by the next one (stop_orphan).
        self.pidfile = Path(cache_dir) / f"{name}.pid"
        self.log_file = self.run_dir / f"{name}.log"
        self.extra_args = list(extra_args)
        self.proc = None
        self.env = dict(os.environ, DOCKER_BUILDKIT="0",
                        DOCKER_CONFIG=str(self.run_dir / "docker-config"),
                        DOCKER_HOST=f"unix://{self.sock}")
        self.env.pop("DOCKER_CONTEXT", None)

    # -- process ------------------------------------------------------------------------------

    def start(self, timeout=90):
        for tool in (DOCKERD, DOCKER):
            if not os.access(tool, os.X_OK):
                raise EngineError(f"{tool} is missing (Debian package docker.io)")
        if os.geteuid() != 0:
            raise EngineError("dockerd needs root")
        self.stop_orphan()
        # A run that was killed may have left overlay mounts under the data root.
        for point in _mounts_under(self.data_root):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        self.data_root.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "docker-config").mkdir(parents=True, exist_ok=True)
        argv = [DOCKERD, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "-H", f"unix://{self.sock}", "--pidfile", str(self.pidfile),
                "--bridge=none", "--iptables=false", "--ip6tables=false",
                "--storage-driver=overlay2", *self.extra_args]
        log(f"starting {self.name}: {' '.join(argv)}")
        logf = open(self.log_file, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineError(f"dockerd ({self.name}) exited with {self.proc.returncode}:\n"
                                  f"{self.log_tail()}")
            r = subprocess.run([DOCKER, "version", "--format", "{{.Server.Version}}"],
                               env=self.env, capture_output=True, text=True, timeout=20)
            if r.returncode == 0:
                log(f"{self.name}: dockerd {r.stdout.strip()} ready")
                return self
            time.sleep(0.3)
        self.stop()
        raise EngineError(f"dockerd ({self.name}) not ready after {timeout}s:\n{self.log_tail()}")

    def stop_orphan(self):
        """A dockerd that an earlier, killed run of these tests left on this data root (its
        pidfile names it and its command line is ours): SIGTERM, then SIGKILL. The caller
        holds the cache lock, so no live test uses it."""
        try:
            pid = int(self.pidfile.read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if not argv or os.path.basename(argv[0]) != b"dockerd" \
                or str(self.data_root).encode() not in argv:
            return
        log(f"{self.name}: stopping dockerd {pid} left by an earlier run")
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            if not os.path.exists(f"/proc/{pid}"):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(45)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # dockerd stops its containerd; anything of its process group left goes too
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None
        for point in _mounts_under(self.exec_root):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        log(f"{self.name}: dockerd stopped")

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- the client ----------------------------------------------------------------------------

    def docker(self, *args, timeout, check=True, input=None, stdout=None, quiet=False):
        """Runs /usr/bin/docker ARGS against this engine; bounded by timeout (seconds).
        → CompletedProcess (text). check: a non-zero exit raises EngineError with the output."""
        argv = [DOCKER, *map(str, args)]
        started = time.monotonic()
        try:
            r = subprocess.run(argv, env=self.env, input=input, text=True, timeout=timeout,
                               stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
        except subprocess.TimeoutExpired as e:
            raise EngineError(f"timed out after {timeout}s: {' '.join(argv)}\n"
                              f"{(e.stdout or '')[-3000:]}\n{(e.stderr or '')[-3000:]}") from None
        if not quiet:
            log(f"{self.name}: docker {' '.join(map(str, args))[:160]} -> {r.returncode} "
                f"({time.monotonic() - started:.1f}s)")
        if check and r.returncode != 0:
            raise EngineError(f"docker {' '.join(map(str, args))} exited {r.returncode}\n"
                              f"--- stdout\n{(r.stdout or '')[-6000:]}\n"
                              f"--- stderr\n{(r.stderr or '')[-6000:]}")
        return r

    def image_id(self, ref):
        r = self.docker("image", "inspect", "--format", "{{.Id}}", ref, timeout=30,
                        check=False, quiet=True)
        return r.stdout.strip() if r.returncode == 0 else None

    def inspect(self, ref, kind="container"):
        return json.loads(self.docker(kind, "inspect", ref, timeout=30, quiet=True).stdout)[0]

    def build(self, context, dockerfile, tag, build_args=None, target=None, timeout=1200):
        """docker build (classic builder, host network for apt); the output goes to a log file
        in the run directory and its tail into the error when the build fails."""
        argv = ["build", "--network=host", "-f", dockerfile, "-t", tag]
        for key, value in (build_args or {}).items():
            argv += ["--build-arg", f"{key}={value}"]
        if target:
            argv += ["--target", target]
        argv.append(str(context))
        logs = self.data_root.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = logs / f"build-{tag.replace('/', '_').replace(':', '_')}.log"
        started = time.monotonic()
        with open(out, "w") as f:
            try:
                r = subprocess.run([DOCKER, *argv], env=self.env, stdout=f,
                                   stderr=subprocess.STDOUT, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise EngineError(f"docker build of {tag} timed out after {timeout}s; log "
                                  f"{out}:\n{out.read_text()[-4000:]}") from None
        text = out.read_text(errors="replace")
        if r.returncode != 0:
            raise EngineError(f"docker build of {tag} failed ({r.returncode}):\n{text[-6000:]}")
        cached = text.count("Using cache")
        log(f"{self.name}: built {tag} in {time.monotonic() - started:.1f}s "
            f"({cached} cached steps)")
        return text

    def transfer(self, ref, other):
        """Copies image ref from this engine to other unless other has the same image id."""
        want = self.image_id(ref)
        if want and other.image_id(ref) == want:
            log(f"{other.name} already has {ref}")
            return
        started = time.monotonic()
        r = pipe_image(ref, self.env, [DOCKER, "load", "-q"], other.env)
        if r.returncode != 0:
            raise EngineError(f"docker save {ref} | docker load failed: {r.stderr}")
        log(f"copied {ref} to {other.name} in {time.monotonic() - started:.1f}s")

    def network(self, name):
        """A bridge network (created when missing) → its gateway address (the host's side)."""
        r = self.docker("network", "inspect", name, timeout=30, check=False, quiet=True)
        if r.returncode != 0:
            self.docker("network", "create", "--driver", "bridge", name, timeout=60)
            r = self.docker("network", "inspect", name, timeout=30, quiet=True)
        config = json.loads(r.stdout)[0]["IPAM"]["Config"][0]
        return config["Gateway"]

    def remove_containers(self):
        """Every container of this private engine (left by an interrupted run)."""
        ids = self.docker("ps", "-aq", timeout=30, quiet=True).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, timeout=120, check=False)

    def prune(self):
        self.docker("container", "prune", "-f", timeout=120, check=False, quiet=True)
        self.docker("image", "prune", "-f", timeout=300, check=False, quiet=True)


class CacheLock:
    """One image test at a time per cache directory (two dockerds on one data root would
    corrupt it): an exclusive flock, waited for up to timeout seconds."""

    def __init__(self, cache_dir, timeout=900):
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(cache_dir) / "lock"
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise EngineError(f"{self.path} held by another image test for "
                                      f"{self.timeout}s") from None
                time.sleep(1)

    def __exit__(self, *exc):
        os.close(self.fd)


# -- the local Debian base image ----------------------------------------------------------------

def _host_sources():
    """The host's Debian sources (the machine's configured mirror), else deb.debian.org."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            return path
    return "http://deb.debian.org/debian"


def base_image(engine, suite="bookworm", tag_prefix="rs-test/debian"):
    """A minimal Debian image made by mmdebstrap from the host's mirror and `docker import`ed;
    tagged by a hash of how it is made, so that it is built once per cache. → tag."""
    mirror = os.environ.get("RS_IMAGE_TEST_MIRROR") or _host_sources()
    argv = [MMDEBSTRAP, "--variant=minbase", "--quiet", "--format=tar",
            "--aptopt=Acquire::Check-Valid-Until \"false\"",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            suite]
    recipe = json.dumps([argv, mirror, Path(mirror).read_text() if os.path.isfile(mirror)
                         else mirror])
    tag = f"{tag_prefix}:{suite}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if engine.image_id(tag):
        log(f"base image {tag} cached")
        return tag
    if not os.access(MMDEBSTRAP, os.X_OK):
        raise EngineError(f"{MMDEBSTRAP} is missing (Debian package mmdebstrap)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rs-it-base-", dir="/var/tmp") as tmp:
        tarball = os.path.join(tmp, "rootfs.tar")
        try:
            r = subprocess.run([*argv, tarball, mirror], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise EngineError("mmdebstrap timed out after 900s") from None
        if r.returncode != 0:
            raise EngineError(f"mmdebstrap failed ({r.returncode}):\n{r.stderr[-4000:]}")
        engine.docker("import",
                      "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                      "--change", "ENV LANG=C.UTF-8",
                      "--change", 'CMD ["/bin/bash"]',
                      tarball, tag, timeout=600)
    log(f"base image {tag} built in {time.monotonic() - started:.1f}s")
    return tag


def main(argv):
    cache = Path(os.environ.get("RS_IMAGE_TEST_CACHE", DEFAULT_CACHE))
    run_dir = Path("/tmp/rs-it-manual")
    engine = Engine("docker", cache, run_dir)
    if argv[1:] == ["start"]:
        run_dir.mkdir(exist_ok=True)
        engine.start()
        engine.proc = None  # leave it running
        print(f"export DOCKER_HOST=unix://{engine.sock} DOCKER_BUILDKIT=0")
    elif argv[1:] == ["stop"]:
        pid = int(engine.pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(__doc__)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
