"""Fixtures for the lifecycle tests (test_lifecycle.py): `runner-supervisor run` against the
fake GitHub (tests/fakes/fake_github.py) with the fake actions/runner installation
(tests/fakes/runner_install.py), as a child subreaper or as real PID 1 of a PID namespace.

    lc_github   a started FakeGitHub with the org "acme". After the test it must hold exactly
                the registrations the test announced with lc_github.expect(n) (default 0).
    lifecycle   installs fake runners (lifecycle.install(**knobs)) and starts supervisors
                (lifecycle.start(mode, **settings)). After every test, for every supervisor
                that ended by itself, it is an error when:
                  - a process of the runner uid is still alive (a scan of /proc),
                  - something the supervisor started outlived it (it landed on pytest),
                  - RUNNER_ROOT/_work is not empty (or absent),
                  - ASan/UBSan printed a report on stderr.
                Every process and temporary directory is removed whatever happened.

The runner uid. The brief of these tests says 65534, and RS_TEST_RUNNER_UID=65534 runs them
so. The default is a uid of this test session's own (supervisor_process.RUNNER_UID, shared with
github_fixtures.py, as is what a runner-supervisor process is to a test), because the lifecycle SIGKILLs every process of the runner uid on the machine and deletes
what that uid created in /tmp during the run (DESIGN.md, "Process model" and "What the wipe
covers"): with a uid shared with other sessions on this machine, their supervisors would kill
our runners and ours theirs, and the "no process of the runner uid" check would see theirs.
"""
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

import conftest
from supervisor_process import (RS_BIN, RUNNER_GID, RUNNER_UID, WAIT, FixtureGitHub,
                                SupervisorProcess, apply_settings, base_env, checked, kill_uid,
                                pids_of_uid, private_file, serve, skip_unless_built, strays,
                                world_readable_tmpdir)
import runner_install  # noqa: E402  (tests/fakes, on sys.path since supervisor_process)

__all__ = ["lc_github", "lifecycle", "RUNNER_UID", "MODES", "FAST_RUNNER"]

MODES = ["subreaper", "pid1"]

# Knobs that make the fake runner quick: 1 s long polls, a canceled step is SIGTERMed after
# 0.3 s and SIGKILLed 0.3 s later (real: 7.5 s and 2.5 s), a step's output pipe held by a
# daemon is given up after 1 s (real: 5 s), the job's finalisation takes 0.1 s.
FAST_RUNNER = dict(poll_wait=1, retry_interval=1, session_retry_interval=1,
                   sigint_timeout=0.3, sigterm_timeout=0.3, output_drain_seconds=1,
                   cancel_poll_interval=0.2, finalize_seconds=0.1)


# ---------------------------------------------------------------------------------------------
# the fake GitHub


class LcGitHub(FixtureGitHub):
    """FixtureGitHub with the org "acme", as ARC sees it."""

    USER_AGENT = "lifecycle-tests/1"
    api = FixtureGitHub.call_api

    def generate_jitconfig(self, name, token, org="acme"):
        """What ARC does before it starts a pod: → (encoded_jit_config, runner JSON)."""
        return self.jit_config_for(f"/orgs/{org}", name, token)


@pytest.fixture
def lc_github():
    directory = world_readable_tmpdir("rs-lc-gh-")
    fake = LcGitHub(directory)
    fake.add_org("acme")
    yield from serve(fake, directory)


# ---------------------------------------------------------------------------------------------
# a runner installation


class Installation:
    """A fake runner installation: its root, and what its Listener and Worker recorded."""

    def __init__(self, root, record):
        self.root = Path(root)
        self.record = Path(record)
        self.work = self.root / "_work"

    def events(self, event=None, proc=None):
        return runner_install.events(self.record, event, proc)

    def event(self, event, proc=None):
        found = self.events(event, proc)
        assert found, f"the runner recorded no {event!r}: {self.events()}"
        return found[0]

    def wait_event(self, event, proc=None, timeout=WAIT, count=1):
        """Waits until the runner has recorded `count` events named `event`; → the last."""
        found = conftest.wait_until(lambda: len(self.events(event, proc)) >= count
                                    and self.events(event, proc), timeout=timeout,
                                    interval=0.02, what=f"the runner's {event!r} record")
        return found[count - 1]

    def step_outputs(self):
        return [e.get("output", "") for e in self.events("step_completed", "worker")]


# ---------------------------------------------------------------------------------------------
# runner-supervisor runs


class SupervisorRun(SupervisorProcess):
    """One `runner-supervisor run`, directly (mode "subreaper": it makes itself the child
    subreaper) or as PID 1 of a new PID namespace (mode "pid1", under unshare, which does not
    forward signals: signals go to the supervisor itself)."""

    def __init__(self, mode, env, installation, termination_log, prefix=()):
        self.mode = mode
        self.installation = installation
        self.termination_log = Path(termination_log)
        super().__init__([*prefix, RS_BIN, "run"], env, pid1=mode == "pid1",
                         title=f"runner-supervisor ({mode})")

    @property
    def summary(self):
        """The final summary, from the supervisor.exit line."""
        summary = self.event("supervisor.exit").field("summary")
        assert isinstance(summary, dict), f"supervisor.exit has no summary\n{self.output()}"
        return summary

    @property
    def job_summary(self):
        """The summary's job name and result (its memory figures depend on the machine)."""
        job = self.summary["job"]
        return {"name": job["name"], "result": job["result"]}

    def termination_summary(self):
        text = self.termination_log.read_text()
        return text, json.loads(text)


