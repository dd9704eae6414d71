"""SUPERVISOR_CONTAINERS=podman: a rootless engine beside the job, its Docker API at
/var/run/docker.sock in the sandbox (README, "Containers").

Real podman and the real docker CLI, driven from inside the sandbox the way a job drives them.
The image is a busybox tarball made here and imported (no registry). Debian 12's podman (4.3)
maps the Docker API's default network to a bridge, which needs a TUN device this machine's
sandbox does not have; the tests ask for the job's network (`--network host`) or none, which
every engine version serves (README, "Containers", networking).
"""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from sandbox_fixtures import *  # noqa: F401,F403  (fixtures)
from sandbox_fixtures import RS_BIN, RUNNER_UID

CONTAINERS = {"SUPERVISOR_CONTAINERS": "podman"}
TIMEOUT = 240
SECRET = "not-for-containers-3141"

pytestmark = pytest.mark.skipif(
    not (shutil.which("podman") and shutil.which("docker") and os.path.exists("/bin/busybox")),
    reason="needs podman, a docker CLI and busybox-static (make deps installs them)")


def layer(r):
    return r.layers["containers"]


def job(script):
    """A shell script run as the job: HOME in the work folder (the docker CLI's config), the
    busybox image imported as bb:1 first."""
    return ["sh", "-euc", "export HOME=$PWD; "
            "tar -C rootfs -cf bb.tar . && docker import bb.tar bb:1 >/dev/null; " + script]


APPLETS = ("sh", "id", "cat", "ls", "sleep", "echo", "umount", "mount", "test")


def busybox_rootfs(root):
    """A container's root filesystem at root: busybox and its applets, an empty /etc."""
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc").mkdir()
    return root


@pytest.fixture
def with_rootfs(monkeypatch):
    """Adds a busybox root filesystem to the work folder sandbox_run makes (by copying it
    into the tools directory, which sandbox_run copies)."""
    def add(tools):
        root = tools.dir / "rootfs"
        return root if root.exists() else busybox_rootfs(root)
    return add


@pytest.fixture
def run(sandbox_run, sandbox_tools, with_rootfs):
    with_rootfs(sandbox_tools)
    yield sandbox_run
    shutil.rmtree(sandbox_tools.dir / "rootfs", ignore_errors=True)


# The engine's table allows these, each for a reason (sandbox/seccomp.c, engine_why): a
# privileged container may use them in the namespaces the engine owns. Every other vector the
# job must meet blocked, a container must too.
ENGINE_ALLOWS = {"mount", "umount2", "pivot_root", "chroot", "unshare_user", "unshare_mount",
                 "unshare_net", "clone_newuser", "kill_pid1", "status"}


@pytest.fixture
def static_probe(sandbox_tools):
    """The escape probe linked statically, for a busybox container."""
    out = sandbox_tools.dir / "escape_probe_static"
    subprocess.run(["gcc", "-std=gnu11", "-O2", "-static", "-pthread",
                    str(Path(__file__).resolve().parents[1] / "sandbox" / "escape_probe.c"),
                    "-o", str(out)], check=True, timeout=TIMEOUT)
    os.chmod(out, 0o755)
    yield out
    out.unlink()


