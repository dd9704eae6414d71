"""Self-test of fake_github: a real HTTPS client (http.client + ssl, verification on) against it.

Run: /usr/bin/python3 -m pytest -q tests/fakes
"""
import base64
import datetime
import email.utils
import functools
import http.client
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fake_github  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402

TIMEOUT = 5  # seconds: the bound of every network operation in these tests
HEADERS = {"User-Agent": "fake-github-selftest/1", "Accept": "application/vnd.github+json",
           "X-GitHub-Api-Version": "2022-11-28"}
JIT = {"name": "r-1", "runner_group_id": 1, "labels": ["self-hosted", "Linux", "X64"]}


class Reply:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw

    @property
    def json(self):
        return json.loads(self.raw)


def call(gh, method, path, body=None, token=None, headers=None, omit=(), conn=None,
         raw_body=None):
    """One request; a fresh verified TLS connection unless conn is given."""
    h = dict(HEADERS)
    if token is not None:
        h["Authorization"] = token if " " in token else f"Bearer {token}"
    if body is not None or raw_body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    for name in omit:
        h.pop(name, None)
    data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    own = conn is None
    if own:
        conn = connect(gh)
    try:
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
    finally:
        if own:
            conn.close()


def connect(gh, host="127.0.0.1", cafile=None):
    ctx = ssl.create_default_context(cafile=cafile or gh.ca_file)
    return http.client.HTTPSConnection(host, gh.port, context=ctx, timeout=TIMEOUT)


@pytest.fixture
def gh(tmp_path):
    fake = FakeGitHub(tmp_path / "gh")
    fake.start()
    fake.add_org("acme")
    fake.add_repo("acme", "app")
    fake.add_enterprise("ent")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def pat(gh):
    return gh.add_pat()


# ---------------------------------------------------------------------------------------------
# transport and conventions


def test_tls_verifies_against_the_generated_ca(gh, pat):
    assert gh.url == f"https://127.0.0.1:{gh.port}" and gh.api_url == gh.url + "/api/v3"
    assert Path(gh.ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")
    for host in ("127.0.0.1", "localhost"):
        conn = connect(gh, host)
        assert call(gh, "GET", "/rate_limit", token=pat, conn=conn).status == 200
        conn.close()
    # the system store does not trust the test CA
    ctx = ssl.create_default_context()
    conn = http.client.HTTPSConnection("127.0.0.1", gh.port, context=ctx, timeout=TIMEOUT)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/rate_limit", headers=HEADERS)
    conn.close()
    deadline = time.monotonic() + TIMEOUT
    while not gh.tls_errors and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gh.tls_errors


def test_keep_alive_and_prompt_stop(tmp_path):
    fake = FakeGitHub(tmp_path).start()
    fake.add_org("acme")
    token = fake.add_pat()
    conn = connect(fake)
    for _ in range(3):
        r = call(fake, "GET", "/orgs/acme/actions/runners", token=token, conn=conn)
        assert r.status == 200 and int(r.headers["content-length"]) == len(r.raw)
    sock = conn.sock
    for _ in range(2):
        call(fake, "GET", "/orgs/acme/actions/runners", token=token, conn=conn)
        assert conn.sock is sock  # the same TCP connection served every request
    started = time.monotonic()
    fake.stop()  # with that keep-alive connection still open and idle
    assert time.monotonic() - started < 3
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-github")]
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fake.port), timeout=1).close()


def test_stop_is_prompt_with_a_long_poll_and_a_delay_in_flight(tmp_path):
    fake = FakeGitHub(tmp_path).start()
    fake.add_org("acme")
    token = fake.add_pat()
    r = call(fake, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=token,
             body=JIT)
    client = _decode_jit(r.json["encoded_jit_config"])[".credentials"]["Data"]["clientId"]
    sid = _broker(fake, "POST", "/_fake/broker/sessions", client).json["sessionId"]
    fake.inject("GET", "runners$", "delay", seconds=30)
    outcomes = []

    def run(fn):
        try:
            outcomes.append(fn().status)
        except (OSError, http.client.HTTPException) as e:
            outcomes.append(type(e).__name__)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (
        lambda: _broker(fake, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=30", client),
        lambda: call(fake, "GET", "/orgs/acme/actions/runners", token=token))]
    for t in threads:
        t.start()
    time.sleep(0.3)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 3
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive()
    assert len(outcomes) == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-github")]


def test_path_forms(gh, pat):
    assert call(gh, "GET", "/orgs/ACME/actions/runners", token=pat).status == 200
    ent_id = gh.state()["enterprises"][0]["id"]
    assert call(gh, "GET", f"/enterprises/{ent_id}/actions/runners", token=pat).status == 200
    repo_id = gh.state()["repos"][0]["id"]
    assert call(gh, "GET", f"/repositories/{repo_id}/actions/runners", token=pat).status == 200
    assert call(gh, "GET", "/repositories/1/actions/runners", token=pat).status == 404
    assert call(gh, "GET", "/orgs/acme/actions/runners/", token=pat).status == 404


def test_api_v3_prefix_and_root_serve_the_same(gh, pat):
    a = call(gh, "GET", "/api/v3/orgs/acme/actions/runners", token=pat)
    b = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert a.status == b.status == 200 and a.json == b.json
    assert call(gh, "GET", "/api/v3/nope", token=pat).status == 404
    assert call(gh, "POST", "/orgs/acme/actions/runners", token=pat, body={}).status == 404


def test_missing_user_agent_is_403_plain_text(gh, pat):
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat, omit=["User-Agent"])
    assert r.status == 403
    assert r.headers["content-type"].startswith("text/plain")
    assert b"User-Agent" in r.raw
    with pytest.raises(ValueError):
        r.json  # noqa: B018 - not JSON
    assert "x-ratelimit-remaining" in r.headers
    assert gh.calls[-1]["violations"] == ["user-agent:missing"]


def test_api_version_header(gh, pat):
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat,
             headers={"X-GitHub-Api-Version": "2020-01-01"})
    assert r.status == 400 and "2020-01-01" in r.json["message"]
    assert r.headers["content-type"].startswith("application/json")
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat, omit=["X-GitHub-Api-Version"])
    assert r.status == 200  # GitHub's default version; only recorded
    assert "api-version:missing" in gh.calls[-1]["violations"]
    call(gh, "GET", "/orgs/acme/actions/runners", token=pat, headers={"Accept": "*/*"})
    assert "accept:*/*" in gh.calls[-1]["violations"]
    call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert gh.calls[-1]["violations"] == []
    assert [v for _, v in gh.violations()] == ["api-version:2020-01-01", "api-version:missing",
                                                "accept:*/*"]


