"""The job's container engine (SUPERVISOR_CONTAINERS=podman, README "Containers"), in the same
run as the same podman outside the sandbox:

- inside: `runner-supervisor exec` with the engine, as the runner uid; the command (the job)
  times its own docker calls against /var/run/docker.sock;
- outside: the same podman, flags and settings, as the same uid in a plain user namespace made
  by `unshare --user --map-root-user --mount` (what the engine's namespace is, without the
  sandbox around it), listening on a socket path of its own (no socket activation: the
  script polls until it answers); the same docker CLI and script.

Measured, alternating inside and outside, medians:
1. `docker run --rm --network host IMAGE true` (IMAGE: busybox, imported);
2. a small `docker build --no-cache` (FROM the image, one RUN, one COPY);
3. the engine's start-up: from the engine's start to its first API answer (inside, from the
   job's start: the engine was started with the sandbox, before the job).
Storage: overlay on this machine's /var/tmp (ext4) in both.
"""
import os
import shutil
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER_UID = 1001
ROUNDS = 3
RUNS = 7   # docker run per round
BUILDS = 3  # docker build per round

# The job: import the image, wait for the engine's first answer, then the timed calls; every
# time in ms on stdout as "what ms".
JOB = r"""
set -eu
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms); docker version --format '{{.Server.APIVersion}}' >/dev/null; echo "ready $(( $(ms) - t0 ))"
tar -C rootfs -cf bb.tar . && docker import bb.tar bb:1 >/dev/null
docker run --rm --network host bb:1 true  # warm-up
i=0; while [ $i -lt RUNS ]; do
  t=$(ms); docker run --rm --network host bb:1 true; echo "run $(( $(ms) - t ))"; i=$((i+1))
done
mkdir -p ctx && printf 'FROM bb:1\nRUN echo built > /made\nCOPY f /f\n' > ctx/Dockerfile && echo x > ctx/f
i=0; while [ $i -lt BUILDS ]; do
  t=$(ms); docker build -q --no-cache -t made:$i ctx >/dev/null; echo "build $(( $(ms) - t ))"
  i=$((i+1))
done
"""

CONF = """[containers]
netns = "host"
default_ulimits = ["nofile={n}:{n}"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

# Outside: the engine started as the sandbox's init starts it, without the sandbox.
OUTSIDE = r"""
set -eu
d=$PWD/_containers; mkdir -p $d/home $d/tmp $d/run
export HOME=$d/home _CONTAINERS_USERNS_CONFIGURED=1 CONTAINERS_CONF=$d/containers.conf
t0=$(( $(date +%s%N) / 1000000 ))
podman --root $d/storage --runroot /tmp/rs-bench-engine-$$ --tmpdir $d/tmp \
  --storage-driver overlay --storage-opt overlay.ignore_chown_errors=true \
  --cgroup-manager cgroupfs --events-backend file system service --time 0 \
  unix://$d/docker.sock >$d/engine.log 2>&1 &
engine=$!
export DOCKER_HOST=unix://$d/docker.sock
until docker version >/dev/null 2>&1; do :; done
echo "ready $(( $(date +%s%N) / 1000000 - t0 ))"
sh job.sh | grep -v '^ready'
kill $engine; wait $engine || true
rm -rf /tmp/rs-bench-engine-$$
"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def work_dir(tmp, name):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "rootfs", "bin"))
    shutil.copy("/bin/busybox", os.path.join(d, "rootfs", "bin", "busybox"))
    for applet in ("sh", "true", "echo"):
        os.symlink("busybox", os.path.join(d, "rootfs", "bin", applet))
    job = JOB.replace("RUNS", str(RUNS)).replace("BUILDS", str(BUILDS))
    with open(os.path.join(d, "job.sh"), "w") as f:
        f.write(job)
    with open(os.path.join(d, "outside.sh"), "w") as f:
        f.write(OUTSIDE)
    for dirpath, dirnames, filenames in os.walk(d):
        os.chown(dirpath, RUNNER_UID, RUNNER_UID)
        for n in filenames + dirnames:
            os.lchown(os.path.join(dirpath, n), RUNNER_UID, RUNNER_UID)
    return d


