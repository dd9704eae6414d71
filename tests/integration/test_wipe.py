"""`runner-supervisor wipe DIR`: what it prints, how it exits, and what is left afterwards.

The walker's corner cases (races, mounts, depth, owners) are unit-tested in
tests/unit/test_wipe.c; these tests hold the command's contract: the summary line on stdout,
the `workspace.wiped` event, and the exit codes 0 / 74 / 78 that the pod's restart policy
relies on.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RS_BIN", os.path.join(ROOT, "build", "asan", "runner-supervisor"))
NOBODY = 65534
SUMMARY = re.compile(r"^removed (\d+) files, (\d+) directories, (\d+) bytes; left (\d+)$")
SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer"
)


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        assert not SANITIZER_REPORT.search(proc.stderr), proc.stderr

    def summary(self):
        m = SUMMARY.match(self.stdout.strip())
        assert m, self.stdout
        files, dirs, size, left = map(int, m.groups())
        return {"files": files, "dirs": dirs, "bytes": size, "left": left}

    def events(self, name):
        out = []
        for line in self.stderr.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == name:
                out.append(event)
        return out


def wipe(path, user=None):
    env = {"PATH": os.environ["PATH"], "SUPERVISOR_LOG_FORMAT": "json"}
    kwargs = {"user": user, "group": user, "extra_groups": []} if user is not None else {}
    proc = subprocess.run([BIN, "wipe", str(path)], env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)
    return Result(proc)


def write(path, size=1):
    with open(path, "wb") as f:
        f.write(b"x" * size)


def chattr(flag, path):
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def workdir():
    """A directory under /tmp (every uid can reach it), removed with whatever is left."""
    path = tempfile.mkdtemp(prefix="rs-wipe-", dir="/tmp")
    yield path
    subprocess.run(["chattr", "-R", "-i", path], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def outside():
    path = tempfile.mkdtemp(prefix="rs-wipe-outside-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_wipe_empties_dir_prints_the_summary_and_exits_0(workdir):
    os.makedirs(os.path.join(workdir, "a", "b"))
    write(os.path.join(workdir, "a", "b", "f"), 10)
    write(os.path.join(workdir, ".hidden"), 5)
    os.symlink("/etc/hostname", os.path.join(workdir, "link"))

    r = wipe(workdir)
    assert r.code == 0, r.stderr
    assert r.summary() == {"files": 3, "dirs": 2, "bytes": 15, "left": 0}
    assert os.path.isdir(workdir)
    assert os.listdir(workdir) == []
    [event] = r.events("workspace.wiped")
    assert (event["files"], event["dirs"], event["bytes"], event["left"]) == (3, 2, 15, 0)
    assert event["dir"] == workdir


def test_wipe_does_not_follow_a_symlink_out_of_the_tree(workdir, outside):
    write(os.path.join(outside, "sentinel"))
    os.symlink(outside, os.path.join(workdir, "escape"))

    r = wipe(workdir)
    assert r.code == 0, r.stderr
    assert os.listdir(workdir) == []
    assert os.listdir(outside) == ["sentinel"]


def test_a_relative_dir_is_a_configuration_error(workdir):
    r = wipe("relative/dir")
    assert r.code == 78
    assert r.stdout == ""
    assert "relative/dir" in r.stderr


def test_a_missing_dir_fails_naming_it(workdir):
    missing = os.path.join(workdir, "missing")
    r = wipe(missing)
    assert r.code == 74
    assert r.stdout == ""
    [error] = r.events("supervisor.error")
    assert missing in error["msg"]


def test_a_symlink_as_dir_is_refused(workdir, outside):
    write(os.path.join(outside, "sentinel"))
    link = os.path.join(workdir, "link")
    os.symlink(outside, link)

    r = wipe(link)
    assert r.code == 78
    [error] = r.events("supervisor.error")
    assert link in error["msg"] and "symlink" in error["msg"]
    assert os.listdir(outside) == ["sentinel"]


def test_a_file_as_dir_is_refused(workdir):
    path = os.path.join(workdir, "file")
    write(path)
    r = wipe(path)
    assert r.code == 78
    assert os.path.exists(path)


def test_an_undeletable_entry_exits_74_and_is_reported(workdir):
    os.mkdir(os.path.join(workdir, "d"))
    stuck = os.path.join(workdir, "d", "stuck")
    write(stuck)
    write(os.path.join(workdir, "gone"))
    if not chattr("+i", stuck):
        pytest.skip("this filesystem has no immutable flag")

    r = wipe(workdir)
    assert r.code == 74
    assert r.summary() == {"files": 1, "dirs": 0, "bytes": 1, "left": 2}
    [left] = r.events("wipe.left")
    assert left["path"] == "d/stuck"
    assert left["errno"] == 1  # EPERM
    [event] = r.events("workspace.wiped")
    assert event["level"] == "warn" and event["left"] == 2


def test_entries_of_another_user_exit_74_when_wiped_unprivileged(workdir):
    os.chown(workdir, NOBODY, NOBODY)
    os.mkdir(os.path.join(workdir, "roots"))
    write(os.path.join(workdir, "roots", "f"))
    write(os.path.join(workdir, "mine"))
    os.chown(os.path.join(workdir, "mine"), NOBODY, NOBODY)

    r = wipe(workdir, user=NOBODY)
    assert r.code == 74
    assert r.summary()["left"] == 2
    assert os.path.exists(os.path.join(workdir, "roots", "f"))
    assert not os.path.exists(os.path.join(workdir, "mine"))


def test_a_tree_of_10k_files_is_wiped_with_exact_counts(workdir):
    for d in range(100):
        sub = os.path.join(workdir, f"pkg{d:03d}")
        os.mkdir(sub)
        for f in range(100):
            fd = os.open(os.path.join(sub, f"f{f:03d}.js"), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"y" * 7)
            os.close(fd)

    r = wipe(workdir)
    assert r.code == 0, r.stderr
    assert r.summary() == {"files": 10000, "dirs": 100, "bytes": 70000, "left": 0}
    assert os.listdir(workdir) == []


def test_wipe_of_an_empty_dir_is_quiet(workdir):
    r = wipe(workdir)
    assert r.code == 0
    assert r.summary() == {"files": 0, "dirs": 0, "bytes": 0, "left": 0}
    assert r.events("wipe.left") == []
