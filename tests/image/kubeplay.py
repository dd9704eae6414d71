"""A private podman for `podman kube play` of the manifests' runner pod (test_kube_play.py).

    pm = Podman(cache_dir, run_dir)     # writes its containers.conf and storage.conf
    pm.check()                          # PodmanError: why it cannot run here
    pm.reset()                          # pods, containers, secrets left by a killed run
    pm.load_from(docker_engine, ref)    # docker save | podman load, unless it has the same id
    pm.podman("kube", "play", ..., timeout=60)

Debian 12's podman 4.3, as root, with nothing global changed: CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF point at files in the run directory (so /etc/containers and
/usr/share/containers/containers.conf are not read, and /var/lib/containers is not touched):

- the image store (graphroot) in the image test's cache, RS_IMAGE_TEST_CACHE/podman: the
  runner image and podman's pause image are kept between runs; the caller holds the cache
  lock (conftest's cache_lock), as for the dockerds.
- everything else in the per-run directory: the store's runroot (transient state, as after
  a reboot), volumes, the exit and attach-socket directory (tmp_dir), events. libpod's
  database records the runroot and tmp_dir and refuses to open with other ones; it stays at
  its default place, GRAPHROOT/libpod (conmon's exit command, `podman container cleanup`,
  gets --root and then looks for it there whatever static_dir says), and is deleted at the
  start of every run (prepare()): every run starts without pods, containers or volumes.
  Two limits of podman 4.3 shape the paths: the runroot must be at most 50 characters (or
  the exit command refuses to run, the container never reaches "exited", and `podman wait`
  returns only after a 20 s fallback), and conmon's attach sockets under
  tmp_dir/socket/<64 hex>/ must fit in 108 bytes.
- conmon gets CONTAINERS_CONF and CONTAINERS_STORAGE_CONF (conmon_env_vars), so that its
  exit command reads this configuration too.
- one thing podman 4.3 writes outside them whatever the configuration: `podman load`
  (containers/image) keeps a blob-info cache in /var/lib/containers/cache for root.
  (`podman load`, and kube play's first build of the pause image). cleanup_state() removes
  it again when that directory did not exist before the run.
- `runtime = "runc"` and `cgroup_manager = "cgroupfs"` (cgroups v1/hybrid, no systemd here),
  and `default_ulimits` at or below the current limits: root here lacks CAP_SYS_RESOURCE, so
  podman's default (raising nofile to 1048576) fails every container start.
- no network of its own: pods run with --network=host (the fake GitHub listens on
  127.0.0.1), so no CNI configuration is written; network_config_dir is per-run anyway.

`podman kube play` builds its pod "infra" image locally the first time (localhost/podman-pause,
kept in the cache's storage) with the `catatonit` binary (Debian package catatonit, a
Recommends of podman).
"""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from engine import _mounts_under, log, pipe_image

PODMAN = "/usr/bin/podman"
CATATONIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit",
                   "/usr/local/libexec/podman/catatonit")


# containers/image's blob-info cache for root; podman 4.3 offers no setting for it
BLOB_INFO_CACHE_DIR = "/var/lib/containers/cache"


class PodmanError(Exception):
    pass


def _missing_blob_info_cache_dirs():
    return [d for d in (BLOB_INFO_CACHE_DIR, os.path.dirname(BLOB_INFO_CACHE_DIR))
            if not os.path.lexists(d)]


def _remove_blob_info_cache(created):
    """What `podman load` made of BLOB_INFO_CACHE_DIR and its parent, when they did not exist
    before (created): the cache file, then those directories if they are empty."""
    if not created:
        return
    try:
        os.unlink(os.path.join(BLOB_INFO_CACHE_DIR, "blob-info-cache-v1.boltdb"))
    except FileNotFoundError:
        pass
    for d in created:
        try:
            os.rmdir(d)
        except OSError:
            break


def _toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


