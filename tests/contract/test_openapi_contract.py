"""The contract test: every request runner-supervisor made to the fake GitHub during the
integration tests, checked against the operation it calls in GitHub's own OpenAPI description
(method, path, query and body; validate.mjs says how), offline.

The descriptions come from the npm package @octokit/openapi, installed with `npm ci` from this
directory's package-lock.json into build/contract-node: release 23.0.2 (api.github.com, GHEC,
GHES 3.17-3.19) and, under the name octokit-openapi-ghes-3.8-3.12, release 14.0.0 (GHES 3.8 to
3.12). A request is checked against the description of what the fake emulated when it was
made: api.github.com (GHEC for enterprise paths, which api.github.com's description lacks), or
the GHES version (`ghes` of the fake). The oldest GHES the supervisor supports (3.10) and the
newest published (3.19) must each have seen every operation it uses.

Where the calls come from: `make integration` exports RS_GITHUB_CALL_LOG, and the fake GitHub
appends every request to calls-<pid>.jsonl there (tests/fakes/fake_github.py). Only requests
newer than the supervisor binary count; when there are none (this test run on its own), it
runs tests/integration/test_github.py itself to record them. Logs that passed are removed.

Reference: ../shared/reference/github-runner-api.md §7.11 and §7.17.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_DIR = REPO / "build" / "contract-node"
CALL_LOG = Path(os.environ.get("RS_GITHUB_CALL_LOG") or REPO / "build" / "contract" / "calls")
RS_BIN = Path(os.environ.get("RS_BIN") or REPO / "build" / "asan" / "runner-supervisor")
USER_AGENT = "runner-supervisor/"
OLDEST_GHES, NEWEST_GHES = "3.10", "3.19"
# What a pod does, at each scope that has it: each must be seen in the oldest and newest
# supported description and in api.github.com's.
OPERATIONS = {
    "actions/generate-runner-jitconfig-for-org", "actions/generate-runner-jitconfig-for-repo",
    "actions/list-self-hosted-runners-for-org", "actions/get-self-hosted-runner-for-org",
    "actions/delete-self-hosted-runner-from-org", "actions/create-registration-token-for-org",
    "actions/list-self-hosted-runner-groups-for-org", "actions/list-self-hosted-runners-for-repo",
    "apps/create-installation-access-token", "apps/get-org-installation",
    "apps/get-repo-installation",
}
ENTERPRISE_OPERATIONS = {
    "actions/generate-runner-jitconfig-for-enterprise",
    "enterprise-admin/get-self-hosted-runner-for-enterprise",
    "enterprise-admin/delete-self-hosted-runner-from-enterprise",
}
NPM_TIMEOUT, NODE_TIMEOUT, RECORD_TIMEOUT = 600, 300, 1200


# ---- the validator --------------------------------------------------------------------------


def lock_digest():
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def validator():
    """npm ci into build/contract-node (once per lock file); → a function that checks a list
    of calls ({"id", "description", "method", "path", "query", "body"})."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: install nodejs and npm (make manifest-deps)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copyfile(HERE / name, NODE_DIR / name)
    stamp, digest = NODE_DIR / ".installed", lock_digest()
    if not (stamp.exists() and stamp.read_text() == digest
            and (NODE_DIR / "node_modules").is_dir()):
        out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=NODE_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        assert out.returncode == 0, f"npm ci failed:\n{out.stdout}\n{out.stderr}"
        stamp.write_text(digest)

    def check(calls):
        out = subprocess.run(["node", str(NODE_DIR / "validate.mjs")],
                             input=json.dumps({"calls": calls}), capture_output=True, text=True,
                             timeout=NODE_TIMEOUT, cwd=NODE_DIR)
        assert out.returncode == 0, f"validate.mjs failed:\n{out.stderr}"
        answer = json.loads(out.stdout)
        return {r["id"]: r for r in answer["results"]}, answer["descriptions"]

    return check


def api_path(call):
    """The path under the API base (the fake serves GHES's /api/v3 and the root alike)."""
    path = call["path"]
    if path == "/api/v3" or path.startswith("/api/v3/"):
        path = path[len("/api/v3"):] or "/"
    return path


def description_of(call):
    """The description a recorded request is checked against."""
    if call.get("ghes"):
        return f"ghes-{call['ghes']}"
    return "ghec" if api_path(call).startswith("/enterprises/") else "api.github.com"


def request_of(i, call):
    return {"id": i, "description": description_of(call), "method": call["method"],
            "path": api_path(call), "query": call.get("raw_query", ""),
            "body": call.get("body")}


def expected_outside_the_spec(call):
    """The one request the supervisor sends knowing it may not exist: generate-jitconfig on a
    GHES before 3.10, whose 404 makes it say to set SUPERVISOR_REGISTRATION=token (README,
    "GitHub Enterprise Server")."""
    version = tuple(int(x) for x in (call.get("ghes") or "99.0").split("."))
    return (version < (3, 10) and call["method"] == "POST"
            and call["path"].endswith("/actions/runners/generate-jitconfig")
            and call["status"] == 404)


# ---- the recorded calls ---------------------------------------------------------------------


def read_log(directory, since):
    calls = []
    for log in sorted(Path(directory).glob("calls-*.jsonl")):
        for line in log.read_text().splitlines():
            call = json.loads(line)
            if call["user_agent"].startswith(USER_AGENT) and call["ts"] >= since:
                calls.append(call)
    return calls