class Lifecycle:
    """The `lifecycle` fixture."""

    def __init__(self, gh, tmp):
        self.gh, self.tmp = gh, tmp
        self.runs = []
        self.installations = []
        self.pat = gh.add_pat(scopes=["admin:org"])
        self.base_env = base_env(gh, self.secret_file("token-", self.pat + "\n"))

    def secret_file(self, prefix, content):
        return private_file(self.tmp, prefix, content)

    def install(self, chown_all=False, **knobs):
        """A fake runner installation whose root directory the runner uid owns (every file
        too with chown_all, as in the runner image), with the FAST_RUNNER knobs updated by
        knobs; → Installation."""
        base = Path(tempfile.mkdtemp(prefix="inst-", dir=self.tmp))
        base.chmod(0o755)
        record = base / "record.jsonl"
        options = dict(FAST_RUNNER, ca_file=self.gh.ca_file, record=str(record))
        options.update(knobs)
        root = runner_install.install(base / "runner", owner=(RUNNER_UID, RUNNER_GID),
                                      chown_all=chown_all, **options)
        inst = Installation(root, record)
        self.installations.append(inst)
        return inst

    def start(self, mode="subreaper", installation=None, as_runner=False, **settings):
        """Starts `runner-supervisor run` in mode with the base environment, RUNNER_ROOT of
        installation (a new default one when None), a fresh RUNNER_NAME and termination log,
        updated by settings (None unsets). as_runner: the supervisor itself runs as the runner
        uid (a runAsNonRoot pod), its files given to that uid. → SupervisorRun."""
        assert mode in MODES, mode
        inst = installation or self.install()
        env = dict(self.base_env)
        env["RUNNER_ROOT"] = str(inst.root)
        env["RUNNER_NAME"] = f"lc-{mode}-{os.urandom(4).hex()}"
        fd, term = tempfile.mkstemp(prefix="termination-", dir=self.tmp)
        os.close(fd)
        env["SUPERVISOR_TERMINATION_LOG"] = term
        apply_settings(env, settings)
        prefix = ()
        if as_runner:
            for path in (term, env.get("GITHUB_TOKEN_FILE")):
                if path:
                    os.chown(path, RUNNER_UID, RUNNER_GID)
            prefix = ("setpriv", f"--reuid={RUNNER_UID}", f"--regid={RUNNER_GID}",
                      "--clear-groups")
        run = SupervisorRun(mode, env, inst, term, prefix)
        self.runs.append(run)
        return run

    # -- the checks after every test -------------------------------------------------------

    def problems(self):
        found = []
        by_themselves = all(not run.alive() and not run.killed for run in self.runs)
        for run in self.runs:
            if run.alive():
                found.append(f"runner-supervisor ({run.mode}) was still running when the test "
                             f"ended: killed")
            run.kill()
        ended = self.runs if by_themselves else []
        if not by_themselves:
            self.gh.expect(None)  # a killed supervisor never deregistered: says nothing
        if ended:
            # Every supervisor ended by itself: what they leave must be nothing.
            left = pids_of_uid(RUNNER_UID)
            if left:
                found.append(f"processes of the runner uid {RUNNER_UID} outlived the "
                             f"supervisor: " + "; ".join(conftest.describe(p) for p in left))
            outlived = strays(self.runs)
            if outlived:
                found.append("processes outlived runner-supervisor (reparented to pytest): "
                             + "; ".join(conftest.describe(p) for p in sorted(outlived)))
            for inst in {run.installation.root: run.installation for run in ended}.values():
                if inst.work.is_symlink():
                    found.append(f"{inst.work} is a symlink to {os.readlink(inst.work)}")
                elif inst.work.exists() and any(inst.work.iterdir()):
                    found.append(f"{inst.work} is not empty: "
                                 f"{sorted(p.name for p in inst.work.iterdir())}")
        # Whatever happened: nothing of ours survives the test.
        for _ in range(50):
            kill_uid(RUNNER_UID)
            left = strays(self.runs)
            conftest.kill_and_reap(left)
            if not pids_of_uid(RUNNER_UID) and not left:
                break
            time.sleep(0.02)  # a retry, not a wait: what was just SIGKILLed may have forked
        for i, run in enumerate(self.runs):
            found.extend(run.output_problems(i))
        return found


@pytest.fixture
def lifecycle(lc_github):
    skip_unless_built()
    tmp = world_readable_tmpdir("rs-lc-")
    yield from checked(Lifecycle(lc_github, tmp), tmp)
