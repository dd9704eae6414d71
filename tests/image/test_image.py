"""The runner image built and run for real (issue 6, items 1, 2 and 5).

A private dockerd (tests/image/engine.py) builds a Debian 12 base with mmdebstrap, the fake
runner fixture image (the official image's stand-in), Dockerfile.runner on top of them, its
`bundle` target, and a custom image that copies the bundle into another layout with none of
its libraries installed. Then every scenario runs one whole lifecycle against the fake GitHub
on the host and checks: exit 0, the job ran, nothing left registered, the summary in the
termination log, the workspace wiped (the summary, and `docker diff` of the container). The `sandbox.report` event of each is recorded and
printed at the end (the sandbox issue adds assertions on it).

    make image-test     (or: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/image)
"""
import json
import re

import pytest

from conftest import (CAPS_ARGS, run_lifecycle)

JOB_STEPS = [
    "echo hello from $(id -un) uid $(id -u)",
    "mkdir -p out && echo artifact > out/app.bin && echo leftover > /tmp/job-tmp-file",
    "grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp|NSpid)' /proc/self/status",
    "setsid sleep 600 >/dev/null 2>&1 &  # a daemon the job forgets",
    "echo done",
]

K8S_DEFAULT_UNCONFINED = [*CAPS_ARGS, "--security-opt", "seccomp=unconfined", "--network=host"]
K8S_RUNTIME_DEFAULT = [*CAPS_ARGS, "--network=host"]  # the engine's default seccomp profile


def assert_whole_lifecycle(run, result="Succeeded", root="/home/runner", mounted=None):
    out = run.output()
    assert run.code == 0, out
    summary = run.summary
    assert summary["exit"]["code"] == 0, out
    assert summary["exit"]["reason"].startswith("job ran"), out
    assert summary["job"]["result"] == result, out
    assert run.job.status == "completed", f"the fake GitHub's job: {run.job}\n{out}"
    assert run.job.result == result, f"the fake GitHub's job: {run.job}\n{out}"
    assert run.find("job.started") and run.find("job.completed"), out
    assert run.runners_left == [], f"left registered: {run.runners_left}\n{out}"
    assert summary["github"]["deregistered"] == "confirmed", out
    assert summary["wipe"]["left"] == 0, out
    assert summary["teardown"]["killed"] >= 0, out
    assert json.loads(run.termination_log) == summary, (
        f"termination log differs from supervisor.exit's summary:\n{run.termination_log}\n{out}")
    assert run.find("sandbox.report"), f"no sandbox.report event\n{out}"
    names = [e.get("event") for e in run.events]
    assert names[0] == "supervisor.start" and names[-1] == "supervisor.exit", names
    assert_layer_clean(run, root, mounted)


MOUNTED = {"/run/secrets", "/run/secrets/github", "/run/secrets/github/token", "/rs-test",
           "/rs-test/ca.pem", "/rs-test/record"}


def assert_layer_clean(run, root, mounted=None):
    """`docker diff` after the exit: the container's own layer holds nothing the job or the
    runner wrote (no /tmp file, no credential file, nothing in _work or _diag), only the mount
    points (mounted: the engine's, default MOUNTED) and the two emptied directories, and
    nothing of the image was deleted."""
    allowed = (MOUNTED if mounted is None else mounted) | {f"{root}/_work", f"{root}/_diag"}
    added = [line[2:] for line in run.diff if line.startswith("A ")]
    deleted = [line[2:] for line in run.diff if line.startswith("D ")]
    assert [p for p in added if p not in allowed] == [], f"left in the container: {run.diff}"
    assert deleted == [], f"deleted from the image: {run.diff}"


def print_report(run):
    for e in run.find("sandbox.report"):
        print(f"{run.name}: sandbox.report {json.dumps(e, sort_keys=True)}")
    print(f"{run.name}: summary.isolation {json.dumps(run.summary.get('isolation'))}")
    print(f"{run.name}: the runner saw {json.dumps(run.runner_view())}")
    print(f"{run.name}: the container's PID 1 got {json.dumps(run.container_view)}")
    print(f"{run.name}: docker diff {run.diff}")


