"""`runner-supervisor run` and `check --online` against the fake GitHub: authentication,
registration (JIT, registration token, ARC's JIT config), confirmed deregistration, GitHub's
request conventions, retries and rate limits, proxies, and secrets kept out of every log.

Fixtures (github_fixtures.py) check after every test that no secret reached the supervisor's
output or the runner's environment, that the sanitizers were quiet, that no process outlived
the supervisor, and that the fake holds no registration the test did not expect.

Reference: ../shared/DESIGN.md ("GitHub", "Configuration", "Exit codes") and
../shared/reference/github-runner-api.md (§ numbers below).
"""
import base64
import datetime
import json
import platform
import re
import signal
import subprocess
import time

import pytest

from conftest import wait_until
from github_fixtures import RS_BIN, RUNNER_GID, RUNNER_UID

ARCH = {"x86_64": "X64", "amd64": "X64", "aarch64": "ARM64", "arm64": "ARM64"}.get(
    platform.machine(), "ARM" if platform.machine().startswith("arm") else "X64")
DEFAULT_LABELS = ["self-hosted", "Linux", ARCH]
CREDENTIAL_FILES = [".credentials", ".credentials_rsaparams", ".runner"]
JIT_PATH = r"/actions/runners/generate-jitconfig$"
RUNNER_PATH = r"/actions/runners/\d+$"
EXIT_OK, EXIT_UNAVAILABLE, EXIT_TEMPFAIL, EXIT_OUTDATED = 0, 69, 75, 76
EXIT_NOPERM, EXIT_CONFIG = 77, 78


def settings_of_the_supervisor():
    """Every setting --help lists (the variables the runner must never inherit)."""
    out = subprocess.run([RS_BIN, "--help"], capture_output=True, text=True, timeout=10).stdout
    return set(re.findall(r"^  ([A-Z][A-Z_]+)  --", out, re.M))


