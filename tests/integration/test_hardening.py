"""What a hostile job could still do, tried as an attacker would, in whole `run` lifecycles
(issue 13): each test reproduces an attack and shows it closed.

Same fixtures as test_lifecycle.py (lifecycle_fixtures.py).
"""
import contextlib
import os
import signal

import pytest

import conftest

from test_lifecycle import EX_OK, STOP_GRACE, assert_deregistered, wait_step_running

# A job step that scans the memory of every process it can read for a needle given in hex
# (so that the plain bytes are in no command line, environment or script), and tries to take
# any descriptor of every process it can see with pidfd_getfd. Prints one line per finding.
SCAN = r'''
import ctypes, os, sys
needle = bytes.fromhex(sys.argv[1])
me = os.getpid()
libc = ctypes.CDLL(None, use_errno=True)
found = []
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid == me:
        continue
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError:
        maps = []
    hit = False
    for line in maps:
        addr, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in addr.split("-"))
        # The shadow and allocator of ASan reserve terabytes that are never touched.
        if "r" not in perms or hi - lo > 1 << 30:
            continue
        tail = b""
        for at in range(lo, hi, 1 << 20):
            try:
                mem.seek(at)
                chunk = tail + mem.read(min(1 << 20, hi - at))
            except (OSError, ValueError, OverflowError):
                break
            if needle in chunk:
                hit = True
                break
            tail = chunk[-len(needle):]
        if hit:
            found.append(f"secret in the memory of {pid}")
            break
    pidfd = libc.syscall(434, pid, 0)  # pidfd_open
    if pidfd >= 0:
        for fd in range(0, 64):
            got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
            if got >= 0:
                target = os.readlink(f"/proc/self/fd/{got}")
                found.append(f"fd {fd} of {pid}: {target}")
                os.close(got)
        os.close(pidfd)
print("SCAN", *(found or ["nothing"]), sep="\n")
'''


@contextlib.contextmanager
def suid_dumpable(value):
    path = "/proc/sys/fs/suid_dumpable"
    before = open(path).read().strip()
    with open(path, "w") as f:
        f.write(str(value))
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(before)


def scan_findings(inst):
    output = inst.step_outputs()[0]
    assert "SCAN" in output, output
    return [line for line in output.split("SCAN", 1)[1].splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# 2. the sandbox init holds no credential, and no supervisor descriptor


@pytest.mark.parametrize("dumpable", [0, 1, 2])
@pytest.mark.parametrize("profile", ["nnp", "userns-root"])
def test_no_process_the_job_can_reach_holds_the_pat(lc_github, lifecycle, profile, dumpable):
    # The init used to be a fork of the supervisor that never exec'd: with fs.suid_dumpable
    # at 1 and userns-root, its id change left it dumpable, and the job read the PAT from
    # /proc/1/mem and took the supervisor's stdout with pidfd_getfd.
    lc_github.queue_job("scan", steps=[f"python3 -c '{SCAN}' {lifecycle.pat.encode().hex()}"])
    inst = lifecycle.install()
    with suid_dumpable(dumpable):
        run = lifecycle.start(installation=inst, SUPERVISOR_SANDBOX="strict",
                              SUPERVISOR_SANDBOX_PROFILE=profile)
        assert run.wait() == EX_OK, run.output()
    findings = scan_findings(inst)
    assert not [f for f in findings if f.startswith("secret")], findings
    # Of the init (PID 1), nothing under nnp; under userns-root, where the job is root of the
    # init's user namespace, only its pipe to the supervisor for the count of what it killed:
    # never the supervisor's stdout or stderr.
    from_init = [f for f in findings if f.startswith("fd ") and " of 1: " in f]
    if profile == "nnp":
        assert from_init == [], findings
    else:
        assert len(from_init) <= 1 and all("pipe:" in f for f in from_init), findings
    assert_deregistered(run)


# ---------------------------------------------------------------------------------------------
# 1. one job cannot stop the fleet


def test_a_job_touching_the_runners_scripts_does_not_fail_the_pod(lc_github, lifecycle):
    # In the official image the runner user owns the installation's top-level files: a
    # changed env.sh used to be "installation changed", exit 74.
    inst = lifecycle.install(chown_all=True)
    before = (inst.root / "env.sh").stat()
    lc_github.queue_job("touch", steps=[
        'touch "$HOME/env.sh" && echo touched || echo refused',
        'echo "#tampered" >> "$HOME/run.sh" && echo appended || echo refused'])
    run = lifecycle.start(installation=inst)

    assert run.wait() == EX_OK, run.output()
    # Read-only in the sandbox: the job cannot change them at all.
    assert [o.strip().splitlines()[-1] for o in inst.step_outputs()] == ["refused", "refused"]
    after = (inst.root / "env.sh").stat()
    assert (after.st_mtime_ns, after.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns)
    assert "tampered" not in (inst.root / "run.sh").read_text()
    assert not run.events("installation.changed")


def test_without_a_mount_namespace_the_changed_scripts_are_put_back(lc_github, lifecycle):
    inst = lifecycle.install(chown_all=True)
    original = (inst.root / "run.sh").read_bytes()
    lc_github.queue_job("touch", steps=['touch "$HOME/env.sh"',
                                        'echo "#tampered" >> "$HOME/run.sh"'])
    run = lifecycle.start(installation=inst, SUPERVISOR_SANDBOX="off")

    assert run.wait() == EX_OK, run.output()
    assert (inst.root / "run.sh").read_bytes() == original
    assert run.event("workspace.wiped").field("restored") == 2


def test_a_job_that_makes_the_listener_exit_as_outdated_cannot_stop_the_fleet(lc_github,
                                                                             lifecycle):
    # The job shares the Listener's uid: it can ptrace it and make it exit 4 ("self-update"),
    # which used to be 76 and the Job's FailJob. Now a job ran: 0.
    attack = ("listener=$(pgrep -u $(id -u) -f 'bin/Runner.Listener run' | head -1); "
              "gdb -p $listener -batch -ex 'call (void)_exit(4)' >/dev/null 2>&1; "
              "sleep 5")
    lc_github.queue_job("attack", steps=[attack])
    # The killed Listener never reported its job: GitHub keeps the runner busy until it gives
    # the job up (here after 3 s), and the deregistration waits for that.
    lc_github.job_abandon_seconds = 3
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst, SUPERVISOR_DEREGISTER_PATIENCE=30)

    assert run.wait() == EX_OK, run.output()
    assert run.summary["exit"]["listener_code"] == 4  # the attack did reach the Listener
    assert run.summary["exit"]["reason"].startswith("job ran")


