"""Fixtures of the fleet tests (issue 16): a fake GitHub with GitHub's limits and fleets of real
supervisors against it (fleet.py says what a simulated pod is).

    fleet_of    fleet_of(auth="pat"|"app", **fake_settings) → a Fleet against a new started
                FleetGitHub (its settings changed by fake_settings). After the test: every pod
                and every process of the pods' runner uids is killed, the fakes stopped, the
                files removed; and it is an error when a sanitizer printed a report in a pod's
                output, or a process of a runner uid outlived the pod that ended by itself.

Every test has a time limit, @pytest.mark.limit(seconds) (default 120): the fleet tests wait for
GitHub's minutes, so pytest's own limit would not fit them.
"""
import os
import re
import signal

import pytest

import fleet as F

RS_BIN = os.environ.get("RS_BIN", str(F.REPO / "build" / "asan" / "runner-supervisor"))
SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer")
DEFAULT_LIMIT = 120


def pytest_configure(config):
    config.addinivalue_line("markers", "limit(seconds): the test's time limit")


@pytest.fixture(autouse=True)
def time_limit(request):
    marker = request.node.get_closest_marker("limit")
    seconds = marker.args[0] if marker else DEFAULT_LIMIT

    def expired(_signum, _frame):
        pytest.fail(f"test ran longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def fleet_of():
    if not os.access(RS_BIN, os.X_OK):
        pytest.skip(f"{RS_BIN} is not built (make asan)")
    made = []

    def make(auth="pat", **fake_settings):
        workdir = F.new_workdir("rs-fleet-")
        gh = F.FleetGitHub(os.path.join(workdir, "github"), **fake_settings)
        gh.start()
        fl = F.Fleet(gh, RS_BIN, os.path.join(workdir, "pods"), auth=auth)
        made.append((workdir, gh, fl))
        return fl

    yield make
    problems = []
    for workdir, gh, fl in made:
        for pod in fl.pods:
            text = pod.output()
            if SANITIZER_REPORT.search(text):
                problems.append(f"pod {pod.index}: sanitizer report\n{text[-4000:]}")
        ended = {p.uid for p in fl.pods if p.code is not None and not p.crashed}
        left = F.pids_of_uids(ended)
        if left:
            problems.append(f"processes of the runner uids of pods that ended outlived them: "
                            f"{left}")
        fl.close()
        gh.stop()
        F.shutil.rmtree(workdir, ignore_errors=True)
    if problems:
        pytest.fail("\n".join(problems))