def ts(event):
    """An event's time as epoch seconds."""
    return datetime.datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def jwt_parts(authorization):
    """(header, claims) of the JWT in "Bearer <jwt>"."""

    def decode(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    header, payload, _ = authorization.split(" ", 1)[1].split(".")
    return decode(header), decode(payload)


def statuses(calls):
    return [c["status"] for c in calls]


def job_in(fake, scope=None):
    return fake.queue_job(name="build", steps=["echo hi"], scope=scope)


# ---------------------------------------------------------------------------------------------
# 1. GitHub's request conventions (§1)


def test_every_request_carries_githubs_headers_and_breaks_no_convention(fake_github, supervisor):
    app = fake_github.add_app()
    app.install(org="acme")
    fake_github.add_runner_group("acme", "linux-pool")
    job = job_in(fake_github)

    run = supervisor.run(RUNNER_GROUP="linux-pool", **supervisor.app_env(app))

    assert run.code == EXIT_OK, run.output()
    assert job.result == "Succeeded"
    calls = fake_github.calls
    # installation lookup, token, runner groups, generate-jitconfig, confirmation
    assert len(calls) >= 5
    for call in calls:
        h = call["headers"]
        assert h.get("accept") == "application/vnd.github+json", call
        assert h.get("x-github-api-version") == "2022-11-28", call
        assert h.get("user-agent", "").startswith("runner-supervisor/"), call
    assert fake_github.violations() == []


# ---------------------------------------------------------------------------------------------
# 2. a whole run with a PAT, at each scope


@pytest.mark.parametrize("url_path, scope, scope_path", [
    ("/acme", "acme", "/orgs/acme"),
    ("/acme/app", "acme/app", "/repos/acme/app"),
    ("/enterprises/ent", "enterprises/ent", "/enterprises/ent"),
])
def test_pat_run_registers_takes_one_job_and_leaves_nothing(fake_github, supervisor,
                                                            runner_root, url_path, scope,
                                                            scope_path):
    job = job_in(fake_github, scope)

    run = supervisor.run(
        GITHUB_URL=fake_github.url + url_path,
        RUNNER_LABELS="gpu, linux,big,SELF-HOSTED",
        # the runner must get its own values of these, and never an input of ours
        ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED="false",
        ACTIONS_RUNNER_INPUT_NAME="smuggled")

    assert run.code == EXIT_OK, run.output()
    assert job.result == "Succeeded"
    # generate-jitconfig: the runner's default labels first, ours after, none twice
    (jit,) = fake_github.api_calls(JIT_PATH, "POST")
    assert jit["path"] == f"/api/v3{scope_path}/actions/runners/generate-jitconfig"
    assert jit["body"]["name"] == supervisor.runner_name
    assert jit["body"]["runner_group_id"] == 1
    assert jit["body"]["labels"] == DEFAULT_LABELS + ["gpu", "big"]
    assert "work_folder" in jit["body"]
    registered = run.event("runner.registered")
    assert registered.field("runner_name") == supervisor.runner_name
    # the runner: the JIT files, written for it alone; its uid, directory and command line
    seen = run.listener("run")
    for name in CREDENTIAL_FILES:
        assert seen["files"][name]["mode"] == 0o600, name
        assert (seen["files"][name]["uid"], seen["files"][name]["gid"]) == (RUNNER_UID,
                                                                            RUNNER_GID), name
    assert (seen["uid"], seen["euid"], seen["gid"]) == (RUNNER_UID, RUNNER_UID, RUNNER_GID)
    assert seen["cwd"] == str(runner_root)
    assert seen["argv"] == ["run"]
    # its environment: none of our settings or inputs, the two switches the contract needs
    env = seen["env"]
    assert not [k for k in env if k.startswith("ACTIONS_RUNNER_INPUT_")]
    ours = settings_of_the_supervisor()
    assert {"GITHUB_URL", "GITHUB_TOKEN_FILE", "RUNNER_NAME", "SUPERVISOR_SANDBOX"} <= ours
    assert not ours & set(env)
    assert env["ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE"] == "1"
    assert env["ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED"] == "true"
    assert env["FAKE_LISTENER_MODE"] == "job"  # the rest of the environment is passed on
    # two calls: the registration, and the confirmation that the service removed the runner
    calls = fake_github.calls
    assert len(calls) <= 2, [(c["method"], c["path"], c["status"]) for c in calls]
    assert (calls[-1]["method"], calls[-1]["status"]) == ("GET", 404)
    assert calls[-1]["path"].endswith(f"/actions/runners/{registered.field('runner_id')}")
    assert run.event("runner.deregistered").field("confirmed") is True
    summary = run.summary()
    assert summary["github"] == {"calls": len(calls), "deregistered": "confirmed", "swept": []}
    assert summary["runner"] == {"name": supervisor.runner_name,
                                 "id": registered.field("runner_id")}
    assert runner_root.credential_files() == []


# ---------------------------------------------------------------------------------------------
# 3. runner names


def test_runner_name_longer_than_64_characters_is_a_configuration_error(fake_github,
                                                                        supervisor):
    run = supervisor.run(RUNNER_NAME="r" * 65)

    assert run.code == EXIT_CONFIG
    assert "RUNNER_NAME" in run.event("supervisor.error")["msg"]
    assert fake_github.calls == []


def test_long_pod_name_is_shortened_to_64_characters_with_a_stable_hash(fake_github,
                                                                        supervisor):
    pod = "runner-set-" + "a" * 83 + "-x7k2q"
    other_pod = pod[:-1] + "z"  # the same first 99 characters
    assert len(pod) == 100

    names = []
    for hostname in (pod, pod, other_pod):
        job_in(fake_github)
        run = supervisor.run(RUNNER_NAME=None, HOSTNAME=hostname)
        assert run.code == EXIT_OK, run.output()
        names.append(fake_github.api_calls(JIT_PATH, "POST")[-1]["body"]["name"])

    first, again, other = names
    assert len(first) == 64
    assert first.startswith(pod[:48])
    assert re.search(r"-[0-9a-f]{6,}$", first), first
    assert again == first  # the same pod name: the same runner name, run after run
    assert other != first  # pod names that differ only past 64 characters do not collide


# ---------------------------------------------------------------------------------------------
# 4. runner groups (§2.5)


def test_runner_group_name_is_resolved_through_every_page_of_runner_groups(fake_github,
                                                                           supervisor):
    ids = {f"pool-{i}": fake_github.add_runner_group("acme", f"pool-{i}") for i in range(150)}
    job_in(fake_github)

    run = supervisor.run(RUNNER_GROUP="pool-129")  # on the second page of 100

    assert run.code == EXIT_OK, run.output()
    pages = fake_github.api_calls(r"/actions/runner-groups$", "GET")
    # The list declares no Link header (§7.13): pages are asked for by number.
    assert [(p["path"], p["query"].get("page")) for p in pages] == [
        ("/api/v3/orgs/acme/actions/runner-groups", "1"),
        ("/api/v3/orgs/acme/actions/runner-groups", "2")]
    assert all(int(p["query"].get("per_page", 30)) == 100 for p in pages)
    (jit,) = fake_github.api_calls(JIT_PATH, "POST")
    assert jit["body"]["runner_group_id"] == ids["pool-129"]


def test_runner_group_id_is_sent_as_is_without_a_lookup(fake_github, supervisor):
    gid = fake_github.add_runner_group("acme", "gpu")
    job_in(fake_github)

    run = supervisor.run(RUNNER_GROUP=str(gid))

    assert run.code == EXIT_OK, run.output()
    assert fake_github.api_calls(r"/runner-groups") == []
    assert fake_github.api_calls(JIT_PATH, "POST")[0]["body"]["runner_group_id"] == gid


def test_unknown_runner_group_is_a_configuration_error_and_registers_nothing(fake_github,
                                                                             supervisor):
    fake_github.add_runner_group("acme", "gpu")

    run = supervisor.run(RUNNER_GROUP="no-such-pool")

    assert run.code == EXIT_CONFIG, run.output()
    assert "no-such-pool" in run.event("supervisor.error")["msg"]
    assert fake_github.api_calls(JIT_PATH) == []
    assert run.listener("run") is None


def test_runner_group_name_at_repository_scope_is_a_configuration_error(fake_github,
                                                                        supervisor):
    run = supervisor.run(GITHUB_URL=fake_github.url + "/acme/app", RUNNER_GROUP="gpu")

    assert run.code == EXIT_CONFIG, run.output()
    assert "RUNNER_GROUP" in run.event("supervisor.error")["msg"]
    assert fake_github.api_calls(JIT_PATH) == []


# ---------------------------------------------------------------------------------------------
# 5. GitHub App authentication (§2.6, §2.7, §5)


@pytest.mark.parametrize("key, use_client_id", [("pkcs1", False), ("pkcs8", True)],
                         ids=["pkcs1-app-id", "pkcs8-client-id"])
def test_app_looks_up_its_installation_and_registers_with_one_installation_token(
        fake_github, supervisor, key, use_client_id):
    app = fake_github.add_app()
    installation = app.install(org="acme")
    job_in(fake_github)

    run = supervisor.run(**supervisor.app_env(app, key=key, use_client_id=use_client_id))

    assert run.code == EXIT_OK, run.output()
    lookup, mint, *runner_calls = fake_github.calls
    assert (lookup["method"], lookup["path"]) == ("GET", "/api/v3/orgs/acme/installation")
    assert (mint["method"], mint["path"]) == (
        "POST", f"/api/v3/app/installations/{installation}/access_tokens")
    for app_call in (lookup, mint):
        assert app_call["headers"]["authorization"].startswith("Bearer eyJ")
    (token,) = fake_github.installation_tokens()  # minted once
    assert [c["method"] for c in runner_calls] == ["POST", "GET"]
    assert all(c["headers"]["authorization"] == f"Bearer {token}" for c in runner_calls)
    env = run.listener("run")["env"]
    assert not [k for k in env if k.startswith("GITHUB_APP_")]


def test_app_with_installation_id_given_skips_the_lookup(fake_github, supervisor):
    app = fake_github.add_app()
    installation = app.install(org="acme")
    job_in(fake_github)

    run = supervisor.run(**supervisor.app_env(app, installation_id=installation))

    assert run.code == EXIT_OK, run.output()
    assert fake_github.api_calls(r"/installation$") == []
    assert len(fake_github.api_calls(r"/access_tokens$", "POST")) == 1
    assert len(fake_github.calls) <= 3


def test_app_jwt_is_rs256_backdated_60_s_and_short_lived(fake_github, supervisor):
    app = fake_github.add_app()
    installation = app.install(org="acme")
    job_in(fake_github)

    run = supervisor.run(**supervisor.app_env(app, installation_id=installation))

    assert run.code == EXIT_OK, run.output()
    (mint,) = fake_github.api_calls(r"/access_tokens$", "POST")
    header, claims = jwt_parts(mint["headers"]["authorization"])
    assert header["alg"] == "RS256"
    assert claims["iss"] in (app.app_id, str(app.app_id))
    assert mint["ts"] - 65 <= claims["iat"] <= mint["ts"] - 55
    assert claims["exp"] <= mint["ts"] + 600


def test_app_works_with_long_installation_tokens(fake_github, supervisor):
    fake_github.installation_token_format = "long"
    app = fake_github.add_app()
    app.install(org="acme")
    job_in(fake_github)

    run = supervisor.run(**supervisor.app_env(app))

    assert run.code == EXIT_OK, run.output()
    (token,) = fake_github.installation_tokens()
    assert len(token) > 300
    (jit,) = fake_github.api_calls(JIT_PATH, "POST")
    assert jit["headers"]["authorization"] == f"Bearer {token}"


def test_app_key_that_is_not_the_apps_is_rejected_at_once(fake_github, supervisor):
    app, stranger = fake_github.add_app(), fake_github.add_app()
    app.install(org="acme")
    env = supervisor.app_env(app)
    env["GITHUB_APP_PRIVATE_KEY_FILE"] = supervisor.key_file(stranger.private_key_pem)

    run = supervisor.run(**env)

    assert run.code == EXIT_NOPERM, run.output()
    assert run.elapsed < 3
    assert len(fake_github.calls) <= 2
    assert fake_github.api_calls(JIT_PATH) == []


@pytest.mark.parametrize("content", ["not a key\n", "", None], ids=["garbage", "empty", "missing"])
def test_app_key_file_that_holds_no_private_key_is_a_configuration_error(fake_github,
                                                                         supervisor, content):
    app = fake_github.add_app()
    app.install(org="acme")
    env = supervisor.app_env(app)
    if content is None:
        env["GITHUB_APP_PRIVATE_KEY_FILE"] = "/nonexistent/app.pem"
    else:
        with open(env["GITHUB_APP_PRIVATE_KEY_FILE"], "w") as f:
            f.write(content)

    run = supervisor.run(**env)

    assert run.code == EXIT_CONFIG, run.output()
    assert "GITHUB_APP_PRIVATE_KEY_FILE" in run.event("supervisor.error")["msg"]
    assert fake_github.calls == []


def test_app_at_enterprise_scope_is_a_configuration_error(fake_github, supervisor):
    app = fake_github.add_app()

    run = supervisor.run(GITHUB_URL=fake_github.url + "/enterprises/ent",
                         **supervisor.app_env(app))

    assert run.code == EXIT_CONFIG, run.output()
    assert fake_github.calls == []


# ---------------------------------------------------------------------------------------------
# 6. a name already registered (409, §7.4)


def test_offline_runner_holding_our_name_is_deleted_and_the_name_reused(fake_github,
                                                                        supervisor):
    ghost = fake_github.register_runner("acme", supervisor.runner_name, status="offline")
    job_in(fake_github)

    run = supervisor.run()

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [409, 201]
    deletes = fake_github.api_calls(RUNNER_PATH, "DELETE")
    assert [(c["path"].rsplit("/", 1)[1], c["status"]) for c in deletes] == [
        (str(ghost["id"]), 204)]
    registered = run.event("runner.registered")
    assert registered.field("runner_name") == supervisor.runner_name
    assert registered.field("runner_id") != ghost["id"]


@pytest.mark.parametrize("status, busy", [("online", False), ("offline", True)],
                         ids=["online", "busy"])
def test_runner_in_use_holding_our_name_is_left_alone_and_we_take_a_suffixed_name(
        fake_github, supervisor, status, busy):
    holder = fake_github.register_runner("acme", supervisor.runner_name, status=status,
                                         busy=busy)
    fake_github.expect_runners(1)  # the holder
    job_in(fake_github)

    run = supervisor.run()

    assert run.code == EXIT_OK, run.output()
    first, second = fake_github.api_calls(JIT_PATH, "POST")
    assert (first["status"], second["status"]) == (409, 201)
    suffixed = second["body"]["name"]
    assert re.fullmatch(re.escape(supervisor.runner_name) + r"-[0-9a-f]{6}", suffixed)
    assert run.event("runner.registered").field("runner_name") == suffixed
    assert fake_github.api_calls(RUNNER_PATH, "DELETE") == []
    assert fake_github.runners() == [dict(holder)]


# ---------------------------------------------------------------------------------------------
# 7. SUPERVISOR_REGISTRATION=token: a registration token and `configure`


def test_token_mode_configures_with_the_token_in_configures_environment_only(
        fake_github, supervisor, runner_root):
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTRATION="token", RUNNER_LABELS="gpu")

    assert run.code == EXIT_OK, run.output()
    assert len(fake_github.api_calls(r"/actions/runners/registration-token$", "POST")) == 1
    assert fake_github.api_calls(JIT_PATH) == []
    (token,) = [t["token"] for t in fake_github.registration_tokens()]
    configure = run.listener("configure")
    args = configure["argv"]
    assert args[:4] == ["configure", "--unattended", "--ephemeral", "--disableupdate"]
    assert args[args.index("--url") + 1] == fake_github.url + "/acme"
    assert args[args.index("--name") + 1] == supervisor.runner_name
    assert "gpu" in args[args.index("--labels") + 1].split(",")
    assert not [a for a in args if token in a]
    assert configure["env"]["ACTIONS_RUNNER_INPUT_TOKEN"] == token
    assert configure["uid"] == RUNNER_UID and configure["cwd"] == str(runner_root)
    started = run.listener("run")
    assert started["argv"] == ["run"]
    assert "ACTIONS_RUNNER_INPUT_TOKEN" not in started["env"]
    assert token not in json.dumps(started["env"])
    assert run.event("runner.deregistered").field("confirmed") is True
    assert runner_root.credential_files() == []