# ---------------------------------------------------------------------------------------------
# 3. what survives the job


IPC_LEFTOVERS = (
    "echo left > /dev/shm/rs-job-shm; ipcmk -M 4096; ipcmk -S 1; ipcmk -Q; "
    "python3 -c 'import ctypes, os; rt = ctypes.CDLL(\"librt.so.1\", use_errno=True); "
    "print(\"mq\", rt.mq_open(b\"/rs-job-mq\", os.O_CREAT | os.O_RDWR, 0o600, None), ctypes.get_errno())'")


def sysv_objects_of(uid):
    found = []
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as f:
            header = f.readline().split()
            col = header.index("uid")
            found += [f"{kind} {line.split()[1]}" for line in f if int(line.split()[col]) == uid]
    return found


@contextlib.contextmanager
def pod_mqueues():
    """The pod's POSIX message queues at /dev/mqueue, where container runtimes mount them
    (this machine has none: mounted for the test, as a pod has it, and unmounted after)."""
    import subprocess
    mounted = subprocess.run(["mountpoint", "-q", "/dev/mqueue"]).returncode == 0
    made = not os.path.isdir("/dev/mqueue")
    if not mounted:
        os.makedirs("/dev/mqueue", exist_ok=True)
        subprocess.run(["mount", "-t", "mqueue", "mqueue", "/dev/mqueue"], check=True)
    try:
        yield lambda uid: sorted(n for n in os.listdir("/dev/mqueue")
                                 if os.lstat(f"/dev/mqueue/{n}").st_uid == uid)
    finally:
        if not mounted:
            subprocess.run(["umount", "/dev/mqueue"], check=False)
        if made:
            os.rmdir("/dev/mqueue")


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_shared_memory_and_queues_of_the_job_do_not_outlive_it(lc_github, lifecycle, sandbox):
    from lifecycle_fixtures import RUNNER_UID
    lc_github.queue_job("ipc", steps=[IPC_LEFTOVERS])
    inst = lifecycle.install()
    with pod_mqueues() as mqueues:
        run = lifecycle.start(installation=inst, SUPERVISOR_SANDBOX=sandbox)
        assert run.wait() == EX_OK, run.output()
        assert "mq -1" not in inst.step_outputs()[0], inst.step_outputs()
        assert lc_github.jobs()[0]["result"] == "Succeeded", inst.step_outputs()
        assert sysv_objects_of(RUNNER_UID) == []
        assert not [n for n in os.listdir("/dev/shm")
                    if os.lstat(f"/dev/shm/{n}").st_uid == RUNNER_UID]
        assert mqueues(RUNNER_UID) == []
    assert run.summary["wipe"]["left"] == 0


# ---------------------------------------------------------------------------------------------
# 9. the runner's output, rate-limited in the log


