"""SUPERVISOR_JOB_ROOT=overlay: the job is root of a copy-on-write view of the image that
vanishes with the sandbox (README, "The job root").

Where it can be had is a user-namespaced pod (hostUsers: false), simulated here by
tests/sandbox/userns_pod.c ("userns-pod" in sandbox_fixtures.py): there a real package manager
installs into the job's root, later commands of the same sandbox see it, the next sandbox and
the pod do not, the escape probe run as that root finds every vector closed, and the workload
suite passes. Everywhere else (this machine's own root, Kubernetes' default pod, RuntimeDefault,
runAsNonRoot) it is refused with the reason, and strict exits 71.
"""
import io
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from sandbox_fixtures import *  # noqa: F401,F403  (fixtures)
from sandbox_fixtures import RS_BIN, userns_pod_binds

JOB_ROOT = {"SUPERVISOR_JOB_ROOT": "overlay"}
TIMEOUT = 240


def layer(r, name="job_root"):
    return r.layers[name]


# ---------------------------------------------------------------------------------------------
# where it is refused


def test_refused_where_the_pods_root_is_the_nodes_root(sandbox_run):
    # This machine's root is the node's: a job root mapped onto it would be uid 0 of the node.
    r = sandbox_run(["id", "-u"], env_name="full", mode="auto", env=JOB_ROOT)

    assert r.returncode == 0, r.stderr
    assert layer(r)["state"] == "unavailable"
    assert "node's root" in layer(r)["detail"]
    assert r.stdout.strip() != "0"  # the command ran as the runner, not as root


@pytest.mark.parametrize("env_name", ["no-sys-admin", "runtime-default", "masked-proc"])
def test_refused_in_other_kinds_of_pod_with_the_reason(sandbox_run, env_name):
    r = sandbox_run(["true"], env_name=env_name, mode="auto", env=JOB_ROOT)

    assert r.returncode == 0, r.stderr
    assert layer(r)["state"] == "unavailable"
    assert layer(r)["detail"], r.layers


def test_strict_without_a_way_to_honour_it_exits_71_naming_the_pod_setting(sandbox_run):
    r = sandbox_run(["true"], env_name="full", mode="strict", env=JOB_ROOT)

    assert r.returncode == 71, r.stderr
    msg = r.event("supervisor.error")["msg"]
    assert "layer job_root is unavailable" in msg and "hostUsers: false" in msg, msg


def test_off_by_default(sandbox_run):
    r = sandbox_run(["true"], env_name="userns-pod", mode="strict", env={})

    assert r.returncode == 0, r.stderr
    assert layer(r) == {"state": "disabled", "detail": "SUPERVISOR_JOB_ROOT=off"}


# ---------------------------------------------------------------------------------------------
# in a user-namespaced pod