def record_calls(directory):
    """Runs the GitHub integration tests with the fake writing down every request."""
    env = dict(os.environ, RS_GITHUB_CALL_LOG=str(directory))
    env.setdefault("RS_BIN", str(RS_BIN))
    env.setdefault("RS_RELEASE_BIN", str(REPO / "build" / "runner-supervisor"))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(REPO / "tests" / "integration" / "test_github.py")],
                         env=env, capture_output=True, text=True, timeout=RECORD_TIMEOUT,
                         cwd=REPO)
    assert out.returncode == 0, f"recording the calls failed:\n{out.stdout[-5000:]}"


@pytest.fixture(scope="session")
def recorded():
    """Every request the supervisor made in the integration tests since it was built."""
    if not RS_BIN.exists():
        pytest.fail(f"{RS_BIN} is not built (make asan)")
    since = RS_BIN.stat().st_mtime
    calls = read_log(CALL_LOG, since) if CALL_LOG.is_dir() else []
    if not calls:
        CALL_LOG.mkdir(parents=True, exist_ok=True)
        record_calls(CALL_LOG)
        calls = read_log(CALL_LOG, since)
    assert calls, f"no request of runner-supervisor was recorded in {CALL_LOG}"
    yield calls


# ---- the tests ------------------------------------------------------------------------------


def test_every_request_of_the_supervisor_is_allowed_by_githubs_description(validator,
                                                                           recorded):
    results, sources = validator([request_of(i, c) for i, c in enumerate(recorded)])
    bad = []
    for i, call in enumerate(recorded):
        errors = results[i]["errors"]
        if expected_outside_the_spec(call):
            assert errors, f"generate-jitconfig is in {description_of(call)} after all"
            continue
        if errors:
            query = f"?{call['raw_query']}" if call["raw_query"] else ""
            bad.append(f"{call['method']} {call['path']}{query} body={json.dumps(call['body'])}"
                       f"\n    against {description_of(call)} ({sources[description_of(call)]})"
                       f"\n    in {call['test']}\n    " + "\n    ".join(errors))
    assert not bad, f"{len(bad)} of {len(recorded)} requests break the contract:\n" + \
        "\n".join(bad[:40])
    # and nothing went unchecked: each supported description saw what a pod does
    seen = {}
    for i, call in enumerate(recorded):
        seen.setdefault(description_of(call), set()).add(results[i]["operationId"])
    for description in ("api.github.com", f"ghes-{OLDEST_GHES}", f"ghes-{NEWEST_GHES}"):
        missing = OPERATIONS - seen.get(description, set())
        assert not missing, f"{description}: no request of {sorted(missing)} was checked"
    for description in ("ghec", f"ghes-{OLDEST_GHES}", f"ghes-{NEWEST_GHES}"):
        missing = ENTERPRISE_OPERATIONS - seen.get(description, set())
        assert not missing, f"{description}: no request of {sorted(missing)} was checked"
    print(f"{len(recorded)} requests checked against " + ", ".join(sorted(set(sources.values()))))
    for log in CALL_LOG.glob("calls-*.jsonl"):  # checked: not again
        log.unlink()


JIT_BODY = {"name": "pod-1", "runner_group_id": 1, "labels": ["self-hosted", "Linux", "X64"],
            "work_folder": "_work"}


@pytest.mark.parametrize("description, method, path, query, body, expected", [
    ("api.github.com", "POST", "/orgs/acme/actions/runners/generate-jitconfig", "", JIT_BODY,
     None),
    ("ghes-3.10", "GET", "/orgs/acme/actions/runners", "per_page=100&page=2", None, None),
    ("ghes-3.19", "POST", "/app/installations/7/access_tokens", "",
     {"permissions": {"administration": "write"}, "repositories": ["app"]}, None),
    # what the contract must refuse
    ("ghes-3.9", "POST", "/orgs/acme/actions/runners/generate-jitconfig", "", JIT_BODY,
     "POST is not an operation"),
    ("ghes-3.10", "GET", "/orgs/acme/actions/runners", "name=pod-1", None,
     "query parameter name is not declared"),
    ("api.github.com", "GET", "/orgs/acme/actions/runners", "per_page=all", None,
     "per_page=all"),
    ("api.github.com", "GET", "/orgs/acme/actions/runner-groups", "page=x", None, "page=x"),
    ("api.github.com", "PUT", "/orgs/acme/actions/runners/5", "", None,
     "PUT is not an operation"),
    ("api.github.com", "GET", "/orgs/acme/actions/runners/abc", "", None, "path runner_id"),
    ("api.github.com", "POST", "/orgs/acme/actions/runners/generate-jitconfig", "",
     dict(JIT_BODY, ephemeral=True), "ephemeral"),
    ("api.github.com", "POST", "/orgs/acme/actions/runners/generate-jitconfig", "",
     dict(JIT_BODY, runner_group_id="1"), "runner_group_id"),
    ("api.github.com", "POST", "/orgs/acme/actions/runners/generate-jitconfig", "",
     {"name": "pod-1", "runner_group_id": 1}, "labels"),
    ("api.github.com", "POST", "/orgs/acme/actions/runners/generate-jitconfig", "", None,
     "needs a request body"),
    ("api.github.com", "GET", "/orgs/acme/actions/runners/5", "", {"x": 1},
     "takes no request body"),
    ("api.github.com", "POST", "/app/installations/7/access_tokens", "",
     {"permissions": {"administration": "own"}}, "permissions"),
    ("api.github.com", "GET", "/enterprises/ent/actions/runners", "", None, "no path"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_the_validator_refuses_what_the_spec_does_not_allow(validator, description, method,
                                                            path, query, body, expected):
    results, _ = validator([{"id": 0, "description": description, "method": method,
                             "path": path, "query": query, "body": body}])
    errors = results[0]["errors"]
    if expected is None:
        assert errors == []
    else:
        assert errors and any(expected in e for e in errors), errors
