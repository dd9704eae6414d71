"""ARC mode against ARC's own rules: a small simulation of the EphemeralRunner controller
(actions/actions-runner-controller, controllers/actions.github.com/ephemeralrunner_controller.go,
gha-runner-scale-set ≥ 0.12) reacting to each pod's exit code, with real supervisors, the fake
runner and the fake GitHub.

What the controller does when the runner container ends (README, "ARC mode"):
  - 0: the EphemeralRunner is deleted; its finalizer removes the registration (RemoveRunner).
  - 7: the EphemeralRunner is marked Outdated; the EphemeralRunnerSet turns Outdated, the
    AutoscalingRunnerSet removes its listener and its runners, and stays so until its spec
    changes.
  - anything else, with a job assigned: the EphemeralRunner is deleted, the runner removed.
  - anything else, without a job: the pod is deleted and, after a back-off (0, 5, 10, 20, 40,
    80 s; not waited here), a new pod is created with the same JIT configuration; after more
    than 5 failures the EphemeralRunner is deleted and re-created (a new registration).

The questions: no endless loop, no ghost, and an outdated image surfaces as ARC's Outdated.
"""
import os
from dataclasses import dataclass, field

import pytest


MAX_FAILURES = 5  # ephemeralrunner_controller.go, maxFailures
POD_BUDGET = 14   # more pods than any scenario needs: beyond it, the loop is endless


@dataclass
class EphemeralRunner:
    name: str
    blob: str
    runner_id: int
    failures: list = field(default_factory=list)


class ScaleSet:
    """One EphemeralRunner slot of a scale set, as the controller drives it."""

    def __init__(self, gh, lifecycle, credentials):
        self.gh, self.lifecycle, self.credentials = gh, lifecycle, credentials
        self.pods = []          # (EphemeralRunner name, exit code)
        self.registrations = 0  # JIT configurations the controller asked GitHub for
        self.outdated = False
        self.er = None

    def create_ephemeral_runner(self):
        """The controller (not the listener) asks GitHub for the JIT configuration."""
        name = f"arc-set-{os.urandom(3).hex()}-runner-{self.registrations}"
        blob, runner = self.gh.generate_jitconfig(name, self.lifecycle.pat)
        self.registrations += 1
        self.er = EphemeralRunner(name, blob, runner["id"])

    def remove_runner(self, er):
        """The finalizer's RemoveRunner (the scale-set API): the registration goes, if any."""
        if self.gh.runner(er.runner_id) is not None:
            self.gh.delete_runner(er.runner_id)

    def run_pod(self, installation_knobs):
        er = self.er
        # An idle timeout bounds a pod that no job reaches (none of these tests wants one).
        settings = dict(ACTIONS_RUNNER_INPUT_JITCONFIG=er.blob, RUNNER_NAME=er.name,
                        SUPERVISOR_IDLE_TIMEOUT=20)
        if not self.credentials:
            settings.update(GITHUB_URL=None, GITHUB_TOKEN_FILE=None, GITHUB_CA_FILE=None)
        run = self.lifecycle.start(installation=self.lifecycle.install(**installation_knobs),
                                   **settings)
        code = run.wait()
        self.pods.append((er.name, code))
        return run, code

    def has_job(self, er):
        return any(j["runner_id"] == er.runner_id for j in self.gh.jobs())

    def react(self, code):
        """The controller's reaction to the runner container's exit code."""
        er = self.er
        if code == 0:
            self.remove_runner(er)
            self.er = None
        elif code == 7:
            self.outdated = True
            self.remove_runner(er)  # the scale set removes its runners
            self.er = None
        elif self.has_job(er):
            self.remove_runner(er)
            self.er = None
        else:
            er.failures.append(code)
            if len(er.failures) > MAX_FAILURES:
                self.remove_runner(er)
                self.er = None

    def drive(self, knobs_for_pod, until):
        """Keeps one runner in the set until until() holds, the set is Outdated, or the pod
        budget runs out (an endless loop)."""
        while not until() and not self.outdated and len(self.pods) < POD_BUDGET:
            if self.er is None:
                self.create_ephemeral_runner()
            run, code = self.run_pod(knobs_for_pod(len(self.pods)))
            self.react(code)
        return self.pods


