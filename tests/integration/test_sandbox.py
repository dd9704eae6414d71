"""The sandbox around the runner (issue: sandbox), as real processes.

- the escape suite (tests/sandbox/escape_probe.c) run inside the sandbox, one probe per
  vector, each with the exact errno expected on this machine under strict, for both profiles;
- the same suite in simulated restricted pods (sandbox_fixtures.ENVIRONMENTS), where the
  expected errno of each vector follows from the layers the report claims: the claims are
  checked against what the probe finds in force;
- the workload suite (tests/sandbox/workload.sh) that ordinary CI work must pass inside;
- strict refusing (71) where a layer is missing, with the pod setting that would provide it.
"""

import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

import conftest

from sandbox_fixtures import *  # noqa: F401,F403  (fixtures)
from sandbox_fixtures import ENVIRONMENTS, RUNNER_UID

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")

LAYERS = ["user_namespace", "pid_namespace", "mount_namespace", "ipc_namespace",
          "uts_namespace", "cgroup_namespace", "proc", "tmp", "readonly_install",
          "hidden_paths", "separate_uid", "no_new_privs", "capabilities", "seccomp",
          "landlock", "rlimits", "supervisor_undumpable"]

# What seccomp answers, whatever else is in force (sandbox/seccomp.c's table).
SECCOMP_ERRNO = {
    "open_by_handle_at": "EPERM", "mount": "EPERM", "umount2": "EPERM",
    "pivot_root": "EPERM", "chroot": "EPERM", "fsopen": "ENOSYS", "open_tree": "ENOSYS",
    "move_mount": "ENOSYS", "mount_setattr": "ENOSYS", "unshare_user": "EPERM",
    "unshare_mount": "EPERM", "unshare_net": "EPERM", "clone_newuser": "EPERM",
    "clone3": "ENOSYS", "init_module": "EPERM", "finit_module": "EPERM",
    "delete_module": "EPERM", "kexec_load": "EPERM", "bpf": "EPERM",
    "perf_event_open": "EPERM", "userfaultfd": "EPERM", "io_uring_setup": "EPERM",
    "keyctl": "EPERM", "add_key": "EPERM", "request_key": "EPERM", "af_vsock": "EPERM",
    "tiocsti": "EPERM", "tiocsti_high": "EPERM", "tioclinux": "EPERM",
    "clock_adjtime": "EPERM", "adjtimex": "EPERM", "syslog": "EPERM",
    "prlimit_supervisor": "EPERM", "setgroups_drop": "EPERM",
}

SUPERVISOR_VECTORS = ["proc_environ", "proc_mem", "proc_root", "ptrace_attach",
                      "process_vm_readv", "pidfd_open_getfd", "kill_supervisor", "setns_sup"]


def expected_errnos(layers):
    """The errno each vector must meet, given the layers the report says are applied."""
    applied = {name for name, v in layers.items() if v["state"] == "applied"}
    want = {}
    if "seccomp" in applied:
        want.update(SECCOMP_ERRNO)
    if {"pid_namespace", "proc"} <= applied:
        # The supervisor is not in the job's PID namespace, nor in its /proc.
        want.update(proc_environ="ENOENT", proc_mem="ENOENT", proc_root="ENOENT",
                    setns_sup="ENOENT", ptrace_attach="ESRCH", process_vm_readv="ESRCH",
                    pidfd_open_getfd="ESRCH", kill_supervisor="ESRCH")
    elif "pid_namespace" in applied:
        # The pod's /proc shows the supervisor; it is undumpable and another uid.
        want.update(proc_environ="EACCES", proc_mem="EACCES", proc_root="EACCES",
                    setns_sup="EACCES", ptrace_attach="ESRCH", process_vm_readv="ESRCH",
                    pidfd_open_getfd="ESRCH", kill_supervisor="ESRCH")
    else:
        want.update(proc_environ="EACCES", proc_mem="EACCES", proc_root="EACCES",
                    setns_sup="EACCES", ptrace_attach="EPERM", process_vm_readv="EPERM",
                    pidfd_open_getfd="EPERM", kill_supervisor="EPERM")
    want["proc_sys_write"] = "EACCES"
    return want


def probe(sandbox_run, env_name="full", mode="strict", profile="nnp", secrets=()):
    secret_dir = _secret_dir()
    secret_file = os.path.join(secret_dir, "token")
    hidden_dir = os.path.join(secret_dir, "hidden")
    env = {"GITHUB_TOKEN_FILE": secret_file, "SUPERVISOR_HIDE_PATHS": hidden_dir}
    cmd = ["./escape_probe", "--supervisor-pid", "{pid}", "--secret", secret_file,
           "--secret", os.path.join(hidden_dir, "key")]
    result = sandbox_run(cmd, env_name=env_name, mode=mode, profile=profile, env=env)
    return result