def test_request_body_rules(gh, pat):
    path = "/orgs/acme/actions/runners/generate-jitconfig"
    r = call(gh, "POST", path, token=pat, raw_body="{not json")
    assert r.status == 400 and r.json["message"] == "Problems parsing JSON"
    r = call(gh, "POST", path, token=pat, raw_body=json.dumps(JIT),
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415
    assert gh.calls[-1]["violations"] == ["content-type:application/x-www-form-urlencoded"]
    r = call(gh, "POST", path, token=pat)
    assert r.status == 422
    # a chunked body is read as well
    conn = connect(gh)
    conn.request("POST", path, body=iter([json.dumps(JIT).encode()]), encode_chunked=True,
                 headers={**HEADERS, "Authorization": f"token {pat}",
                          "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 201, resp.read()
    conn.close()


# ---------------------------------------------------------------------------------------------
# credentials


@pytest.mark.parametrize("scopes,path,allowed", [
    (["admin:org"], "/orgs/acme/actions/runners", True),
    (["repo"], "/orgs/acme/actions/runners", False),
    (["repo"], "/repos/acme/app/actions/runners", True),
    (["admin:org"], "/repos/acme/app/actions/runners", False),
    (["manage_runners:enterprise"], "/enterprises/ent/actions/runners", True),
    (["admin:enterprise"], "/enterprises/ent/actions/runners", True),
    (["admin:org", "repo"], "/enterprises/ent/actions/runners", False),
])
def test_pat_scopes(gh, scopes, path, allowed):
    token = gh.add_pat(scopes=scopes)
    for scheme in ("token", "Bearer"):
        r = call(gh, "GET", path, token=f"{scheme} {token}")
        if allowed:
            assert r.status == 200, r.raw
            assert r.headers["x-oauth-scopes"] == ", ".join(scopes)
        else:
            assert r.status == 403
            assert r.json["message"] == "Resource not accessible by personal access token"
            assert "x-accepted-oauth-scopes" in r.headers
            if "enterprises" not in path:
                assert "x-accepted-github-permissions" in r.headers


def test_bad_or_missing_credentials(gh):
    long_pat = gh.add_pat("ghp_" + "x" * 300)
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=long_pat).status == 200
    r = call(gh, "GET", "/orgs/acme/actions/runners", token="token ghp_unknown")
    assert r.status == 401 and r.json["message"] == "Bad credentials"
    assert r.json["documentation_url"] and r.json["status"] == "401"
    r = call(gh, "GET", "/orgs/acme/actions/runners")
    assert r.status == 401 and r.json["message"] == "Requires authentication"
    r = call(gh, "GET", "/orgs/nope/actions/runners", token=long_pat)
    assert r.status == 404 and r.json["message"] == "Not Found"


def _install_token(gh, app, iid, **body):
    r = call(gh, "POST", f"/app/installations/{iid}/access_tokens", token=app.make_jwt(),
             body=body or None)
    assert r.status == 201, r.raw
    return r.json


def test_app_jwt_installation_token_flow(gh):
    app = gh.add_app()
    assert app.private_key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert app.private_key_pkcs8_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert app.client_id.startswith("Iv23li")
    iid = app.install(org="acme")
    for iss in (app.client_id, app.app_id, str(app.app_id)):
        # sign with the PKCS#8 form of the key, as a client loading either PEM would
        jwt = app.make_jwt(iss=iss, key=app.private_key_pkcs8_pem)
        r = call(gh, "GET", "/orgs/acme/installation", token=jwt)
        assert r.status == 200 and r.json["id"] == iid, r.raw
        assert r.json["account"]["login"] == "acme" and r.json["app_id"] == app.app_id
    jwt = app.make_jwt()
    assert call(gh, "GET", "/app", token=jwt).json["id"] == app.app_id
    assert call(gh, "GET", f"/app/installations/{iid}", token=jwt).status == 200
    assert [i["id"] for i in call(gh, "GET", "/app/installations", token=jwt).json] == [iid]
    assert call(gh, "GET", "/app/installations/1", token=jwt).status == 404
    assert call(gh, "GET", "/repos/acme/app/installation", token=jwt).json["id"] == iid
    assert call(gh, "GET", "/enterprises/ent/installation", token=jwt).status == 404

    r = call(gh, "POST", f"/api/v3/app/installations/{iid}/access_tokens", token=jwt)
    assert r.status == 201
    tok = r.json
    assert re.fullmatch(r"ghs_[A-Za-z0-9]{36}", tok["token"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tok["expires_at"])
    assert tok["permissions"]["organization_self_hosted_runners"] == "write"
    assert tok["repository_selection"] == "all"

    itok = tok["token"]
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=itok, body=JIT)
    assert r.status == 201, r.raw
    assert call(gh, "GET", "/repos/acme/app/actions/runners", token=itok).status == 200
    gh.add_org("other")
    assert call(gh, "GET", "/orgs/other/actions/runners", token=itok).status == 403
    r = call(gh, "GET", "/enterprises/ent/actions/runners", token=itok)
    assert r.status == 403 and "not supported" in r.json["fake_reason"]
    # a JWT is no credential for runner endpoints; a token none for JWT endpoints
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=jwt).status == 403
    r = call(gh, "GET", "/app/installations", token=itok)
    assert r.status == 401 and r.json["message"] == "A JSON web token could not be decoded"
    assert call(gh, "GET", "/app", token=f"token {jwt}").status == 401  # JWT needs Bearer
    # the token expires
    gh.expire_tokens()
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=itok).status == 401


