"""The fake GitHub's secondary rate limits and installation budgets, which the fleet tests rely
on, against GitHub's docs page "Rate limits for the REST API" (tests/fakes/fake_github.py,
"Secondary rate limits")."""
import json
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest

import fleet as F
from fake_github import DOCS_RATE


class Client:
    """Requests as a well-behaved client sends them; → (status, headers, JSON)."""

    def __init__(self, gh, token=None):
        self.gh, self.token = gh, token
        self.ctx = ssl.create_default_context(cafile=gh.ca_file)

    def call(self, method, path, body=None, token=None, base=None):
        headers = {"User-Agent": "fleet-tests/1", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28",
                   "Authorization": f"Bearer {token or self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request((base or self.gh.api_url) + path, data=data, method=method,
                                     headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.ctx))
        try:
            with opener.open(req, timeout=30) as resp:
                return (resp.status, {k.lower(): v for k, v in resp.headers.items()},
                        json.loads(resp.read() or b"null"))
        except urllib.error.HTTPError as e:
            return (e.code, {k.lower(): v for k, v in e.headers.items()},
                    json.loads(e.read() or b"null"))

    def register(self, name):
        return self.call("POST", f"/orgs/{F.ORG}/actions/runners/generate-jitconfig",
                         {"name": name, "runner_group_id": 1, "labels": ["self-hosted"]})


@pytest.fixture
def gh(tmp_path):
    fake = F.FleetGitHub(str(tmp_path / "github"))
    fake.start()
    yield fake
    fake.stop()


def test_the_defaults_are_githubs_documented_limits(gh):
    assert F.SECONDARY_POINTS == {"GET": 1, "HEAD": 1, "OPTIONS": 1, "POST": 5, "PATCH": 5,
                                  "PUT": 5, "DELETE": 5}
    assert gh.secondary_points_per_minute == 900
    assert gh.secondary_points_scope == "endpoint"
    assert gh.max_concurrent_requests == 100
    assert gh.token_requests_per_hour == 2000
    assert gh.secondary_limit_status == 403


def test_points_past_the_minute_are_refused_as_a_secondary_limit(gh):
    gh.secondary_points_per_minute = 10  # two POSTs (5 points each)
    c = Client(gh, gh.add_pat())
    assert c.register("a")[0] == 201
    assert c.register("b")[0] == 201

    status, headers, body = c.register("c")

    # "If you exceed a secondary rate limit, you will receive a 403 or 429 response and an
    # error message that indicates that you exceeded a secondary rate limit."
    assert status == 403
    assert "secondary rate limit" in body["message"]
    assert body["documentation_url"].startswith(DOCS_RATE)
    assert headers["retry-after"] == "60"
    assert headers["x-ratelimit-remaining"] != "0"  # the primary budget is not what ran out
    # Nothing was registered, and another endpoint of the same credential still answers.
    assert [r["name"] for r in gh.runners()] == ["a", "b"]
    assert c.call("GET", f"/orgs/{F.ORG}/actions/runners")[0] == 200


def test_gets_cost_one_point_and_a_credential_may_pool_its_endpoints(gh):
    gh.secondary_points_per_minute, gh.secondary_points_scope = 6, "credential"
    c = Client(gh, gh.add_pat())
    assert c.register("a")[0] == 201  # 5 points
    assert c.call("GET", f"/orgs/{F.ORG}/actions/runners")[0] == 200  # 1 point
    assert c.call("GET", f"/orgs/{F.ORG}/actions/runners")[0] == 403
    # Another credential has its own budget.
    assert Client(gh, gh.add_pat()).register("b")[0] == 201


def test_window_retry_after_says_when_the_request_fits_and_none_omits_it(gh):
    gh.secondary_points_per_minute, gh.secondary_retry_after = 5, "window"
    c = Client(gh, gh.add_pat())
    assert c.register("a")[0] == 201
    status, headers, _ = c.register("b")
    assert status == 403 and 58 <= int(headers["retry-after"]) <= 60
    gh.secondary_retry_after, gh.secondary_limit_status = None, 429
    status, headers, _ = c.register("c")
    assert status == 429 and "retry-after" not in headers


def test_at_most_max_concurrent_requests_are_answered_at_once(gh):
    gh.max_concurrent_requests = 2
    c = Client(gh, gh.add_pat())
    gh.inject("GET", r"/actions/runners$", kind="delay", times=2, seconds=2)
    slow = [threading.Thread(target=c.call, args=("GET", f"/orgs/{F.ORG}/actions/runners"))
            for _ in range(2)]
    for t in slow:
        t.start()
    # Both slow requests are being answered (each is held by its 2 s delay).
    deadline = time.monotonic() + 10
    while sum(gh._inflight.values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(gh._inflight.values()) == 2

    status, _, body = c.register("a")

    for t in slow:
        t.join()
    assert status == 403 and "secondary rate limit" in body["message"]
    assert c.register("a")[0] == 201  # the two are answered: room again


def test_an_app_mints_at_most_2000_installation_tokens_an_hour(gh):
    app = gh.add_app()
    iid = app.install(org=F.ORG)
    gh.token_requests(app.app_id, add=1999)
    c = Client(gh)

    first = c.call("POST", f"/app/installations/{iid}/access_tokens", {}, token=app.make_jwt())
    second = c.call("POST", f"/app/installations/{iid}/access_tokens", {}, token=app.make_jwt())

    assert first[0] == 201
    assert second[0] == 403 and "secondary rate limit" in second[2]["message"]
    assert gh.token_requests(app.app_id) == 2000


def test_an_installations_budget_grows_with_repositories_and_users_as_documented(gh):
    app = gh.add_app()
    small = app.install(org=F.ORG)
    assert gh.installation_rate_limit(small) == 5000
    gh.add_org("big", members=40)
    for i in range(30):
        gh.add_repo("big", f"r{i}")
    big = app.install(org="big")
    assert gh.installation_rate_limit(big) == 5000 + 50 * 10 + 50 * 20
    gh.add_org("huge", members=1000)
    assert gh.installation_rate_limit(app.install(org="huge")) == 12500
    gh.ghec = True
    assert gh.installation_rate_limit(small) == 15000
    # What a request with the installation's token is told.
    tok = Client(gh).call("POST", f"/app/installations/{big}/access_tokens", {},
                          token=app.make_jwt())[2]["token"]
    gh.ghec = False
    headers = Client(gh, tok).call("GET", "/orgs/big/actions/runners")[1]
    assert headers["x-ratelimit-limit"] == "6500"


def test_a_pods_calls_are_tagged_and_served_as_without_the_tag(gh):
    c = Client(gh, gh.add_pat())
    status, _, body = c.call("GET", f"/orgs/{F.ORG}/actions/runners",
                             base=f"{gh.url}/_pod/17/api/v3")
    assert status == 200 and body["total_count"] == 0
    (call,) = gh.calls
    assert call["pod"] == "17" and call["path"] == f"/api/v3/orgs/{F.ORG}/actions/runners"