DEFAULT_CAPS_MASK = "00000000a80425fb"  # the 14 capabilities of K8S_DEFAULT_CAPS
IDENTITY_MAP = "0 0 4294967295"


def assert_container(run, seccomp, userns, caps=DEFAULT_CAPS_MASK, masked=True):
    """The scenario is what it claims: checked on the container's PID 1 from the host."""
    view = run.container_view
    assert "error" not in view, view
    assert view["Seccomp"] == seccomp, view
    assert view["CapBnd"] == caps, view
    assert (view["uid_map"] != IDENTITY_MAP) == userns, view
    assert bool(view["masked_proc"]) == masked, view


def assert_report(run, **states):
    """The isolation report claims what this container allows, and the runner's own view
    agrees with the claims that it can see."""
    layers = run.find("sandbox.report")[-1]["layers"]
    for layer, state in states.items():
        assert layers[layer]["state"] == state, (run.name, layer, layers[layer])
    for layer, v in layers.items():
        assert v["state"] != "unavailable" or v["detail"], (layer, v)
    assert run.summary["isolation"] == {k: v["state"] for k, v in layers.items()}
    view = run.runner_view()
    if view and "NoNewPrivs" in view:
        assert (str(view["NoNewPrivs"]) == "1") == (layers["no_new_privs"]["state"] == "applied")


# -- the image itself ---------------------------------------------------------------------------

def test_image_metadata(engine, images):
    """Entrypoint, command, user, stop signal, settings and OCI labels; the version label is
    the binary's; --version runs in the image."""
    cfg = engine.inspect(images.image, "image")["Config"]
    assert cfg["Entrypoint"] == ["/usr/local/bin/runner-supervisor"]
    assert cfg["Cmd"] == ["run"]
    assert cfg["User"] == "root"
    assert cfg["StopSignal"] == "SIGTERM"
    env = dict(item.split("=", 1) for item in cfg["Env"])
    assert env["RUNNER_ROOT"] == "/home/runner"
    assert env["RUNNER_USER"] == "runner"
    assert env["RUNNER_MANUALLY_TRAP_SIG"] == "1"  # the base image's, kept
    labels = cfg["Labels"]
    for key in ("title", "description", "version", "revision", "created", "source",
                "base.name"):
        assert f"org.opencontainers.image.{key}" in labels, labels
    assert labels["org.opencontainers.image.base.name"] == images.fixture
    version = engine.docker("run", "--rm", images.image, "--version", timeout=60).stdout
    assert version.splitlines()[0] == f"runner-supervisor {images.version}", version
    assert labels["org.opencontainers.image.version"] == images.version


@pytest.mark.parametrize("image_attr", ["image", "custom"])
def test_bundle_resolves_inside_itself(engine, images, image_attr):
    """In the runner image and in the custom image (which has none of the libraries), every
    library but glibc's resolves inside /opt/runner-supervisor/lib, nothing is "not found",
    and the bundle's MANIFEST says it needs glibc <= 2.35 (Ubuntu 22.04: custom images and
    official images before runner 2.331, which moved to Ubuntu 24.04, glibc 2.39)."""
    image = getattr(images, image_attr)
    script = ("ldd /opt/runner-supervisor/bin/runner-supervisor; echo ---; "
              "cat /opt/runner-supervisor/MANIFEST; echo ---; "
              "for f in /opt/runner-supervisor/lib/*; do n=$(basename $f); "
              "ldconfig -p | grep -q \"^[[:space:]]*$n \" && echo \"system-has $n\"; done; true")
    out = engine.docker("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script,
                        timeout=60).stdout
    ldd, manifest, system = out.split("---\n")
    assert "not found" not in ldd, ldd
    glibc = re.compile(r"^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv)\.so")
    for line in ldd.splitlines():
        parts = line.split()
        if "=>" not in parts:
            continue
        soname, path = parts[0], parts[2]
        if not glibc.match(soname):
            assert "/opt/runner-supervisor/" in path, f"{soname} from {path}\n{ldd}"
    needed = re.search(r"^glibc_needed=(\S+)", manifest, re.M).group(1)
    assert tuple(map(int, needed.split("."))) <= (2, 35), manifest
    if image_attr == "custom":
        assert system.strip() == "", f"the custom image still has: {system}"
    print(manifest)