@pytest.mark.parametrize("listed", ["", "gpu,RS-FLEET-blue"], ids=["unlisted", "listed"])
def test_token_mode_labels_a_fleet_runner_as_jit_does(fake_github, supervisor, listed):
    # names.c runner_fleet_labels serves both registrations: the fleet's label once (GitHub
    # compares labels without case), then the born label, last.
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTRATION="token", SUPERVISOR_FLEET="blue",
                         RUNNER_LABELS=listed or None)

    assert run.code == EXIT_OK, run.output()
    args = run.listener("configure")["argv"]
    labels = args[args.index("--labels") + 1].split(",")
    assert [lbl.lower() for lbl in labels].count("rs-fleet-blue") == 1, labels
    assert labels[-1].startswith("rs-born-") and labels[-1][8:].isdigit(), labels


@pytest.mark.parametrize("group", [None, "id-of-gpu-pool"], ids=["default", "by-id"])
def test_token_mode_names_the_runner_group_to_configure(fake_github, supervisor, group):
    gid = fake_github.add_runner_group("acme", "gpu-pool")
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTRATION="token",
                         RUNNER_GROUP=str(gid) if group else None)

    assert run.code == EXIT_OK, run.output()
    args = run.listener("configure")["argv"]
    names = {g["name"] for g in fake_github.state()["orgs"][0]["runner_groups"]}
    if group:
        assert args[args.index("--runnergroup") + 1] == "gpu-pool"
    elif "--runnergroup" in args:
        assert args[args.index("--runnergroup") + 1] in names


# ---------------------------------------------------------------------------------------------
# 8. ARC drop-in: ACTIONS_RUNNER_INPUT_JITCONFIG


def test_arc_jit_config_without_credentials_makes_no_api_call(fake_github, supervisor,
                                                              runner_root):
    blob, runner = fake_github.jit_config_for("/orgs/acme", "arc-runner-7",
                                              supervisor.default_pat)
    fake_github.reset_calls()
    job = job_in(fake_github)

    run = supervisor.run(ACTIONS_RUNNER_INPUT_JITCONFIG=blob, GITHUB_URL=None,
                         GITHUB_TOKEN_FILE=None, RUNNER_NAME=None, HOSTNAME="arc-runner-7")

    assert run.code == EXIT_OK, run.output()
    assert job.result == "Succeeded" and job.runner_id == runner["id"]
    assert fake_github.calls == []
    seen = run.listener("run")
    for name in CREDENTIAL_FILES:
        assert seen["files"][name]["mode"] == 0o600, name
        assert seen["files"][name]["uid"] == RUNNER_UID, name
    assert "ACTIONS_RUNNER_INPUT_JITCONFIG" not in seen["env"]
    assert run.event("runner.registered").field("runner_id") == runner["id"]
    assert run.event("runner.deregistered").field("confirmed") is False  # ARC's job
    assert run.summary()["github"]["deregistered"] == "left to ARC"
    assert runner_root.credential_files() == []


def test_arc_jit_config_with_credentials_still_leaves_the_registration_to_arc(fake_github,
                                                                           supervisor):
    # ARC re-creates a failed pod with the same JIT configuration: the registration is its
    # controller's to remove or reuse, whatever credentials the pod holds (README, ARC mode).
    blob, runner = fake_github.jit_config_for("/orgs/acme", "arc-runner-8",
                                              supervisor.default_pat)
    fake_github.reset_calls()
    job_in(fake_github)

    run = supervisor.run(ACTIONS_RUNNER_INPUT_JITCONFIG=blob, RUNNER_NAME=None,
                         HOSTNAME="arc-runner-8")

    assert run.code == EXIT_OK, run.output()
    assert fake_github.calls == []
    assert run.summary()["github"]["deregistered"] == "left to ARC"


# ---------------------------------------------------------------------------------------------
# 9. deregistration


def stop_running_runner(run):
    """SIGTERM once the runner runs (it is in FAKE_LISTENER_MODE=sleep): a stop without a
    job, after which the supervisor must remove the runner itself."""
    run.wait_for_listener("run")
    run.send_signal(signal.SIGTERM)