def test_app_token_permissions_and_repo_installation(gh):
    gh.add_repo("acme", "web")
    gh.add_repo("alice", "tool")
    app = gh.add_app()
    iid = app.install(repo=("alice", "tool"))
    jwt = app.make_jwt()
    assert call(gh, "GET", "/repos/alice/tool/installation", token=jwt).json["id"] == iid
    assert call(gh, "GET", "/orgs/alice/installation", token=jwt).status == 404
    assert call(gh, "GET", "/users/alice/installation", token=jwt).json["id"] == iid
    assert call(gh, "GET", "/repos/acme/app/installation", token=jwt).status == 404
    tok = _install_token(gh, app, iid)
    assert tok["repository_selection"] == "selected"
    assert call(gh, "POST", "/repos/alice/tool/actions/runners/registration-token",
                token=tok["token"]).status == 201
    # narrowed permissions: read-only administration cannot write
    ro = _install_token(gh, app, iid, permissions={"administration": "read"})["token"]
    assert call(gh, "GET", "/repos/alice/tool/actions/runners", token=ro).status == 200
    r = call(gh, "POST", "/repos/alice/tool/actions/runners/registration-token", token=ro)
    assert r.status == 403 and r.headers["x-accepted-github-permissions"] == "administration=write"
    r = call(gh, "POST", f"/app/installations/{iid}/access_tokens", token=jwt,
             body={"permissions": {"members": "write"}})
    assert r.status == 422
    # an org installation limited to one repository by the token request
    org_iid = app.install(org="acme")
    narrow = _install_token(gh, app, org_iid, repositories=["web"])["token"]
    assert call(gh, "GET", "/repos/acme/web/actions/runners", token=narrow).status == 200
    assert call(gh, "GET", "/repos/acme/app/actions/runners", token=narrow).status == 403


def test_long_installation_tokens(gh):
    gh.installation_token_format = "long"
    app = gh.add_app()
    tok = _install_token(gh, app, app.install(org="acme"))["token"]
    assert tok.startswith(f"ghs_{app.app_id}_") and len(tok) > 250
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=tok).status == 200


@functools.lru_cache(maxsize=None)
def _other_key_pem():
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.mark.parametrize("case,message", [
    ("expired", "'Expiration time' claim ('exp') must be a numeric value"),
    ("too_long", "'Expiration time' claim ('exp') is too far in the future"),
    ("iat_future", "'Issued at' claim ('iat')"),
    ("iat_float", "'Issued at' claim ('iat')"),
    ("no_exp", "'Expiration time' claim ('exp') must be a numeric value"),
    ("wrong_key", "A JSON web token could not be decoded"),
    ("wrong_iss", "Integration not found"),
    ("no_iss", "'Issuer' claim ('iss')"),
    ("alg_hs256", "A JSON web token could not be decoded"),
    ("garbage", "A JSON web token could not be decoded"),
])
def test_bad_jwts_are_401(gh, case, message):
    app = gh.add_app()
    app.install(org="acme")
    now = int(time.time())
    jwt = {
        "expired": lambda: app.make_jwt(iat=now - 700, exp=now - 10),
        "too_long": lambda: app.make_jwt(iat=now - 60, exp=now + 700),
        "iat_future": lambda: app.make_jwt(iat=now + 120, exp=now + 300),
        "iat_float": lambda: app.make_jwt(iat=now - 60.5),
        "no_exp": lambda: app.make_jwt(claims={"exp": None}),
        "wrong_key": lambda: app.make_jwt(key=_other_key_pem()),
        "wrong_iss": lambda: app.make_jwt(iss=123),
        "no_iss": lambda: app.make_jwt(claims={"iss": None}),
        "alg_hs256": lambda: app.make_jwt(alg="HS256"),
        "garbage": lambda: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    }[case]()
    r = call(gh, "GET", "/orgs/acme/installation", token=jwt)
    assert r.status == 401, r.raw
    assert r.json["message"].startswith(message), r.json
    assert r.json["fake_reason"]


def test_jwt_limits_are_exact(gh):
    app = gh.add_app()
    app.install(org="acme")
    now = int(time.time())
    ok = app.make_jwt(iat=now - 60, exp=now + 600)  # the docs' own example
    assert call(gh, "GET", "/orgs/acme/installation", token=ok).status == 200
    skew = app.make_jwt(iat=now + 30, exp=now + 300)  # iat up to 60 s ahead is tolerated
    assert call(gh, "GET", "/orgs/acme/installation", token=skew).status == 200
    late = app.make_jwt(iat=now, exp=now + 620)
    assert call(gh, "GET", "/orgs/acme/installation", token=late).status == 401


# ---------------------------------------------------------------------------------------------
# runner endpoints


def _decode_jit(blob):
    files = json.loads(base64.b64decode(blob, validate=True))
    return {name: json.loads(base64.b64decode(content, validate=True))
            for name, content in files.items()}


@pytest.mark.parametrize("scope_path,web", [
    ("/orgs/acme", "/acme"), ("/repos/acme/app", "/acme/app"),
    ("/enterprises/ent", "/enterprises/ent")])
def test_generate_jitconfig_registers_and_encodes_three_files(gh, pat, scope_path, web):
    body = dict(JIT, labels=["self-hosted", "Linux", "X64", "gpu"], work_folder="w")
    r = call(gh, "POST", f"/api/v3{scope_path}/actions/runners/generate-jitconfig",
             token=pat, body=body)
    assert r.status == 201, r.raw
    runner = r.json["runner"]
    assert {k: runner[k] for k in ("name", "os", "status", "busy", "ephemeral",
                                   "runner_group_id")} == {
        "name": "r-1", "os": "unknown", "status": "offline", "busy": False, "ephemeral": True,
        "runner_group_id": 1}
    assert [(label["name"], label["type"]) for label in runner["labels"]] == [
        ("self-hosted", "read-only"), ("Linux", "read-only"), ("X64", "read-only"),
        ("gpu", "custom")]
    files = _decode_jit(r.json["encoded_jit_config"])
    assert set(files) == {".runner", ".credentials", ".credentials_rsaparams"}
    dot = files[".runner"]
    assert dot["AgentId"] == runner["id"] and dot["AgentName"] == "r-1"
    assert dot["PoolId"] == 1 and dot["PoolName"] == "Default"
    assert dot["Ephemeral"] is True and dot["UseV2Flow"] is True and dot["WorkFolder"] == "w"
    assert dot["GitHubUrl"] == gh.url + web
    assert dot["ServerUrlV2"] == gh.url + "/_fake/broker/"  # UseV2Flow: the broker
    assert dot["ServerUrl"] == gh.url + "/_fake/pipelines/"
    assert dot["DisableUpdate"] is False  # a JIT .runner allows updates
    cred = files[".credentials"]
    assert cred["Scheme"] == "OAuth" and cred["Data"]["requireFipsCryptography"] == "False"
    assert cred["Data"]["authorizationUrl"] == gh.url + "/_fake/oauth"
    rsa = {k: int.from_bytes(base64.b64decode(v), "big")
           for k, v in files[".credentials_rsaparams"].items()}
    assert set(rsa) == {"d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"}
    assert rsa["p"] * rsa["q"] == rsa["modulus"] and rsa["exponent"] == 65537
    assert gh.runners()[0]["client_id"] == cred["Data"]["clientId"]
    # the name is now taken in that scope (case-insensitively), not in others
    r = call(gh, "POST", f"{scope_path}/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, name="R-1"))
    assert r.status == 409
    assert r.json["message"] == "Already exists - A runner with the name R-1 already exists."
    other = "/orgs/acme" if scope_path != "/orgs/acme" else "/repos/acme/app"
    assert call(gh, "POST", f"{other}/actions/runners/generate-jitconfig", token=pat,
                body=JIT).status == 201


def test_preregistered_runner_conflicts(gh, pat):
    gh.register_runner("acme", "ghost")
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, name="ghost"))
    assert r.status == 409