# -- lifecycles ---------------------------------------------------------------------------------

def test_lifecycle_k8s_default_unconfined(engine, images, github, run_dir):
    """(a) Kubernetes' default capability set and an Unconfined seccomp profile (a pod that
    asks for nothing)."""
    run = run_lifecycle(engine, images.image, github, "a-k8s-default-unconfined",
                        K8S_DEFAULT_UNCONFINED, run_dir, JOB_STEPS)
    print_report(run)
    assert_container(run, seccomp="0", userns=False)
    assert_whole_lifecycle(run)
    # No CAP_SYS_ADMIN, but user namespaces: the namespaces inside one; the runtime's masked
    # /proc paths keep a fresh procfs out, and with it the PID namespace (the runner kills
    # orphans by the pids it reads in /proc); Landlock scopes signals instead.
    assert_report(run, user_namespace="applied", pid_namespace="unavailable",
                  mount_namespace="applied", proc="unavailable", hidden_paths="applied",
                  landlock="applied", seccomp="applied", capabilities="applied",
                  no_new_privs="applied")


def test_lifecycle_runtime_default_seccomp(engine, images, github, run_dir):
    """(b) the container runtime's default seccomp profile (RuntimeDefault): every unshare
    fails with EPERM; the lifecycle must still complete."""
    run = run_lifecycle(engine, images.image, github, "b-runtime-default-seccomp",
                        K8S_RUNTIME_DEFAULT, run_dir, JOB_STEPS)
    print_report(run)
    assert_container(run, seccomp="2", userns=False)
    assert_whole_lifecycle(run)
    # No namespace at all: the fallback, Landlock hiding the paths.
    assert_report(run, user_namespace="unavailable", pid_namespace="unavailable",
                  mount_namespace="unavailable", landlock="applied", hidden_paths="applied",
                  seccomp="applied", capabilities="applied", no_new_privs="applied",
                  separate_uid="applied")


def test_lifecycle_userns_unmasked_proc(userns_engine, images, run_dir):
    """(c) in a user namespace with an unmasked /proc and SYS_ADMIN (in that namespace only):
    hostUsers: false + procMount: Unmasked, seccomp Unconfined. dockerd --userns-remap refuses
    the host network, so this one reaches its own fake GitHub on the bridge's gateway."""
    from conftest import GitHub
    engine, network, gateway = userns_engine
    gh = GitHub(run_dir / "github-userns", host=gateway)
    try:
        run = run_lifecycle(engine, images.image, gh, "c-userns-unmasked-proc",
                            [*CAPS_ARGS, "--cap-add=SYS_ADMIN",
                             "--security-opt", "seccomp=unconfined",
                             "--security-opt", "systempaths=unconfined",
                             f"--network={network}"],
                            run_dir, JOB_STEPS)
    finally:
        gh.stop()
    print_report(run)
    assert_container(run, seccomp="0", userns=True, caps="00000000a82425fb", masked=False)
    assert_whole_lifecycle(run)
    # The recommended pod: every layer.
    assert_report(run, user_namespace="applied", pid_namespace="applied",
                  mount_namespace="applied", ipc_namespace="applied", uts_namespace="applied",
                  cgroup_namespace="applied", proc="applied", tmp="applied",
                  readonly_install="applied", hidden_paths="applied", seccomp="applied",
                  capabilities="applied", no_new_privs="applied", landlock="applied")