def engine_processes(marker="rs-sbx-work-"):
    """Processes of this machine whose command line names an engine's directory."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd and "_containers" in cmd:
            found.append((pid, cmd))
    return found


# ---------------------------------------------------------------------------------------------
# where it is, and where it is not


def test_off_by_default(sandbox_run):
    r = sandbox_run(["true"], env_name="full", mode="strict")

    assert r.returncode == 0, r.stderr
    assert layer(r) == {"state": "disabled", "detail": "SUPERVISOR_CONTAINERS=off"}


def test_refused_without_the_sandboxs_namespaces_with_the_reason(sandbox_run):
    r = sandbox_run(["true"], env_name="runtime-default", mode="auto", env=CONTAINERS)

    assert r.returncode == 0, r.stderr
    assert layer(r)["state"] == "unavailable"
    assert "user namespace" in layer(r)["detail"], layer(r)


def test_refused_where_the_pods_proc_is_masked(sandbox_run):
    # No PID namespace there (README, "Isolation"): no init to start and end the engine.
    r = sandbox_run(["true"], env_name="masked-proc", mode="auto", env=CONTAINERS)

    assert r.returncode == 0, r.stderr
    assert layer(r)["state"] == "unavailable"
    assert "PID namespace" in layer(r)["detail"], layer(r)


def test_strict_without_a_way_to_honour_it_exits_71_naming_the_pod_setting(sandbox_run,
                                                                           world_dir):
    # Every other layer stands here; the image lacks podman (a PATH without it).
    for tool in ("true", "sh"):
        os.symlink(shutil.which(tool), world_dir / tool)
    no_podman = {**CONTAINERS, "PATH": str(world_dir)}
    r = sandbox_run(["true"], env_name="full", mode="strict", env=no_podman)

    assert r.returncode == 71, r.stderr
    msg = r.event("supervisor.error")["msg"]
    assert "layer containers is unavailable" in msg and "podman" in msg, msg


# ---------------------------------------------------------------------------------------------
# a job's containers


def test_a_job_runs_a_container_through_the_engine_at_the_runners_socket(run):
    r = run(job("test -S /var/run/docker.sock; "
                "docker version --format '{{.Server.APIVersion}}'; "
                "docker run --rm --network host bb:1 id -u; "
                "docker run --rm --network none bb:1 echo from-a-container; "
                # One id is mapped (README, "Containers"): no other user in a container.
                "docker run --rm --network none --user 1000 bb:1 id >/dev/null 2>&1 "
                "|| echo no-other-user"),
            env_name="full", mode="strict", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    assert layer(r)["state"] == "applied", layer(r)
    api, uid, echoed, other = r.stdout.split()
    assert other == "no-other-user"
    # actions/runner refuses an engine below 1.35 (docs/container-facts.md, section 1).
    assert tuple(map(int, api.split("."))) >= (1, 35), api
    assert uid == "0"  # root of the engine's namespace, which is the runner's uid outside
    assert echoed == "from-a-container"


@pytest.fixture
def world_dir():
    """A directory every uid can traverse (pytest's tmp_path is under a 0700 one)."""
    d = Path(tempfile.mkdtemp(prefix="rs-containers-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_container_starts_with_no_signal_blocked_or_ignored(run):
    # The sandbox init blocks every signal (it takes them synchronously); its fork, the engine,
    # must not hand that on: a container with SIGALRM or SIGPIPE blocked misbehaves.
    r = run(job("docker run --rm --network none bb:1 busybox grep -E 'SigBlk|SigIgn' "
                "/proc/self/status"),
            env_name="full", mode="strict", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    masks = dict(line.split(":") for line in r.stdout.splitlines() if ":" in line)
    assert {k: v.strip() for k, v in masks.items()} == {"SigBlk": "0" * 16,
                                                        "SigIgn": "0" * 16}, r.stdout


def test_the_jobs_limits_bind_its_containers(run):
    # SUPERVISOR_RLIMIT_NOFILE and _NPROC are the job's, and no core dump (the rlimits layer):
    # a container must not get more than the job through its engine.
    limits = {**CONTAINERS, "SUPERVISOR_RLIMIT_NOFILE": "4096", "SUPERVISOR_RLIMIT_NPROC": "3000"}
    r = run(job("docker run --rm --network none bb:1 cat /proc/self/limits"),
            env_name="full", mode="strict", env=limits, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    rows = {line[:26].strip(): line[26:].split()[:2] for line in r.stdout.splitlines()}
    assert rows["Max open files"] == ["4096", "4096"], r.stdout
    assert rows["Max processes"] == ["3000", "3000"], r.stdout
    assert rows["Max core file size"] == ["0", "0"], r.stdout


def test_a_container_sees_the_cover_of_a_hidden_path_never_the_secret(run, world_dir):
    secret_dir = world_dir / "org-credentials"
    secret_dir.mkdir()
    (secret_dir / "token").write_text(SECRET)
    os.chmod(secret_dir, 0o755)
    os.chmod(secret_dir / "token", 0o644)  # readable to anyone who could reach it
    hidden = {**CONTAINERS, "SUPERVISOR_HIDE_PATHS": str(secret_dir)}

    r = run(job(f"docker run --rm --network host -v {secret_dir}:/x bb:1 "
                "sh -c 'cat /x/token 2>&1; ls -a /x'; "
                # Root of the engine's namespace with every capability there: the cover is
                # locked, it does not come off.
                f"docker run --rm --network host --privileged -v /:/host bb:1 "
                f"sh -c 'umount /host{secret_dir} 2>&1; cat /host{secret_dir}/token 2>&1'; "
                "true"),
            env_name="full", mode="strict", env=hidden, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    assert SECRET not in r.stdout
    assert "token" not in r.stdout.replace(f"{secret_dir}/token", "").replace("/x/token", "")


def test_a_dockerfile_builds_in_the_engine(run):
    r = run(job("mkdir ctx && printf 'FROM bb:1\\nRUN echo built > /made\\n' > ctx/Dockerfile; "
                "docker build -q -t made:1 ctx >/dev/null; "
                "docker run --rm --network host made:1 cat /made"),
            env_name="full", mode="strict", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout.split()[-1] == "built"


def test_nothing_of_the_engine_survives_the_job(run):
    mount_point_was_there = os.path.lexists("/var/run/docker.sock")
    r = run(job("docker run -d --network host bb:1 sleep 600 >/dev/null; "
                "docker volume create left >/dev/null; ls _containers >/dev/null"),
            env_name="full", mode="strict", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    # The container the job left ran on: killed with the sandbox, and counted as the job's.
    assert r.event("teardown.kill")["count"] >= 1, r.stderr
    assert engine_processes() == []
    # exec --workdir empties the folder, the engine's storage with it (`run` wipes the work
    # folder the same way).
    assert r.event("workspace.wiped")["left"] == 0
    # The empty file the socket was bound over, where the supervisor made it.
    assert os.path.lexists("/var/run/docker.sock") == mount_point_was_there


def test_in_a_pod_with_kubernetes_default_capabilities(run):
    r = run(job("docker run --rm --network none bb:1 echo ok"),
            env_name="no-sys-admin", mode="auto", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    assert layer(r)["state"] == "applied", layer(r)
    assert r.stdout.split()[-1] == "ok"


def test_in_a_user_namespaced_pod_whose_root_is_an_overlay_it_copies_instead(run):
    # The simulated pod's root is an overlay: overlay storage cannot sit on it.
    r = run(job("docker run --rm --network host bb:1 echo ok"),
            env_name="userns-pod", mode="strict", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    assert "vfs storage" in layer(r)["detail"], layer(r)
    assert r.stdout.split()[-1] == "ok"


def test_the_job_can_neither_trace_nor_signal_the_engine(sandbox_run):
    # The engine runs outside the job's seccomp table; Landlock keeps the job, in its domain,
    # from the engine, outside it: no /proc/PID/mem, environ or maps, no ptrace, no signal.
    # docker version first: the engine has exec'd podman once it answers.
    r = sandbox_run(["sh", "-c", "HOME=$PWD docker version >/dev/null; for p in /proc/[0-9]*; do "
                     "[ \"$(cat $p/comm 2>/dev/null)\" = podman ] && e=${p#/proc/}; done; "
                     "echo engine=$e; cat /proc/$e/environ >/dev/null 2>&1; echo environ=$?; "
                     "cat /proc/$e/maps >/dev/null 2>&1; echo maps=$?; "
                     "kill -0 $e 2>/dev/null; echo signal=$?"],
                    env_name="full", mode="strict", env=CONTAINERS, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr
    if "scoped" not in r.layers["landlock"]["detail"]:
        pytest.skip("Landlock's scopes need ABI 6 (kernel 6.12)")
    found = dict(line.split("=") for line in r.stdout.split())
    assert found["engine"], r.stdout
    assert found["environ"] != "0" and found["maps"] != "0" and found["signal"] != "0", found


def test_the_escape_probe_in_a_privileged_container_is_held_as_the_job_is(run, static_probe,
                                                                          world_dir):
    # The worst a job can ask of its engine: every capability of the engine's namespace, no
    # seccomp profile of the engine's own, and the sandbox's whole view mounted in.
    (world_dir / "hidden").mkdir(mode=0o755)
    (world_dir / "token").write_text("ghp_SECRETSECRETSECRET\n")
    (world_dir / "hidden" / "key").write_text("-----BEGIN KEY-----\n")
    for f in (world_dir / "token", world_dir / "hidden" / "key"):
        os.chmod(f, 0o644)
    env = {**CONTAINERS, "GITHUB_TOKEN_FILE": str(world_dir / "token"),
           "SUPERVISOR_HIDE_PATHS": str(world_dir / "hidden")}
    # "$1": the supervisor's pid, which sandbox_run puts where the word "{pid}" is.
    r = run(job("docker run --rm --privileged --security-opt seccomp=unconfined "
                "--network host -v /:/host -v $PWD:/p bb:1 /p/escape_probe_static "
                "--supervisor-pid \"$1\" "
                f"--secret /host{world_dir}/token --secret /host{world_dir}/hidden/key")
            + ["job", "{pid}"],
            env_name="full", mode="strict", env=env, timeout=TIMEOUT)

    assert r.returncode == 0, r.stderr + r.stdout
    vectors = r.vectors()
    assert len(vectors) > 40, r.stdout
    through = sorted(name for name, v in vectors.items()
                     if v["ok"] and name not in ENGINE_ALLOWS)
    assert through == [], {name: vectors[name] for name in through}
    for name in ("secret_0", "secret_1", "proc_environ", "proc_mem", "ptrace_attach",
                 "kill_supervisor", "bpf", "io_uring_setup", "userfaultfd", "kexec_load",
                 "init_module", "open_by_handle_at", "fsopen", "keyctl", "af_vsock",
                 "tiocsti"):
        assert not vectors[name]["ok"], (name, vectors[name])


# ---------------------------------------------------------------------------------------------
# a whole lifecycle


def test_a_jobs_steps_use_the_engine_and_nothing_of_it_outlives_the_pod(lc_github, lifecycle,
                                                                       world_dir):
    root = busybox_rootfs(world_dir / "rootfs")
    inst = lifecycle.install()
    job = lc_github.queue_job("containers", steps=[
        f"tar -C {root} -cf bb.tar . && docker import bb.tar bb:1 >/dev/null",
        "docker run --rm --network host bb:1 echo from-a-container",
        # Left running by the job: the teardown's, not the next job's.
        "docker run -d --network host bb:1 sleep 600 >/dev/null",
    ])
    run = lifecycle.start(installation=inst, SUPERVISOR_CONTAINERS="podman")

    assert run.wait(50) == 0, run.output()
    report = run.event("sandbox.report").field("layers")["containers"]
    assert report["state"] == "applied", report
    assert lc_github.job(job.id).result == "Succeeded", "\n".join(inst.step_outputs())
    assert inst.step_outputs()[1].strip() == "from-a-container"
    # The engine was made while the runner registered, in the sandbox prepared then.
    assert run.event("child.started").field("prepared_us") >= 0
    assert run.summary["wipe"]["left"] == 0
    assert not (inst.work / "_containers").exists()
    assert engine_processes("_work/_containers") == []


def test_token_mode_gives_the_engine_to_the_jobs_sandbox_not_configures(lc_github, lifecycle,
                                                                        world_dir):
    # `configure` runs in a sandbox of its own first: no engine there (it would start, and be
    # killed mid-start, over the storage the job's engine then opens).
    root = busybox_rootfs(world_dir / "rootfs")
    inst = lifecycle.install()
    job = lc_github.queue_job("containers-token", steps=[
        f"tar -C {root} -cf bb.tar . && docker import bb.tar bb:1 >/dev/null && "
        "docker run --rm --network host bb:1 echo from-a-container",
    ])
    run = lifecycle.start(installation=inst, SUPERVISOR_CONTAINERS="podman",
                          SUPERVISOR_REGISTRATION="token")

    assert run.wait(50) == 0, run.output()
    assert lc_github.job(job.id).result == "Succeeded", "\n".join(inst.step_outputs())
    assert inst.step_outputs()[0].strip() == "from-a-container"
    assert not (inst.work / "_containers").exists()


def test_check_tries_the_engine_in_a_directory_of_its_own_and_leaves_nothing(world_dir):
    # `check` may run in a live pod (kubectl exec): a running job's engine directory, socket
    # and mount point must stay as they are.
    work = world_dir / "_work"
    live = work / "_containers"
    live.mkdir(parents=True)
    (live / "engine.log").write_text("a running job's engine\n")
    token = world_dir / "token"
    token.write_text("ghp_" + "x" * 36)
    mount_point_was_there = os.path.lexists("/var/run/docker.sock")
    env = dict(os.environ, GITHUB_URL="https://github.com/acme", GITHUB_TOKEN_FILE=str(token),
               RUNNER_ROOT=str(world_dir), RUNNER_USER=f"{RUNNER_UID}:{RUNNER_UID}",
               SUPERVISOR_CONTAINERS="podman", SUPERVISOR_LOG_FORMAT="json")
    p = subprocess.run([RS_BIN, "check"], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)

    assert p.returncode == 0, p.stderr
    row = next(line for line in p.stdout.splitlines() if line.startswith("containers"))
    assert "applied" in row, p.stdout
    assert sorted(os.listdir(work)) == ["_containers"]
    assert (live / "engine.log").read_text() == "a running job's engine\n"
    assert os.path.lexists("/var/run/docker.sock") == mount_point_was_there


def test_an_engine_directory_already_there_is_never_reused(sandbox_run, sandbox_tools):
    # The job owns the folder; what it left at the engine's path (a directory, or a link to
    # one of root's) must not be chowned by the supervisor or trusted: the engine is refused.
    planted = sandbox_tools.dir / "_containers"
    planted.mkdir()
    (planted / "containers.conf").write_text("[engine]\nruntime = \"/tmp/evil\"\n")
    try:
        r = sandbox_run(["true"], env_name="full", mode="auto", env=CONTAINERS)
    finally:
        shutil.rmtree(planted)

    assert r.returncode == 0, r.stderr
    assert layer(r)["state"] == "unavailable", layer(r)
    assert "left by an earlier command" in layer(r)["detail"], layer(r)


@pytest.mark.parametrize("profile", ["nnp", "userns-root"])
def test_no_process_the_job_can_reach_holds_the_pat_with_the_engine_there(lc_github, lifecycle,
                                                                         profile):
    # test_hardening's scan (every process's memory, every descriptor through pidfd_getfd),
    # with the engine running beside the job and fs.suid_dumpable at 1, the worst setting.
    from test_hardening import SCAN, scan_findings, suid_dumpable
    lc_github.queue_job("scan", steps=[
        "docker version >/dev/null && "
        f"python3 -c '{SCAN}' {lifecycle.pat.encode().hex()} && "
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = podman ] && "
        "echo ENGINE ${p#/proc/}; done; true"])
    inst = lifecycle.install()
    with suid_dumpable(1):
        run = lifecycle.start(installation=inst, SUPERVISOR_SANDBOX="strict",
                              SUPERVISOR_SANDBOX_PROFILE=profile,
                              SUPERVISOR_CONTAINERS="podman")
        assert run.wait(50) == 0, run.output()
    output = inst.step_outputs()[0]
    engines = [line.split()[1] for line in output.splitlines() if line.startswith("ENGINE ")]
    assert engines, output
    findings = [f for f in scan_findings(inst) if not f.startswith("ENGINE ")]
    assert not [f for f in findings if f.startswith("secret")], findings
    # Nothing of the engine's: its memory and descriptors are out of the job's reach.
    assert [f for f in findings if any(f" of {e}: " in f for e in engines)] == [], findings


def test_refused_with_the_job_root_saying_why(sandbox_run):
    # Tried: with the job root's read-only /proc/sys over its /proc, the kernel refuses every
    # new procfs in the sandbox ("too revealing"), and runc could not start a container.
    r = sandbox_run(["true"], env_name="userns-pod", mode="auto",
                    env={**CONTAINERS, "SUPERVISOR_JOB_ROOT": "overlay"})

    assert r.returncode == 0, r.stderr
    assert r.state("job_root") == "applied", r.layers
    assert layer(r)["state"] == "unavailable"
    assert "/proc/sys" in layer(r)["detail"], layer(r)