class Podman:
    def __init__(self, cache_dir, run_dir):
        self.blob_cache_missing = []
        self.storage = Path(cache_dir) / "podman"
        self.state = Path(run_dir) / "pm"  # short: see the runroot and tmp_dir limits above
        self.runroot = self.state / "runroot"
        self.conf = self.state / "containers.conf"
        self.storage_conf = self.state / "storage.conf"
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.conf),
                        CONTAINERS_STORAGE_CONF=str(self.storage_conf))
        for key in ("CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINERS_REGISTRIES_CONF"):
            self.env.pop(key, None)

    def write_config(self):
        if len(str(self.runroot)) > 50:
            raise PodmanError(f"runroot {self.runroot} is longer than podman's 50 characters")
        for d in (self.storage / "root", self.runroot,
                  self.state / "tmp", self.state / "volumes", self.state / "cni"):
            d.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"""# written by tests/image/kubeplay.py
[containers]
default_ulimits = {_toml_list(["nofile=20000:20000", "nproc=32768:32768"])}
log_driver = "k8s-file"

[network]
network_config_dir = "{self.state / 'cni'}"

[engine]
runtime = "runc"
conmon_env_vars = {_toml_list(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               f"CONTAINERS_CONF={self.conf}",
                               f"CONTAINERS_STORAGE_CONF={self.storage_conf}"])}
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.state / 'events.log'}"
tmp_dir = "{self.state / 'tmp'}"
volume_path = "{self.state / 'volumes'}"
""")
        self.storage_conf.write_text(f"""# written by tests/image/kubeplay.py
[storage]
driver = "overlay"
graphroot = "{self.storage / 'root'}"
runroot = "{self.runroot}"
""")

    def check(self):
        """PodmanError naming what is missing, else the podman version."""
        if os.geteuid() != 0:
            raise PodmanError("podman kube play of the runner pod needs root (the pod's "
                              "container starts as root with capabilities)")
        if not os.access(PODMAN, os.X_OK):
            raise PodmanError(f"{PODMAN} is missing (Debian package podman)")
        if not any(os.access(p, os.X_OK) for p in CATATONIT_PATHS):
            raise PodmanError("catatonit is missing (Debian package catatonit): podman kube "
                              "play builds its pod infra image with it")
        self.blob_cache_missing = _missing_blob_info_cache_dirs()
        self.write_config()
        # what a killed run left: mounts of the store, and its database (which names that
        # run's runroot, so that podman would refuse to start). The caller holds the cache
        # lock: nothing else uses the store.
        for point in _mounts_under(self.storage):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(self.storage / "root" / "libpod", ignore_errors=True)
        r = self.podman("info", "--format", "json", timeout=60, check=False, quiet=True)
        if r.returncode != 0:
            raise PodmanError(f"podman info failed:\n{r.stderr[-3000:]}")
        info = json.loads(r.stdout)
        version = info.get("version", {}).get("Version", "?")
        log(f"podman {version}: runtime {info['host']['ociRuntime']['name']}, cgroups "
            f"{info['host'].get('cgroupVersion')}, storage {info['store']['graphRoot']}")
        return version

    def podman(self, *args, timeout, check=True, quiet=False, input=None):
        argv = [PODMAN, *map(str, args)]
        started = time.monotonic()
        try:
            r = subprocess.run(argv, env=self.env, input=input, text=True, timeout=timeout,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except subprocess.TimeoutExpired as e:
            raise PodmanError(f"timed out after {timeout}s: {' '.join(argv)}\n"
                              f"{e.stdout or ''}\n{e.stderr or ''}"[-6000:]) from None
        if not quiet:
            log(f"podman {' '.join(map(str, args))[:160]} -> {r.returncode} "
                f"({time.monotonic() - started:.1f}s)")
        if check and r.returncode != 0:
            raise PodmanError(f"podman {' '.join(map(str, args))} exited {r.returncode}\n"
                              f"--- stdout\n{r.stdout[-6000:]}\n--- stderr\n{r.stderr[-6000:]}")
        return r

    def reset(self):
        """The database is new in every run, but the image store and the secrets store (in
        the graph root) are not: remove the containers and secrets a killed run left there."""
        self.podman("pod", "rm", "-a", "-f", "-t", "5", timeout=120, check=False, quiet=True)
        self.podman("rm", "-a", "-f", "-t", "5", timeout=120, check=False, quiet=True)
        ext = self.podman("ps", "-a", "--external", "--format", "{{.ID}}", timeout=60,
                          check=False, quiet=True).stdout.split()
        if ext:
            log(f"podman: removing {len(ext)} containers left in storage by an earlier run")
            self.podman("rm", "-f", *ext, timeout=120, check=False)
        self.podman("secret", "rm", "-a", timeout=60, check=False, quiet=True)

    def image_id(self, ref):
        r = self.podman("image", "inspect", "--format", "{{.Id}}", ref, timeout=30,
                        check=False, quiet=True)
        return r.stdout.strip() if r.returncode == 0 else None

    def load_from(self, engine, ref):
        """`docker save ref | podman load` from the private dockerd, unless podman already
        has the same image id. → the name podman knows it by (localhost/ref)."""
        want = (engine.image_id(ref) or "").removeprefix("sha256:")
        name = ref if ref.startswith("localhost/") else f"localhost/{ref}"
        have = (self.image_id(name) or "").removeprefix("sha256:")
        if want and have == want:
            log(f"podman already has {name} ({want[:12]})")
            return name
        started = time.monotonic()
        r = pipe_image(ref, engine.env, [PODMAN, "load", "-q"], self.env)
        if r.returncode != 0:
            raise PodmanError(f"docker save {ref} | podman load failed: {r.stderr[-3000:]}")
        have = (self.image_id(name) or "").removeprefix("sha256:")
        if have != want:
            raise PodmanError(f"podman load gave {name} id {have!r}, docker has {want!r}: "
                              f"{r.stdout} {r.stderr}")
        log(f"loaded {name} into podman in {time.monotonic() - started:.1f}s")
        return name

    def prune(self):
        self.podman("volume", "prune", "-f", timeout=60, check=False, quiet=True)
        self.podman("image", "prune", "-f", timeout=120, check=False, quiet=True)

    def cleanup_state(self):
        """Nothing of libpod's per-run state may stay mounted before the run dir is removed;
        the blob-info cache goes if this run created it."""
        _remove_blob_info_cache(self.blob_cache_missing)
        for point in _mounts_under(self.state):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(self.state, ignore_errors=True)