def test_lifecycle_job_root_in_a_userns_container(userns_engine, images, run_dir):
    """(d) SUPERVISOR_JOB_ROOT=overlay in the user-namespaced container of (c): the job is root
    of a copy-on-write view of the image. `sudo apt-get install` of a .deb built here, a file
    in /usr/local/bin and an /etc/hosts line are seen by the job's later steps; nothing of it
    reaches the container's own layer (`docker diff`), so a restarted container sees the
    image as it was."""
    import os
    import subprocess
    import tempfile
    from pathlib import Path
    from conftest import GitHub
    engine, network, gateway = userns_engine
    pkgs = Path(tempfile.mkdtemp(prefix="job-root-pkgs-", dir=run_dir))
    pkgs.chmod(0o755)
    tree = pkgs / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: rs-jobroot-test\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: tests <tests@example.invalid>\nDescription: job root test package\n")
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "rs-jobroot-hello").write_text("#!/bin/sh\necho hello from the deb\n")
    os.chmod(tree / "usr" / "bin" / "rs-jobroot-hello", 0o755)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree),
                    str(pkgs / "rs-jobroot-test.deb")], check=True, capture_output=True,
                   timeout=60)
    os.chmod(pkgs / "rs-jobroot-test.deb", 0o644)
    steps = [
        "echo uid=$(id -u) sudo=$(sudo id -u)",
        "sudo apt-get install -y /rs-pkgs/rs-jobroot-test.deb",
        "printf '#!/bin/sh\\necho hello from usr-local\\n' | sudo tee /usr/local/bin/rs-local",
        "sudo chmod 755 /usr/local/bin/rs-local && echo '10.9.9.9 by-the-job' | sudo tee -a "
        "/etc/hosts",
        "rs-jobroot-hello && rs-local && grep -c by-the-job /etc/hosts",
    ]
    gh = GitHub(run_dir / "github-job-root", host=gateway)
    # GitHub takes its time (as it does, hundreds of ms): the staging finishes first, and the
    # sandbox is made from it while the registration is in flight (asserted below).
    gh.fake.inject("POST", "generate-jitconfig", kind="delay", seconds=1)
    try:
        run = run_lifecycle(engine, images.image, gh, "d-job-root",
                            [*CAPS_ARGS, "--cap-add=SYS_ADMIN",
                             "--security-opt", "seccomp=unconfined",
                             "--security-opt", "systempaths=unconfined",
                             f"--network={network}", "-v", f"{pkgs}:/rs-pkgs:ro"],
                            run_dir, steps, settings={"SUPERVISOR_JOB_ROOT": "overlay",
                                                      "SUPERVISOR_SANDBOX": "strict"})
    finally:
        gh.stop()
    print_report(run)
    print(f"{run.name}: steps {json.dumps(run.step_outputs())}")
    assert_whole_lifecycle(run, mounted=MOUNTED | {"/rs-pkgs"})
    assert_report(run, job_root="applied", user_namespace="applied", seccomp="applied",
                  no_new_privs="applied")
    # The sandbox was made while the runner registered (supervisor/ahead.h), once the
    # skeleton was staged: the runner was only asked of an init that was already there.
    started = run.one("child.started")
    assert started["stage_us"] > 0 and started["prepared_us"] > 0, started
    outputs = " ".join(run.step_outputs())
    assert "uid=0 sudo=0" in outputs, run.output()
    for line in ["hello from the deb", "hello from usr-local"]:
        assert line in outputs, run.output()
    # assert_whole_lifecycle's docker diff: no /usr/bin/rs-jobroot-hello, /usr/local/bin or
    # /etc/hosts change in the container's layer.


