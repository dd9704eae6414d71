"""Fixtures for the sandbox tests: the probe programs built once, the simulated pods, and a
way to run a command in the sandbox with `runner-supervisor exec` and read back both what the
supervisor reported (sandbox.report) and what the command found (JSON lines on stdout).

The simulated pods (ENVIRONMENTS) stand for the cells of the decision table in
../shared/reference/isolation-in-pods.md that this machine can reproduce as root:
  full           nothing restricted (hostUsers: false + procMount: Unmasked, or a root pod
                 with CAP_SYS_ADMIN and Unconfined seccomp)
  no-sys-admin   Kubernetes' default capabilities, Unconfined seccomp: user namespaces
  masked-proc    as no-sys-admin with the runtime's masked /proc paths
  no-userns      CAP_SYS_ADMIN but user namespaces refused
  runtime-default  no CAP_SYS_ADMIN and the runtime's default seccomp profile: no namespace
                 at all, the fallback (uid, no_new_privs, seccomp, capabilities, Landlock)
  no-sethostname   namespaces allowed but sethostname refused (podman's and CRI-O's default
                 profile without CAP_SYS_ADMIN)
  userns-pod     a user-namespaced pod (hostUsers: false): the supervisor is root of a user
                 namespace mapping 0-65535 to 200000-265535, in a mount namespace whose "/" is
                 an overlay of the machine's root idmapped to it, with the runtime's
                 /etc/hosts, /etc/resolv.conf, /etc/hostname and a service-account volume
                 (tests/sandbox/userns_pod.c); where the job root can be had
"""

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from lifecycle_fixtures import RUNNER_UID

__all__ = ["sandbox_tools", "sandbox_run", "ENVIRONMENTS", "RUNNER_UID", "SandboxResult"]

RS_BIN = os.environ.get("RS_BIN", "/work/main/build/asan/runner-supervisor")
HERE = Path(__file__).resolve().parent
SOURCES = HERE.parent / "sandbox"
TIMEOUT = 120

ENVIRONMENTS = {
    "full": [],
    "no-sys-admin": ["restrict", "--drop-cap", "cap_sys_admin", "--"],
    "masked-proc": ["mask-proc", "restrict", "--drop-cap", "cap_sys_admin", "--"],
    "no-userns": ["restrict", "--no-userns", "--"],
    "runtime-default": ["restrict", "--drop-cap", "cap_sys_admin", "--runtime-default", "--"],
    "no-sethostname": ["restrict", "--no-sethostname", "--"],
    "userns-pod": ["userns_pod", "--"],
}

# A masked /proc as runtimes make it: a read-only tmpfs over a /proc directory is enough for
# the kernel to refuse a fresh procfs in a user namespace ("mount too revealing").
MASK_PROC = ("mount -t tmpfs -o ro tmpfs /proc/acpi 2>/dev/null || "
             "mount -t tmpfs -o ro tmpfs /proc/scsi 2>/dev/null || "
             "mount --bind /dev/null /proc/kcore; exec \"$@\"")


class Tools:
    def __init__(self, directory):
        self.dir = directory

    def path(self, name):
        return str(self.dir / name)


@pytest.fixture(scope="session")
def sandbox_tools():
    """escape_probe and restrict, compiled once; world-readable for the runner uid."""
    directory = Path(tempfile.mkdtemp(prefix="rs-sbx-tools-"))
    os.chmod(directory, 0o755)
    cc = ["gcc", "-std=gnu11", "-O2"]
    builds = {
        "escape_probe": [*cc, "-pthread", str(SOURCES / "escape_probe.c")],
        "restrict": [*cc, str(SOURCES / "restrict.c"), "-lseccomp", "-lcap"],
        "userns_pod": [*cc, str(SOURCES / "userns_pod.c")],
    }
    for name, argv in builds.items():
        subprocess.run([*argv, "-o", str(directory / name)], check=True, timeout=TIMEOUT)
    for name in os.listdir(SOURCES):
        if name.endswith((".sh", ".py", ".js", ".c")):
            shutil.copy(SOURCES / name, directory / name)
    for entry in directory.iterdir():
        os.chmod(entry, 0o755)
    yield Tools(directory)
    shutil.rmtree(directory, ignore_errors=True)