@pytest.mark.parametrize("change,field", [
    ({"name": None}, "name"), ({"name": 5}, "name"), ({"name": ""}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"runner_group_id": None}, "runner_group_id"), ({"runner_group_id": "1"}, "runner_group_id"),
    ({"runner_group_id": True}, "runner_group_id"),
    ({"labels": None}, "labels"), ({"labels": []}, "labels"), ({"labels": "a,b"}, "labels"),
    ({"labels": ["l"] * 101}, "labels"), ({"labels": ["ok", 3]}, "labels"),
    ({"labels": ["x" * 257]}, "labels"), ({"work_folder": 1}, "work_folder"),
])
def test_generate_jitconfig_validation(gh, pat, change, field):
    body = dict(JIT)
    for k, v in change.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat, body=body)
    assert r.status == 422, r.raw
    assert field in r.json["message"] and r.json["documentation_url"]
    assert isinstance(r.json["errors"], list) and all(isinstance(e, str) for e in r.json["errors"])
    assert gh.runners() == []


def test_jitconfig_groups_per_scope(gh, pat):
    gid = gh.add_runner_group("acme", "gpu")
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, runner_group_id=gid))
    assert r.status == 201 and r.json["runner"]["runner_group_id"] == gid
    assert _decode_jit(r.json["encoded_jit_config"])[".runner"]["PoolName"] == "gpu"
    r = call(gh, "POST", "/repos/acme/app/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, runner_group_id=gid))
    assert r.status == 404  # a repository has only the default group


def test_jitconfig_with_an_unknown_group_is_404_and_an_unusable_one_403(gh, pat):
    """Reference §7.13: not 422."""
    refused = gh.add_runner_group("acme", "locked", usable=False)
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, runner_group_id=9999))
    assert r.status == 404 and r.json["message"] == "Not Found"
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, runner_group_id=refused))
    assert r.status == 403
    assert gh.runners() == []


def test_registration_and_remove_tokens(gh, pat):
    for kind in ("registration-token", "remove-token"):
        r = call(gh, "POST", f"/orgs/acme/actions/runners/{kind}", token=pat)
        assert r.status == 201
        assert re.fullmatch(r"[A-Z0-9]{29}", r.json["token"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", r.json["expires_at"])
    tokens = gh.registration_tokens()
    assert [t["kind"] for t in tokens] == ["registration", "remove"]
    assert all(t["scope"] == "acme" for t in tokens)
    # what config.sh would do with the registration token
    runner, files = gh.configure_runner(tokens[0]["token"], "cfg", labels=["extra"])
    assert [label["name"] for label in runner["labels"]] == ["self-hosted", "Linux", "X64",
                                                             "extra"]
    assert files[".runner"]["AgentName"] == "cfg"
    with pytest.raises(fake_github.ApiError):
        gh.configure_runner(tokens[1]["token"], "cfg2")  # a remove token does not register


def test_list_runners_name_filter_and_pagination(gh, pat):
    for i in range(5):
        gh.register_runner("acme", f"r-{i}")
    gh.register_runner("acme/app", "r-0")
    r = call(gh, "GET", "/orgs/acme/actions/runners?name=r-3", token=pat)
    assert r.json["total_count"] == 1 and r.json["runners"][0]["name"] == "r-3"
    assert "link" not in r.headers
    assert call(gh, "GET", "/orgs/acme/actions/runners?name=r", token=pat).json == {
        "total_count": 0, "runners": []}
    r = call(gh, "GET", "/api/v3/orgs/acme/actions/runners?per_page=2", token=pat)
    assert r.json["total_count"] == 5 and [x["name"] for x in r.json["runners"]] == ["r-0", "r-1"]
    links = dict((rel, url) for url, rel in
                 re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["link"]))
    assert set(links) == {"next", "last"}
    org_id = gh.state()["orgs"][0]["id"]
    assert links["next"] == f"{gh.api_url}/organizations/{org_id}/actions/runners?per_page=2&page=2"
    seen = [x["name"] for x in r.json["runners"]]
    url = links["next"]
    while url:  # follow the Link URLs verbatim
        r = call(gh, "GET", url[len(gh.url):], token=pat)
        assert r.status == 200
        seen += [x["name"] for x in r.json["runners"]]
        links = dict((rel, u) for u, rel in re.findall(r'<([^>]+)>; rel="(\w+)"',
                                                       r.headers.get("link", "")))
        url = links.get("next")
    assert seen == [f"r-{i}" for i in range(5)]
    assert set(links) == {"prev", "first"}
    assert len(call(gh, "GET", "/orgs/acme/actions/runners?per_page=1000",
                    token=pat).json["runners"]) == 5
    gh.link_style = "name"
    r = call(gh, "GET", "/orgs/acme/actions/runners?per_page=2&page=2", token=pat)
    assert f"<{gh.url}/orgs/acme/actions/runners?per_page=2&page=3>" in r.headers["link"]


def test_get_and_delete_runner(gh, pat):
    rid = gh.register_runner("acme", "busy-one", status="online", busy=True)["id"]
    path = f"/orgs/acme/actions/runners/{rid}"
    r = call(gh, "GET", path, token=pat)
    assert r.status == 200 and r.json["busy"] is True and r.json["status"] == "online"
    r = call(gh, "DELETE", path, token=pat)
    assert r.status == 422
    assert r.json["message"] == 'Bad request - Runner "busy-one" is still running a job'
    assert call(gh, "GET", f"/repos/acme/app/actions/runners/{rid}", token=pat).status == 404
    assert call(gh, "DELETE", f"/repos/acme/app/actions/runners/{rid}", token=pat).status == 404
    gh.set_runner(rid, busy=False)
    r = call(gh, "DELETE", path, token=pat)
    assert r.status == 204 and r.raw == b"" and "content-type" not in r.headers
    assert call(gh, "GET", path, token=pat).status == 404
    assert call(gh, "DELETE", path, token=pat).status == 404
    assert gh.runners() == []


def test_runner_groups_pagination_and_scopes(gh, pat):
    for name in ("a", "b", "c"):
        gh.add_runner_group("acme", name)
    r = call(gh, "GET", "/orgs/acme/actions/runner-groups?per_page=3", token=pat)
    assert r.status == 200 and r.json["total_count"] == 4
    first = r.json["runner_groups"][0]
    assert (first["id"], first["name"], first["default"]) == (1, "Default", True)
    for key in ("visibility", "runners_url", "inherited", "allows_public_repositories"):
        assert key in first
    assert "link" not in r.headers  # the spec declares none: pages by number
    r = call(gh, "GET", "/orgs/acme/actions/runner-groups?per_page=3&page=2", token=pat)
    assert [g["name"] for g in r.json["runner_groups"]] == ["c"]
    r = call(gh, "GET", "/enterprises/ent/actions/runner-groups", token=pat)
    assert [g["name"] for g in r.json["runner_groups"]] == ["Default"]
    assert call(gh, "GET", "/repos/acme/app/actions/runner-groups", token=pat).status == 404


# ---------------------------------------------------------------------------------------------
# rate limits


def test_rate_limit_headers_and_overview(gh, pat):
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    h = r.headers
    assert (h["x-ratelimit-limit"], h["x-ratelimit-remaining"], h["x-ratelimit-used"],
            h["x-ratelimit-resource"]) == ("5000", "4999", "1", "core")
    assert int(h["x-ratelimit-reset"]) > time.time()
    r = call(gh, "GET", "/rate_limit", token=pat)
    assert r.json["resources"]["core"]["remaining"] == 4999  # /rate_limit is free
    assert r.json["rate"] == r.json["resources"]["core"]
    assert {"search", "actions_runner_registration"} <= set(r.json["resources"])
    assert call(gh, "GET", "/rate_limit", token=pat).headers["x-ratelimit-remaining"] == "4999"
    r = call(gh, "GET", "/orgs/acme/actions/runners", token="token nope")
    assert r.status == 401 and r.headers["x-ratelimit-limit"] == "60"


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit(gh, pat, status):
    gh.set_rate_limit(limit=5000, remaining=1, reset_in=1.5, status=status)
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert r.status == 200 and r.headers["x-ratelimit-remaining"] == "0"
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert r.status == status and r.headers["x-ratelimit-remaining"] == "0"
    assert r.json["message"].startswith("API rate limit exceeded for user ID")
    reset = int(r.headers["x-ratelimit-reset"])
    assert time.time() < reset <= time.time() + 3
    other = gh.add_pat()  # a budget is per credential, and new ones get the default
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=other).status == 200
    if status == 429:
        return  # the refill is the same for both
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
        if r.status == 200:
            break
        time.sleep(0.2)
    assert r.status == 200 and r.headers["x-ratelimit-remaining"] == "4999"