def test_busy_runner_deletion_is_retried_until_it_is_gone(fake_github, supervisor):
    busy = 'Bad request - Runner "x" is still running a job'
    fake_github.inject("DELETE", RUNNER_PATH, kind="status", status=422, times=2,
                       body={"message": busy, "documentation_url": "https://docs.github.com",
                             "errors": [busy]})
    run = supervisor.start(FAKE_LISTENER_MODE="sleep")

    stop_running_runner(run)

    assert run.wait() == EXIT_OK, run.output()
    deletes = fake_github.api_calls(RUNNER_PATH, "DELETE")
    assert statuses(deletes) == [422, 422, 204]
    waits = [e.field("wait_ms") for e in run.events("github.retry")]
    assert len(waits) == 2 and all(w >= 1000 for w in waits)
    for before, after, wait_ms in zip(deletes, deletes[1:], waits):
        assert after["ts"] - before["ts"] >= wait_ms / 1000 - 0.05
    assert run.event("runner.deregistered").field("confirmed") is True


UPDATING = ("Runner update in progress, do not shutdown runner.", None)  # SelfUpdaterV2.cs
DEPRECATED = (None, "An error occurred: Runner version v2.300.0 is deprecated and cannot "
                    "receive messages.")  # Program.cs


@pytest.mark.parametrize("listener_code, lines, exit_code", [
    (1, None, EXIT_TEMPFAIL), (2, None, EXIT_TEMPFAIL), (5, None, EXIT_TEMPFAIL),
    (3, UPDATING, EXIT_OUTDATED), (4, UPDATING, EXIT_OUTDATED), (7, DEPRECATED, EXIT_OUTDATED),
    # The code alone is no proof: the runner says why it is outdated before it exits.
    (3, None, EXIT_TEMPFAIL), (4, DEPRECATED, EXIT_TEMPFAIL), (7, UPDATING, EXIT_TEMPFAIL),
    (0, None, EXIT_TEMPFAIL),  # on its own, before any job: e.g. the service deleted the runner
])
def test_runner_that_ends_without_a_job_is_removed_and_its_code_mapped(fake_github, supervisor,
                                                                       listener_code, lines,
                                                                       exit_code):
    out, err = lines or (None, None)
    run = supervisor.run(FAKE_LISTENER_MODE="exit", FAKE_LISTENER_EXIT=listener_code,
                         FAKE_LISTENER_STDOUT=out, FAKE_LISTENER_STDERR=err)

    assert run.event("runner.exited").field("listener_code") == listener_code
    registered = run.event("runner.registered").field("runner_id")
    # No job ran, so the runner is still listed: one DELETE (5 points) is the proof, where a
    # GET first would cost one point more.
    assert [(c["method"], c["path"].rsplit("/", 1)[1], c["status"])
            for c in fake_github.api_calls(RUNNER_PATH)] == [
        ("DELETE", str(registered), 204)]
    assert run.event("runner.deregistered").field("confirmed") is True
    assert run.code == exit_code, run.output()


def test_github_down_at_deregistration_gives_up_at_the_deadline_saying_it_may_remain(
        fake_github, supervisor):
    run = supervisor.start(FAKE_LISTENER_MODE="sleep", SUPERVISOR_DEREGISTER_DEADLINE=3)
    run.wait_for_listener("run")
    fake_github.set_down(True)
    fake_github.expect_runners(1)  # what the supervisor could not remove

    run.send_signal(signal.SIGTERM)

    # A registration left behind is the failure it is, even after a stop we asked for.
    assert run.wait() == EXIT_TEMPFAIL, run.output()
    gone = run.event("runner.deregistered")
    assert gone.field("confirmed") is False
    assert run.event("runner.ghost_left").field("runner_id") == gone.field("runner_id")
    assert "may remain" in run.event("runner.ghost_left")["msg"]
    assert run.summary()["github"]["deregistered"] == "unconfirmed"
    assert "unconfirmed" in run.summary()["exit"]["reason"]
    # Bounded by the deadline. (It may give up well before it: it stops as soon as the next
    # backoff would cross the deadline, instead of trying once more at the deadline.)
    took = ts(run.event("supervisor.exit")) - ts(run.event("runner.exited"))
    assert took <= 3 + 1.5
    assert len([c for c in fake_github.calls if c["fault"] == "down"]) >= 2


# ---------------------------------------------------------------------------------------------
# 10. resilience: retries, rate limits, broken answers (§6, §7)


def test_server_errors_are_retried_with_jittered_exponential_backoff(fake_github, supervisor):
    fake_github.inject("POST", JIT_PATH, kind="status", status=502, times=3)
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=8)

    assert run.code == EXIT_OK, run.output()
    posts = fake_github.api_calls(JIT_PATH, "POST")
    assert statuses(posts) == [502, 502, 502, 201]
    retries = run.events("github.retry")
    assert [e.field("status") for e in retries] == [502, 502, 502]
    waits = [e.field("wait_ms") for e in retries]
    for attempt, wait_ms in enumerate(waits):
        assert 0 <= wait_ms < 500 * 2 ** attempt  # full jitter under a doubling ceiling
    assert len(set(waits)) > 1
    for before, after, wait_ms in zip(posts, posts[1:], waits):
        assert after["ts"] - before["ts"] >= wait_ms / 1000 - 0.05


def test_every_request_completes_when_github_answers_at_once(fake_github, supervisor):
    # Where the hang of 52548e5 struck (see github_fixtures.HANG; a race, which every run's
    # wait() watches for): a request on a kept-alive connection after a wait, answered by a
    # nearby server before curl's first look at the socket.
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", status=429, retry_after=1,
                       times=3)
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=15)

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [429] * 3 + [201]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_dropped_connections_are_retried(fake_github, supervisor, reset):
    fake_github.inject("POST", JIT_PATH, kind="drop", times=2, reset=reset)
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=8)

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [None, None, 201]
    assert len(run.events("github.retry")) == 2


def test_primary_rate_limit_waits_for_the_reset_without_calling_in_between(fake_github,
                                                                           supervisor):
    job_in(fake_github)
    limited_at = time.time()
    fake_github.set_rate_limit(remaining=0, reset_in=2)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=10)

    assert run.code == EXIT_OK, run.output()
    refused, *rest = fake_github.calls
    assert refused["status"] == 403
    assert rest and all(c["status"] != 403 for c in rest)
    # not before the reset; after it by at most the 1 s the supervisor adds, the second it
    # loses truncating its clock (the reset is announced in whole seconds, rounded up), and
    # the jitter on top of a hint (a twentieth of the wait plus a second: at most 1.15 s here)
    assert limited_at + 2 - 0.05 <= rest[0]["ts"] <= limited_at + 2 + 1 + 2 + 1.75 + 0.5
    assert len(run.events("github.retry")) == 1


def test_429_with_retry_after_waits_that_long(fake_github, supervisor):
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", status=429, retry_after=1)
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=8)

    assert run.code == EXIT_OK, run.output()
    limited, accepted = fake_github.api_calls(JIT_PATH, "POST")
    assert (limited["status"], accepted["status"]) == (429, 201)
    assert 1 - 0.05 <= accepted["ts"] - limited["ts"] <= 2.5
    # the hint, and a jitter of up to a twentieth of it plus a second (retry_hint_jitter_ms)
    (wait,) = [e.field("wait_ms") for e in run.events("github.retry")]
    assert 1000 <= wait < 1000 + 1050


def test_secondary_limit_without_retry_after_past_the_deadline_exits_75_at_once(fake_github,
                                                                                supervisor):
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", times=None)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=5)

    assert run.code == EXIT_TEMPFAIL, run.output()
    assert run.elapsed < 3  # GitHub asks for a minute: more than the deadline allows
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [403]