class SandboxResult:
    def __init__(self, proc, stdout, stderr):
        self.returncode = proc.returncode
        self.stdout = stdout
        self.stderr = stderr
        self.events = []
        for line in stderr.splitlines():
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass
        self.lines = []
        for line in stdout.splitlines():
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def event(self, name):
        found = [e for e in self.events if e.get("event") == name]
        assert found, f"no {name} event in:\n{self.stderr}"
        return found[-1]

    @property
    def layers(self):
        return self.event("sandbox.report")["layers"]

    def state(self, layer):
        return self.layers[layer]["state"]

    def vectors(self):
        return {v["vector"]: v for v in self.lines if "vector" in v}


def userns_pod_binds():
    """--bind arguments for userns_pod: the simulated pod mounts its own /tmp, which would hide
    a checkout (and its build) that lies under the machine's /tmp."""
    binds = []
    for path in {str(Path(__file__).resolve().parents[2]),
                 str(Path(RS_BIN).resolve().parent)}:
        if path == "/tmp" or path.startswith("/tmp/"):
            binds += ["--bind", path]
    return binds


def _wrap(env_name, tools):
    prefix = []
    for word in ENVIRONMENTS[env_name]:
        if word == "userns_pod":
            prefix += [tools.path(word), *userns_pod_binds()]
        elif word == "restrict":
            prefix.append(tools.path(word))
        elif word == "mask-proc":
            prefix += ["unshare", "--mount", "--propagation", "private", "sh", "-c", MASK_PROC,
                       "mask-proc"]
        else:
            prefix.append(word)
    return prefix


@pytest.fixture
def sandbox_run(sandbox_tools):
    """sandbox_run(cmd, env_name="full", mode="strict", profile="nnp", env=None) runs cmd in
    the sandbox as the test runner uid, in a fresh workdir holding copies of the tools; cmd
    may use "{pid}" for the supervisor's pid."""
    made = []

    def run(cmd, env_name="full", mode="strict", profile="nnp", env=None, user=True,
            timeout=TIMEOUT):
        # In the simulated user-namespaced pod /tmp is the pod's own tmpfs: the machine's
        # /var/tmp is seen through the pod's root.
        work = Path(tempfile.mkdtemp(prefix="rs-sbx-work-",
                                     dir="/var/tmp" if env_name == "userns-pod" else None))
        made.append(work)
        os.chmod(work, 0o755)
        workdir = work / "w"
        shutil.copytree(sandbox_tools.dir, workdir)
        # In the user-namespaced pod, the runner user is uid 1001 of the pod (as in the
        # official image): on the disk the pod's root is idmapped from, 1001.
        owner = 1001 if env_name == "userns-pod" else RUNNER_UID
        for p in [workdir, *workdir.rglob("*")]:
            os.chown(p, owner, owner)
        full_env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json", SUPERVISOR_STOP_GRACE="2",
                        SUPERVISOR_SANDBOX=mode, SUPERVISOR_SANDBOX_PROFILE=profile)
        if user:
            inner = 1001 if env_name == "userns-pod" else RUNNER_UID
            full_env["RUNNER_USER"] = f"{inner}:{inner}"
        full_env.update(env or {})
        # The supervisor's pid is the shell's: the shell names it ($$), then execs it.
        words = [RS_BIN, "exec", f"--workdir={workdir}", "--", *cmd]
        script = "exec " + " ".join("$$" if w == "{pid}" else shlex.quote(w) for w in words)
        argv = [*_wrap(env_name, sandbox_tools), "sh", "-c", script]
        proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"timed out: {argv}\n{err}")
        return SandboxResult(proc, out, err)

    yield run
    for work in made:
        shutil.rmtree(work, ignore_errors=True)