def test_rate_limit_per_credential(gh, pat):
    other = gh.add_pat()
    gh.set_rate_limit(remaining=0, reset_in=60, credential=pat)
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=pat).status == 403
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=other).status == 200
    assert gh.rate_limit(pat)["remaining"] == 0


# ---------------------------------------------------------------------------------------------
# faults


JIT_PATH = "/orgs/acme/actions/runners/generate-jitconfig"


def test_fault_status(gh, pat):
    gh.inject("POST", r".*/generate-jitconfig$", "status", times=2, status=502,
              body="<html>bad gateway</html>", content_type="text/html")
    for _ in range(2):
        r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
        assert r.status == 502 and r.raw == b"<html>bad gateway</html>"
        assert r.headers["content-type"] == "text/html"
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=pat).status == 200  # other route
    assert call(gh, "POST", JIT_PATH, token=pat, body=JIT).status == 201
    assert [c["fault"] for c in gh.calls_to("generate-jitconfig")] == ["status", "status", None]
    assert gh.faults()[0]["hits"] == 2 and gh.faults()[0]["times"] == 0


def test_fault_status_json_default_and_forever(gh, pat):
    gh.inject(None, r"/runners$", "status", times=None, status=500)
    for _ in range(3):
        r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
        assert r.status == 500 and r.json["message"] == "Internal Server Error"
    gh.clear_faults()
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=pat).status == 200


def test_fault_unauthorized(gh, pat):
    gh.inject("GET", "runners", "unauthorized")
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert r.status == 401 and r.json["message"] == "Bad credentials"


@pytest.mark.parametrize("status,retry_after", [(403, None), (429, 7)])
def test_fault_secondary_limit(gh, pat, status, retry_after):
    gh.inject("POST", "generate-jitconfig", "secondary_limit", status=status,
              retry_after=retry_after)
    r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    assert r.status == status
    assert r.json["message"].startswith("You have exceeded a secondary rate limit")
    assert r.headers.get("retry-after") == (None if retry_after is None else "7")
    assert r.headers["x-ratelimit-remaining"] != "0"


def test_fault_primary_limit(gh, pat):
    gh.inject("POST", "generate-jitconfig", "primary_limit", status=429, reset_in=30)
    r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    assert r.status == 429 and r.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(r.headers["x-ratelimit-reset"]) - (time.time() + 30)) < 3
    assert r.json["message"].startswith("API rate limit exceeded")


def test_fault_invalid_json(gh, pat):
    gh.inject("POST", "generate-jitconfig", "invalid_json")
    r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    assert r.status == 201 and r.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        r.json  # noqa: B018
    assert len(gh.runners()) == 1  # the handler did run


def test_fault_drop_before_and_after(gh, pat):
    gh.inject("POST", "generate-jitconfig", "drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    assert gh.runners() == [] and gh.calls[-1]["status"] is None
    gh.inject("POST", "generate-jitconfig", "drop", after=True, reset=True)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    assert [r["name"] for r in gh.runners()] == ["r-1"]  # the lost 201 did register
    assert call(gh, "POST", JIT_PATH, token=pat, body=JIT).status == 409


def test_fault_delay_does_not_block_others(gh, pat):
    gh.inject("POST", "generate-jitconfig", "delay", seconds=1.5)
    results = {}

    def slow():
        t0 = time.monotonic()
        results["status"] = call(gh, "POST", JIT_PATH, token=pat, body=JIT).status
        results["took"] = time.monotonic() - t0

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=pat).status == 200
    assert time.monotonic() - t0 < 1.0
    thread.join(TIMEOUT)
    assert results["status"] == 201 and results["took"] >= 1.4