_SECRETS = []


def _secret_dir():
    """Secrets outside /tmp (a fresh tmpfs would hide them anyway), readable by the runner
    uid were it not for the sandbox: only the sandbox can make these reads fail."""
    import tempfile
    d = tempfile.mkdtemp(prefix="rs-sbx-secret-", dir="/var/tmp")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "token"), "w") as f:
        f.write("ghp_SECRETSECRETSECRET\n")
    os.chmod(os.path.join(d, "token"), 0o644)
    os.mkdir(os.path.join(d, "hidden"), 0o755)
    with open(os.path.join(d, "hidden", "key"), "w") as f:
        f.write("-----BEGIN KEY-----\n")
    os.chmod(os.path.join(d, "hidden", "key"), 0o644)
    _SECRETS.append(d)
    return d


@pytest.fixture(autouse=True)
def _remove_secrets():
    yield
    import shutil
    while _SECRETS:
        shutil.rmtree(_SECRETS.pop(), ignore_errors=True)


def blocked(vectors, name):
    v = vectors[name]
    assert not v["ok"], f"{name} got through: {v}"
    return v["errno"]


@pytest.mark.parametrize("profile", ["nnp", "userns-root"])
def test_every_escape_vector_is_blocked_under_strict(sandbox_run, profile):
    r = probe(sandbox_run, profile=profile)
    assert r.returncode == 0, r.stderr
    assert all(r.state(l) in ("applied", "disabled") for l in LAYERS), r.layers
    vectors = r.vectors()
    for name in ["proc_environ", "proc_mem", "proc_root", "setns_sup"]:
        assert blocked(vectors, name) == "ENOENT", name
    for name in ["ptrace_attach", "process_vm_readv", "pidfd_open_getfd", "kill_supervisor"]:
        assert blocked(vectors, name) == "ESRCH", name
    for name, errno in SECCOMP_ERRNO.items():
        assert blocked(vectors, name) == errno, (name, vectors[name])
    # The sandbox init is PID 1 here: undumpable, so not even the same uid reads it. Under
    # userns-root the job is root of the user namespace the init was exec'd in: Landlock's
    # domain keeps it from tracing (opening /proc/1/ns) the unconfined init; without
    # Landlock it may open them, and seccomp refuses the setns (the init holds no secret,
    # and the job's seccomp table binds it too).
    landlocked = r.state("landlock") == "applied"
    assert blocked(vectors, "setns_pid1") == (
        "EACCES" if profile == "nnp" or landlocked else "EPERM")
    assert blocked(vectors, "proc_sys_write") == "EACCES"
    assert not vectors["setuid_binary"]["ok"]
    assert not vectors["leaked_fds"]["ok"], vectors["leaked_fds"]
    # Both secrets: the credential file and a SUPERVISOR_HIDE_PATHS directory.
    if profile == "nnp":
        assert blocked(vectors, "secret_0") == "EACCES"
        assert blocked(vectors, "secret_1") == "EACCES"
    else:
        # Root of its own user namespace may open the cover; it is empty.
        assert not vectors["secret_0"]["ok"] and not vectors["secret_1"]["ok"]
    status = vectors["status"]
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    if profile == "nnp":
        assert status["uid"] == RUNNER_UID
        assert int(status["CapBnd"], 16) == 0 and int(status["CapEff"], 16) == 0
    else:
        assert status["uid"] == 0  # root inside, the runner uid outside


@pytest.mark.parametrize("env_name", [e for e in ENVIRONMENTS if e != "full"])
def test_report_matches_what_the_escape_suite_finds(sandbox_run, env_name):
    """In each simulated pod: every vector is still blocked, with the errno that follows
    from the layers the report claims, and the claims match /proc/self/status."""
    r = probe(sandbox_run, env_name=env_name, mode="auto")
    assert r.returncode == 0, r.stderr
    layers = r.layers
    vectors = r.vectors()
    for name, errno in expected_errnos(layers).items():
        got = vectors[name]
        assert not got["ok"], f"{env_name}: {name} got through: {got}"
        if name == "open_by_handle_at" and got["errno"] == "EOPNOTSUPP":
            # an overlayfs root (a pod's) gives no handle to try it with: nothing to open
            assert got["detail"].startswith("name_to_handle_at"), got
            continue
        assert got["errno"] == errno, (env_name, name, got, layers)
    for name in SECCOMP_ERRNO:
        assert not vectors[name]["ok"], (env_name, name, vectors[name])
    assert not vectors["secret_0"]["ok"] and not vectors["secret_1"]["ok"]
    status = vectors["status"]
    assert (status["NoNewPrivs"] == "1") == (layers["no_new_privs"]["state"] == "applied")
    assert (status["Seccomp"] == "2") == (layers["seccomp"]["state"] == "applied")
    if layers["capabilities"]["state"] == "applied":
        assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    in_pidns = layers["pid_namespace"]["state"] == "applied"
    assert (status["pid"] < 10) == in_pidns, status