def test_a_registration_refused_with_the_hour_nearly_spent_stops_competing(fake_github,
                                                                          supervisor):
    # 900 of one PAT's 5,000 requests left: a pod refused by a rate limit now is one of a
    # crowd, and the last fifth is kept for the crowd's deregistrations (retry.h).
    fake_github.set_rate_limit(remaining=900)
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", retry_after=1, times=None)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=20)

    assert run.code == EXIT_TEMPFAIL, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [403]  # no retry
    assert run.elapsed < 5  # not the 20 s of retries the deadline allows
    (error,) = run.events("supervisor.error")
    assert "of the credential's 5000 requests left this hour" in error["msg"]
    assert "kept for deregistrations" in error["msg"]
    assert fake_github.runners() == []


def test_a_registration_refused_with_a_fifth_of_the_hour_left_retries(fake_github,
                                                                      supervisor):
    # 1,100 left: after the refused call 1,099, more than the fifth kept (1,000).
    fake_github.set_rate_limit(remaining=1100)
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", retry_after=1, times=1)
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=20)

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [403, 201]


def test_github_unavailable_past_the_deadline_exits_69(fake_github, supervisor):
    fake_github.set_down(True)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=4, SUPERVISOR_DEREGISTER_PATIENCE=1,
                         SUPERVISOR_DEREGISTER_DEADLINE=1)

    assert run.code == EXIT_UNAVAILABLE, run.output()
    assert run.event("supervisor.error").field("code") == EXIT_UNAVAILABLE
    assert len(fake_github.api_calls(JIT_PATH, "POST")) >= 2
    assert run.elapsed <= 4 + 1 + 1.5  # the registration's deadline, then the ghost's


def test_bad_credentials_exit_77_at_once(fake_github, supervisor):
    token = "ghp_" + "Zq8" * 12

    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_NOPERM, run.output()
    assert run.elapsed < 3  # no retries: the registration deadline is 15 s
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [401]
    assert run.events("github.retry") == []


def test_pat_without_the_scope_exits_77(fake_github, supervisor):
    token = fake_github.add_pat(scopes=["repo"])  # an org needs admin:org

    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_NOPERM, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [403]
    assert run.events("github.retry") == []


@pytest.mark.parametrize("answer", ["bad-credentials", "missing-scope", "secondary-limit"])
def test_no_further_request_after_an_answered_failed_registration(fake_github, supervisor,
                                                                  answer):
    settings = {"SUPERVISOR_REGISTER_DEADLINE": 5}
    if answer == "bad-credentials":
        settings["GITHUB_TOKEN_FILE"] = supervisor.pat_file("ghp_" + "Kx7" * 12)
    elif answer == "missing-scope":
        settings["GITHUB_TOKEN_FILE"] = supervisor.pat_file(fake_github.add_pat(scopes=["repo"]))
    else:
        fake_github.inject(None, ".*", kind="secondary_limit", times=None)

    run = supervisor.run(**settings)

    assert run.code in (EXIT_NOPERM, EXIT_TEMPFAIL), run.output()
    calls = [(c["method"], c["path"]) for c in fake_github.calls]
    assert len(calls) == 1, calls
    assert all(e.field("confirmed") is not False for e in run.events("runner.deregistered"))


def test_summary_does_not_claim_a_deregistration_it_could_not_confirm(fake_github, supervisor):
    fake_github.set_down(True)  # during the registration and the search for its ghost

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=2, SUPERVISOR_DEREGISTER_PATIENCE=1,
                         SUPERVISOR_DEREGISTER_DEADLINE=1)

    assert run.code == EXIT_UNAVAILABLE, run.output()
    assert run.event("runner.deregistered").field("confirmed") is False
    assert run.summary()["github"]["deregistered"] != "confirmed"


def test_invalid_json_from_generate_jitconfig_fails_and_removes_the_ghost(fake_github,
                                                                          supervisor):
    fake_github.inject("POST", JIT_PATH, kind="invalid_json")

    run = supervisor.run()

    assert run.code not in (EXIT_OK, EXIT_CONFIG), run.output()
    (post,) = fake_github.api_calls(JIT_PATH, "POST")
    assert post["status"] == 201  # GitHub registered it; the answer was garbage
    assert statuses(fake_github.api_calls(RUNNER_PATH, "DELETE")) == [204]
    assert run.listener("run") is None
    # and the fixture checks that nothing is left registered


def test_lost_201_is_recovered_through_409_leaving_one_runner(fake_github, supervisor):
    fake_github.inject("POST", JIT_PATH, kind="drop", after=True)  # registered, answer lost
    job = job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=8)

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [None, 409, 201]
    (delete,) = fake_github.api_calls(RUNNER_PATH, "DELETE")
    ghost_id = int(delete["path"].rsplit("/", 1)[1])
    registered = run.event("runner.registered").field("runner_id")
    assert ghost_id != registered and delete["status"] == 204
    assert delete["ts"] < fake_github.api_calls(JIT_PATH, "POST")[-1]["ts"]
    assert job.runner_id == registered


# ---------------------------------------------------------------------------------------------
# 11. SIGTERM during registration


@pytest.mark.parametrize("earlier_attempt", ["none", "registered-answer-lost"])
def test_sigterm_during_registration_exits_0_leaving_nothing_registered(fake_github,
                                                                        supervisor,
                                                                        earlier_attempt):
    if earlier_attempt == "registered-answer-lost":
        fake_github.inject("POST", JIT_PATH, kind="drop", after=True)
    slow = fake_github.inject("POST", JIT_PATH, kind="delay", seconds=30)
    run = supervisor.start(SUPERVISOR_REGISTER_DEADLINE=20)

    def in_flight():
        return any(f["id"] == slow and f["hits"] for f in fake_github.faults())

    wait_until(in_flight, timeout=10, what="generate-jitconfig in flight")
    time.sleep(0.2)
    signalled = time.monotonic()
    run.send_signal(signal.SIGTERM)

    assert run.wait(timeout=10) == EXIT_OK, run.output()
    assert run.exited_at - signalled < 2.5
    assert fake_github.runners() == []  # at the moment the supervisor is gone
    assert run.events("runner.registered") == [] and run.listener("run") is None


# ---------------------------------------------------------------------------------------------
# 12. proxies


def test_https_proxy_carries_every_request_to_github(fake_github, supervisor, tinyproxy):
    job_in(fake_github)

    run = supervisor.run(HTTPS_PROXY=tinyproxy.url)

    assert run.code == EXIT_OK, run.output()
    connects = tinyproxy.connects()
    assert connects and set(connects) == {f"127.0.0.1:{fake_github.port}"}
    assert run.listener("run")["env"]["HTTPS_PROXY"] == tinyproxy.url  # jobs need it too


def test_no_proxy_bypasses_the_proxy(fake_github, supervisor, tinyproxy):
    job_in(fake_github)

    run = supervisor.run(HTTPS_PROXY=tinyproxy.url, NO_PROXY="127.0.0.1")

    assert run.code == EXIT_OK, run.output()
    assert tinyproxy.connects() == []


# ---------------------------------------------------------------------------------------------
# 13. check --online


