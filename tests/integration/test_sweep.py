"""The fleet sweeps its own ghosts (issue 16.3; README, "Ghosts of the fleet"): pods SIGKILLed
mid-life leave their runners registered; the next pods of the fleet delete them as they end,
and nothing else: not another fleet's runner, not a runner without the fleet's label however
similar its name, not one online or busy, not one registered after the sweeping pod's own
unless its rs-born-T label (the minute of its registration) says it is old enough."""
import time

import pytest

import conftest
from supervisor_process import RUNNER_UID, kill_uid

EX_OK = 0
FLEET = "ci"
LABEL = "rs-fleet-ci"
FLEET_SETTINGS = dict(SUPERVISOR_FLEET=FLEET, SUPERVISOR_SWEEP_AFTER=1)
# A pod looks for ghosts with a chance that grows with its life, surely from 8 times
# SUPERVISOR_SWEEP_AFTER on (sweep.h): these pods listen that long.
SWEEPING_IDLE = 9


def labels(runner):
    return {label["name"] for label in runner["labels"]}


def born_label(minute):
    return f"rs-born-{minute}"


def this_minute(room=25):
    """The current minute, with at least room seconds of it left (waits for the next one
    otherwise): a runner labelled with it stays young for a run that long."""
    now = time.time()
    if 60 - now % 60 < room:
        time.sleep(60 - now % 60 + 0.1)
        now = time.time()
    return int(now // 60)


def kill_midlife(lifecycle, n):
    """n pods of the fleet that listened and were then SIGKILLed with their runners: → their
    runners' ids (left registered, offline once GitHub notices)."""
    runs = [lifecycle.start(**FLEET_SETTINGS) for _ in range(n)]
    ids = []
    for run in runs:
        run.wait_for_event("runner.listening")
        ids.append(run.event("runner.registered").field("runner_id"))
    for run in runs:
        run.kill()
    kill_uid(RUNNER_UID)
    return sorted(ids)  # the pods registered in parallel: in id order, the sweep's


def offline(gh, ids):
    return lambda: all(gh.runner(i) and gh.runner(i)["status"] == "offline" for i in ids)


@pytest.fixture
def fleet_gh(lc_github):
    lc_github.offline_after_seconds = 1  # GitHub notices a silent runner after this
    return lc_github


def test_the_next_pod_removes_ghosts_of_its_fleet_and_nothing_else(fleet_gh, lifecycle):
    ghosts = kill_midlife(lifecycle, 2)
    conftest.wait_until(offline(fleet_gh, ghosts), timeout=10, interval=0.1,
                        what="the killed pods' runners to show offline")
    # What must stay: a runner like ours without the label, another fleet's, and one of our
    # fleet that is online (a live pod whose runner GitHub still sees).
    foreign = fleet_gh.register_runner("acme", "ci-foreign-1", status="offline")
    other = fleet_gh.register_runner("acme", "ci-other-1", status="offline",
                                     labels=["self-hosted", "rs-fleet-cid"])
    alive = fleet_gh.register_runner("acme", "ci-alive-1", status="online",
                                     labels=["self-hosted", LABEL])
    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=SWEEPING_IDLE, SUPERVISOR_SWEEP_MAX=5,
                          **FLEET_SETTINGS)
    own = run.wait_for_event("runner.registered").field("runner_id")
    # Registered after ours: maybe a pod still starting. Not a ghost yet.
    younger = fleet_gh.register_runner("acme", "ci-younger-1", status="offline",
                                       labels=["self-hosted", LABEL])

    assert run.wait(30) == EX_OK, run.output()
    assert run.summary["github"]["deregistered"] == "confirmed"
    assert sorted(run.summary["github"]["swept"]) == ghosts
    assert sorted(e.field("runner_id") for e in run.events("runner.swept")) == ghosts
    assert run.event("fleet.swept").field("deleted") == 2
    left = {r["id"] for r in fleet_gh.runners()}
    assert left == {foreign["id"], other["id"], alive["id"], younger["id"]}
    assert own not in left
    # Its own runner carried the fleet's label from its registration.
    (jit,) = [c for c in fleet_gh.calls_to(r"generate-jitconfig$", "POST")
              if c["body"]["name"] == run.env["RUNNER_NAME"]]
    assert jit["body"]["labels"][-2:-1] == [LABEL]
    for r in (alive, younger, foreign, other):
        fleet_gh.delete_runner(r["id"])