def parse(stdout):
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out.setdefault(parts[0], []).append(int(parts[1]))
    return out


def inside(rs, tmp, i):
    d = work_dir(tmp, f"in{i}")
    env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json", SUPERVISOR_CONTAINERS="podman",
               SUPERVISOR_SANDBOX="strict", RUNNER_USER=f"{RUNNER_UID}:{RUNNER_UID}",
               HOME=d)
    p = subprocess.run([rs, "exec", f"--workdir={d}", "--", "sh", "job.sh"], cwd=d, env=env,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"inside: {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}")
    return parse(p.stdout)


def outside(tmp, i):
    d = work_dir(tmp, f"out{i}")
    nofile = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout
    os.makedirs(os.path.join(d, "_containers"))
    with open(os.path.join(d, "_containers", "containers.conf"), "w") as f:
        f.write(CONF.format(n=nofile.strip()))
    for dirpath, _, _ in os.walk(os.path.join(d, "_containers")):
        os.chown(dirpath, RUNNER_UID, RUNNER_UID)
    os.chown(os.path.join(d, "_containers", "containers.conf"), RUNNER_UID, RUNNER_UID)
    p = subprocess.run(["setpriv", f"--reuid={RUNNER_UID}", f"--regid={RUNNER_UID}",
                        "--clear-groups", "unshare", "--user", "--map-root-user", "--mount",
                        "sh", "outside.sh"], cwd=d, capture_output=True, text=True,
                       env=dict(os.environ, HOME=d), timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"outside: {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}")
    return parse(p.stdout)


def run(root):
    rs = os.path.join(root, "build", "runner-supervisor")
    if not (shutil.which("podman") and shutil.which("docker") and os.path.exists("/bin/busybox")):
        return ("## Containers (SUPERVISOR_CONTAINERS=podman)\n\n"
                "Not measured: needs podman, a docker CLI and busybox-static.\n")
    tmp = tempfile.mkdtemp(prefix="rs-bench-containers-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    res = {"inside": {}, "outside": {}}
    try:
        for i in range(ROUNDS):
            order = ("inside", "outside") if i % 2 == 0 else ("outside", "inside")
            for where in order:
                got = inside(rs, tmp, i) if where == "inside" else outside(tmp, i)
                for k, v in got.items():
                    res[where].setdefault(k, []).extend(v)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    m = {w: {k: median(v) for k, v in r.items()} for w, r in res.items()}
    n = {w: {k: len(v) for k, v in r.items()} for w, r in res.items()}

    def row(what, key):
        i, o = m["inside"].get(key, float("nan")), m["outside"].get(key, float("nan"))
        return (f"| {what} | {i:.0f} ms ({n['inside'].get(key, 0)}) | "
                f"{o:.0f} ms ({n['outside'].get(key, 0)}) | {i / o:.2f}× |\n")

    return ("## Containers (SUPERVISOR_CONTAINERS=podman)\n\n"
            f"Podman {podman_version()} with runc and overlay storage on /var/tmp, the docker "
            "CLI against its Docker API. Inside: the engine of `runner-supervisor exec` "
            "(the sandbox's user namespace, the engine's nested in it, its seccomp table), "
            "timed by the command itself. Outside: the same podman, flags and settings as the "
            "same uid in a plain user namespace (`unshare --user --map-root-user --mount`). "
            f"{ROUNDS} rounds alternating; medians (samples).\n\n"
            "| | inside the sandbox | outside | ratio |\n| --- | --- | --- | --- |\n"
            + row("`docker run --rm --network host IMAGE true`", "run")
            + row("`docker build --no-cache` (FROM, one RUN, one COPY)", "build")
            + row("engine start-up: its start to its first API answer (inside: from the "
                  "job's start, the engine having started with the sandbox)", "ready")
            + "\nThe start-up rows do not measure the same span: inside, the engine starts "
            "with the sandbox, before the job, and the job waits only for what is left; "
            "outside, the span is the whole start-up.\n")


def podman_version():
    out = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout
    return out.split()[-1] if out else "?"