def test_check_online_proves_a_classic_pat_and_prints_the_rate_limit_budget(fake_github,
                                                                            supervisor):
    token = fake_github.add_pat(scopes=["admin:org"])

    run = supervisor.run("check", "--online", GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_OK, run.output()
    budget = fake_github.rate_limit(token)
    m = re.search(r"(\d+) of (\d+)", run.stdout)
    assert m and (int(m[1]), int(m[2])) == (budget["remaining"], budget["limit"]), run.stdout
    ((call),) = fake_github.calls
    assert call["method"] == "GET" and call["path"].endswith("/orgs/acme/actions/runners")
    assert call["query"].get("per_page") == "1"
    assert fake_github.runners() == [] and run.listener("run") is None


@pytest.mark.parametrize("credential", ["missing-scope", "bad-token"])
def test_check_online_rejects_credentials_that_cannot_register(fake_github, supervisor,
                                                               credential):
    token = (fake_github.add_pat(scopes=["repo"]) if credential == "missing-scope"
             else "ghp_" + "Wb4" * 12)

    run = supervisor.run("check", "--online", GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_NOPERM, run.output()
    assert fake_github.api_calls(r"/actions/runners/", "POST") == []


def test_check_online_proves_an_app_installation(fake_github, supervisor):
    app = fake_github.add_app()
    app.install(org="acme")

    run = supervisor.run("check", "--online", **supervisor.app_env(app))

    assert run.code == EXIT_OK, run.output()
    assert re.search(r"\d+ of \d+", run.stdout), run.stdout
    assert fake_github.api_calls(r"/actions/runners/", "POST") == []
    assert fake_github.runners() == []


# ---------------------------------------------------------------------------------------------
# 14. secrets in error messages (the fixture checks every other test's output too)


SECRET_LOOKING_PAT = "ghp_" + "R2d2C3po" * 4 + "Xy9q"


def test_rejected_pat_never_appears_in_error_messages(fake_github, supervisor):
    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(SECRET_LOOKING_PAT))

    assert run.code == EXIT_NOPERM, run.output()
    error = run.event("supervisor.error")["msg"]
    assert "401" in error
    assert SECRET_LOOKING_PAT not in run.stderr + run.stdout
    assert re.search(r"ghp_\w{8}", run.stderr) is None  # nor any telling part of it


def test_pat_quoted_back_in_an_error_is_replaced_by_stars(fake_github, supervisor):
    token = fake_github.add_pat(token=SECRET_LOOKING_PAT)
    # a proxy, or GitHub, quoting the credential back in its answer
    fake_github.inject("POST", JIT_PATH, kind="status", status=401,
                       body={"message": f"Bad credentials: token {token} was revoked"})

    # (the termination log's copy: test_termination_log_never_holds_a_secret)
    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(token),
                         SUPERVISOR_TERMINATION_LOG=None)

    assert run.code == EXIT_NOPERM, run.output()
    error = run.event("supervisor.error")["msg"]
    assert "Bad credentials: token *** was revoked" in error
    assert token not in run.stderr + run.stdout


def test_termination_log_never_holds_a_secret(fake_github, supervisor):
    token = fake_github.add_pat(token=SECRET_LOOKING_PAT)
    fake_github.inject("POST", JIT_PATH, kind="status", status=401,
                       body={"message": f"Bad credentials: token {token} was revoked"})

    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(token))
    run.termination_log_under_test = True

    assert run.code == EXIT_NOPERM, run.output()
    assert run.summary()["exit"]["code"] == EXIT_NOPERM
    assert token not in run.termination_log_text()


def test_secret_cut_by_a_truncated_error_message_is_not_printed_in_part(fake_github,
                                                                        supervisor):
    token = fake_github.add_pat(token=SECRET_LOOKING_PAT)
    prefix = "Bad credentials. " + "x" * (200 - len("Bad credentials. ") - 20)
    fake_github.inject("POST", JIT_PATH, kind="status", status=401,
                       body={"message": prefix + token})

    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_NOPERM, run.output()
    pieces = {token[i:i + 12] for i in range(len(token) - 11)}
    assert not [p for p in pieces if p in run.stderr]


# ---------------------------------------------------------------------------------------------
# 15. installation tokens that expire (§2.7, §7.10)

MINT_PATH = r"/access_tokens$"
SHORT_TTL = 6  # seconds: the fake's installation tokens, in the tests that outlive them


def app_pod(fake_github, supervisor, scope="acme", with_id=True):
    app = fake_github.add_app()
    installation = app.install(repo=scope) if "/" in scope else app.install(org=scope)
    return supervisor.app_env(app, installation_id=installation if with_id else None)


def refused(calls):
    return [(c["method"], c["path"]) for c in calls if c["status"] == 401]


def token_has_expired(fake_github):
    return lambda: all(t.expires <= fake_github._now()
                       for t in fake_github._inst_tokens.values())


def test_idle_runner_past_its_token_lifetime_is_deregistered_with_a_fresh_token(fake_github,
                                                                                supervisor):
    fake_github.installation_token_ttl = SHORT_TTL
    run = supervisor.start(FAKE_LISTENER_MODE="sleep", **app_pod(fake_github, supervisor))
    run.wait_for_listener("run")
    wait_until(token_has_expired(fake_github), timeout=SHORT_TTL + 5, interval=0.1,
               what="the first installation token to expire")

    run.send_signal(signal.SIGTERM)

    assert run.wait() == EXIT_OK, run.output()
    assert run.event("runner.deregistered").field("confirmed") is True
    # renewed ahead of expiry, not after a refusal: mint, JIT, mint, DELETE
    assert [(c["method"], c["status"]) for c in fake_github.calls] == [
        ("POST", 201), ("POST", 201), ("POST", 201), ("DELETE", 204)]
    assert len(fake_github.api_calls(MINT_PATH, "POST")) == 2
    assert refused(fake_github.calls) == []
    assert run.summary()["github"]["deregistered"] == "confirmed"


def test_job_longer_than_the_token_lifetime_ends_with_a_confirmed_deregistration(fake_github,
                                                                                 supervisor):
    fake_github.installation_token_ttl = SHORT_TTL
    job = job_in(fake_github)

    run = supervisor.run(FAKE_LISTENER_JOB_SECONDS=SHORT_TTL + 1,
                         **app_pod(fake_github, supervisor))

    assert run.code == EXIT_OK, run.output()
    assert job.result == "Succeeded"
    assert run.event("runner.deregistered").field("confirmed") is True
    mints = fake_github.api_calls(MINT_PATH, "POST")
    assert len(mints) == 2 and refused(fake_github.calls) == []
    (confirm,) = fake_github.api_calls(RUNNER_PATH, "GET")
    assert confirm["status"] == 404 and confirm["ts"] > mints[1]["ts"]
    assert confirm["headers"]["authorization"] == f"Bearer {fake_github.installation_tokens()[1]}"


def test_token_refused_before_its_time_is_reminted_once(fake_github, supervisor):
    run = supervisor.start(FAKE_LISTENER_MODE="sleep", **app_pod(fake_github, supervisor))
    run.wait_for_listener("run")
    fake_github.expire_tokens()  # revoked, or a clock that lied: the pod cannot know

    run.send_signal(signal.SIGTERM)

    assert run.wait() == EXIT_OK, run.output()
    assert run.event("runner.deregistered").field("confirmed") is True
    assert [(c["method"], c["status"]) for c in fake_github.calls[2:]] == [
        ("DELETE", 401), ("POST", 201), ("DELETE", 204)]


def test_token_refused_twice_is_not_reminted_again(fake_github, supervisor):
    fake_github.inject("POST", JIT_PATH, kind="unauthorized", times=None)

    run = supervisor.run(**app_pod(fake_github, supervisor))

    assert run.code == EXIT_NOPERM, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [401, 401]
    assert len(fake_github.api_calls(MINT_PATH, "POST")) == 2


def test_check_online_remints_a_refused_token(fake_github, supervisor):
    fake_github.inject("GET", r"/actions/runners$", kind="unauthorized")

    run = supervisor.run("check", "--online", **app_pod(fake_github, supervisor))

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(r"/actions/runners$", "GET")) == [401, 200]
    assert len(fake_github.api_calls(MINT_PATH, "POST")) == 2