def test_a_ghost_registered_after_ours_is_swept_by_its_born_label(fleet_gh, lifecycle):
    # SUPERVISOR_SWEEP_AFTER 1 s: a born label older than 1 s and the minute of margin is a
    # ghost's; one of this minute may be a pod still starting.
    minute = this_minute()
    before = time.time()
    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=SWEEPING_IDLE, SUPERVISOR_SWEEP_MAX=5,
                          **FLEET_SETTINGS)
    own = run.wait_for_event("runner.registered").field("runner_id")
    after = time.time()
    # Both registered after ours (higher ids), as by pods SIGKILLed late in a wave.
    old = fleet_gh.register_runner("acme", "ci-late-1", status="offline",
                                   labels=["self-hosted", LABEL, born_label(minute - 10)])
    young = fleet_gh.register_runner("acme", "ci-late-2", status="offline",
                                     labels=["self-hosted", LABEL, born_label(minute)])
    assert own < old["id"] < young["id"]

    assert run.wait(30) == EX_OK, run.output()
    assert run.summary["github"]["swept"] == [old["id"]]
    assert [r["id"] for r in fleet_gh.runners()] == [young["id"]]
    # Its own runner said when it registered, after the fleet's label.
    (jit,) = [c for c in fleet_gh.calls_to(r"generate-jitconfig$", "POST")
              if c["body"]["name"] == run.env["RUNNER_NAME"]]
    assert jit["body"]["labels"][-2] == LABEL
    assert jit["body"]["labels"][-1] in {born_label(m) for m in
                                        range(int(before // 60), int(after // 60) + 1)}
    fleet_gh.delete_runner(young["id"])


def test_one_pod_deletes_at_most_sweep_max_ghosts_and_the_next_the_rest(fleet_gh, lifecycle):
    ghosts = kill_midlife(lifecycle, 3)
    conftest.wait_until(offline(fleet_gh, ghosts), timeout=10, interval=0.1,
                        what="the killed pods' runners to show offline")

    first = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=SWEEPING_IDLE, SUPERVISOR_SWEEP_MAX=2,
                            **FLEET_SETTINGS)
    assert first.wait(30) == EX_OK, first.output()
    second = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=SWEEPING_IDLE, SUPERVISOR_SWEEP_MAX=2,
                             **FLEET_SETTINGS)
    assert second.wait(30) == EX_OK, second.output()

    # Which two the first takes is random (pods ending together must not all go for the
    # same ones: sweep.c); the second takes what is left.
    taken = first.summary["github"]["swept"]
    assert len(taken) == 2 and set(taken) < set(ghosts)
    assert sorted(taken + second.summary["github"]["swept"]) == ghosts
    assert fleet_gh.runners() == []


def test_a_young_registration_does_not_judge_others(fleet_gh, lifecycle):
    ghosts = kill_midlife(lifecycle, 1)
    conftest.wait_until(offline(fleet_gh, ghosts), timeout=10, interval=0.1,
                        what="the killed pod's runner to show offline")

    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=1, SUPERVISOR_FLEET=FLEET,
                          SUPERVISOR_SWEEP_AFTER=600)

    assert run.wait(30) == EX_OK, run.output()
    assert run.summary["github"]["swept"] == []
    assert [r["id"] for r in fleet_gh.runners()] == ghosts
    fleet_gh.delete_runner(ghosts[0])


def test_without_a_fleet_nothing_is_listed(fleet_gh, lifecycle):
    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=1)

    assert run.wait(30) == EX_OK, run.output()
    assert run.summary["github"]["swept"] == []
    assert [c for c in fleet_gh.calls if c["method"] == "GET"] == []  # not one list call
    (jit,) = fleet_gh.calls_to(r"generate-jitconfig$", "POST")
    assert not [lbl for lbl in jit["body"]["labels"]
                if lbl.startswith(("rs-fleet-", "rs-born-"))]


def test_no_sweep_once_the_hour_is_nearly_spent(fleet_gh, lifecycle):
    # The credential's last fifth is for the fleet's deregistrations (retry.h): a ghost
    # waits for a pod after the reset.
    ghosts = kill_midlife(lifecycle, 1)
    conftest.wait_until(offline(fleet_gh, ghosts), timeout=10, interval=0.1,
                        what="the killed pod's runner to show offline")
    fleet_gh.set_rate_limit(remaining=900)
    before = len(fleet_gh.calls)

    run = lifecycle.start(SUPERVISOR_IDLE_TIMEOUT=SWEEPING_IDLE, **FLEET_SETTINGS)

    assert run.wait(30) == EX_OK, run.output()
    assert run.summary["github"]["deregistered"] == "confirmed"
    assert run.summary["github"]["swept"] == []
    assert "kept for deregistrations" in run.event("fleet.swept").field("skipped")
    assert [c for c in fleet_gh.calls[before:] if c["method"] == "GET"] == []
    assert [r["id"] for r in fleet_gh.runners()] == ghosts
    fleet_gh.delete_runner(ghosts[0])