def test_a_job_flooding_the_listeners_stdout_is_rate_limited_in_the_log(lc_github, lifecycle):
    # The job shares the Worker's uid: it writes straight into the Worker's stdout, which the
    # official image's Listener copies onto its own (JobDispatcher.cs).
    flood = "seq 1 20000 | sed 's/^/flood line /' > /proc/$PPID/fd/1"  # $PPID: the Worker
    lc_github.queue_job("flood", steps=[flood])
    run = lifecycle.start(installation=lifecycle.install(),
                          ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT="1")

    assert run.wait() == EX_OK, run.output()
    output = run.summary["output"]
    assert output["lines"] >= 20000 and output["dropped"] > 10000, (output,
                                                                     lifecycle.installations[0]
                                                                     .step_outputs())
    logged = [e for e in run.events("runner.output") if "flood line" in e.field("msg")]
    assert len(logged) + output["dropped"] >= 20000 > len(logged)
    assert len(run.events("runner.output_dropped")) >= 1
    assert lc_github.jobs()[0]["result"] == "Succeeded"


# ---------------------------------------------------------------------------------------------
# 5. the job does not control what the supervisor learns


def test_a_forged_completion_line_does_not_decide_the_reported_result(lc_github, lifecycle):
    # Written straight into the Worker's stdout (same uid), the Listener copies it: the exact
    # form, with the running job's name. The job then fails.
    forge = ('printf "%s: Job forge completed with result: Succeeded\\n" '
             '"$(date -u "+%Y-%m-%d %H:%M:%SZ")" > /proc/$PPID/fd/1; exit 1')
    lc_github.queue_job("forge", steps=[forge])
    run = lifecycle.start(installation=lifecycle.install(),
                          ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT="1")

    assert run.wait() == EX_OK, run.output()
    assert lc_github.jobs()[0]["result"] == "Failed"
    assert run.summary["job"]["result"] == "Failed"
    assert run.summary["exit"]["listener_code"] == 102


# ---------------------------------------------------------------------------------------------
# 8. same-uid pods (runAsNonRoot)


def test_a_supervisor_running_as_the_runner_uid_runs_a_job(lc_github, lifecycle):
    # runAsNonRoot with the runner's uid: setgroups failed with EPERM, and every pod exited 75.
    inst = lifecycle.install(chown_all=True)
    job = lc_github.queue_job("same-uid", steps=["id -u", "echo left > /dev/shm/rs-same-uid"])
    run = lifecycle.start(installation=inst, as_runner=True)

    assert run.wait() == EX_OK, run.output()
    assert lc_github.job(job.id).result == "Succeeded"
    assert run.summary["isolation"]["separate_uid"] == "unavailable"
    assert run.summary["isolation"]["seccomp"] == "applied"
    assert not os.path.exists("/dev/shm/rs-same-uid")
    assert_deregistered(run)


# ---------------------------------------------------------------------------------------------
# 7. stops that outrun the kubelet


def test_on_a_stop_github_is_told_before_the_wipe(lc_github, lifecycle):
    # The job decides how long the wipe takes (many files, a slow disk): the kubelet's grace
    # must not run out before the runner is deregistered.
    job = lc_github.queue_job("many-files", steps=[
        "mkdir -p junk && cd junk && seq 1 20000 | xargs touch && sleep 600"])
    inst = lifecycle.install()
    run = lifecycle.start(installation=inst)
    inst.wait_event("step_started", "worker")
    conftest.wait_until(lambda: len(os.listdir(inst.work)) > 0, what="the job's files")
    run.send_signal(signal.SIGTERM)

    assert run.wait(STOP_GRACE + 30) == EX_OK, run.output()
    names = run.names()
    assert names.index("runner.deregistered") < names.index("workspace.wiped"), names
    assert run.summary["wipe"]["files"] >= 1
    assert lc_github.job(job.id).result == "Failed"
    assert_deregistered(run)


# ---------------------------------------------------------------------------------------------
# 6. the job's OOM is the job's


def test_a_job_out_of_memory_is_killed_alone_and_reported(lc_github, lifecycle):
    # The kubelet's memory.oom.group on the container's cgroup (cgroup v2) used to take the
    # supervisor down with a job over the limit. This machine's memory controller is on
    # cgroup v1: the job's own cgroup below the supervisor's, with its own limit, is what is
    # tested here (and v2's oom.group is set where v2 has the controller).
    job = lc_github.queue_job("hog", steps=[
        "python3 -c 'x = bytearray(400 << 20); print(len(x))'"])
    run = lifecycle.start(installation=lifecycle.install(), SUPERVISOR_JOB_MEMORY_MAX="128Mi")

    assert run.wait() == EX_OK, run.output()
    assert run.summary["isolation"]["job_memory"] == "applied"
    assert lc_github.job(job.id).result == "Failed"
    assert run.summary["job"]["oom_kills"] >= 1
    assert run.events("job.oom")
    assert_deregistered(run)