def test_lifecycle_containers_in_a_userns_container(userns_engine, podman_image, run_dir):
    """(e) SUPERVISOR_CONTAINERS=podman in the user-namespaced container of (c), from the image
    built with --build-arg CONTAINERS=podman: the job's steps import an image, run a container
    through /var/run/docker.sock and leave one running; the engine's storage (vfs: the work
    folder is in the container's own overlay root) goes with the wipe and nothing reaches the
    container's layer. The docker CLI is the host's (the official image has its own; the
    fixture has none), bound in read-only."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path
    from conftest import GitHub
    engine, network, gateway = userns_engine
    images_dir = Path(tempfile.mkdtemp(prefix="containers-", dir=run_dir))
    images_dir.chmod(0o755)
    root = images_dir / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in ("sh", "echo", "sleep"):
        os.symlink("busybox", root / "bin" / applet)
    subprocess.run(["tar", "-C", str(root), "-cf", str(images_dir / "bb.tar"), "."], check=True,
                   timeout=60)
    os.chmod(images_dir / "bb.tar", 0o644)
    steps = [
        "docker import /rs-images/bb.tar bb:1 >/dev/null && docker version --format "
        "'api={{.Server.APIVersion}}'",
        "docker run --rm --network host bb:1 echo from-a-container",
        "docker run -d --network host bb:1 sleep 600 >/dev/null",
    ]
    gh = GitHub(run_dir / "github-containers", host=gateway)
    try:
        run = run_lifecycle(engine, podman_image, gh, "e-containers",
                            [*CAPS_ARGS, "--cap-add=SYS_ADMIN",
                             "--security-opt", "seccomp=unconfined",
                             "--security-opt", "systempaths=unconfined",
                             f"--network={network}", "-v", f"{images_dir}:/rs-images:ro",
                             "-v", f"{shutil.which('docker')}:/usr/local/bin/docker:ro"],
                            run_dir, steps, settings={"SUPERVISOR_CONTAINERS": "podman",
                                                      "SUPERVISOR_SANDBOX": "strict"})
    finally:
        gh.stop()
    print_report(run)
    print(f"{run.name}: steps {json.dumps(run.step_outputs())}")
    assert_whole_lifecycle(run, mounted=MOUNTED | {"/rs-images", "/usr/local/bin/docker"})
    assert_report(run, containers="applied", user_namespace="applied", seccomp="applied",
                  pid_namespace="applied")
    detail = run.one("sandbox.report")["layers"]["containers"]["detail"]
    assert "vfs storage" in detail, detail
    outputs = run.step_outputs()
    assert "from-a-container" in outputs[1], run.output()
    assert int(outputs[0].split("api=")[1].split(".")[1]) >= 35, outputs[0]
    # The container the job left ran on until the teardown killed it with the sandbox.
    assert run.summary["teardown"]["killed"] >= 0


def test_docker_stop_during_job(engine, images, github, run_dir):
    """`docker stop` (SIGTERM) while a job runs: with SUPERVISOR_DRAIN_TIMEOUT 0 the job is
    cancelled (SIGINT to the runner): the Worker fails it (GitHub shows Failed), the runner is
    deregistered, exit 0
    (README: a job ran, whatever its result), well before docker's SIGKILL."""
    run = run_lifecycle(engine, images.image, github, "sigterm-during-job",
                        K8S_DEFAULT_UNCONFINED, run_dir,
                        ["echo long job", "sleep 120", "echo never"], stop_after="job.started")
    print_report(run)
    assert_whole_lifecycle(run, result="Failed")
    assert run.stop_seconds < 30, f"docker stop took {run.stop_seconds:.1f}s\n{run.output()}"
    assert run.find("supervisor.stopping"), run.output()


def test_bundle_in_custom_image(engine, images, github, run_dir):
    """The bundle copied into another image (runner at /opt/actions-runner, user ci 2000,
    none of the bundle's libraries installed): one whole lifecycle."""
    run = run_lifecycle(engine, images.custom, github, "bundle-custom-image",
                        K8S_DEFAULT_UNCONFINED, run_dir, JOB_STEPS)
    print_report(run)
    assert_whole_lifecycle(run, root="/opt/actions-runner")
    view = run.runner_view()
    assert view and view["uid"] == 2000, run.output()


def test_docker_stop_while_listening(engine, images, github, run_dir):
    """`docker stop` of an idle runner (a Deployment scaled down, a node drained): SIGINT to
    the runner, deregistration confirmed, exit 0, nothing left."""
    run = run_lifecycle(engine, images.image, github, "sigterm-while-listening",
                        K8S_DEFAULT_UNCONFINED, run_dir, None, stop_after="runner.listening")
    print_report(run)
    out = run.output()
    assert run.code == 0, out
    summary = run.summary
    assert summary["exit"]["code"] == 0, out
    assert summary["exit"]["reason"] == "stopped by signal before a job", out
    assert not run.find("job.started"), out
    assert run.runners_left == [], f"left registered: {run.runners_left}\n{out}"
    assert summary["github"]["deregistered"] == "confirmed", out
    assert json.loads(run.termination_log) == summary, out
    assert run.stop_seconds < 30, f"docker stop took {run.stop_seconds:.1f}s\n{out}"
    assert_layer_clean(run, "/home/runner")