def test_set_down(gh, pat):
    gh.set_down(True)
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert r.status == 503 and r.headers["content-type"].startswith("text/html")
    gh.set_down(True, mode="drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    gh.set_down(False)
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=pat).status == 200
    assert [c["fault"] for c in gh.calls] == ["down", "down", None]


# ---------------------------------------------------------------------------------------------
# call log


def test_call_log(gh, pat):
    call(gh, "POST", "/api/v3" + JIT_PATH, token=f"token {pat}", body=JIT)
    call(gh, "GET", "/orgs/acme/actions/runners?name=r-1&per_page=5", token=pat)
    call(gh, "GET", "/_fake/state")  # not logged
    calls = gh.calls
    assert [(c["method"], c["status"]) for c in calls] == [("POST", 201), ("GET", 200)]
    post, get = calls
    assert post["path"] == "/api/v3" + JIT_PATH and post["body"] == JIT
    assert post["headers"]["authorization"] == f"token {pat}"
    assert post["headers"]["user-agent"] == HEADERS["User-Agent"]
    assert post["headers"]["accept"] == "application/vnd.github+json"
    assert post["headers"]["x-github-api-version"] == "2022-11-28"
    assert get["query"] == {"name": "r-1", "per_page": "5"} and get["body"] is None
    assert post["ts"] <= get["ts"] <= time.time()
    assert len(gh.calls_to(r"/generate-jitconfig$")) == 1
    assert len(gh.calls_to("runners", method="GET")) == 1
    gh.reset_calls()
    assert gh.calls == []


# ---------------------------------------------------------------------------------------------
# the job broker


def _broker(gh, method, path, client, body=None):
    return call(gh, method, path, body=body, headers={"X-Fake-Runner-Client": client})