@pytest.fixture
def packages():
    """A .deb, a wheel and an npm package, built here (no network): → their directory."""
    d = Path(tempfile.mkdtemp(prefix="rs-jr-pkgs-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    tree = d / "deb"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: rs-jobroot-test\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: tests <tests@example.invalid>\nDescription: job root test package\n")
    (tree / "usr" / "bin").mkdir(parents=True)
    hello = tree / "usr" / "bin" / "rs-jobroot-hello"
    hello.write_text("#!/bin/sh\necho hello from the deb\n")
    hello.chmod(0o755)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree),
                    str(d / "rs-jobroot-test.deb")], check=True, capture_output=True,
                   timeout=60)
    shutil.rmtree(tree)
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("rsjobroot/__init__.py", "GREETING = 'hello from the wheel'\n")
        z.writestr("rsjobroot-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: rsjobroot\nVersion: 1.0\n")
        z.writestr("rsjobroot-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                   "Tag: py3-none-any\n")
        z.writestr("rsjobroot-1.0.dist-info/RECORD", "")
    (d / "rsjobroot-1.0-py3-none-any.whl").write_bytes(wheel.getvalue())
    npm = d / "npm"
    (npm / "bin").mkdir(parents=True)
    (npm / "package.json").write_text(json.dumps(
        {"name": "rs-jobroot-npm", "version": "1.0.0", "bin": {"rs-jobroot-npm": "bin/cli.js"}}))
    cli = npm / "bin" / "cli.js"
    cli.write_text("#!/usr/bin/env node\nconsole.log('hello from npm')\n")
    cli.chmod(0o755)
    # Made by this machine's root: through the pod's idmapped root, the pod's root's.
    yield d
    shutil.rmtree(d, ignore_errors=True)


INSTALL = r"""
set -e
echo "uid=$(id -u) sudo_uid=$(sudo id -u)"
sudo apt-get install -y -q {pkgs}/rs-jobroot-test.deb >/dev/null 2>&1 || sudo apt-get install -y {pkgs}/rs-jobroot-test.deb
python3 -m pip install -q --no-index --break-system-packages {pkgs}/rsjobroot-1.0-py3-none-any.whl
if command -v npm >/dev/null; then npm install -g --offline --no-audit --no-fund {pkgs}/npm >/dev/null; fi
echo '10.9.9.9 added-by-the-job' >> /etc/hosts
printf '#!/bin/sh\necho hello from usr-local\n' > /usr/local/bin/rs-jobroot-local
chmod 755 /usr/local/bin/rs-jobroot-local
chown 1001:1001 /usr/local/bin/rs-jobroot-local
# what stays out of the job root's reach, root or not
for f in /sys/kernel/mm/ksm/run /proc/sys/kernel/hostname /proc/sysrq-trigger; do
    if (echo 1 > "$f") 2>/dev/null; then echo "WROTE $f"; fi
done
if mount -t tmpfs none /mnt 2>/dev/null; then echo MOUNTED; fi
"""

USE = r"""
rs-jobroot-hello
python3 -c 'import rsjobroot; print(rsjobroot.GREETING)'
if command -v npm >/dev/null; then rs-jobroot-npm; else echo 'hello from npm'; fi
rs-jobroot-local
stat -c 'owner=%u:%g' /usr/local/bin/rs-jobroot-local
grep -c added-by-the-job /etc/hosts
"""

PRISTINE = r"""
command -v rs-jobroot-hello || echo no-deb
dpkg -s rs-jobroot-test >/dev/null 2>&1 || echo not-installed
python3 -c 'import rsjobroot' 2>/dev/null || echo no-wheel
command -v rs-jobroot-npm || echo no-npm
test -e /usr/local/bin/rs-jobroot-local || echo no-local
grep -c added-by-the-job /etc/hosts || true
"""


def in_userns_pod(sandbox_tools, script, timeout=TIMEOUT):
    """Runs script (sh) in one simulated user-namespaced pod, as that pod's root; → stdout."""
    argv = [sandbox_tools.path("userns_pod"), *userns_pod_binds(), "--", "sh", "-c", script]
    env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json", SUPERVISOR_SANDBOX="strict",
               SUPERVISOR_JOB_ROOT="overlay", RUNNER_NAME="jr-pod")
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    return p


def test_a_package_manager_installs_into_the_job_root_and_nothing_outlives_it(sandbox_tools,
                                                                             packages):
    sup = shlex.quote(RS_BIN)
    install = INSTALL.format(pkgs=packages)
    script = (
        # one sandbox: install, then use what was installed (later steps of the same job)
        f"{sup} exec -- sh -c {shlex.quote(install + 'echo INSTALLED;' + USE)} && "
        "echo '--- next sandbox' && "
        f"{sup} exec -- sh -c {shlex.quote(PRISTINE)} && "
        "echo '--- the pod itself' && sh -c " + shlex.quote(PRISTINE) + " && "
        "echo overlays=$(grep -c ' overlay ' /proc/self/mountinfo)")
    p = in_userns_pod(sandbox_tools, script)
    out = p.stdout

    assert p.returncode == 0, out[-3000:] + p.stderr[-5000:]
    assert "uid=0 sudo_uid=0" in out
    first, rest = out.split("--- next sandbox")
    assert "INSTALLED" in first
    assert "WROTE" not in first and "MOUNTED" not in first, first
    for line in ["hello from the deb", "hello from the wheel", "hello from npm",
                 "hello from usr-local", "owner=1001:1001"]:
        assert line in first, (line, first)
    assert first.strip().endswith("1")  # the job's /etc/hosts line
    nxt, pod = rest.split("--- the pod itself")
    for view in (nxt, pod):
        for line in ["no-deb", "not-installed", "no-wheel", "no-npm", "no-local"]:
            assert line in view, (line, view)
        assert "\n0\n" in view + "\n"  # /etc/hosts as the kubelet wrote it
    # The pod's root is its own overlay; none of the job's is left in the pod.
    assert pod.strip().endswith("overlays=1"), pod
    reports = [json.loads(line) for line in p.stderr.splitlines()
               if line.startswith("{") and '"sandbox.report"' in line]
    assert reports and all(r["layers"]["job_root"]["state"] == "applied" for r in reports)


def job_root_details(stderr):
    return [json.loads(line)["layers"]["job_root"]["detail"] for line in stderr.splitlines()
            if line.startswith("{") and '"sandbox.report"' in line]


STAGED = "ls -a / | grep -c runner-supervisor-job-root || true"