def job_done(gh, job):
    return lambda: gh.job(job.id).status == "completed"


@pytest.fixture(params=[False, True], ids=["jit-only", "with-credentials"])
def scale_set(request, lc_github, lifecycle):
    # With credentials the pod could delete the registration: it must not, or the pod ARC
    # re-creates with the same JIT configuration finds a ghost.
    return ScaleSet(lc_github, lifecycle, credentials=request.param)


def test_a_runner_that_fails_before_its_job_is_retried_by_arc_with_the_same_registration(
        lc_github, scale_set):
    job = lc_github.queue_job("after-a-crash", steps=["true"])
    # The first pod's runner crashes after listening (exit 2), before any job reaches it.
    knobs = lambda n: dict(crash_before_job=True) if n == 0 else {}  # noqa: E731

    pods = scale_set.drive(knobs, until=job_done(lc_github, job))

    assert [code for _, code in pods] == [75, 0], pods
    assert pods[0][0] == pods[1][0]  # one EphemeralRunner, one registration, reused
    assert scale_set.registrations == 1
    assert lc_github.job(job.id).result == "Succeeded"
    assert lc_github.runners() == []  # no ghost


def test_a_registration_github_lost_gets_a_new_one_at_once_not_five_more_pods(
        lc_github, scale_set):
    job = lc_github.queue_job("after-a-ghost", steps=["true"])
    scale_set.create_ephemeral_runner()
    lc_github.delete_runner(scale_set.er.runner_id)  # gone at GitHub behind ARC's back
    knobs = lambda n: dict(ghost=True, ghost_retries=1, retry_interval=0.2)  # noqa: E731

    pods = scale_set.drive(knobs, until=job_done(lc_github, job))

    # 0 for the ghost: ARC deletes the EphemeralRunner and makes a new registration, where
    # 75 would have had it run five more pods on the dead configuration.
    assert [code for _, code in pods] == [0, 0], pods
    assert pods[0][0] != pods[1][0]
    assert scale_set.registrations == 2
    assert lc_github.job(job.id).result == "Succeeded"
    assert lc_github.runners() == []


def test_an_outdated_image_surfaces_as_arcs_outdated_after_one_pod(lc_github, scale_set):
    lc_github.min_runner_version = "2.337.0"
    lc_github.queue_job("never-run", steps=["true"])

    pods = scale_set.drive(lambda n: {}, until=lambda: False)

    assert [code for _, code in pods] == [7], pods
    assert scale_set.outdated
    assert lc_github.runners() == []


def test_a_pod_spec_arc_cannot_fix_by_retrying_stops_the_scale_set(lc_github, scale_set):
    # A bad setting in the pod template fails every pod the same way: 78 would be retried
    # forever (five pods per EphemeralRunner, then a new one); 7 stops the scale set until its
    # spec changes, which is what the operator must do.
    lc_github.queue_job("never-run", steps=["true"])
    scale_set.lifecycle.base_env["SUPERVISOR_SANDBOX"] = "bogus"

    pods = scale_set.drive(lambda n: {}, until=lambda: False)

    assert [code for _, code in pods] == [7], pods
    assert scale_set.outdated
    run = scale_set.lifecycle.runs[-1]
    assert run.event("supervisor.arc_exit").field("error_code") == 78
    assert "SUPERVISOR_SANDBOX" in run.event("supervisor.error")["msg"]
    assert lc_github.runners() == []


def test_a_job_that_ran_ends_the_ephemeral_runner_whatever_the_job_did(lc_github, scale_set):
    # The job kills its Listener: still a job that ran, 0, and ARC deletes the EphemeralRunner
    # (its finalizer removes the registration once GitHub gives the job up).
    lc_github.job_abandon_seconds = 1
    job = lc_github.queue_job("killer", steps=[
        "kill -9 $(pgrep -u $(id -u) -f 'bin/Runner.Listener run'); sleep 3"])

    pods = scale_set.drive(lambda n: {}, until=lambda: bool(scale_set.pods))

    assert [code for _, code in pods] == [0], pods
    assert scale_set.er is None  # deleted, not retried
    assert scale_set.registrations == 1
    assert lc_github.wait_job(job.id).result == "Failed"  # given up by GitHub
    assert lc_github.runners() == []