def test_broker_runs_one_job_then_the_service_deletes_the_runner(gh, pat):
    r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    rid = r.json["runner"]["id"]
    client = _decode_jit(r.json["encoded_jit_config"])[".credentials"]["Data"]["clientId"]
    job = gh.queue_job("build", ["echo hi"], runner_labels=["linux"])
    assert job.status == "queued"
    assert _broker(gh, "POST", "/_fake/broker/sessions", "nobody").status == 401
    s = _broker(gh, "POST", "/_fake/broker/sessions", client, {"version": "2.336.0"})
    assert s.status == 200
    sid = s.json["sessionId"]
    assert _broker(gh, "POST", "/_fake/broker/sessions", client).status == 409
    assert gh.runner(rid)["status"] == "online" and gh.runner(rid)["version"] == "2.336.0"
    n = _broker(gh, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=2", client)
    assert n.status == 200 and n.json["id"] == job.id and n.json["steps"] == ["echo hi"]
    assert gh.wait_job(job, "running", timeout=1) is job and job.runner_id == rid
    assert call(gh, "GET", f"/orgs/acme/actions/runners/{rid}", token=pat).json["busy"] is True
    assert call(gh, "DELETE", f"/orgs/acme/actions/runners/{rid}", token=pat).status == 422
    # an ephemeral runner gets no second job
    gh.queue_job("second")
    t0 = time.monotonic()
    n = _broker(gh, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=0.3", client)
    assert n.status == 204 and 0.25 <= time.monotonic() - t0 < 2
    res = _broker(gh, "POST", f"/_fake/broker/jobs/{job.id}/result", client,
                  {"result": "Succeeded"})
    assert res.status == 200 and res.json["result"] == "Succeeded"
    assert gh.wait_job(job.id, "completed", timeout=1).result == "Succeeded"
    assert gh.runner(rid) is None
    assert call(gh, "GET", f"/orgs/acme/actions/runners/{rid}", token=pat).status == 404
    n = _broker(gh, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=0", client)
    assert n.status == 404 and n.json["message"] == f"Registration {rid} was not found"


def test_broker_long_poll_wakes_on_job_and_on_deletion(gh, pat):
    r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    rid = r.json["runner"]["id"]
    client = _decode_jit(r.json["encoded_jit_config"])[".credentials"]["Data"]["clientId"]
    sid = _broker(gh, "POST", "/_fake/broker/sessions", client).json["sessionId"]
    threading.Timer(0.3, gh.queue_job, kwargs={"name": "late"}).start()
    t0 = time.monotonic()
    n = _broker(gh, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=4", client)
    assert n.status == 200 and n.json["name"] == "late" and time.monotonic() - t0 < 3
    gh.delete_runner(rid)  # server-side deletion while the job runs
    res = _broker(gh, "POST", f"/_fake/broker/jobs/{n.json['id']}/result", client,
                  {"result": "Failed"})
    assert res.status == 404


def test_broker_session_end_and_label_matching(gh, pat):
    r = call(gh, "POST", JIT_PATH, token=pat, body=JIT)
    rid = r.json["runner"]["id"]
    client = _decode_jit(r.json["encoded_jit_config"])[".credentials"]["Data"]["clientId"]
    gh.queue_job("gpu-only", runner_labels=["gpu"])
    sid = _broker(gh, "POST", "/_fake/broker/sessions", client).json["sessionId"]
    n = _broker(gh, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=0.1", client)
    assert n.status == 204
    assert _broker(gh, "DELETE", f"/_fake/broker/sessions/{sid}", client).status == 204
    assert gh.runner(rid)["status"] == "offline"
    n = _broker(gh, "GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=0", client)
    assert n.status == 404


# ---------------------------------------------------------------------------------------------
# /_fake/ admin API and the CLI


def _admin(url_base, ctx, method, path, body=None):
    parsed = url_base.split("//")[1]
    host, port = parsed.split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def test_admin_endpoints_mirror_the_python_api(gh):
    ctx = ssl.create_default_context(cafile=gh.ca_file)

    def admin(method, path, body=None):
        return _admin(gh.url, ctx, method, path, body)

    assert admin("POST", "/_fake/orgs", {"name": "beta"}) == (201, {"scope": "beta"})
    assert admin("POST", "/_fake/repos", {"full_name": "beta/x"})[0] == 201
    status, group = admin("POST", "/_fake/runner_groups", {"scope": "beta", "name": "g"})
    assert status == 201 and group["id"] > 1
    status, pat = admin("POST", "/_fake/pats", {"scopes": ["admin:org"]})
    assert status == 201 and pat["token"].startswith("ghp_") and len(pat["token"]) == 40
    status, app = admin("POST", "/_fake/apps", {})
    assert status == 201 and "BEGIN RSA PRIVATE KEY" in app["private_key_pem"]
    assert "BEGIN PRIVATE KEY" in app["private_key_pkcs8_pem"]
    status, inst = admin("POST", f"/_fake/apps/{app['app_id']}/install", {"org": "beta"})
    assert status == 201
    jwt = admin("POST", f"/_fake/apps/{app['app_id']}/jwt", {})[1]["jwt"]
    r = call(gh, "GET", "/orgs/beta/installation", token=jwt)
    assert r.json["id"] == inst["installation_id"]
    status, runner = admin("POST", "/_fake/runners", {"scope": "beta", "name": "pre"})
    assert status == 201 and runner["status"] == "offline"
    assert admin("POST", "/_fake/runners", {"scope": "beta", "name": "pre"})[0] == 409
    assert admin("PATCH", f"/_fake/runners/{runner['id']}",
                 {"status": "online", "busy": True})[1]["busy"] is True
    r = call(gh, "DELETE", f"/orgs/beta/actions/runners/{runner['id']}", token=pat["token"])
    assert r.status == 422
    assert admin("DELETE", f"/_fake/runners/{runner['id']}")[0] == 204
    assert admin("DELETE", f"/_fake/runners/{runner['id']}")[0] == 404
    status, fault = admin("POST", "/_fake/faults", {"kind": "status", "status": 503,
                                                    "path_regex": "runners"})
    assert status == 201
    assert call(gh, "GET", "/orgs/beta/actions/runners", token=pat["token"]).status == 503
    assert admin("GET", "/_fake/faults")[1][0]["hits"] == 1
    assert admin("DELETE", "/_fake/faults")[0] == 204
    assert admin("POST", "/_fake/down", {"down": True})[0] == 200
    assert call(gh, "GET", "/orgs/beta/actions/runners", token=pat["token"]).status == 503
    admin("POST", "/_fake/down", {"down": False})
    admin("POST", "/_fake/rate_limit", {"remaining": 0, "reset_in": 60})
    assert call(gh, "GET", "/orgs/beta/actions/runners", token=pat["token"]).status == 403
    admin("POST", "/_fake/rate_limit", {})
    assert admin("POST", "/_fake/settings", {"installation_token_format": "long"})[0] == 200
    assert gh.installation_token_format == "long"
    assert admin("POST", "/_fake/settings", {"nope": 1})[0] == 400
    calls = admin("GET", "/_fake/calls?path_regex=installation")[1]
    assert len(calls) == 1 and calls[0]["status"] == 200
    assert admin("DELETE", "/_fake/calls")[0] == 204 and gh.calls == []
    status, job = admin("POST", "/_fake/jobs", {"name": "j", "steps": ["true"]})
    assert status == 201 and job["status"] == "queued"
    gh.cancel_job(job["id"])
    status, done = admin("GET", f"/_fake/jobs/{job['id']}?wait_status=completed&timeout=1")
    assert status == 200 and done["result"] == "Canceled"
    status, state = admin("GET", "/_fake/state")
    assert status == 200 and {"orgs", "repos", "enterprises", "runners", "jobs"} <= set(state)
    assert "beta" in [o["name"] for o in state["orgs"]]
    assert admin("GET", "/_fake/nope")[0] == 404
    # registration via the fake runner's config.sh path
    reg = call(gh, "POST", "/orgs/beta/actions/runners/registration-token", token=pat["token"])
    status, cfg = admin("POST", "/_fake/broker/register",
                        {"token": reg.json["token"], "name": "cfg", "runner_group": "g"})
    assert status == 201 and cfg["runner"]["runner_group_id"] == group["id"]
    assert cfg["files"][".runner"]["PoolName"] == "g"
    assert admin("POST", "/_fake/broker/register",
                 {"token": reg.json["token"], "name": "cfg"})[0] == 409
    assert admin("POST", "/_fake/broker/register",
                 {"token": "WRONG", "name": "cfg2"})[0] == 401


def _read_line(proc, timeout):
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise TimeoutError(f"no ready line within {timeout} s: {buf!r}")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise EOFError(f"fake_github exited: {buf!r}")
        buf += chunk
    return buf.decode()


def test_cli_mode(tmp_path):
    token_file = tmp_path / "token"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fake_github.py"), "--dir", str(tmp_path / "gh"),
         "--org", "acme", "--repo", "acme/app", "--pat-file", str(token_file), "--app"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = json.loads(_read_line(proc, 15))
        assert set(ready) >= {"url", "api_url", "ca_file", "port"}
        assert ready["url"] == f"https://127.0.0.1:{ready['port']}"
        assert ready["api_url"] == ready["url"] + "/api/v3"
        assert (token_file.stat().st_mode & 0o777) == 0o600
        ctx = ssl.create_default_context(cafile=ready["ca_file"])
        status, state = _admin(ready["url"], ctx, "GET", "/_fake/state")
        assert status == 200 and [o["name"] for o in state["orgs"]] == ["acme"]
        token = token_file.read_text().strip()
        conn = http.client.HTTPSConnection("127.0.0.1", ready["port"], context=ctx,
                                           timeout=TIMEOUT)
        conn.request("POST", "/api/v3/orgs/acme/actions/runners/generate-jitconfig",
                     body=json.dumps(JIT),
                     headers={**HEADERS, "Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 201, resp.read()
        resp.read()
        conn.close()
        app = ready["apps"][0]
        assert Path(app["private_key_file"]).read_text().startswith(
            "-----BEGIN RSA PRIVATE KEY-----")
        assert len(app["installation_ids"]) == 1  # the org installation covers its repo
        assert len(_admin(ready["url"], ctx, "GET", "/_fake/calls")[1]) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


# ---------------------------------------------------------------------------------------------
# the runner service's timings and decisions


def _broker_call(gh, method, path, client, body=None, query=""):
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", gh.port, timeout=30,
                                       context=ssl.create_default_context(cafile=gh.ca_file))
    headers = {"X-Fake-Runner-Client": client, "Content-Type": "application/json"}
    conn.request(method, f"/_fake/broker/{path}{query}",
                 body=json.dumps(body).encode() if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data or b"null")


def test_a_job_nobody_renews_keeps_its_runner_busy_until_abandoned(gh):
    """JobDispatcher.RenewJobRequestAsync: a runner killed mid-job stops renewing; until the
    service gives the job up the runner is busy and DELETE answers 422."""
    pat = gh.add_pat()
    r = gh.register_runner("acme", "mid-job")
    client = gh.runners()[0]["client_id"]
    job = gh.queue_job("build", steps=["sleep 600"])
    status, body = _broker_call(gh, "POST", "sessions", client, {})
    assert status == 200
    status, message = _broker_call(gh, "GET", "jobs/next", client,
                                   query=f"?sessionId={body['sessionId']}&wait=1")
    assert status == 200 and message["messageType"] == "RunnerJobRequest"
    delete = lambda: call(gh, "DELETE", f"/orgs/acme/actions/runners/{r['id']}", token=pat)
    assert delete().status == 422
    gh.job_abandon_seconds = 0.2
    time.sleep(0.3)
    assert delete().status == 204
    assert gh.job(job.id).result == "Failed"


def test_the_service_pushes_a_release_only_to_runners_that_allow_updates(gh):
    gh.latest_runner_version = "2.337.0"
    gh.register_runner("acme", "upd")
    client = gh.runners()[0]["client_id"]
    sid = _broker_call(gh, "POST", "sessions", client, {})[1]["sessionId"]
    poll = f"?sessionId={sid}&wait=0&runnerVersion=2.336.0&disableUpdate="
    assert _broker_call(gh, "GET", "jobs/next", client, query=poll + "false") == (
        200, {"messageType": "RunnerRefresh", "targetVersion": "2.337.0"})
    assert _broker_call(gh, "GET", "jobs/next", client, query=poll + "true")[0] == 204
    gh.min_runner_version = "2.337.0"
    status, body = _broker_call(gh, "GET", "jobs/next", client, query=poll + "true")
    assert status == 403 and body["errorCode"] == 1
    assert "deprecated" in body["message"]


def test_deleting_a_session_takes_session_delete_seconds(gh):
    gh.session_delete_seconds = 0.5
    gh.register_runner("acme", "slow")
    client = gh.runners()[0]["client_id"]
    sid = _broker_call(gh, "POST", "sessions", client, {})[1]["sessionId"]
    started = time.monotonic()
    assert _broker_call(gh, "DELETE", f"sessions/{sid}", client)[0] == 204
    assert time.monotonic() - started >= 0.5


# ---------------------------------------------------------------------------------------------
# GHES profiles, token expiry, fine-grained PATs, the call log (issue 11)


def test_github_com_sends_no_enterprise_version(gh, pat):
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=pat)
    assert r.status == 200 and "x-github-enterprise-version" not in r.headers


def test_ghes_3_9_has_no_jit_and_says_its_version(gh, pat):
    gh.ghes = "3.9"
    r = call(gh, "POST", "/api/v3/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=JIT)
    assert r.status == 404
    assert r.headers["x-github-enterprise-version"] == "enterprise-server@3.9.0"
    r = call(gh, "POST", "/api/v3/orgs/acme/actions/runners/registration-token", token=pat)
    assert r.status == 201
    assert gh.runners() == []


def test_ghes_3_10_ignores_the_name_filter_and_answers_422_for_a_taken_name(gh, pat):
    gh.ghes = "3.10"
    gh.register_runner("acme", "taken")
    gh.register_runner("acme", "other")
    r = call(gh, "GET", "/orgs/acme/actions/runners?name=taken", token=pat)
    assert r.json["total_count"] == 2  # every runner: 3.10 has no `name`
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, name="TAKEN"))
    assert r.status == 422 and "Already exists" in r.json["message"]
    gh.ghes = "3.17"
    r = call(gh, "GET", "/orgs/acme/actions/runners?name=taken", token=pat)
    assert [x["name"] for x in r.json["runners"]] == ["taken"]
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=pat,
             body=dict(JIT, name="TAKEN"))
    assert r.status == 409


def test_ghes_profile_is_a_setting_with_known_versions_only(gh):
    conn = connect(gh)
    try:
        conn.request("POST", "/_fake/settings", body=json.dumps({"ghes": "2.0"}))
        assert conn.getresponse().status == 400
    finally:
        conn.close()


def test_installation_tokens_expire_after_their_ttl_and_date_is_the_fakes_clock(gh):
    gh.installation_token_ttl = 120
    gh.clock_offset = 1000.0
    app = gh.add_app()
    iid = app.install(org="acme")
    r = call(gh, "POST", f"/app/installations/{iid}/access_tokens", token=app.make_jwt(
        now=time.time() + 1000))
    assert r.status == 201
    expires = datetime.datetime.strptime(
        r.json["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    date = email.utils.parsedate_to_datetime(r.headers["date"]).timestamp()
    assert expires - date == 120
    token = r.json["token"]
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=token).status == 200
    gh.clock_offset += 121
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=token).status == 401


def test_fine_grained_pat_has_an_empty_scopes_header_and_permissions(gh):
    token = gh.add_pat(fine_grained=True)
    r = call(gh, "GET", "/orgs/acme/actions/runners", token=token)
    assert r.status == 200 and r.headers["x-oauth-scopes"] == ""
    assert call(gh, "GET", "/enterprises/ent/actions/runners", token=token).status == 403
    read_only = gh.add_pat(fine_grained=True,
                           permissions={"organization_self_hosted_runners": "read"})
    assert call(gh, "GET", "/orgs/acme/actions/runners", token=read_only).status == 200
    r = call(gh, "POST", "/orgs/acme/actions/runners/generate-jitconfig", token=read_only,
             body=JIT)
    assert r.status == 403


def test_calls_are_logged_for_the_contract_test_when_asked(gh, pat, tmp_path, monkeypatch):
    monkeypatch.setenv(fake_github.CALL_LOG_ENV, str(tmp_path / "log"))
    gh.ghes = "3.12"
    call(gh, "GET", "/api/v3/orgs/acme/actions/runners?per_page=1", token=pat)
    (log,) = (tmp_path / "log").iterdir()
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["method"] == "GET" and entry["path"] == "/api/v3/orgs/acme/actions/runners"
    assert entry["raw_query"] == "per_page=1" and entry["ghes"] == "3.12"
    assert entry["user_agent"] == HEADERS["User-Agent"] and entry["status"] == 200
    assert "test_calls_are_logged" in entry["test"]