EXPECTED_STATES = {
    # layer: states expected in each simulated environment (applied / unavailable)
    "no-sys-admin": {"user_namespace": "applied", "pid_namespace": "applied",
                     "proc": "applied", "landlock": "applied"},
    # No PID namespace without its own /proc (the runner kills orphans by pid); the other
    # namespaces stand, and Landlock scopes signals in the pod's PID namespace.
    "masked-proc": {"user_namespace": "applied", "pid_namespace": "unavailable",
                    "mount_namespace": "applied", "proc": "unavailable", "tmp": "applied",
                    "landlock": "applied", "hidden_paths": "applied"},
    "no-userns": {"user_namespace": "unavailable", "pid_namespace": "applied",
                  "proc": "applied", "mount_namespace": "applied"},
    "runtime-default": {"user_namespace": "unavailable", "pid_namespace": "unavailable",
                        "mount_namespace": "unavailable", "tmp": "unavailable",
                        "landlock": "applied", "hidden_paths": "applied",
                        "seccomp": "applied", "capabilities": "applied"},
    # A user-namespaced pod: every namespace, nested in the pod's.
    "userns-pod": {"user_namespace": "applied", "pid_namespace": "applied", "proc": "applied",
                   "mount_namespace": "applied", "hidden_paths": "applied",
                   "job_root": "disabled"},
}


@pytest.mark.parametrize("env_name", sorted(EXPECTED_STATES))
def test_the_report_names_what_each_environment_allows(sandbox_run, env_name):
    r = sandbox_run(["true"], env_name=env_name, mode="auto")
    assert r.returncode == 0, r.stderr
    for layer, state in EXPECTED_STATES[env_name].items():
        assert r.state(layer) == state, (layer, r.layers[layer])
    for layer, v in r.layers.items():
        if v["state"] == "unavailable":
            assert v["detail"], f"{layer}: unavailable without a reason"


PID_AND_PROC_AGREE = ("import os; print(os.getpid() == int(os.readlink('/proc/self')), "
                      "os.getppid() == int(open('/proc/self/stat').read().split(')')[1].split()[1]))")


@pytest.mark.parametrize("env_name", sorted(ENVIRONMENTS))
def test_the_pids_a_process_sees_are_the_pids_of_its_proc(sandbox_run, env_name):
    # The runner reads /proc/<pid>/environ to kill a job's orphans and writes
    # /proc/<pid>/oom_score_adj: in a PID namespace with the pod's /proc, those pids name
    # other processes (actions-runner-contract.md).
    r = sandbox_run(["python3", "-c", PID_AND_PROC_AGREE], env_name=env_name, mode="auto")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"], (r.stdout, r.layers.get("pid_namespace"))


