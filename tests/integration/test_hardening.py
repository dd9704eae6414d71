"""What a hostile job could still do, tried as an attacker would, in whole `run` lifecycles
(issue 13): each test reproduces an attack and shows it closed.

Same fixtures as test_lifecycle.py (lifecycle_fixtures.py).
"""
import contextlib
import os
import signal

import pytest

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