@pytest.mark.parametrize("credential, budget", [("pat", 2), ("app", 3), ("arc", 0)])
def test_rest_budget_of_a_pod_whose_token_does_not_expire(fake_github, supervisor, credential,
                                                          budget):
    job_in(fake_github)
    settings = {}
    if credential == "app":
        settings = app_pod(fake_github, supervisor)
    elif credential == "arc":
        blob, _ = fake_github.jit_config_for("/orgs/acme", "arc-runner-9", supervisor.default_pat)
        fake_github.reset_calls()
        settings = {"ACTIONS_RUNNER_INPUT_JITCONFIG": blob, "GITHUB_URL": None,
                    "GITHUB_TOKEN_FILE": None, "RUNNER_NAME": None, "HOSTNAME": "arc-runner-9"}

    run = supervisor.run(**settings)

    assert run.code == EXIT_OK, run.output()
    assert len(fake_github.calls) <= budget, [(c["method"], c["path"]) for c in fake_github.calls]
    assert run.summary()["github"]["calls"] == len(fake_github.calls)


# ---------------------------------------------------------------------------------------------
# 16. every supported GitHub Enterprise Server (§7.11)


def test_ghes_without_jit_says_in_one_line_to_use_registration_tokens(fake_github, supervisor):
    fake_github.ghes = "3.9"

    run = supervisor.run()

    assert run.code == EXIT_CONFIG, run.output()
    error = run.event("supervisor.error")["msg"]
    assert "SUPERVISOR_REGISTRATION=token" in error and "3.9" in error and "\n" not in error
    assert [(c["method"], c["status"]) for c in fake_github.calls] == [("POST", 404)]
    assert run.listener("run") is None


def test_ghes_without_jit_registers_with_a_registration_token(fake_github, supervisor):
    fake_github.ghes = "3.9"
    job = job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTRATION="token")

    assert run.code == EXIT_OK, run.output()
    assert job.result == "Succeeded"
    assert run.event("runner.deregistered").field("confirmed") is True


def test_check_online_on_a_ghes_without_jit_names_the_setting(fake_github, supervisor):
    fake_github.ghes = "3.9"

    run = supervisor.run("check", "--online")

    assert run.code == EXIT_CONFIG, run.output()
    assert "SUPERVISOR_REGISTRATION=token" in run.event("supervisor.error")["msg"]
    assert supervisor.run("check", "--online", SUPERVISOR_REGISTRATION="token").code == EXIT_OK


def test_ghost_on_ghes_3_10_is_found_without_a_name_filter_and_without_409(fake_github,
                                                                           supervisor):
    fake_github.ghes = "3.10"
    for i in range(120):  # the ghost is on the second page of 100
        fake_github.register_runner("acme", f"other-{i}", status="online")
    ghost = fake_github.register_runner("acme", supervisor.runner_name, status="offline")
    fake_github.expect_runners(120)
    job_in(fake_github)

    run = supervisor.run()

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [422, 201]
    lists = fake_github.api_calls(r"/actions/runners$", "GET")
    assert [c["query"].get("page") for c in lists] == ["1", "2"]
    assert all("name" not in c["query"] for c in lists)  # 3.10 has no `name`
    (delete,) = fake_github.api_calls(RUNNER_PATH, "DELETE")
    assert delete["path"].endswith(f"/{ghost['id']}") and delete["status"] == 204
    assert run.event("runner.registered").field("runner_name") == supervisor.runner_name


def test_ghost_whose_name_differs_in_case_is_found_though_the_filter_misses_it(fake_github,
                                                                               supervisor):
    ghost = fake_github.register_runner("acme", supervisor.runner_name.upper())
    job_in(fake_github)

    run = supervisor.run()

    assert run.code == EXIT_OK, run.output()
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [409, 201]
    filtered, unfiltered = fake_github.api_calls(r"/actions/runners$", "GET")
    assert filtered["query"]["name"] == supervisor.runner_name
    assert "name" not in unfiltered["query"]
    (delete,) = fake_github.api_calls(RUNNER_PATH, "DELETE")
    assert delete["path"].endswith(f"/{ghost['id']}")


def test_genuine_422_from_generate_jitconfig_is_a_configuration_error(fake_github, supervisor):
    message = "Invalid request.\n\nFor 'properties/labels', item 7 is not allowed."
    fake_github.inject("POST", JIT_PATH, kind="status", status=422,
                       body={"message": message, "documentation_url": "https://docs.github.com",
                             "errors": [message]})

    run = supervisor.run()

    assert run.code == EXIT_CONFIG, run.output()
    assert "422" in run.event("supervisor.error")["msg"]
    assert fake_github.api_calls(RUNNER_PATH, "DELETE") == []


@pytest.mark.parametrize("ghes", [None, "3.10", "3.19"], ids=["github.com", "ghes-3.10",
                                                              "ghes-3.19"])
@pytest.mark.parametrize("url_path, scope", [("/acme", "acme"), ("/acme/app", "acme/app"),
                                             ("/enterprises/ent", "enterprises/ent")])
def test_every_supported_version_recovers_a_ghost_runs_and_deregisters(fake_github, supervisor,
                                                                      ghes, url_path, scope):
    fake_github.ghes = ghes
    fake_github.register_runner(scope, supervisor.runner_name, status="offline")
    settings = {"GITHUB_URL": fake_github.url + url_path, "FAKE_LISTENER_MODE": "sleep"}
    if scope == "acme":
        settings.update(app_pod(fake_github, supervisor, with_id=False))
        fake_github.add_runner_group("acme", "pool")
        settings["RUNNER_GROUP"] = "pool"
    elif scope == "acme/app":
        settings.update(app_pod(fake_github, supervisor, scope="acme/app", with_id=False))
    run = supervisor.start(**settings)
    run.wait_for_listener("run")

    run.send_signal(signal.SIGTERM)

    assert run.wait() == EXIT_OK, run.output()
    assert run.event("runner.deregistered").field("confirmed") is True
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [
        422 if ghes == "3.10" else 409, 201]
    assert statuses(fake_github.api_calls(RUNNER_PATH, "DELETE")) == [204, 204]


@pytest.mark.parametrize("ghes", [None, "3.10", "3.19"], ids=["github.com", "ghes-3.10",
                                                              "ghes-3.19"])
@pytest.mark.parametrize("url_path, scope", [("/acme", "acme"), ("/acme/app", "acme/app"),
                                             ("/enterprises/ent", "enterprises/ent")])
def test_every_supported_version_confirms_a_finished_runner_gone_with_a_get(
        fake_github, supervisor, ghes, url_path, scope):
    """After a job GitHub removes the ephemeral runner itself, so the deregistration looks
    first (get-self-hosted-runner-*) instead of deleting: that request must exist in every
    supported description at every scope (the contract test checks it)."""
    fake_github.ghes = ghes
    job_in(fake_github, scope=scope)

    run = supervisor.run(GITHUB_URL=fake_github.url + url_path)

    assert run.code == EXIT_OK, run.output()
    assert run.event("runner.deregistered").field("confirmed") is True
    assert statuses(fake_github.api_calls(RUNNER_PATH, "GET"))[:1] == [404]


@pytest.mark.parametrize("ghes", [None, "3.10", "3.19"], ids=["github.com", "ghes-3.10",
                                                              "ghes-3.19"])
def test_every_supported_version_registers_with_a_token_and_checks_online(fake_github,
                                                                         supervisor, ghes):
    fake_github.ghes = ghes
    gid = fake_github.add_runner_group("acme", "pool")
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTRATION="token", RUNNER_GROUP=str(gid))
    check = supervisor.run("check", "--online", **app_pod(fake_github, supervisor,
                                                          scope="acme/app"),
                           GITHUB_URL=fake_github.url + "/acme/app")

    assert run.code == EXIT_OK, run.output()
    assert check.code == EXIT_OK, check.output()