def test_the_skeleton_is_staged_before_the_job_and_gone_after_it(sandbox_tools):
    # Written by the parent before anything is registered (rootstage.c), mounted by the
    # sandbox as its root's lower layer: the job sees its /etc, never the staging directory.
    sup = shlex.quote(RS_BIN)
    job = f"echo job-sees=$({STAGED}); grep -c 127.0.1.1 /etc/hosts; id -u"
    p = in_userns_pod(sandbox_tools, f"{sup} exec -- sh -c {shlex.quote(job)} && "
                                     f"echo after=$({STAGED})")

    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "job-sees=0\n1\n0\n" in p.stdout  # no staging dir; its named /etc/hosts; root
    assert "after=0" in p.stdout  # removed once the sandbox ended
    (detail,) = job_root_details(p.stderr)
    assert "skeleton staged while the runner registers" in detail, detail
    (started,) = [json.loads(line) for line in p.stderr.splitlines()
                  if line.startswith("{") and '"child.started"' in line]
    assert started["stage_us"] > 0  # a thread wrote it; the spawn waited for it


def test_a_read_only_root_filesystem_leaves_the_skeleton_to_the_sandbox(sandbox_tools):
    # readOnlyRootFilesystem: nowhere to stage; the sandbox builds its skeleton itself.
    sup = shlex.quote(RS_BIN)
    job = "echo hi > /usr/local/bin/jr-ro && cat /usr/local/bin/jr-ro && grep -c 127.0.1.1 /etc/hosts"
    p = in_userns_pod(sandbox_tools, "mount -o remount,bind,ro / && "
                                     f"{sup} exec -- sh -c {shlex.quote(job)}")

    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert p.stdout.split() == ["hi", "1"]
    (detail,) = job_root_details(p.stderr)
    assert "skeleton built by the sandbox" in detail and "Read-only file system" in detail, detail


def test_every_escape_vector_is_blocked_from_the_job_root_as_root(sandbox_run):
    from test_sandbox import blocked
    secret_dir = tempfile.mkdtemp(prefix="rs-jr-secret-", dir="/var/tmp")
    try:
        os.chmod(secret_dir, 0o755)
        token = os.path.join(secret_dir, "token")
        Path(token).write_text("ghp_SECRETSECRETSECRET\n")
        os.chmod(token, 0o644)
        hidden = os.path.join(secret_dir, "hidden")
        os.mkdir(hidden, 0o755)
        Path(hidden, "key").write_text("-----BEGIN KEY-----\n")
        os.chmod(os.path.join(hidden, "key"), 0o644)
        env = dict(JOB_ROOT, GITHUB_TOKEN_FILE=token, SUPERVISOR_HIDE_PATHS=hidden)
        r = sandbox_run(["./escape_probe", "--supervisor-pid", "{pid}", "--secret", token,
                         "--secret", os.path.join(hidden, "key")],
                        env_name="userns-pod", mode="strict", env=env)
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)

    assert r.returncode == 0, r.stderr
    assert r.state("job_root") == "applied", r.layers
    v = r.vectors()
    for name in ["proc_environ", "proc_mem", "proc_root", "setns_sup"]:
        assert blocked(v, name) == "ENOENT", name
    for name in ["ptrace_attach", "process_vm_readv", "pidfd_open_getfd", "kill_supervisor"]:
        assert blocked(v, name) == "ESRCH", name
    # As root of its namespace, dropping groups (every group of the pod is mapped, the job
    # holds no other) is what sudo and apt do; everything else stays closed, the secrets too.
    assert {k for k, x in v.items() if x["ok"]} == {"setgroups_drop", "status"}, v
    assert v["status"]["NoNewPrivs"] == "1" and v["status"]["Seccomp"] == "2"
    assert not v["secret_0"]["ok"] and not v["secret_1"]["ok"]  # covered, as everywhere


def test_ordinary_ci_work_passes_in_the_job_root(sandbox_run):
    import http.server
    import threading
    from test_sandbox import _Hello
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hello"
        r = sandbox_run(["bash", "./workload.sh", url, "--expect", "hello from the test",
                         "--root"], env_name="userns-pod", mode="strict", env=JOB_ROOT,
                        timeout=TIMEOUT)
    finally:
        server.shutdown()
        server.server_close()

    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.state("job_root") == "applied"
    assert "WORKLOAD OK" in r.stdout
    assert "STEP root ok" in r.stdout


def test_runasnonroot_in_a_userns_pod_is_refused_saying_why(sandbox_tools):
    script = (f"setpriv --reuid=1001 --regid=1001 --clear-groups {shlex.quote(RS_BIN)} "
              "exec -- true")
    env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json", SUPERVISOR_SANDBOX="auto",
               SUPERVISOR_JOB_ROOT="overlay")
    p = subprocess.run([sandbox_tools.path("userns_pod"), *userns_pod_binds(), "--", "sh", "-c",
                        script], env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)

    assert p.returncode == 0, p.stderr
    report = next(json.loads(line) for line in p.stderr.splitlines()
                  if '"sandbox.report"' in line)
    assert report["layers"]["job_root"]["state"] == "unavailable"
    assert "runAsNonRoot" in report["layers"]["job_root"]["detail"]