def test_the_sandbox_is_named_after_the_runner(sandbox_run):
    r = sandbox_run(["hostname"], env={"RUNNER_NAME": "pod-named-runner"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "pod-named-runner"


def test_a_refused_sethostname_keeps_the_pods_hostname_and_the_command_starts(sandbox_run):
    """podman's and CRI-O's default profile allow unshare but refuse sethostname: the
    namespace stays, the name does not change, and the runner still starts."""
    import socket
    r = sandbox_run(["hostname"], env_name="no-sethostname", mode="strict",
                    env={"RUNNER_NAME": "pod-named-runner"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == socket.gethostname()
    assert r.state("uts_namespace") == "applied"
    assert "hostname kept" in r.layers["uts_namespace"]["detail"]


@pytest.mark.parametrize("env_name,layer,hint", [
    ("runtime-default", "user_namespace", "hostUsers: false"),
    ("masked-proc", "pid_namespace", "procMount: Unmasked"),
    ("no-userns", "user_namespace", "hostUsers: false"),
])
def test_strict_refuses_a_missing_layer_and_says_what_would_provide_it(sandbox_run, env_name,
                                                                        layer, hint):
    r = sandbox_run(["true"], env_name=env_name, mode="strict")
    assert r.returncode == 71, r.stderr
    error = r.event("supervisor.error")["msg"]
    assert f"layer {layer} is unavailable" in error and hint in error, error
    # The report is still printed: the operator sees every layer, not just the first gap.
    assert r.state(layer) == "unavailable"


def test_off_disables_every_layer_but_the_uid(sandbox_run):
    r = probe(sandbox_run, mode="off")
    assert r.returncode == 0, r.stderr
    assert r.state("seccomp") == "disabled" and r.state("pid_namespace") == "disabled"
    vectors = r.vectors()
    # Without the sandbox a job reads what file modes allow: proof the probe can tell.
    assert vectors["secret_0"]["ok"], vectors["secret_0"]
    assert vectors["status"]["Seccomp"] == "0"


def test_signals_from_the_job_to_the_sandbox_init_are_ignored(sandbox_run):
    r = sandbox_run(["sh", "-c", "kill -TERM 1; kill -INT 1; sleep 0.2; echo survived"])
    assert r.returncode == 0, r.stderr
    assert "survived" in r.stdout


def test_the_sandbox_ends_with_the_command_and_takes_its_leftovers(sandbox_run):
    r = sandbox_run(["sh", "-c", "sleep 600 & sleep 600 & echo started"], timeout=60)
    assert r.returncode == 0, r.stderr
    assert "started" in r.stdout
    # The kernel killed both sleeps with the sandbox init: nothing of the runner uid is left.
    left = [p for p in os.listdir("/proc") if p.isdigit() and _uid_of(p) == RUNNER_UID]
    assert not left, left


def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from the test\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hello_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hello"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("env_name,profile", [("full", "nnp"), ("full", "userns-root"),
                                              ("runtime-default", "nnp")])
def test_ordinary_ci_work_passes_inside(sandbox_run, hello_url, env_name, profile):
    args = ["bash", "./workload.sh", hello_url, "--expect", "hello from the test"]
    if profile == "userns-root":
        args.append("--root")
    r = sandbox_run(args, env_name=env_name, mode="strict" if env_name == "full" else "auto",
                    profile=profile, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "WORKLOAD OK" in r.stdout
    for step in ["threads", "make", "git", "python", "tar", "curl", "memfd", "dd", "files"]:
        assert f"STEP {step} ok" in r.stdout, step
    if profile == "userns-root":
        assert "STEP root ok" in r.stdout


def test_a_job_under_run_cannot_read_the_credentials_or_see_the_supervisor(lc_github,
                                                                          lifecycle):
    """The whole lifecycle: the job's steps run in the sandbox the report describes. The PAT
    file is made world-readable here, so only the sandbox can keep it from the job."""
    token = lifecycle.base_env["GITHUB_TOKEN_FILE"]
    os.chmod(token, 0o644)
    inst = lifecycle.install()
    lc_github.queue_job("peek", steps=[
        f"cat {token} || echo token-denied",
        "grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status",
        "echo procs=$(ls /proc | grep -c '^[0-9]')",
        "echo host=$(hostname)",
        f"touch {inst.root}/bin/x 2>/dev/null && echo bin-writable || echo bin-readonly",
    ])
    run = lifecycle.start(installation=inst)
    assert run.wait() == 0, run.output()
    out = "\n".join(inst.step_outputs())
    assert lifecycle.pat not in out and "token-denied" in out, out
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out, out
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out, out
    procs = int(out.split("procs=")[1].split()[0])
    assert procs < 20, out  # the sandbox's processes only, not the machine's
    assert f"host={run.env['RUNNER_NAME']}" in out, out
    assert "bin-readonly" in out, out
    assert run.summary["isolation"]["seccomp"] == "applied"


def test_exec_gives_a_new_workdir_to_the_user_and_empties_it_after():
    import subprocess
    import tempfile
    from pathlib import Path
    base = Path(tempfile.mkdtemp(prefix="rs-sbx-exec-", dir="/var/tmp"))
    _SECRETS.append(str(base))  # removed after the test
    os.chmod(base, 0o755)
    workdir = base / "w"
    env = dict(os.environ, SUPERVISOR_LOG_FORMAT="json", RUNNER_USER=f"{RUNNER_UID}:{RUNNER_UID}")
    p = subprocess.run([os.environ.get("RS_BIN", "/work/main/build/asan/runner-supervisor"),
                        "exec", f"--workdir={workdir}", "--", "sh", "-c",
                        "stat -c owner=%u .; echo x > f; mkdir -p d/e; echo y > d/e/g; "
                        "chmod 000 d/e"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"owner={RUNNER_UID}" in p.stdout
    assert workdir.is_dir() and list(workdir.iterdir()) == [], list(workdir.iterdir())
    assert '"workspace.wiped"' in p.stderr


def test_resource_limits_reach_the_job(sandbox_run):
    r = sandbox_run(["bash", "-c", "echo nofile=$(ulimit -n) nproc=$(ulimit -u) core=$(ulimit -c)"],
                    env={"SUPERVISOR_RLIMIT_NOFILE": "512", "SUPERVISOR_RLIMIT_NPROC": "300"})
    assert r.returncode == 0, r.stderr
    assert "nofile=512 nproc=300 core=0" in r.stdout, r.stdout
    assert "nofile set" in r.layers["rlimits"]["detail"]


def test_exec_started_in_a_directory_under_tmp_runs_there():
    """The sandbox's /tmp is fresh, but the directory the command starts in stays (CI clones
    live under /tmp)."""
    import shutil
    import subprocess
    import tempfile
    start = tempfile.mkdtemp(prefix="rs-sbx-cwd-", dir="/tmp")
    try:
        with open(os.path.join(start, "marker"), "w") as f:
            f.write("here\n")
        p = subprocess.run([os.environ.get("RS_BIN", "/work/main/build/asan/runner-supervisor"),
                            "exec", "--", "sh", "-c", "pwd; cat marker"], cwd=start,
                           env=dict(os.environ, SUPERVISOR_LOG_FORMAT="json"),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == [start, "here"]
    finally:
        shutil.rmtree(start, ignore_errors=True)


def test_the_sandbox_init_is_unreadable_from_inside_under_nnp(sandbox_run):
    """The init shares the job's uid under nnp, yet is undumpable (it makes itself so right
    after its execve, before any job process exists), so no memory, environment, descriptor
    or ptrace access reaches it. (Under userns-root the job is root of the user namespace
    the init was exec'd in, and may read it: the init holds no secret, which
    test_hardening.py proves by scanning every process the job can read.)"""
    r = sandbox_run(["./escape_probe", "--supervisor-pid", "1"], profile="nnp")
    assert r.returncode == 0, r.stderr
    v = r.vectors()
    for name in ["proc_environ", "proc_mem", "proc_root"]:
        assert blocked(v, name) == "EACCES", (name, v[name])
    for name in ["ptrace_attach", "process_vm_readv", "pidfd_open_getfd"]:
        assert blocked(v, name) == "EPERM", (name, v[name])


def make_secret_volume(base, content):
    """A Kubernetes Secret volume as the kubelet writes it (atomic_writer.go): the key is a
    link through ..data to a timestamped directory, swapped on each update."""
    base.mkdir(mode=0o755)
    first = base / "..2026_12_07_10_00_00.000000001"
    first.mkdir(mode=0o755)
    (first / "token").write_text(content)
    (first / "token").chmod(0o644)  # readable by all: only the sandbox hides it
    (base / "..data").symlink_to(first.name)
    (base / "token").symlink_to("..data/token")
    return base / "token"


def rotate_secret_volume(base, content):
    second = base / "..2026_12_07_11_00_00.000000002"
    second.mkdir(mode=0o755)
    (second / "token").write_text(content)
    (second / "token").chmod(0o644)
    tmp = base / "..data_tmp"
    tmp.symlink_to(second.name)
    os.rename(tmp, base / "..data")


@pytest.mark.parametrize("env_name", ["full", "runtime-default"])
def test_a_rotated_secret_stays_hidden(sandbox_run, env_name):
    # The cover (or Landlock rule) used to be on the file ..data pointed to at the start: the
    # kubelet swapped ..data and the new content was readable in the running sandbox.
    base = Path(tempfile.mkdtemp(prefix="rs-secret-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    try:
        token = make_secret_volume(base / "vol", "old-secret")
        flag = base / "flags"
        flag.mkdir(mode=0o777)
        flag.chmod(0o777)
        script = (f"touch {flag}/started; while [ ! -e {flag}/rotated ]; do sleep 0.02; done; "
                  f"cat {token} && echo READ || echo REFUSED")

        def rotate():
            conftest.wait_until(lambda: (flag / "started").exists(), what="the job started")
            rotate_secret_volume(base / "vol", "new-secret")
            (flag / "rotated").touch()

        rotator = threading.Thread(target=rotate, daemon=True)
        rotator.start()
        r = sandbox_run(["sh", "-c", script], env_name=env_name, mode="auto",
                        env={"SUPERVISOR_HIDE_PATHS": str(token)})
        rotator.join(10)
        assert r.returncode == 0, r.stderr
        assert "secret" not in r.stdout and r.stdout.strip().endswith("REFUSED"), r.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)