# ---------------------------------------------------------------------------------------------
# 17. runner groups GitHub refuses (§7.13)


def test_unknown_runner_group_id_exits_78_naming_runner_group(fake_github, supervisor):
    run = supervisor.run(RUNNER_GROUP="9999")

    assert run.code == EXIT_CONFIG, run.output()
    error = run.event("supervisor.error")["msg"]
    assert "RUNNER_GROUP=9999" in error and "no runner group" in error
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [404]


@pytest.mark.parametrize("by", ["name", "id"])
def test_runner_group_github_refuses_exits_78_naming_runner_group(fake_github, supervisor, by):
    gid = fake_github.add_runner_group("acme", "locked", usable=False)

    run = supervisor.run(RUNNER_GROUP="locked" if by == "name" else str(gid))

    assert run.code == EXIT_CONFIG, run.output()
    error = run.event("supervisor.error")["msg"]
    assert "RUNNER_GROUP=" in error and "locked" in error
    assert statuses(fake_github.api_calls(JIT_PATH, "POST")) == [403]
    assert fake_github.runners() == []


def test_credentials_refused_with_a_runner_group_are_still_77(fake_github, supervisor):
    gid = fake_github.add_runner_group("acme", "gpu")
    token = fake_github.add_pat(scopes=["repo"])

    run = supervisor.run(RUNNER_GROUP=str(gid), GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_NOPERM, run.output()


def test_runner_group_id_at_repository_scope_is_a_configuration_error(fake_github, supervisor):
    run = supervisor.run(GITHUB_URL=fake_github.url + "/acme/app", RUNNER_GROUP="7")

    assert run.code == EXIT_CONFIG, run.output()
    assert "RUNNER_GROUP=7" in run.event("supervisor.error")["msg"]
    assert fake_github.calls == []


# ---------------------------------------------------------------------------------------------
# 18. check --online tells the truth about scopes (§7.14)


@pytest.mark.parametrize("url_path, scopes", [
    ("/enterprises/ent", ["admin:enterprise"]),
    ("/acme", ["admin:org", "repo"]),
    ("/acme/app", ["repo", "admin:enterprise"]),
])
def test_check_online_counts_scopes_that_include_the_needed_one(fake_github, supervisor,
                                                                url_path, scopes):
    token = fake_github.add_pat(scopes=scopes)

    run = supervisor.run("check", "--online", GITHUB_URL=fake_github.url + url_path,
                         GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_OK, run.output()
    assert "(granted)" in run.stdout


def test_check_online_treats_an_empty_scopes_header_as_a_fine_grained_token(fake_github,
                                                                            supervisor):
    token = fake_github.add_pat(fine_grained=True)

    run = supervisor.run("check", "--online", GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_OK, run.output()
    assert "fine-grained PAT" in run.stdout and "cannot be verified" in run.stdout


def test_fine_grained_pat_registers_and_deregisters(fake_github, supervisor):
    token = fake_github.add_pat(fine_grained=True)
    job = job_in(fake_github)

    run = supervisor.run(GITHUB_TOKEN_FILE=supervisor.pat_file(token))

    assert run.code == EXIT_OK, run.output()
    assert job.result == "Succeeded"


# ---------------------------------------------------------------------------------------------
# 19. least privilege for repository App tokens (§7.15)


def test_app_token_at_a_repository_is_narrowed_to_that_repository(fake_github, supervisor):
    fake_github.add_repo("acme/other")
    app = fake_github.add_app()
    app.install(org="acme")  # the installation covers every repository of acme
    job_in(fake_github)

    run = supervisor.run(GITHUB_URL=fake_github.url + "/acme/app", **supervisor.app_env(app))

    assert run.code == EXIT_OK, run.output()
    (mint,) = fake_github.api_calls(MINT_PATH, "POST")
    assert mint["body"] == {"permissions": {"administration": "write"}, "repositories": ["app"]}
    (token,) = fake_github._inst_tokens.values()
    assert token.repos == {"app"} and token.permissions == {"administration": "write"}
    status, _ = fake_github.call_api("GET", "/repos/acme/other/actions/runners", token.token)
    assert status == 403


def test_app_token_at_an_organization_asks_for_the_runner_permission_only(fake_github,
                                                                          supervisor):
    job_in(fake_github)

    run = supervisor.run(**app_pod(fake_github, supervisor))

    assert run.code == EXIT_OK, run.output()
    (mint,) = fake_github.api_calls(MINT_PATH, "POST")
    assert mint["body"] == {"permissions": {"organization_self_hosted_runners": "write"}}


# ---------------------------------------------------------------------------------------------
# 20. GitHub's best practices for mutating requests (§7.16)


def mutations(fake_github):
    return [c for c in fake_github.calls if c["method"] in ("POST", "DELETE", "PATCH", "PUT")]


def assert_a_second_apart(sent):
    for before, after in zip(sent, sent[1:]):
        assert after["ts"] - before["ts"] >= 1.0 - 0.02, (before["path"], after["path"])


def test_mutating_requests_are_at_least_a_second_apart(fake_github, supervisor):
    fake_github.inject("POST", JIT_PATH, kind="drop", after=True)  # registered, answer lost
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=12)

    assert run.code == EXIT_OK, run.output()
    sent = mutations(fake_github)
    # JIT (answer lost), JIT (taken), DELETE of the ghost, JIT
    assert [c["method"] for c in sent] == ["POST", "POST", "DELETE", "POST"]
    assert_a_second_apart(sent)


def test_app_token_and_registration_are_a_second_apart(fake_github, supervisor):
    job_in(fake_github)

    run = supervisor.run(**app_pod(fake_github, supervisor))

    assert run.code == EXIT_OK, run.output()
    sent = mutations(fake_github)
    assert [c["path"].rsplit("/", 1)[1] for c in sent] == ["access_tokens", "generate-jitconfig"]
    assert_a_second_apart(sent)


def test_repeated_secondary_limits_wait_the_hint_then_exponentially_longer(fake_github,
                                                                           supervisor):
    # A fleet's pods refused in turn are a queue: each waits the hint, ten times in a row
    # (retry.h, RETRY_QUEUE_STREAK); then each more doubles the wait, as GitHub asks.
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", retry_after=1, times=12)
    job_in(fake_github)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=40, timeout=45)

    assert run.code == EXIT_OK, run.output()
    waits = [e.field("wait_ms") for e in run.events("github.retry")]
    hints = [1000] * 10 + [2000, 4000]
    assert len(waits) == len(hints)
    for wait, hint in zip(waits, hints):
        assert hint <= wait < hint + hint // 20 + 1000  # the hint or its double, its jitter
    posts = fake_github.api_calls(JIT_PATH, "POST")
    for before, after, hint in zip(posts, posts[1:], hints):
        assert after["ts"] - before["ts"] >= hint / 1000 - 0.05


def test_repeated_secondary_limits_give_up_at_the_deadline(fake_github, supervisor):
    fake_github.inject("POST", JIT_PATH, kind="secondary_limit", retry_after=1, times=None)

    run = supervisor.run(SUPERVISOR_REGISTER_DEADLINE=5)

    assert run.code == EXIT_TEMPFAIL, run.output()
    # A retry every 1 to 2.05 s (the hint and its jitter), none that would cross the deadline
    posts = statuses(fake_github.api_calls(JIT_PATH, "POST"))
    assert 3 <= len(posts) <= 5 and set(posts) == {403}
    assert run.elapsed < 5 + 1.5
