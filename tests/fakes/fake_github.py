#!/usr/bin/python3
"""A fake GitHub REST API for runner-supervisor's tests: real HTTPS on 127.0.0.1, the real contract.

The contract it keeps is /work/shared/reference/github-runner-api.md ("ref" below, by section)
and the JIT-config part of actions-runner-contract.md. Python 3.11 standard library plus
python3-cryptography (certificates, RSA keys, RS256 verification).

Two ways to use it
------------------
In-process (pytest)::

    gh = FakeGitHub(tmpdir); gh.start()          # or: with FakeGitHub(tmpdir) as gh: ...
    gh.url      "https://127.0.0.1:PORT"          # web URL: GITHUB_URL=gh.url + "/acme" works,
    gh.api_url  "https://127.0.0.1:PORT/api/v3"   # GHES style; the same paths are also served at
    gh.ca_file  PEM of this instance's test CA    # the root, so GITHUB_API_URL=gh.url works too
    gh.stop()

As a process (demos, container tests)::

    /usr/bin/python3 tests/fakes/fake_github.py --dir DIR [--port N] [--bind 127.0.0.1]
        [--org acme]... [--repo acme/app]... [--enterprise ent]... [--pat TOKEN[=SCOPE,...]]...
        [--pat-file PATH]... [--app] [--installation-token-format long] [--ghes 3.10]
        [--verbose]

prints one JSON line {"url","api_url","ca_file","port","pid","pats","apps"} when it is ready and
serves until SIGTERM/SIGINT. Everything the Python API does is then done through the
unauthenticated JSON endpoints under /_fake/ (listed in ADMIN ENDPOINTS below). /_fake/ calls
are never recorded in the call log and never rate-limited. Bind to 127.0.0.1 only.

Python API (scopes are named as in GITHUB_URL's path: "acme", "acme/app", "enterprises/ent")
----------
  FakeGitHub(directory, host="127.0.0.1", port=0, url_host=None, extra_names=(), verbose=False)
  .start() .stop() (context manager too)   .url .api_url .ca_file .port .tls_errors
  .add_org(name) .add_repo(owner, name) .add_enterprise(name) → scope name
  .add_runner_group(scope, name, usable=True) → id
  .add_pat(token=None, scopes=("admin:org","repo","manage_runners:enterprise"),
      fine_grained=False, permissions=None) → token
  .add_app(app_id=None, client_id=None, permissions=None) → App: .app_id .client_id .slug
      .private_key_pem (PKCS#1) .private_key_pkcs8_pem .install(org=|repo=) → installation id
      .make_jwt(iat=, exp=, iss=, alg=, key=, header=, claims=) → a JWT (for tests)
  .expire_tokens()   .registration_tokens()
  .configure_runner(token, name, labels=(), runner_group=None, ...) → (runner, files)
  .runners(scope=None) .runner(id) .register_runner(scope, name, status="offline", busy=False,
      labels=None, runner_group_id=1, ephemeral=True) .set_runner(id, status=, busy=, ...)
      .delete_runner(id)   (runner dicts are the API's JSON + "scope" and "client_id")
  .set_rate_limit(limit=5000, remaining=None, reset_in=3600, status=None, credential=None)
      .rate_limit(credential)
  .inject(method=None, path_regex=".*", kind="status", times=1, **params) → id
      .clear_faults() .faults() .set_down(down=True, mode="status", status=503)
  .calls .calls_to(regex, method=None) .reset_calls() .violations()
  .queue_job(name="build", steps=(), runner_labels=None, scope=None, container=None,
      services=None) → Job (.id .status
      .result .runner_id ...) .job(id) .jobs() .wait_job(job, status="completed", timeout=10)
      .cancel_job(id)   .state() (= GET /_fake/state)
  settings (attributes): installation_token_format "short"|"long", installation_token_ttl 3600,
      max_runner_name 64, link_style "id"|"name", clock_offset 0 (s added to the fake's clock),
      jwt_exp_slack 5, strict_content_type True, ghes None (github.com) | "3.8" ... "3.19"
      (that GitHub Enterprise Server: "GHES profiles" below); the runner service's:
      latest_runner_version None, min_runner_version None, session_delete_seconds 0,
      job_abandon_seconds 600, offline_after_seconds 60; GitHub's secondary limits:
      secondary_points_per_minute 900, secondary_points_scope "endpoint"|"credential",
      max_concurrent_requests 100, token_requests_per_hour 2000, secondary_limit_status 403,
      secondary_retry_after 60 (seconds | None | "window"); ghec False; listen_backlog 128
  .installation_rate_limit(id) .token_requests(app_id, add=0) .keep_online(runner_id, online=True)
  .hold_session(runner_id) .release_session(runner_id)   another process's session (409s)
RSA keys (2048 bits, ~0.3 s each to make) come from a process-wide cache: distinct within an
instance, the same n-th key in every instance.

What is real (ref section → behaviour)
--------------------------------------
- §1 conventions, checked on every API request, each breach recorded in the call entry's
  "violations": no User-Agent → 403 with a text/plain body; X-GitHub-Api-Version present and not
  2022-11-28 → 400; a missing version header or an Accept without application/vnd.github+json
  is only recorded. Error bodies are basic-error {"message","documentation_url","status"} with
  status a string; 422s of runner endpoints are validation-error-simple (+ "errors": [str]).
  Unknown paths, and known paths with another method, → 404 "Not Found".
- §2 all runner endpoints at org, repo and enterprise scope, plus GET /rate_limit, GET /app,
  GET /app/installations[/{id}], POST /app/installations/{id}/access_tokens,
  GET /orgs/{org}/installation, /repos/{o}/{r}/installation, /users/{u}/installation.
  Org and repo endpoints are also served under /organizations/{id} and /repositories/{id},
  the form GitHub puts in Link headers (link_style="id", the default): a client that follows
  Link URLs verbatim (ref §1) works, one that rebuilds them works too.
- §2.1 generate-jitconfig: body validated (422 naming the field), runner registered at once
  (offline, os "unknown", ephemeral), 409 "Already exists - A runner with the name NAME already
  exists." while the name is registered in that scope (names compare case-insensitively).
  encoded_jit_config = base64(JSON {".runner", ".credentials", ".credentials_rsaparams"} →
  base64(JSON file)), the three files of actions-runner-contract.md "JIT config".
- §2.2 registration/remove tokens: 29 upper-case alphanumerics, expire after one hour.
- §2.3-2.5 list (exact `name` filter, per_page ≤ 100, page, Link rel=prev/next/first/last only
  when there is more than one page), get, delete (204; 422 `Bad request - Runner "NAME" is still
  running a job` when busy; 404 when absent), runner groups (org and enterprise; a group named
  "Default" with id 1 and default true in each; no repo endpoint; no Link).
- §2.6-2.7, §5 App auth: RS256 JWT verified with the app's public key; header alg must be RS256;
  iss = app id (int or numeric string) or client id; iat and exp must be integers; iat at most
  60 s in the future; exp in the future and at most 600 s (+ jwt_exp_slack, 5 s) ahead. JWT only
  with "Bearer". Installation tokens (1 h) work on what the installation covers: an org
  installation covers the org's endpoints and its repositories' (repository_selection "all");
  a repo installation ("selected") that repo's. Requested token permissions may only narrow.
- §4 permissions: classic PAT scopes admin:org (org), repo (repo), manage_runners:enterprise
  (enterprise; admin:enterprise implies it); X-OAuth-Scopes on PAT responses. Apps need
  organization_self_hosted_runners (org) / administration (repo), read for GET, write otherwise;
  enterprise endpoints refuse installation tokens.
- §6 rate limits: x-ratelimit-limit/remaining/used/reset/resource on every API response; a
  budget per credential (per PAT, per installation, per app for JWTs), 5000/h, decremented by
  every authenticated request but /rate_limit; exhausted → 403 (or 429) with remaining 0 and
  "API rate limit exceeded for ..."; refilled at the reset time. An installation's budget
  grows as GitHub's docs say (installation_rate_limit). Secondary limits: below, and as a
  fault kind.

Secondary rate limits (GitHub docs, "Rate limits for the REST API" = DOCS_RATE: "About
secondary rate limits", "Calculating points for the secondary rate limit", "Exceeding the rate
limit"), on by default as on github.com, each off with its setting None:
- points: a request costs SECONDARY_POINTS (GET, HEAD, OPTIONS 1; POST, PATCH, PUT, DELETE 5);
  a credential may spend secondary_points_per_minute (900) on "a single endpoint" in any 60 s.
  An endpoint is one method and path template (DELETE /orgs/{org}/actions/runners/{id}), as
  GitHub's REST reference names endpoints; secondary_points_scope="credential" pools all of
  a credential's endpoints (the strictest reading). The docs do not say whether the minute is
  sliding or fixed: sliding here. /rate_limit counts ("it can count against your secondary
  rate limit").
- concurrency: at most max_concurrent_requests (100) requests of a credential being answered
  at once ("No more than 100 concurrent requests are allowed").
- installation tokens: at most token_requests_per_hour (2,000) minted per App in any hour ("No
  more than 2,000 OAuth access token requests per hour are allowed for GitHub Apps and OAuth
  apps"; the docs' list of secondary limits since 2024).
- the answer: secondary_limit_status (403; GitHub: "403 or 429") with "You have exceeded a
  secondary rate limit...", documentation_url, the credential's x-ratelimit-* headers (not 0:
  the primary budget is not what ran out), and retry-after per secondary_retry_after: 60 by
  default (the docs say only "if the retry-after response header is present"; 60 is what
  third-party reports and issue 16's measurement show), None for no header, "window" for the
  whole seconds until the request would fit.
- not documented, chosen here: limits are per credential (per PAT's user, per installation,
  per App for JWTs; per client IP unauthenticated); a refused request adds no points (else a
  fleet refused once would be locked out by its own retries) but counts against the primary
  budget like any answered request; the concurrency and points checks come after the primary
  one. Not modelled: the CPU-time limit (90 s per minute), content creation (80 a minute, 500
  an hour: whether registering a runner is "content" is not documented), undisclosed reasons.
- simulations: a request to /_pod/TAG/... is served as the same request without the prefix;
  its call log entry carries "pod": TAG (tests/fleet/ tags each simulated pod's calls so).
- §7 gotchas: token length not fixed (installation_token_format="long" mints
  "ghs_<appid>_<JWT-like>" of ~330 chars), 409 on name reuse (inject a drop with after=True to
  lose the 201 of a jitconfig that did register), 422 on busy delete, ephemeral runners deleted
  by the service after their one job (the broker below).

- §7.10 installation tokens expire installation_token_ttl (3600) s after they are minted; a
  request with one after that is 401 Bad credentials. Every answer's Date is on the fake's own
  clock (clock_offset included), as expires_at is.
- GHES profiles (ghes = "3.10" ...; reference §7.11, from the GHES descriptions in
  @octokit/openapi): every answer carries X-GitHub-Enterprise-Version: enterprise-server@V.0
  (GHES docs, "REST API endpoints for GitHub Enterprise administration"); before 3.10
  generate-jitconfig does not exist (404, actions/generate-runner-jitconfig-for-*); before 3.11
  list-runners ignores `name` (actions/list-self-hosted-runners-for-*); before 3.17 a taken
  name is 422 (those versions document no 409).
- §2.5 runner groups page by number and send no Link (actions/list-self-hosted-runner-groups-
  for-{org,enterprise} declare none). generate-jitconfig with an unknown runner_group_id → 404,
  with a group created usable=False → 403 (§7.13, 3p: crate runner-manager-github).
- §7.14 fine-grained PATs (add_pat(fine_grained=True)): authorized by permissions like an
  App's installation token, never at an enterprise, and answered with an empty X-OAuth-Scopes.
- With $RS_GITHUB_CALL_LOG set, every API request is appended to calls-<pid>.jsonl in that
  directory (method, path, query, body, User-Agent, GHES version, pytest test) for the contract
  test (tests/contract/).

What is simplified
------------------
- Users, org membership and admin roles do not exist: a PAT with the scope may act on any scope.
  Private-repo 404-instead-of-403 is not modelled: missing rights are always 403.
- Messages of JWT, version, and validation errors follow GitHub's style where known; JWT 401s
  carry an extra "fake_reason" field saying exactly what was wrong. A valid JWT on a runner
  endpoint → 403 "Resource not accessible by integration" (GitHub's exact answer is unverified).
- Runner names over max_runner_name (64, a limit reported by third parties) and labels that are empty or over
  256 characters (the runner's own config.sh rule) → 422; set max_runner_name=None to lift it.
- Stricter than GitHub: a request body with a Content-Type other than application/json → 415
  (strict_content_type=True; GitHub itself is lenient here).
- Unauthenticated requests are shown a 60/h budget that is never decremented.
- GET /enterprises/{e}/installation always answers 404 (the endpoint is unverified, ref §2.6).
- The job broker is not GitHub's protocol (that one is not a public contract): it is the small
  JSON protocol below, enough for a fake runner to show sessions, one job per ephemeral runner,
  server-side deletion, and the service deleting an ephemeral runner after its job.

Fault injection: gh.inject(method, path_regex, kind, times, **params); path_regex is searched in
the request path as sent, without the query. A fault fires after request validation,
authentication and the rate-limit check (so headers are the credential's), before the handler:
  "status"           status=500, body=None (dict → JSON, str → text), headers={},
                     content_type=None, after=False (True: run the handler first, then answer so)
  "drop"             close the connection without an answer; after=False, reset=False (True:
                     an RST instead of a FIN)
  "delay"            seconds=1.0, then answer normally (other requests are not blocked)
  "invalid_json"     run the handler, then answer its status (or status=) with a body that is not
                     JSON (body= to choose it; default a truncated JSON document)
  "unauthorized"     401 Bad credentials
  "secondary_limit"  status=403 (or 429), retry_after=None → retry-after header when given
  "primary_limit"    status=403 (or 429), reset_in=60: x-ratelimit-remaining 0, reset now+reset_in
times=None fires forever. gh.set_down(True, mode="status"|"drop", status=503) fails every API
request until set_down(False).

Job broker (for a fake runner). The runner authenticates with the clientId of its .credentials
in the header "X-Fake-Runner-Client: <clientId>" (401 when unknown; 404 {"message":
"Registration <id> was not found"} once its runner was deleted):
  POST   /_fake/broker/sessions              {"version"?, "os"?} → 200 {"sessionId"}; the runner
                                             goes online; 409 when a session is already open
  DELETE /_fake/broker/sessions/{sid}        → 204 after session_delete_seconds, runner
                                             offline
  GET    /_fake/broker/jobs/next?sessionId=S&wait=SECONDS (≤ 50)&runnerVersion=V
                                             &disableUpdate=true|false
                                             → 200 {"messageType": "RunnerJobRequest", "id",
                                             "name","steps","runner_labels","container",
                                             "services"} (the job is
                                             assigned, runner busy), 204 when none in time;
                                             403 {"errorCode": 1} when V < min_runner_version;
                                             200 {"messageType": "RunnerRefresh",
                                             "targetVersion"} when updates are not disabled
                                             and V < latest_runner_version (GitHub pushes
                                             every release to such runners)
  GET    /_fake/broker/jobs/{id}             → the job (status, cancel_requested); renews it
                                             (a running job nobody renews for
                                             job_abandon_seconds is failed and its runner is
                                             no longer busy; until then DELETE answers 422)
  POST   /_fake/broker/jobs/{id}/result      {"result": "Succeeded"|"Failed"|...} → 200 job;
                                             an ephemeral runner's registration is then deleted
  POST   /_fake/broker/register              config.sh: {"token","name","labels"?,
                                             "runner_group"?,"work_folder"?,"replace"?,
                                             "ephemeral"?,"no_default_labels"?} → 201 {"runner",
                                             "files": {".runner": {...}, ...}}; 401 bad token,
                                             409 name taken (without replace), 404 group
  POST   /_fake/broker/unregister            config.sh remove: {"token"} + client header → 204
  POST   /_fake/oauth                        the .credentials authorizationUrl → an access token
A job is offered to the first runner whose labels include all of its runner_labels (case-
insensitive; None = any runner) in its scope (None = any scope); an ephemeral runner gets one.
The broker has no Python calls: a (fake) runner speaks HTTP to it.

ADMIN ENDPOINTS (JSON in and out; errors {"message"} with 400/404)
  GET /_fake/state                      GET|DELETE /_fake/calls (?path_regex=&method=)
  POST /_fake/orgs {"name"}             POST /_fake/repos {"full_name"} | {"owner","name"}
  POST /_fake/enterprises {"name"}      POST /_fake/runner_groups {"scope","name"} → {"id"}
  POST /_fake/pats {"token"?,"scopes"?,"fine_grained"?,"permissions"?} → {"token","scopes"}
  GET|POST /_fake/apps {"app_id"?,"client_id"?,"permissions"?} → {"app_id","client_id","slug",
      "private_key_pem","private_key_pkcs8_pem"}
  POST /_fake/apps/{id}/install {"org"} | {"repo":"o/r"} [+"permissions"] → {"installation_id"}
  POST /_fake/apps/{id}/jwt {"iat"?,"exp"?,"iss"?} → {"jwt"}
  GET|POST|DELETE /_fake/faults (POST: {"kind","method"?,"path_regex"?,"times"?,...params})
  POST /_fake/down {"down","mode"?,"status"?}
  GET|POST /_fake/rate_limit {"limit"?,"remaining"?,"reset_in"?,"status"?,"credential"?}
  POST /_fake/settings {installation_token_format, installation_token_ttl, max_runner_name,
      link_style, clock_offset, jwt_exp_slack, strict_content_type, verbose, ghes, ...}
  GET|POST /_fake/runners (POST: {"scope","name","status"?,"busy"?,"labels"?,
      "runner_group_id"?,"ephemeral"?})   PATCH|DELETE /_fake/runners/{id}
  GET|POST /_fake/jobs (POST: {"name","steps","runner_labels"?,"scope"?,"container"?,
      "services"?})
  GET /_fake/jobs/{id}?wait_status=S[,S2]&timeout=SECONDS (408 with the job if not in time)
  POST /_fake/jobs/{id}/cancel
  GET /_fake/registration_tokens
Scopes are named as in GITHUB_URL's path: "acme" (org), "acme/app" (repo), "enterprises/ent".
"""
import argparse
import base64
import collections
import dataclasses
import datetime
import http.server
import json
import math
import os
import re
import secrets
import signal
import socket
import ssl
import string
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

try:  # as a package (tests.fakes / fakes) or as a top-level module / script
    from . import testca
except ImportError:
    import testca

API_VERSION = "2022-11-28"
DOCS = "https://docs.github.com/rest"
DOCS_RUNNERS = "https://docs.github.com/rest/actions/self-hosted-runners"
DOCS_RATE = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
DOCS_JWT = "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app"
JSON_CT = "application/json; charset=utf-8"
RUNNER_VERSION = "2.336.0"
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
READ_ONLY_LABELS = {"self-hosted", "linux", "windows", "macos", "x64", "arm", "arm64"}
DEFAULT_PAT_SCOPES = ("admin:org", "repo", "manage_runners:enterprise")
SCOPE_IMPLIES = {"admin:enterprise": ("manage_runners:enterprise",)}
DEFAULT_APP_PERMISSIONS = {
    "organization_self_hosted_runners": "write",
    "administration": "write",
    "metadata": "read",
}
LEVELS = {None: 0, "read": 1, "write": 2, "admin": 3}
FAULT_KINDS = ("status", "drop", "delay", "invalid_json", "unauthorized",
               "secondary_limit", "primary_limit")
BROKER_MAX_WAIT = 50.0
MAX_BODY = 10 * 1024 * 1024
UA_MISSING_TEXT = (
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent "
    "header (https://docs.github.com/rest/overview/resources-in-the-rest-api#user-agent-required)."
    " Check https://developer.github.com for other possible causes.\n"
)
SETTINGS = ("installation_token_format", "installation_token_ttl", "max_runner_name",
            "link_style", "clock_offset", "jwt_exp_slack", "strict_content_type", "verbose",
            "latest_runner_version", "min_runner_version", "session_delete_seconds",
            "job_abandon_seconds", "offline_after_seconds", "ghes",
            "secondary_points_per_minute", "secondary_points_scope", "max_concurrent_requests",
            "token_requests_per_hour", "secondary_limit_status", "secondary_retry_after", "ghec")
# Points of a request for the secondary rate limit (docs, "Rate limits for the REST API",
# "Calculating points for the secondary rate limit": "Most REST API GET, HEAD, and OPTIONS
# requests" 1, "Most REST API POST, PATCH, PUT, or DELETE requests" 5).
SECONDARY_POINTS = {"GET": 1, "HEAD": 1, "OPTIONS": 1, "POST": 5, "PATCH": 5, "PUT": 5,
                    "DELETE": 5}
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before "
                     "you try again. If you reach out to GitHub Support for help, please include "
                     "the request ID {}.")
# The prefix a simulation puts before a pod's API paths (GITHUB_API_URL=URL/_pod/TAG/api/v3) so
# that every call names its pod: stripped before anything else looks at the path.
POD_PREFIX_RE = re.compile(r"/_pod/([A-Za-z0-9_.-]{1,64})(?=/)")
# What each GHES version lacks, from its description in @octokit/openapi (ghes-3.9 ...
# ghes-3.19, reference §7.11); the fake emulates these with `ghes = "3.10"` and so on.
GHES_JIT_SINCE = (3, 10)          # actions/generate-runner-jitconfig-for-{org,repo,enterprise}
GHES_NAME_FILTER_SINCE = (3, 11)  # the `name` query of actions/list-self-hosted-runners-for-*
GHES_409_SINCE = (3, 17)          # 409 among generate-runner-jitconfig-*'s responses
GHES_VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15", "3.16",
                 "3.17", "3.18", "3.19")
# Where the contract test writes down every request (tests/contract/, `make integration`).
CALL_LOG_ENV = "RS_GITHUB_CALL_LOG"


# ---------------------------------------------------------------------------------------------
# small helpers


def _rand(n, alphabet=ALNUM):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode("ascii")


def _b64json(obj):
    return _b64(json.dumps(obj, separators=(",", ":")))


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso_z(ts):
    """2016-07-11T22:14:10Z (the installation-token example, ref §2.7)."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ts):
    """2020-01-22T20:13:35.123+00:00 (the registration-token example's form, ref §2.2)."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(
        timespec="milliseconds")


def _version(text):
    """'2.336.0' → (2, 336, 0), for comparisons."""
    return tuple(int(p) if p.isdigit() else 0 for p in str(text).split("."))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _int_param(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _json_repr(value):
    return json.dumps(value)


def _load_private_key(key):
    if isinstance(key, (str, bytes)):
        data = key.encode() if isinstance(key, str) else key
        return serialization.load_pem_private_key(data, password=None)
    return key


_RSA_KEYS = []
_RSA_KEYS_LOCK = threading.Lock()


def _rsa_key(index):
    """The index-th RSA-2048 key of a process-wide cache. Generating one costs ~0.3 s, so every
    FakeGitHub draws its keys from here: key 0 for runners, keys 1.. for its apps in order.
    Distinct within an instance; shared between instances, which never trust each other's
    credentials anyway."""
    with _RSA_KEYS_LOCK:
        while len(_RSA_KEYS) <= index:
            _RSA_KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _RSA_KEYS[index]


def _rsa_params(key):
    """The runner's .credentials_rsaparams: .NET RSAParameters, each big-endian and base64."""
    priv = key.private_numbers()
    pub = priv.public_numbers
    n_len = (pub.n.bit_length() + 7) // 8
    half = (n_len + 1) // 2

    def enc(value, length):
        return _b64(value.to_bytes(length, "big"))

    return {
        "d": enc(priv.d, n_len), "dp": enc(priv.dmp1, half), "dq": enc(priv.dmq1, half),
        "exponent": enc(pub.e, (pub.e.bit_length() + 7) // 8),
        "inverseQ": enc(priv.iqmp, half), "modulus": enc(pub.n, n_len),
        "p": enc(priv.p, half), "q": enc(priv.q, half),
    }


# ---------------------------------------------------------------------------------------------
# responses and errors


@dataclass
class Response:
    status: int
    body: object = None  # dict/list → JSON; str/bytes → as is; None → no body
    headers: dict = field(default_factory=dict)
    content_type: str = None

    def encode(self):
        if self.body is None:
            return b"", self.content_type
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), self.content_type or JSON_CT
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return bytes(self.body), self.content_type or "application/octet-stream"


class ApiError(Exception):
    """An error answer: basic-error JSON unless body/content_type say otherwise."""

    def __init__(self, status, message, *, headers=None, errors=None, doc=DOCS, extra=None,
                 body=None, content_type=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.headers, self.errors, self.doc = headers or {}, errors, doc
        self.extra, self.body, self.content_type = extra or {}, body, content_type

    def response(self):
        if self.body is not None:
            return Response(self.status, self.body, dict(self.headers), self.content_type)
        body = {"message": self.message, "documentation_url": self.doc}
        if self.errors is not None:
            body["errors"] = self.errors
        else:
            body["status"] = str(self.status)
        body.update(self.extra)
        return Response(self.status, body, dict(self.headers))


def _not_found():
    return ApiError(404, "Not Found")


def _validation(field_name, detail):
    message = f"Invalid request.\n\nFor 'properties/{field_name}', {detail}"
    return ApiError(422, message, errors=[message], doc=DOCS_RUNNERS)


def _missing(field_name):
    message = f'Invalid request.\n\n"{field_name}" wasn\'t supplied.'
    return ApiError(422, message, errors=[message], doc=DOCS_RUNNERS)


def _jwt_error(message, reason):
    return ApiError(401, message, doc=DOCS_JWT, extra={"fake_reason": reason})


# ---------------------------------------------------------------------------------------------
# the model


@dataclass
class Scope:
    kind: str  # "org" | "repo" | "enterprise"
    name: str  # "acme" | "acme/app" | "ent" (as created)
    id: int
    groups: list = field(default_factory=list)  # [{"id","name","default","visibility"}]
    members: int = 0  # an org's users: an installation's primary limit grows with them

    @property
    def key(self):
        return "enterprises/" + self.name if self.kind == "enterprise" else self.name

    @property
    def path(self):
        return {"org": "/orgs/", "repo": "/repos/", "enterprise": "/enterprises/"}[
            self.kind] + self.name

    @property
    def id_path(self):
        return {"org": f"/organizations/{self.id}", "repo": f"/repositories/{self.id}",
                "enterprise": f"/enterprises/{self.name}"}[self.kind]

    @property
    def owner(self):
        return self.name.split("/")[0]


@dataclass
class Runner:
    id: int
    name: str
    scope: str  # Scope.key
    group_id: int
    labels: list
    ephemeral: bool = True
    status: str = "offline"
    busy: bool = False
    os: str = "unknown"
    version: str = None
    client_id: str = None
    session_id: str = None
    work_folder: str = "_work"
    jobs_taken: int = 0
    polling: int = 0          # long polls of its Listener in flight
    last_seen: float = None   # the end of its Listener's last poll or job renewal


@dataclass
class Job:
    id: int
    name: str
    steps: list
    runner_labels: list = None
    scope: str = None
    container: object = None  # the workflow's `container:` (an image, or a dict), or None
    services: dict = None     # the workflow's `services:` {key: image or dict}, or None
    status: str = "queued"  # queued → running → completed
    result: str = None
    runner_id: int = None
    runner_name: str = None
    cancel_requested: bool = False
    queued_at: float = 0.0
    started_at: float = None
    completed_at: float = None
    renewed_at: float = None  # the runner's last sign of life for this job

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclass
class Pat:
    token: str
    scopes: list
    user_id: int
    permissions: dict = None  # a fine-grained PAT's (then scopes is empty), else None

    @property
    def fine_grained(self):
        return self.permissions is not None

    def has(self, scope):
        granted = set(self.scopes)
        for s in self.scopes:
            granted.update(SCOPE_IMPLIES.get(s, ()))
        return scope in granted


@dataclass
class Installation:
    id: int
    app_id: int
    account: str  # login of the org or user
    account_id: int
    target_type: str  # "Organization" | "User"
    selection: str  # "all" | "selected"
    repos: set  # lower-case repo names when selected
    permissions: dict
    created_at: float

    def covers(self, scope):
        if scope.kind == "enterprise":
            return False
        if scope.owner.lower() != self.account.lower():
            return False
        if scope.kind == "org":
            return True
        return self.selection == "all" or scope.name.split("/")[1].lower() in self.repos


@dataclass
class InstallationToken:
    token: str
    installation_id: int
    expires: float
    permissions: dict
    repos: set = None  # narrowed to these repo names, None = all the installation covers


@dataclass
class Bucket:
    limit: int
    remaining: int
    reset: float
    resource: str = "core"

    def refresh(self, now):
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = now + 3600

    def snapshot(self):
        return {"limit": self.limit, "remaining": self.remaining, "reset": math.ceil(self.reset),
                "used": self.limit - self.remaining, "resource": self.resource}


@dataclass
class Fault:
    id: int
    kind: str
    method: str
    path_regex: str
    times: int
    params: dict
    hits: int = 0

    def matches(self, method, path):
        return ((self.method is None or self.method == method)
                and re.search(self.path_regex, path) is not None)

    def to_dict(self):
        return {"id": self.id, "kind": self.kind, "method": self.method,
                "path_regex": self.path_regex, "times": self.times, "hits": self.hits,
                "params": self.params}


@dataclass
class Cred:
    kind: str  # "none" | "pat" | "installation" | "jwt"
    pat: Pat = None
    token: InstallationToken = None
    installation: Installation = None
    app: "App" = None

    @property
    def bucket_key(self):
        if self.kind == "pat":
            return f"user:{self.pat.user_id}"
        if self.kind == "installation":
            return f"installation:{self.installation.id}"
        if self.kind == "jwt":
            return f"app:{self.app.app_id}"
        return None

    @property
    def who(self):
        return {"pat": lambda: f"user ID {self.pat.user_id}",
                "installation": lambda: f"installation ID {self.installation.id}",
                "jwt": lambda: f"app ID {self.app.app_id}"}[self.kind]()


class App:
    """A GitHub App: its RSA key, ids, and installations. Created by FakeGitHub.add_app()."""

    def __init__(self, gh, app_id, client_id, slug, permissions, key):
        self._gh = gh
        self.app_id, self.client_id, self.slug = app_id, client_id, slug
        self.permissions = dict(permissions)
        self.key = key
        self.public_key = self.key.public_key()
        self.private_key_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()).decode()
        self.private_key_pkcs8_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()

    def install(self, org=None, repo=None, permissions=None):
        """Install on an org (all repositories) or one repo ("o/r" or ("o","r")); → id."""
        return self._gh._install(self, org=org, repo=repo, permissions=permissions)

    @property
    def installations(self):
        return self._gh._installations_of(self.app_id)

    def make_jwt(self, iat=None, exp=None, iss=None, alg="RS256", key=None, now=None,
                 header=None, claims=None):
        """A JWT as a client should make it (iat now-60, exp now+540, iss the client id), every
        part overridable; key= signs with another key (PEM or key object)."""
        now = int(time.time()) if now is None else int(now)
        payload = {"iat": now - 60 if iat is None else iat,
                   "exp": now + 540 if exp is None else exp,
                   "iss": self.client_id if iss is None else iss}
        payload.update(claims or {})
        head = {"alg": alg, "typ": "JWT"} if header is None else header
        signing_input = (_b64url(json.dumps(head).encode()) + "."
                         + _b64url(json.dumps(payload).encode()))
        signer = _load_private_key(key) if key is not None else self.key
        signature = signer.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def to_dict(self, with_keys=False):
        out = {"app_id": self.app_id, "client_id": self.client_id, "slug": self.slug,
               "permissions": self.permissions,
               "installations": [i.id for i in self.installations]}
        if with_keys:
            out["private_key_pem"] = self.private_key_pem
            out["private_key_pkcs8_pem"] = self.private_key_pkcs8_pem
        return out


# ---------------------------------------------------------------------------------------------
# FakeGitHub: the state (one lock) and the Python API


class FakeGitHub:
    """The fake GitHub. All state is guarded by self._lock (an RLock under self._cond)."""

    def __init__(self, directory, host="127.0.0.1", port=0, url_host=None, extra_names=(),
                 verbose=False):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.host, self._want_port = host, port
        self.url_host = url_host or (host if host not in ("", "0.0.0.0", "::") else "127.0.0.1")
        self.verbose = verbose
        # settings (attributes; also POST /_fake/settings)
        self.installation_token_format = "short"  # or "long"
        self.installation_token_ttl = 3600
        self.max_runner_name = 64
        self.link_style = "id"  # or "name"
        self.clock_offset = 0.0
        self.jwt_exp_slack = 5
        self.strict_content_type = True
        # The runner service (the broker):
        self.latest_runner_version = None  # pushed to runners whose .runner allows updates
        self.min_runner_version = None     # older runners are refused (AccessDenied, code 1)
        self.session_delete_seconds = 0.0  # how long DELETE of a session takes (≤ 30 s real)
        self.job_abandon_seconds = 600.0   # a running job nobody renews is failed after this
        # A runner whose Listener stopped polling (killed, its node gone) shows "offline"
        # after this. GitHub does not document the delay ("Offline: the runner is not
        # connected to GitHub", docs: monitoring-and-troubleshooting-self-hosted-runners);
        # here: more than one long poll (BROKER_MAX_WAIT), as a dead TCP peer is only
        # noticed when the poll's answer cannot be sent.
        self.offline_after_seconds = 60.0
        # None: github.com (and GHE.com). "3.10" and so on: that GitHub Enterprise Server
        # version, with what its REST API lacks (GHES_* above) and its version header.
        self.ghes = None
        # Secondary rate limits, as GitHub's docs state them (DOCS_RATE, "About secondary rate
        # limits"; what is modelled and how: "Secondary rate limits" in the docstring above).
        # None turns one off.
        self.secondary_points_per_minute = 900  # "No more than 900 points per minute ... for
        #                                         REST API endpoints", to a single endpoint
        self.secondary_points_scope = "endpoint"  # or "credential": all endpoints as one
        self.max_concurrent_requests = 100  # "No more than 100 concurrent requests"
        self.token_requests_per_hour = 2000  # "No more than 2,000 OAuth access token requests
        #                                      per hour" for GitHub Apps: installation tokens
        self.secondary_limit_status = 403  # "a 403 or 429 response"
        # "If the retry-after response header is present": seconds (what third-party reports
        # show most, and issue 16's measurement: 60), None (absent: the client waits at least
        # a minute), or "window" (the seconds until the request would fit).
        self.secondary_retry_after = 60
        # An installation on a GitHub Enterprise Cloud organization: 15,000 requests an hour
        # (DOCS_RATE, "Primary rate limit for GitHub App installations").
        self.ghec = False
        # The listen backlog: a simulation that starts hundreds of clients at once raises it,
        # as GitHub's front ends do not drop connections under such a burst.
        self.listen_backlog = 128

        names = ["127.0.0.1", "localhost", self.url_host, *extra_names]
        if host not in ("", "0.0.0.0", "::"):
            names.append(host)
        self._ca = testca.TestCA(self.directory)
        self.ca_file = self._ca.ca_file
        self.cert_file, self.key_file = self._ca.issue_server_cert(names)
        self._rsa_params_cache = None

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._scopes = {}  # Scope.key.lower() → Scope
        self._runners = {}  # id → Runner
        self._clients = {}  # clientId → runner id (kept after deletion)
        self._sessions = {}  # sessionId → runner id
        self._labels = {}  # lower-case label → id
        self._pats = {}  # token → Pat
        self._apps = {}  # app_id → App
        self._installations = {}  # id → Installation
        self._inst_tokens = {}  # token → InstallationToken
        self._reg_tokens = {}  # token → {"token","kind","scope","expires"}
        self._jobs = {}  # id → Job
        self._faults = []
        self._down = None
        self._buckets = {}
        self._rl_default = {"limit": 5000, "remaining": None, "reset": 0.0}
        self._rl_custom = False  # set_rate_limit() for every credential: no scaling by kind
        self._points = {}  # (credential, endpoint) → deque of [time, points] (last 60 s)
        self._inflight = {}  # credential → requests being answered
        self.inflight_peak = 0  # the most of one credential's requests answered at once
        self._token_mints = {}  # app id → deque of mint times (last hour)
        self._rl_status = 403
        self._calls = []
        self.tls_errors = []
        self._ids = {"org": 10_000, "repo": 200_000, "enterprise": 300, "group": 1,
                     "runner": 100, "label": 0, "user": 5_000_000, "app": 900_000,
                     "installation": 40_000_000, "job": 7_000, "fault": 0, "app_key": 0}
        self._api = _Api(self)
        self._admin = _Admin(self)
        self._server = None
        self._thread = None
        self.port = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        self._stopping.clear()
        self._server = _Server((self.host, self._want_port), self, ctx)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"fake-github:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()  # serve_forever returns: no new connections
        self._server.server_close()  # closes the socket, wakes and joins connection threads
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        host = f"[{self.url_host}]" if ":" in self.url_host else self.url_host
        return f"https://{host}:{self.port}"

    @property
    def api_url(self):
        return self.url + "/api/v3"

    def _now(self):
        return time.time() + self.clock_offset

    def ghes_before(self, version):
        """True when emulating a GHES older than version ((3, 10) ...)."""
        return self.ghes is not None and _version(self.ghes)[:2] < tuple(version)

    def _next(self, kind):
        with self._lock:
            self._ids[kind] += 1
            return self._ids[kind]

    # -- scopes -----------------------------------------------------------------------------

    def _add_scope(self, kind, name):
        with self._lock:
            probe = Scope(kind, name, 0)
            existing = self._scopes.get(probe.key.lower())
            if existing:
                return existing
            scope = Scope(kind, name, self._next(kind))
            if kind != "repo":
                scope.groups.append({"id": 1, "name": "Default", "default": True,
                                     "visibility": "all"})
            self._scopes[scope.key.lower()] = scope
            return scope

    def add_org(self, name, members=None):
        """Create an org (idempotent); → its scope name ("acme"). members: its number of
        users (an installation's primary rate limit grows with them, past 20)."""
        scope = self._add_scope("org", name)
        if members is not None:
            scope.members = int(members)
        return scope.key

    def add_repo(self, owner, name=None):
        """Create a repo: add_repo("acme", "app") or add_repo("acme/app"); → "acme/app"."""
        full = owner if name is None else f"{owner}/{name}"
        if full.count("/") != 1 or not all(full.split("/")):
            raise ValueError(f"bad repository name {full!r}")
        return self._add_scope("repo", full).key

    def add_enterprise(self, name):
        """Create an enterprise; → its scope name ("enterprises/ent")."""
        return self._add_scope("enterprise", name).key

    def _scope(self, scope):
        """A Scope from "acme", "acme/app", "enterprises/ent", ("acme","app") or a Scope."""
        if isinstance(scope, Scope):
            return scope
        if isinstance(scope, (tuple, list)):
            scope = "/".join(scope)
        with self._lock:
            found = self._scopes.get(str(scope).lower())
        if found is None:
            raise KeyError(f"no such scope {scope!r} (add_org/add_repo/add_enterprise first)")
        return found

    def add_runner_group(self, scope, name, visibility="all", usable=True):
        """Add a runner group to an org or enterprise; → its id. usable=False: a group the
        scope may see but not register runners in (generate-jitconfig answers 403)."""
        sc = self._scope(scope)
        if sc.kind == "repo":
            raise ValueError("repositories have no runner groups")
        with self._lock:
            gid = self._next("group")
            sc.groups.append({"id": gid, "name": name, "default": False,
                              "visibility": visibility, "usable": usable})
            return gid

    def _group_json(self, sc, group):
        base = f"{self.api_url}{sc.path}/actions/runner-groups/{group['id']}"
        out = {"id": group["id"], "name": group["name"], "visibility": group["visibility"],
               "default": group["default"], "runners_url": base + "/runners",
               "allows_public_repositories": False, "restricted_to_workflows": False,
               "selected_workflows": [], "workflow_restrictions_read_only": False}
        if sc.kind == "org":
            out["inherited"] = False
            out["selected_repositories_url"] = base + "/repositories"
        else:
            out["selected_organizations_url"] = base + "/organizations"
        return out

    # -- credentials ------------------------------------------------------------------------

    def add_pat(self, token=None, scopes=DEFAULT_PAT_SCOPES, fine_grained=False,
                permissions=None):
        """A classic PAT with these scopes (default: all three runner scopes), or with
        fine_grained a fine-grained PAT with these permissions (default: organization
        self-hosted runners and repository administration, write); → the token."""
        if fine_grained:
            token = token or "github_pat_" + _rand(82)
            perms = dict(permissions or {"organization_self_hosted_runners": "write",
                                         "administration": "write"})
            with self._lock:
                self._pats[token] = Pat(token, [], self._next("user"), perms)
            return token
        token = token or "ghp_" + _rand(36)
        with self._lock:
            self._pats[token] = Pat(token, list(scopes), self._next("user"))
        return token

    def add_app(self, app_id=None, client_id=None, permissions=None):
        """A GitHub App with a fresh RSA-2048 key; → App (see App.install, App.make_jwt)."""
        with self._lock:
            app_id = int(app_id) if app_id is not None else self._next("app")
            key_index = self._next("app_key")
        app = App(self, app_id, client_id or "Iv23li" + _rand(14), f"fake-app-{app_id}",
                  permissions or DEFAULT_APP_PERMISSIONS, _rsa_key(key_index))
        with self._lock:
            if app_id in self._apps:
                raise ValueError(f"app {app_id} exists")
            self._apps[app_id] = app
        return app

    def app(self, app_id):
        with self._lock:
            return self._apps[int(app_id)]

    def _install(self, app, org=None, repo=None, permissions=None):
        if (org is None) == (repo is None):
            raise ValueError("install(org=...) or install(repo=...)")
        if repo is not None:
            full = "/".join(repo) if isinstance(repo, (tuple, list)) else repo
            self.add_repo(full)
            account, repo_name = full.split("/")
        else:
            account, repo_name = self._scope(self.add_org(org)).name, None
        with self._lock:
            org_scope = self._scopes.get(account.lower())
            inst = next((i for i in self._installations.values()
                         if i.app_id == app.app_id and i.account.lower() == account.lower()),
                        None)
            if inst is None:
                inst = Installation(
                    id=self._next("installation"), app_id=app.app_id, account=account,
                    account_id=org_scope.id if org_scope else self._next("user"),
                    target_type="Organization" if org_scope else "User",
                    selection="selected" if repo_name else "all", repos=set(),
                    permissions=dict(permissions or app.permissions), created_at=self._now())
                self._installations[inst.id] = inst
            if repo_name is None:
                inst.selection, inst.repos = "all", set()
            elif inst.selection == "selected":
                inst.repos.add(repo_name.lower())
            if permissions:
                inst.permissions = dict(permissions)
            return inst.id

    def _installations_of(self, app_id):
        with self._lock:
            return [i for i in self._installations.values() if i.app_id == app_id]

    def _installation_json(self, inst):
        app = self._apps[inst.app_id]
        return {
            "id": inst.id, "client_id": app.client_id, "app_id": app.app_id,
            "app_slug": app.slug, "target_id": inst.account_id, "target_type": inst.target_type,
            "account": {"login": inst.account, "id": inst.account_id, "type": inst.target_type},
            "repository_selection": inst.selection,
            "access_tokens_url": f"{self.api_url}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api_url}/installation/repositories",
            "html_url": f"{self.url}/organizations/{inst.account}/settings/installations/"
                        f"{inst.id}",
            "permissions": inst.permissions, "events": [], "single_file_name": None,
            "has_multiple_single_files": False, "single_file_paths": [],
            "created_at": _iso_z(inst.created_at), "updated_at": _iso_z(inst.created_at),
            "suspended_by": None, "suspended_at": None,
        }

    def _mint_installation_token(self, inst, permissions, repos):
        if self.installation_token_format == "long":
            head = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
            body = _b64url(json.dumps({"iid": inst.id, "aid": inst.app_id,
                                       "n": _rand(120)}).encode())
            token = f"ghs_{inst.app_id}_{head}.{body}.{_b64url(secrets.token_bytes(64))}"
        else:
            token = "ghs_" + _rand(36)
        tok = InstallationToken(token, inst.id, self._now() + self.installation_token_ttl,
                                dict(permissions), repos)
        with self._lock:
            self._inst_tokens[token] = tok
        return tok

    def expire_tokens(self):
        """Expire every installation token now (the next use gets 401)."""
        with self._lock:
            for tok in self._inst_tokens.values():
                tok.expires = self._now() - 1

    def _verify_jwt(self, value):
        """→ App, or ApiError 401 saying what is wrong (ref §5)."""
        undecodable = "A JSON web token could not be decoded"
        parts = value.split(".")
        if len(parts) != 3:
            raise _jwt_error(undecodable, "a JWT has three dot-separated parts")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError as e:
            raise _jwt_error(undecodable, f"not base64url JSON: {e}") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _jwt_error(undecodable, "header and payload must be JSON objects")
        if header.get("alg") != "RS256":
            raise _jwt_error(undecodable, f"header alg must be RS256, got {header.get('alg')!r}")
        iss = claims.get("iss")
        with self._lock:
            if _is_int(iss) or (isinstance(iss, str) and iss.isdigit()):
                app = self._apps.get(int(iss))
            elif isinstance(iss, str):
                app = next((a for a in self._apps.values() if a.client_id == iss), None)
            else:
                raise _jwt_error("'Issuer' claim ('iss') must be an Integer",
                                 f"iss must be the app id or the client id, got {iss!r}")
        if app is None:
            raise _jwt_error("Integration not found", f"no app has id or client id {iss!r}")
        try:
            app.public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(),
                                  padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _jwt_error(undecodable, f"the signature does not verify with the key of app "
                                          f"{app.app_id}") from None
        now = self._now()
        iat, exp = claims.get("iat"), claims.get("exp")
        iat_msg = ("'Issued at' claim ('iat') must be an Integer representing the time that the "
                   "assertion was issued")
        exp_msg = ("'Expiration time' claim ('exp') must be a numeric value representing the "
                   "future time at which the assertion expires")
        if not _is_int(iat):
            raise _jwt_error(iat_msg, f"iat must be an integer, got {iat!r}")
        if iat > now + 60:
            raise _jwt_error(iat_msg, f"iat is {iat - now:.0f} s in the future (max 60)")
        if not _is_int(exp):
            raise _jwt_error(exp_msg, f"exp must be an integer, got {exp!r}")
        if exp <= now:
            raise _jwt_error(exp_msg, f"exp is {now - exp:.0f} s in the past")
        if exp > now + 600 + self.jwt_exp_slack:
            raise _jwt_error("'Expiration time' claim ('exp') is too far in the future",
                             f"exp is {exp - now:.0f} s ahead (max 600)")
        return app

    def _authenticate(self, req):
        """→ Cred for the Authorization header; ApiError 401 for a bad one."""
        value = req.headers.get("authorization")
        if not value:
            return Cred("none")
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        bad = ApiError(401, "Bad credentials")
        if scheme.lower() not in ("token", "bearer") or not token:
            raise bad
        if scheme.lower() == "bearer" and token.startswith("eyJ") and token.count(".") == 2:
            return Cred("jwt", app=self._verify_jwt(token))
        with self._lock:
            pat = self._pats.get(token)
            if pat:
                return Cred("pat", pat=pat)
            tok = self._inst_tokens.get(token)
            if tok and tok.expires > self._now():
                inst = self._installations.get(tok.installation_id)
                if inst:
                    return Cred("installation", token=tok, installation=inst)
        raise bad

    # -- rate limits ------------------------------------------------------------------------

    def _new_bucket(self, cred=None):
        d, now = self._rl_default, self._now()
        if d["remaining"] is not None and d["reset"] > now:
            return Bucket(d["limit"], d["remaining"], d["reset"])
        limit = d["limit"]
        if cred is not None and cred.kind == "installation" and not self._rl_custom:
            limit = self.installation_rate_limit(cred.installation.id)
        return Bucket(limit, limit, now + 3600)

    def installation_rate_limit(self, installation_id):
        """An installation's primary limit (DOCS_RATE, "Primary rate limit for GitHub App
        installations"): 5,000 an hour, plus 50 for each repository past 20 and 50 for each
        user of its organization past 20, at most 12,500; 15,000 on GitHub Enterprise Cloud
        (ghec)."""
        with self._lock:
            inst = self._installations[int(installation_id)]
            if self.ghec:
                return 15000
            owner = self._scopes.get(inst.account.lower())
            repos = (len(inst.repos) if inst.selection == "selected" else
                     sum(1 for sc in self._scopes.values()
                         if sc.kind == "repo" and sc.owner.lower() == inst.account.lower()))
            users = owner.members if owner is not None else 0
            return min(12500, 5000 + 50 * max(0, repos - 20) + 50 * max(0, users - 20))

    def _bucket(self, cred):
        if cred.kind == "none":
            return Bucket(60, 60, self._now() + 3600)
        with self._lock:
            bucket = self._buckets.get(cred.bucket_key)
            if bucket is None:
                bucket = self._buckets[cred.bucket_key] = self._new_bucket(cred)
            bucket.refresh(self._now())
            return bucket

    def _bucket_key_for(self, credential):
        if credential in self._pats:
            return f"user:{self._pats[credential].user_id}"
        if credential in self._inst_tokens:
            return f"installation:{self._inst_tokens[credential].installation_id}"
        if re.fullmatch(r"(user|installation|app):\d+", str(credential)):
            return credential
        raise KeyError(f"unknown credential {credential!r}")

    def set_rate_limit(self, limit=5000, remaining=None, reset_in=3600, status=None,
                       credential=None):
        """Set the primary budget. credential=None: every credential's (also those first seen
        later); else one PAT, installation token, or "user:N"/"installation:N"/"app:N".
        remaining=None means full; the budget refills at now + reset_in. status: 403 or 429."""
        with self._lock:
            now = self._now()
            remaining = limit if remaining is None else remaining
            if status is not None:
                self._rl_status = int(status)
            if credential is None:
                self._rl_default = {"limit": limit, "remaining": remaining,
                                    "reset": now + reset_in}
                self._rl_custom = True
                keys = list(self._buckets)
            else:
                keys = [self._bucket_key_for(credential)]
            for key in keys:
                self._buckets[key] = Bucket(limit, remaining, now + reset_in)

    def rate_limit(self, credential):
        """The current core budget of a credential, as /rate_limit shows it."""
        with self._lock:
            bucket = self._buckets.get(self._bucket_key_for(credential))
            return bucket.snapshot() if bucket else self._new_bucket().snapshot()

    def _consume(self, cred, bucket):
        with self._lock:
            if bucket.remaining <= 0:
                raise ApiError(
                    self._rl_status,
                    f"API rate limit exceeded for {cred.who}. If you reach out to GitHub "
                    f"Support for help, please include the request ID {_rand(8, UPPER_ALNUM)}.",
                    doc=DOCS_RATE)
            bucket.remaining -= 1

    def _secondary_error(self, retry_after=None, status=None):
        """The answer to a request over a secondary limit (DOCS_RATE, "Exceeding the rate
        limit"): 403 or 429 and a message saying so; retry-after when given. Its x-ratelimit-*
        headers are the credential's primary budget (not 0), as GitHub's are."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        return ApiError(int(status or self.secondary_limit_status),
                        SECONDARY_MESSAGE.format(_rand(8, UPPER_ALNUM) + ":" + _rand(6, UPPER_ALNUM)),
                        doc=DOCS_RATE + "#about-secondary-rate-limits", headers=headers)

    def _retry_after(self, window_wait):
        """retry-after for a secondary limit: the setting, or with "window" the whole seconds
        until the request would fit."""
        if self.secondary_retry_after == "window":
            return max(1, math.ceil(window_wait))
        return self.secondary_retry_after

    def _enter_secondary(self, method, endpoint, cred, client):
        """The secondary limits of one request, checked once it is authenticated (and counted
        against the primary limit): at most max_concurrent_requests of a credential in flight,
        at most secondary_points_per_minute points of a credential to one endpoint in any 60
        s (SECONDARY_POINTS). A refused request adds no points (or a fleet refused once would be
        locked out by its own retries). → the in-flight key to release, or ApiError."""
        key = cred.bucket_key if cred.kind != "none" else f"ip:{client}"
        now = time.monotonic()
        with self._lock:
            if (self.max_concurrent_requests is not None
                    and self._inflight.get(key, 0) >= self.max_concurrent_requests):
                raise self._secondary_error(self._retry_after(1))
            limit = self.secondary_points_per_minute
            if limit is not None:
                pkey = (key, endpoint if self.secondary_points_scope == "endpoint" else "*")
                window = self._points.setdefault(pkey, collections.deque())
                while window and window[0][0] <= now - 60:
                    window.popleft()
                points = SECONDARY_POINTS.get(method, 5)
                used = sum(p for _, p in window)
                if used + points > limit:
                    # The request fits once enough of the oldest points have aged out.
                    free, wait = limit - used, 0.0
                    for t, p in window:
                        free += p
                        if free >= points:
                            wait = t + 60 - now
                            break
                    raise self._secondary_error(self._retry_after(wait))
                window.append((now, points))
            self._inflight[key] = self._inflight.get(key, 0) + 1
            self.inflight_peak = max(self.inflight_peak, self._inflight[key])
            return key

    def _leave_secondary(self, key):
        with self._lock:
            left = self._inflight.get(key, 1) - 1
            if left > 0:
                self._inflight[key] = left
            else:
                self._inflight.pop(key, None)

    def _token_request(self, app):
        """An installation token request of app (DOCS_RATE: "No more than 2,000 OAuth access
        token requests per hour are allowed for GitHub Apps and OAuth apps"): counted when
        granted; over the limit, a secondary-limit answer."""
        limit = self.token_requests_per_hour
        if limit is None:
            return
        now = time.monotonic()
        with self._lock:
            mints = self._token_mints.setdefault(app.app_id, collections.deque())
            while mints and mints[0] <= now - 3600:
                mints.popleft()
            if len(mints) >= limit:
                raise self._secondary_error(self._retry_after(mints[0] + 3600 - now))
            mints.append(now)

    def token_requests(self, app_id, add=0):
        """Installation tokens app_id minted in the last hour; add: count that many more as
        minted now (a simulation of a fleet's earlier pods)."""
        now = time.monotonic()
        with self._lock:
            mints = self._token_mints.setdefault(int(app_id), collections.deque())
            mints.extend([now] * int(add))
            while mints and mints[0] <= now - 3600:
                mints.popleft()
            return len(mints)

    def keep_online(self, runner_id, online=True):
        """What a Listener's broker session does to its runner's status, for a simulation that
        keeps many Listeners' sessions in one thread (tests/fleet/): online and seen now; or,
        online=False, offline at once (the session deleted). A runner no longer kept online
        goes offline offline_after_seconds after it was last seen, like a killed Listener's.
        → False when the runner is gone."""
        with self._lock:
            r = self._runners.get(int(runner_id))
            if r is None:
                return False
            r.status = "online" if online else "offline"
            r.last_seen = self._now()
            return True

    # -- runners ----------------------------------------------------------------------------

    def _label_json(self, name):
        with self._lock:
            key = name.lower()
            if key not in self._labels:
                self._labels[key] = self._next("label")
            return {"id": self._labels[key], "name": name,
                    "type": "read-only" if key in READ_ONLY_LABELS else "custom"}

    def _runner_json(self, r, with_scope=False):
        out = {"id": r.id, "name": r.name, "os": r.os, "status": r.status, "busy": r.busy,
               "ephemeral": r.ephemeral, "runner_group_id": r.group_id,
               "labels": [self._label_json(label) for label in r.labels]}
        if r.version:
            out["version"] = r.version
        if with_scope:
            out["scope"] = r.scope
            out["client_id"] = r.client_id
        return out

    def _find_runner(self, sc, name):
        return next((r for r in self._runners.values()
                     if r.scope == sc.key and r.name.lower() == name.lower()), None)

    def _group(self, sc, group_id):
        if sc.kind == "repo":
            return {"id": 1, "name": "Default"} if group_id == 1 else None
        return next((g for g in sc.groups if g["id"] == group_id), None)

    def _create_runner(self, sc, name, labels, group_id=1, ephemeral=True, work_folder="_work"):
        with self._lock:
            if self._find_runner(sc, name):
                message = f"Already exists - A runner with the name {name} already exists."
                # generate-runner-jitconfig-for-*: 409 is among its responses from GHES 3.17
                # (and on api.github.com); the older descriptions list 201/404/422 only, so
                # an older GHES answers the one client error it documents.
                if self.ghes_before(GHES_409_SINCE):
                    raise ApiError(422, message, errors=[message], doc=DOCS_RUNNERS)
                raise ApiError(409, message, doc=DOCS_RUNNERS)
            r = Runner(id=self._next("runner"), name=name, scope=sc.key, group_id=group_id,
                       labels=list(labels), ephemeral=ephemeral, client_id=str(uuid.uuid4()),
                       work_folder=work_folder)
            self._runners[r.id] = r
            self._clients[r.client_id] = r.id
            self._cond.notify_all()
            return r

    def _runner_rsa_params(self):
        """.credentials_rsaparams: one key per instance, shared by its runners (a fake)."""
        with self._lock:
            if self._rsa_params_cache is None:
                self._rsa_params_cache = _rsa_params(_rsa_key(0))
            return dict(self._rsa_params_cache)

    def _runner_files(self, r):
        """The three files of a runner's configuration (JIT config / config.sh)."""
        sc = self._scope(r.scope)
        group = self._group(sc, r.group_id) or {"name": "Default"}
        web = f"{self.url}/{sc.key}"
        dot_runner = {"AgentId": r.id, "AgentName": r.name, "PoolId": r.group_id,
                      "PoolName": group["name"], "DisableUpdate": False,
                      "Ephemeral": r.ephemeral, "ServerUrl": self.url + "/_fake/pipelines/",
                      "ServerUrlV2": self.url + "/_fake/broker/",
                      "GitHubUrl": web, "WorkFolder": r.work_folder, "UseV2Flow": True}
        credentials = {"Scheme": "OAuth",
                       "Data": {"clientId": r.client_id,
                                "authorizationUrl": self.url + "/_fake/oauth",
                                "requireFipsCryptography": "False"}}
        return {".runner": dot_runner, ".credentials": credentials,
                ".credentials_rsaparams": self._runner_rsa_params()}

    def _encoded_jit_config(self, r):
        return _b64json({name: _b64json(content)
                         for name, content in self._runner_files(r).items()})

    def runners(self, scope=None):
        """Registered runners (API JSON + "scope" and "client_id"), optionally of one scope."""
        key = self._scope(scope).key if scope is not None else None
        with self._lock:
            self._settle()
            return [self._runner_json(r, with_scope=True)
                    for r in sorted(self._runners.values(), key=lambda r: r.id)
                    if key is None or r.scope == key]

    def runner(self, runner_id):
        with self._lock:
            self._settle()
            r = self._runners.get(int(runner_id))
            return self._runner_json(r, with_scope=True) if r else None

    def register_runner(self, scope, name, status="offline", busy=False, labels=None,
                        runner_group_id=1, ephemeral=True):
        """Pre-register a runner (as if an earlier pod had); → its JSON. 409 → ValueError."""
        sc = self._scope(scope)
        labels = labels if labels is not None else ["self-hosted", "Linux", "X64"]
        try:
            r = self._create_runner(sc, name, labels, runner_group_id, ephemeral)
        except ApiError as e:
            raise ValueError(e.message) from None
        return self.set_runner(r.id, status=status, busy=busy)

    def set_runner(self, runner_id, **fields):
        """Change status/busy/os/version/labels of a runner; → its JSON."""
        allowed = {"status", "busy", "os", "version", "labels", "ephemeral"}
        if set(fields) - allowed:
            raise ValueError(f"cannot set {sorted(set(fields) - allowed)}")
        with self._lock:
            r = self._runners[int(runner_id)]
            for k, v in fields.items():
                if v is not None:
                    setattr(r, k, v)
            self._cond.notify_all()
            return self._runner_json(r, with_scope=True)

    def delete_runner(self, runner_id):
        """Delete a registration server-side (even a busy one); → True if it existed."""
        with self._lock:
            r = self._runners.pop(int(runner_id), None)
            if r and r.session_id:
                self._sessions.pop(r.session_id, None)
            self._cond.notify_all()
            return r is not None

    def registration_tokens(self):
        with self._lock:
            return [dict(t) for t in self._reg_tokens.values()]

    def _issue_reg_token(self, sc, kind):
        token = _rand(29, UPPER_ALNUM)
        expires = self._now() + 3600
        with self._lock:
            self._reg_tokens[token] = {"token": token, "kind": kind, "scope": sc.key,
                                       "expires": expires, "expires_at": _iso_ms(expires)}
        return token, expires

    def _check_reg_token(self, token, kind):
        with self._lock:
            t = self._reg_tokens.get(token or "")
            if not t or t["kind"] != kind or t["expires"] <= self._now():
                raise ApiError(401, f"Invalid or expired {kind} token")
            return self._scope(t["scope"])

    def configure_runner(self, token, name, labels=(), runner_group=None, work_folder="_work",
                         replace=False, ephemeral=True, no_default_labels=False):
        """What `config.sh --token` does: → (runner JSON, files {name: JSON object})."""
        sc = self._check_reg_token(token, "registration")
        with self._lock:
            if runner_group in (None, "", "Default", "default"):
                group_id = 1
            else:
                group = next((g for g in (sc.groups or [{"id": 1, "name": "Default"}])
                              if g["name"] == runner_group or str(g["id"]) == str(runner_group)),
                             None)
                if group is None:
                    raise ApiError(404, f"Could not find any self-hosted runner group named "
                                        f'"{runner_group}".')
                group_id = group["id"]
            old = self._find_runner(sc, name)
            if old and replace:
                self.delete_runner(old.id)
            all_labels = ([] if no_default_labels else ["self-hosted", "Linux", "X64"])
            all_labels += [label for label in labels if label not in all_labels]
            r = self._create_runner(sc, name, all_labels, group_id, ephemeral, work_folder)
            return self._runner_json(r), self._runner_files(r)

    # -- faults -----------------------------------------------------------------------------

    def inject(self, method=None, path_regex=".*", kind="status", times=1, **params):
        """Add a fault (see the module docstring); → its id. times=None: forever."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {FAULT_KINDS})")
        re.compile(path_regex)
        with self._lock:
            fault = Fault(self._next("fault"), kind, method.upper() if method else None,
                          path_regex, times, dict(params))
            self._faults.append(fault)
            return fault.id

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def faults(self):
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def set_down(self, down=True, mode="status", status=503):
        """down: every API request fails (mode "status": that status; "drop": no answer)."""
        if mode not in ("status", "drop"):
            raise ValueError("mode is 'status' or 'drop'")
        with self._lock:
            self._down = {"mode": mode, "status": int(status)} if down else None

    def _take_fault(self, method, path):
        with self._lock:
            for fault in self._faults:
                if fault.times != 0 and fault.matches(method, path):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                    return dataclasses.replace(fault, params=dict(fault.params))
        return None

    # -- call log ---------------------------------------------------------------------------

    @property
    def calls(self):
        """Every API request (not /_fake/), in completion order: {"method","path","query",
        "raw_query","headers","body","status","ts","fault","violations"}."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def calls_to(self, regex, method=None):
        return [c for c in self.calls
                if re.search(regex, c["path"]) and (method is None or c["method"] == method)]

    def reset_calls(self):
        with self._lock:
            self._calls.clear()

    def violations(self):
        """[(call, violation)] for every recorded breach of the request conventions."""
        return [(c, v) for c in self.calls for v in c["violations"]]

    def _record(self, entry):
        with self._lock:
            self._calls.append(entry)
            self._log_call(entry)

    def _log_call(self, entry):
        """With $RS_GITHUB_CALL_LOG (a directory) set, every request is also appended to
        calls-<pid>.jsonl there, with the GHES version emulated and the test that ran
        (PYTEST_CURRENT_TEST): the contract test checks them against GitHub's OpenAPI
        descriptions (tests/contract/)."""
        where = os.environ.get(CALL_LOG_ENV)
        if not where:
            return
        line = json.dumps({
            "method": entry["method"], "path": entry["path"], "raw_query": entry["raw_query"],
            "body": entry["body"], "status": entry["status"], "fault": entry["fault"],
            "user_agent": entry["headers"].get("user-agent", ""), "ghes": self.ghes,
            "test": os.environ.get("PYTEST_CURRENT_TEST", ""), "ts": entry["ts"],
        })
        os.makedirs(where, exist_ok=True)
        with open(os.path.join(where, f"calls-{os.getpid()}.jsonl"), "a") as f:
            f.write(line + "\n")

    # -- jobs and broker --------------------------------------------------------------------

    def queue_job(self, name="build", steps=(), runner_labels=None, scope=None, container=None,
                  services=None):
        """Queue a job; → Job (live object: .id, .status, .result, .runner_id ...). container
        and services as a workflow writes them (the fake runner runs them with `docker`)."""
        key = self._scope(scope).key if scope is not None else None
        with self._lock:
            job = Job(self._next("job"), name, list(steps),
                      list(runner_labels) if runner_labels is not None else None, key,
                      container=container, services=dict(services) if services else None,
                      queued_at=self._now())
            self._jobs[job.id] = job
            self._cond.notify_all()
            return job

    def job(self, job_id):
        with self._lock:
            self._settle()
            return self._jobs[int(getattr(job_id, "id", job_id))]

    def jobs(self):
        with self._lock:
            self._settle()
            return [j.to_dict() for j in sorted(self._jobs.values(), key=lambda j: j.id)]

    def wait_job(self, job_id, status="completed", timeout=10.0):
        """Wait until the job's status is `status` (or one of them); → Job. TimeoutError."""
        wanted = {status} if isinstance(status, str) else set(status)
        job = self.job(job_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._settle()  # a job nobody renews is given up with time alone
                if job.status in wanted:
                    break
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    raise TimeoutError(f"job {job.id} is {job.status}, not {sorted(wanted)}, "
                                       f"after {timeout} s")
                self._cond.wait(min(left, 0.1))
        return job

    def cancel_job(self, job_id):
        """A queued job completes Canceled; a running one gets cancel_requested."""
        with self._lock:
            job = self.job(job_id)
            if job.status == "queued":
                job.status, job.result, job.completed_at = "completed", "Canceled", self._now()
            elif job.status == "running":
                job.cancel_requested = True
            self._cond.notify_all()
            return job

    def hold_session(self, runner_id):
        """Open a broker session for the runner, as another runner process with the same
        registration would (its own Listener then gets 409 conflicts); → session id."""
        with self._lock:
            r = self._runners[int(runner_id)]
            r.session_id = str(uuid.uuid4())
            self._sessions[r.session_id] = r.id
            self._cond.notify_all()
            return r.session_id

    def release_session(self, runner_id):
        with self._lock:
            r = self._runners.get(int(runner_id))
            if r and r.session_id:
                self._sessions.pop(r.session_id, None)
                r.session_id = None
            self._cond.notify_all()

    def _settle(self):
        """What time alone changes: jobs given up, runners gone silent."""
        self._settle_abandoned()
        now = self._now()
        for r in self._runners.values():
            if (r.status == "online" and not r.polling and r.last_seen is not None
                    and now - r.last_seen >= self.offline_after_seconds):
                r.status = "offline"

    def _settle_abandoned(self):
        """A running job whose runner stopped renewing it (killed mid-job) is failed after
        job_abandon_seconds; until then its runner is busy and cannot be deleted (422). The
        Listener renews the job request every 60 s (JobDispatcher.RenewJobRequestAsync)."""
        now = self._now()
        for job in self._jobs.values():
            seen = job.renewed_at or job.started_at
            if job.status == "running" and seen and now - seen >= self.job_abandon_seconds:
                job.status, job.result, job.completed_at = "completed", "Failed", now
                r = self._runners.get(job.runner_id)
                if r is not None:
                    r.busy = False
                self._cond.notify_all()

    def _job_fits(self, job, r):
        if r.ephemeral and r.jobs_taken:
            return False
        if job.scope is not None and job.scope != r.scope:
            return False
        have = {label.lower() for label in r.labels}
        return all(label.lower() in have for label in (job.runner_labels or []))

    def state(self):
        with self._lock:
            scopes = sorted(self._scopes.values(), key=lambda s: s.id)
            return {
                "url": self.url, "api_url": self.api_url, "ca_file": self.ca_file,
                "orgs": [{"name": s.name, "id": s.id,
                          "runner_groups": [self._group_json(s, g) for g in s.groups]}
                         for s in scopes if s.kind == "org"],
                "repos": [{"full_name": s.name, "id": s.id} for s in scopes if s.kind == "repo"],
                "enterprises": [{"name": s.name, "id": s.id,
                                 "runner_groups": [self._group_json(s, g) for g in s.groups]}
                                for s in scopes if s.kind == "enterprise"],
                "runners": self.runners(),
                "jobs": self.jobs(),
                "apps": [a.to_dict() for a in self._apps.values()],
                "installations": [self._installation_json(i)
                                  for i in self._installations.values()],
                "pats": [{"token": p.token, "scopes": p.scopes} for p in self._pats.values()],
                "faults": self.faults(),
                "down": self._down,
                "rate_limits": {k: b.snapshot() for k, b in self._buckets.items()},
                "settings": {k: getattr(self, k) for k in SETTINGS},
                "tls_errors": list(self.tls_errors),
                "calls": len(self._calls),
            }


# ---------------------------------------------------------------------------------------------
# request routing


@dataclass
class Request:
    method: str
    raw_path: str  # as sent, without the query
    path: str  # without the /api/v3 prefix
    prefix: str  # "/api/v3" or ""
    query: dict  # name → last value
    raw_query: str
    headers: dict  # lower-case names
    body_raw: bytes
    client: str
    pod: str = None  # the tag of a simulated pod (POD_PREFIX_RE), None otherwise
    match: dict = None
    cred: Cred = None
    bucket: Bucket = None
    violations: list = field(default_factory=list)
    drop_reset: bool = False  # a "drop" fault with reset=True: RST instead of FIN

    def body_for_log(self):
        if not self.body_raw:
            return None
        text = self.body_raw.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def json(self, required=True, strict_content_type=True):
        """The JSON body, per GitHub's rules (400 unparsable, 422 missing, 415 wrong type)."""
        if not self.body_raw.strip():
            if not required:
                return None
            raise ApiError(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an object.")
        ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self.violations.append(f"content-type:{ctype or '(none)'}")
            if strict_content_type:
                raise ApiError(415, f"Unsupported 'Content-Type' header {ctype or '(none)'!r}: "
                                    f"a JSON body must be sent as application/json")
        try:
            return json.loads(self.body_raw)
        except ValueError:
            self.violations.append("json:unparsable")
            raise ApiError(400, "Problems parsing JSON") from None


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: object
    auth: str = "runner"  # runner | jwt | public (API); admin | broker (/_fake/)
    counts: bool = True  # against the primary rate limit
    since: tuple = None  # the first GHES version that has it (None: every one)


def _route(method, regex, handler, auth="runner", counts=True, since=None):
    return Route(method, re.compile(regex), handler, auth, counts, since)


SCOPE_RE = (r"/(?P<scope>orgs/(?P<org>[^/]+)|repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
            r"|enterprises/(?P<ent>[^/]+)|organizations/(?P<org_id>\d+)"
            r"|repositories/(?P<repo_id>\d+))")
GROUP_SCOPE_RE = (r"/(?P<scope>orgs/(?P<org>[^/]+)|enterprises/(?P<ent>[^/]+)"
                  r"|organizations/(?P<org_id>\d+))")


class _Api:
    """The GitHub REST endpoints: the request pipeline and one method per endpoint."""

    def __init__(self, gh):
        self.gh = gh
        runners = SCOPE_RE + r"(?P<rest>/actions/runners)"
        self.routes = [
            _route("GET", r"/rate_limit", self.get_rate_limit, "public", counts=False),
            _route("GET", r"/app", self.get_app, "jwt"),
            _route("GET", r"/app/installations", self.list_installations, "jwt"),
            _route("GET", r"/app/installations/(?P<iid>\d+)", self.get_installation, "jwt"),
            _route("POST", r"/app/installations/(?P<iid>\d+)/access_tokens",
                   self.create_access_token, "jwt"),
            _route("GET", r"/orgs/(?P<org>[^/]+)/installation", self.org_installation, "jwt"),
            _route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation",
                   self.repo_installation, "jwt"),
            _route("GET", r"/users/(?P<user>[^/]+)/installation", self.user_installation,
                   "jwt"),
            _route("GET", r"/enterprises/(?P<ent>[^/]+)/installation",
                   self.enterprise_installation, "jwt"),
            _route("POST", runners + r"/generate-jitconfig", self.generate_jitconfig,
                   since=GHES_JIT_SINCE),
            _route("POST", runners + r"/registration-token", self.registration_token),
            _route("POST", runners + r"/remove-token", self.remove_token),
            _route("GET", runners, self.list_runners),
            _route("GET", runners + r"/(?P<rid>\d+)", self.get_runner),
            _route("DELETE", runners + r"/(?P<rid>\d+)", self.delete_runner),
            _route("GET", GROUP_SCOPE_RE + r"(?P<rest>/actions/runner-groups)",
                   self.list_runner_groups),
        ]

    # -- pipeline ---------------------------------------------------------------------------

    def handle(self, req):
        """→ Response, or None to drop the connection. Records the call."""
        gh = self.gh
        entry = {"method": req.method, "path": req.raw_path, "query": dict(req.query),
                 "raw_query": req.raw_query, "headers": dict(req.headers),
                 "body": req.body_for_log(), "status": None, "ts": time.time(), "fault": None,
                 "violations": req.violations, "pod": req.pod}
        try:
            resp = self._pipeline(req, entry)
        except ApiError as e:
            resp = e.response()
        except Exception:  # a bug in the fake: say so loudly
            traceback.print_exc()
            resp = ApiError(500, "fake_github internal error (see its stderr)").response()
        if resp is not None:
            self._finish_headers(req, resp)
            entry["status"] = resp.status
        gh._record(entry)
        return resp

    def _pipeline(self, req, entry):
        gh = self.gh
        down = gh._down
        if down:
            entry["fault"] = "down"
            if down["mode"] == "drop":
                return None
            return Response(down["status"], "<html><body><h1>Unicorn!</h1><p>This page is "
                            "taking too long to load.</p></body></html>\n",
                            content_type="text/html; charset=utf-8")
        self._check_conventions(req)
        route, match = self._match(req)
        req.match = match.groupdict()
        req.cred = gh._authenticate(req)
        req.bucket = gh._bucket(req.cred)
        if route.counts and req.cred.kind != "none":
            gh._consume(req.cred, req.bucket)
        inflight = gh._enter_secondary(req.method, f"{route.method} {route.pattern.pattern}",
                                       req.cred, req.client)
        try:
            return self._answer(route, req, entry)
        finally:
            gh._leave_secondary(inflight)

    def _answer(self, route, req, entry):
        gh = self.gh
        fault = gh._take_fault(req.method, req.raw_path)
        if fault is None:
            return self._run(route, req)
        entry["fault"] = fault.kind
        p = fault.params
        req.drop_reset = bool(p.get("reset", False))
        after = p.get("after", False) or fault.kind == "invalid_json"
        if fault.kind == "delay":
            gh._stopping.wait(float(p.get("seconds", 1.0)))
            return self._run(route, req)
        if not after:
            return self._fault_response(fault, req)
        resp = self._run(route, req)
        if fault.kind == "drop":
            return None
        if fault.kind == "invalid_json":
            body = p.get("body", '{"runner": {"id": 1, "name": "trunc')
            return Response(int(p.get("status") or resp.status), body, resp.headers,
                            p.get("content_type", JSON_CT))
        return self._fault_response(fault, req)

    def _check_conventions(self, req):
        """ref §1: User-Agent mandatory; version 2022-11-28; Accept recorded."""
        if not req.headers.get("user-agent", "").strip():
            req.violations.append("user-agent:missing")
            raise ApiError(403, "", body=UA_MISSING_TEXT,
                           content_type="text/plain; charset=utf-8")
        version = req.headers.get("x-github-api-version")
        if version is None:
            req.violations.append("api-version:missing")
        elif version != API_VERSION:
            req.violations.append(f"api-version:{version}")
            raise ApiError(400, f"Invalid API version: '{version}'. Supported versions: "
                                f"{API_VERSION}.",
                           doc="https://docs.github.com/rest/about-the-rest-api/api-versions")
        accept = req.headers.get("accept", "")
        if "application/vnd.github+json" not in accept:
            req.violations.append(f"accept:{accept or '(none)'}")

    def _match(self, req):
        for route in self.routes:
            m = route.pattern.fullmatch(req.path)
            if m and route.method == req.method:
                if route.since and self.gh.ghes_before(route.since):
                    break  # not in this GHES version's API: 404 like any unknown path
                return route, m
        raise _not_found()

    def _run(self, route, req):
        try:
            if route.auth == "jwt":
                if req.cred.kind != "jwt":
                    raise _jwt_error("A JSON web token could not be decoded",
                                     "this endpoint needs a GitHub App JWT (Bearer)")
                return route.handler(req)
            if route.auth == "runner":
                if req.cred.kind == "none":
                    raise ApiError(401, "Requires authentication")
                scope = self._scope_of(req.match)
                self._authorize(req, scope)
                return route.handler(req, scope)
            return route.handler(req)
        except ApiError as e:
            return e.response()

    def _fault_response(self, fault, req):
        p, kind = fault.params, fault.kind
        if kind == "drop":
            return None
        if kind == "status":
            status = int(p.get("status", 500))
            body = p.get("body")
            if body is None:
                try:
                    phrase = http.HTTPStatus(status).phrase
                except ValueError:
                    phrase = "Error"
                body = {"message": phrase, "documentation_url": DOCS, "status": str(status)}
            return Response(status, body, dict(p.get("headers") or {}), p.get("content_type"))
        if kind == "unauthorized":
            return ApiError(401, "Bad credentials").response()
        if kind == "secondary_limit":
            return self.gh._secondary_error(p.get("retry_after"),
                                            int(p.get("status", 403))).response()
        if kind == "primary_limit":
            reset = math.ceil(self.gh._now() + float(p.get("reset_in", 60)))
            who = req.cred.who if req.cred and req.cred.kind != "none" else "IP"
            limit = req.bucket.limit if req.bucket else 5000
            return ApiError(int(p.get("status", 403)),
                            f"API rate limit exceeded for {who}.", doc=DOCS_RATE,
                            headers={"x-ratelimit-limit": str(limit),
                                     "x-ratelimit-remaining": "0",
                                     "x-ratelimit-used": str(limit),
                                     "x-ratelimit-reset": str(reset),
                                     "x-ratelimit-resource": "core"}).response()
        raise AssertionError(kind)

    def _finish_headers(self, req, resp):
        h = {k.lower(): v for k, v in resp.headers.items()}
        bucket = req.bucket or Bucket(60, 60, self.gh._now() + 3600)
        snap = bucket.snapshot()
        for name in ("limit", "remaining", "used", "reset", "resource"):
            h.setdefault(f"x-ratelimit-{name}", str(snap[name]))
        h.setdefault("x-github-request-id", f"{_rand(4, '0123456789ABCDEF')}:"
                                            f"{_rand(6, '0123456789ABCDEF')}")
        h.setdefault("x-github-media-type", "github.v3; format=json")
        h.setdefault("x-github-api-version-selected", API_VERSION)
        if req.cred is not None and req.cred.kind == "pat":
            # A classic token's granted scopes; empty for a fine-grained one (reference
            # §7.14: it has no scopes).
            h.setdefault("x-oauth-scopes", ", ".join(req.cred.pat.scopes))
        if self.gh.ghes:
            # "The current version of your enterprise is returned in the REST API response
            # header: X-GitHub-Enterprise-Version: enterprise-server@3.7.0" (GHES docs, REST
            # API endpoints for GitHub Enterprise administration).
            h.setdefault("x-github-enterprise-version", f"enterprise-server@{self.gh.ghes}.0")
        resp.headers = h

    # -- authorization ----------------------------------------------------------------------

    def _scope_of(self, m):
        gh = self.gh
        with gh._lock:
            if m.get("org_id") or m.get("repo_id"):
                wanted = int(m.get("org_id") or m.get("repo_id"))
                kind = "org" if m.get("org_id") else "repo"
                found = next((s for s in gh._scopes.values()
                              if s.kind == kind and s.id == wanted), None)
            elif m.get("ent"):
                ent = urllib.parse.unquote(m["ent"]).lower()
                found = next((s for s in gh._scopes.values() if s.kind == "enterprise"
                              and (s.name.lower() == ent or str(s.id) == ent)), None)
            elif m.get("repo"):
                key = urllib.parse.unquote(f"{m['owner']}/{m['repo']}").lower()
                found = gh._scopes.get(key)
                found = found if found and found.kind == "repo" else None
            else:
                found = gh._scopes.get(urllib.parse.unquote(m["org"]).lower())
                found = found if found and found.kind == "org" else None
        if found is None:
            raise _not_found()
        return found

    def _authorize(self, req, sc):
        """ref §4: who may call a runner endpoint of this scope."""
        cred, need = req.cred, ("read" if req.method == "GET" else "write")
        if cred.kind == "jwt":
            raise ApiError(403, "Resource not accessible by integration", extra={
                "fake_reason": "a JWT authenticates as the app itself; runner endpoints need "
                               "an installation access token"})
        permission = {"org": "organization_self_hosted_runners",
                      "repo": "administration"}.get(sc.kind)
        if cred.kind == "pat" and cred.pat.fine_grained:
            # Fine-grained PATs: the same permissions as an App's; not for enterprises
            # (reference §4).
            if sc.kind == "enterprise":
                raise ApiError(403, "Resource not accessible by personal access token",
                               extra={"fake_reason": "fine-grained tokens cannot manage "
                                                     "enterprise runners"})
            if LEVELS.get(cred.pat.permissions.get(permission), 0) < LEVELS[need]:
                raise ApiError(403, "Resource not accessible by personal access token",
                               headers={"x-accepted-github-permissions":
                                        f"{permission}={need}"})
            return
        if cred.kind == "pat":
            scope = {"org": "admin:org", "repo": "repo",
                     "enterprise": "manage_runners:enterprise"}[sc.kind]
            if not cred.pat.has(scope):
                headers = {"x-accepted-oauth-scopes": scope}
                if permission:
                    headers["x-accepted-github-permissions"] = f"{permission}={need}"
                raise ApiError(403, "Resource not accessible by personal access token",
                               headers=headers)
            return
        # installation token
        if sc.kind == "enterprise":
            raise ApiError(403, "Resource not accessible by integration", extra={
                "fake_reason": "GitHub App installation tokens are not supported for "
                               "enterprise runner endpoints"})
        tok, inst = cred.token, cred.installation
        covered = inst.covers(sc) and (
            sc.kind != "repo" or tok.repos is None or sc.name.split("/")[1].lower() in tok.repos)
        if not covered:
            raise ApiError(403, "Resource not accessible by integration", extra={
                "fake_reason": f"installation {inst.id} does not cover {sc.key}"})
        if LEVELS.get(tok.permissions.get(permission), 0) < LEVELS[need]:
            raise ApiError(403, "Resource not accessible by integration",
                           headers={"x-accepted-github-permissions": f"{permission}={need}"})

    # -- endpoints --------------------------------------------------------------------------

    def _paginate(self, req, items, link_path):
        per_page = min(max(_int_param(req.query.get("per_page"), 30), 1), 100)
        page = max(_int_param(req.query.get("page"), 1), 1)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page:page * per_page]
        headers = {}
        if last > 1:
            params = {k: v for k, v in req.query.items() if k not in ("page", "per_page")}

            def url(n):
                q = urllib.parse.urlencode({**params, "per_page": per_page, "page": n})
                return f"<{self.gh.url}{req.prefix}{link_path}?{q}>"

            rels = []
            if page > 1:
                rels.append(f'{url(min(page - 1, last))}; rel="prev"')
            if page < last:
                rels.append(f'{url(page + 1)}; rel="next"')
                rels.append(f'{url(last)}; rel="last"')
            if page > 1:
                rels.append(f'{url(1)}; rel="first"')
            if rels:
                headers["link"] = ", ".join(rels)
        return chunk, headers

    def _link_path(self, req, sc):
        return (sc.id_path if self.gh.link_style == "id" else sc.path) + req.match["rest"]

    def get_rate_limit(self, req):
        gh, core = self.gh, req.bucket.snapshot()
        reset = math.ceil(gh._now() + 3600)

        def other(limit, resource):
            return {"limit": limit, "remaining": limit, "reset": reset, "used": 0,
                    "resource": resource}

        return Response(200, {"resources": {
            "core": core, "search": other(30, "search"), "graphql": other(5000, "graphql"),
            "integration_manifest": other(5000, "integration_manifest"),
            "code_search": other(10, "code_search"),
            "actions_runner_registration": other(10000, "actions_runner_registration"),
        }, "rate": core})

    def get_app(self, req):
        app = req.cred.app
        return Response(200, {"id": app.app_id, "slug": app.slug, "client_id": app.client_id,
                              "name": app.slug, "owner": None, "permissions": app.permissions,
                              "events": [], "installations_count": len(app.installations),
                              "html_url": f"{self.gh.url}/apps/{app.slug}"})

    def list_installations(self, req):
        items = [self.gh._installation_json(i) for i in req.cred.app.installations]
        chunk, headers = self._paginate(req, items, "/app/installations")
        return Response(200, chunk, headers)

    def _own_installation(self, req, iid):
        with self.gh._lock:
            inst = self.gh._installations.get(int(iid))
        if inst is None or inst.app_id != req.cred.app.app_id:
            raise _not_found()
        return inst

    def get_installation(self, req):
        inst = self._own_installation(req, req.match["iid"])
        return Response(200, self.gh._installation_json(inst))

    def create_access_token(self, req):
        gh = self.gh
        inst = self._own_installation(req, req.match["iid"])
        body = req.json(required=False, strict_content_type=gh.strict_content_type) or {}
        if not isinstance(body, dict):
            raise ApiError(422, "Invalid request.\n\nBody must be a JSON object.")
        permissions = body.get("permissions")
        if permissions is None:
            permissions = dict(inst.permissions)
        elif not isinstance(permissions, dict) or any(
                LEVELS.get(level, 99) > LEVELS.get(inst.permissions.get(name), 0)
                for name, level in permissions.items()):
            raise ApiError(422, "The permissions requested are not granted to this "
                                "installation.")
        repos = body.get("repositories")
        if repos is not None:
            if not isinstance(repos, list) or not all(isinstance(r, str) for r in repos):
                raise _validation("repositories", f"{_json_repr(repos)} is not an array of "
                                                  f"strings.")
            for name in repos:
                key = f"{inst.account}/{name}".lower()
                if key not in gh._scopes or not inst.covers(gh._scopes[key]):
                    raise ApiError(422, f"There is at least one repository that does not "
                                        f"exist or is not accessible to the parent "
                                        f"installation: {name}")
            repos = {r.lower() for r in repos}
        gh._token_request(req.cred.app)
        tok = gh._mint_installation_token(inst, permissions, repos)
        out = {"token": tok.token, "expires_at": _iso_z(tok.expires),
               "permissions": tok.permissions,
               "repository_selection": "selected" if repos is not None else inst.selection}
        if repos is not None or inst.selection == "selected":
            names = sorted(repos if repos is not None else inst.repos)
            out["repositories"] = [{"name": n, "full_name": f"{inst.account}/{n}"}
                                   for n in names]
        return Response(201, out)

    def _installation_for(self, req, account, repo=None):
        gh = self.gh
        with gh._lock:
            if repo is not None:
                sc = gh._scopes.get(f"{account}/{repo}".lower())
                if sc is None or sc.kind != "repo":
                    raise _not_found()
            for inst in gh._installations.values():
                if inst.app_id != req.cred.app.app_id:
                    continue
                if inst.account.lower() == account.lower() and (repo is None or inst.covers(sc)):
                    return Response(200, gh._installation_json(inst))
        raise _not_found()

    def org_installation(self, req):
        org = urllib.parse.unquote(req.match["org"])
        with self.gh._lock:
            sc = self.gh._scopes.get(org.lower())
        if sc is None or sc.kind != "org":
            raise _not_found()
        return self._installation_for(req, org)

    def repo_installation(self, req):
        return self._installation_for(req, urllib.parse.unquote(req.match["owner"]),
                                      urllib.parse.unquote(req.match["repo"]))

    def user_installation(self, req):
        return self._installation_for(req, urllib.parse.unquote(req.match["user"]))

    def enterprise_installation(self, req):
        raise _not_found()

    def generate_jitconfig(self, req, sc):
        gh = self.gh
        body = req.json(strict_content_type=gh.strict_content_type)
        if not isinstance(body, dict):
            raise ApiError(422, f"Invalid request.\n\n{_json_repr(body)} is not an object.",
                           errors=["body is not an object"], doc=DOCS_RUNNERS)
        for name in ("name", "runner_group_id", "labels"):
            if name not in body:
                raise _missing(name)
        name, group_id, labels = body["name"], body["runner_group_id"], body["labels"]
        if not isinstance(name, str):
            raise _validation("name", f"{_json_repr(name)} is not a string.")
        if not name.strip():
            raise _validation("name", f"{_json_repr(name)} is too short (minimum is 1 "
                                      f"character).")
        if gh.max_runner_name and len(name) > gh.max_runner_name:
            raise _validation("name", f"is too long ({len(name)} characters; maximum is "
                                      f"{gh.max_runner_name}).")
        if not _is_int(group_id):
            raise _validation("runner_group_id", f"{_json_repr(group_id)} is not an integer.")
        if not isinstance(labels, list):
            raise _validation("labels", f"{_json_repr(labels)} is not an array.")
        if not 1 <= len(labels) <= 100:
            raise _validation("labels", f"has {len(labels)} items; it must have 1 to 100.")
        for label in labels:
            if not isinstance(label, str):
                raise _validation("labels", f"item {_json_repr(label)} is not a string.")
            if not label.strip() or len(label) > 256:
                raise _validation("labels", f"item {_json_repr(label)[:40]} must be 1 to 256 "
                                            f"characters.")
        work_folder = body.get("work_folder", "_work")
        if not isinstance(work_folder, str):
            raise _validation("work_folder", f"{_json_repr(work_folder)} is not a string.")
        with gh._lock:
            # An unknown group id is answered 404, one the scope may not use 403 (reference
            # §7.13, 3p: crate runner-manager-github), not 422.
            group = gh._group(sc, group_id)
            if group is None:
                raise _not_found()
            if not group.get("usable", True):
                raise ApiError(403, "Resource not accessible by integration", extra={
                    "fake_reason": f"runner group {group_id} may not be used by {sc.key}"})
            r = gh._create_runner(sc, name, labels, group_id, True, work_folder)
            return Response(201, {"runner": gh._runner_json(r),
                                  "encoded_jit_config": gh._encoded_jit_config(r)})

    def registration_token(self, req, sc):
        token, expires = self.gh._issue_reg_token(sc, "registration")
        return Response(201, {"token": token, "expires_at": _iso_ms(expires)})

    def remove_token(self, req, sc):
        token, expires = self.gh._issue_reg_token(sc, "remove")
        return Response(201, {"token": token, "expires_at": _iso_ms(expires)})

    def list_runners(self, req, sc):
        gh = self.gh
        # actions/list-self-hosted-runners-for-*: `name` from GHES 3.11 (an older one ignores
        # the unknown parameter and lists every runner). Whether it matches regardless of
        # case is not documented: exactly, here, the less helpful of the two.
        name = None if gh.ghes_before(GHES_NAME_FILTER_SINCE) else req.query.get("name")
        with gh._lock:
            gh._settle()
            items = [gh._runner_json(r) for r in sorted(gh._runners.values(), key=lambda r: r.id)
                     if r.scope == sc.key and (name is None or r.name == name)]
        chunk, headers = self._paginate(req, items, self._link_path(req, sc))
        return Response(200, {"total_count": len(items), "runners": chunk}, headers)

    def _runner_in(self, sc, rid):
        r = self.gh._runners.get(int(rid))
        if r is None or r.scope != sc.key:
            raise _not_found()
        return r

    def get_runner(self, req, sc):
        with self.gh._lock:
            self.gh._settle()
            return Response(200, self.gh._runner_json(self._runner_in(sc, req.match["rid"])))

    def delete_runner(self, req, sc):
        gh = self.gh
        with gh._lock:
            gh._settle()
            r = self._runner_in(sc, req.match["rid"])
            if r.busy:
                message = f'Bad request - Runner "{r.name}" is still running a job'
                raise ApiError(422, message, errors=[message], doc=DOCS_RUNNERS)
            gh.delete_runner(r.id)
        return Response(204)

    def list_runner_groups(self, req, sc):
        gh = self.gh
        with gh._lock:
            items = [gh._group_json(sc, g) for g in sc.groups]
        chunk, _ = self._paginate(req, items, self._link_path(req, sc))
        # actions/list-self-hosted-runner-groups-for-{org,enterprise} declare no Link header
        # (every description from ghes-3.9 to api.github.com): pages by number only.
        return Response(200, {"total_count": len(items), "runner_groups": chunk})


class _Admin:
    """/_fake/ endpoints: the Python API over HTTP, and the job broker for a fake runner."""

    def __init__(self, gh):
        self.gh = gh
        r, b = "/_fake", "/_fake/broker"
        self.routes = [
            _route("GET", r + "/state", self.state, "admin"),
            _route("GET", r + "/calls", self.get_calls, "admin"),
            _route("DELETE", r + "/calls", self.delete_calls, "admin"),
            _route("POST", r + "/orgs", self.add_org, "admin"),
            _route("POST", r + "/repos", self.add_repo, "admin"),
            _route("POST", r + "/enterprises", self.add_enterprise, "admin"),
            _route("POST", r + "/runner_groups", self.add_runner_group, "admin"),
            _route("POST", r + "/pats", self.add_pat, "admin"),
            _route("GET", r + "/apps", self.list_apps, "admin"),
            _route("POST", r + "/apps", self.add_app, "admin"),
            _route("POST", r + r"/apps/(?P<id>\d+)/install", self.install_app, "admin"),
            _route("POST", r + r"/apps/(?P<id>\d+)/jwt", self.app_jwt, "admin"),
            _route("GET", r + "/faults", self.list_faults, "admin"),
            _route("POST", r + "/faults", self.add_fault, "admin"),
            _route("DELETE", r + "/faults", self.clear_faults, "admin"),
            _route("POST", r + "/down", self.set_down, "admin"),
            _route("GET", r + "/rate_limit", self.get_rate_limits, "admin"),
            _route("POST", r + "/rate_limit", self.set_rate_limit, "admin"),
            _route("POST", r + "/settings", self.settings, "admin"),
            _route("GET", r + "/runners", self.list_runners, "admin"),
            _route("POST", r + "/runners", self.add_runner, "admin"),
            _route("PATCH", r + r"/runners/(?P<id>\d+)", self.patch_runner, "admin"),
            _route("DELETE", r + r"/runners/(?P<id>\d+)", self.delete_runner, "admin"),
            _route("GET", r + "/registration_tokens", self.reg_tokens, "admin"),
            _route("GET", r + "/jobs", self.list_jobs, "admin"),
            _route("POST", r + "/jobs", self.queue_job, "admin"),
            _route("GET", r + r"/jobs/(?P<id>\d+)", self.get_job, "admin"),
            _route("POST", r + r"/jobs/(?P<id>\d+)/cancel", self.cancel_job, "admin"),
            _route("POST", r + "/oauth", self.oauth, "admin"),
            _route("POST", b + "/register", self.broker_register, "admin"),
            _route("POST", b + "/unregister", self.broker_unregister, "broker"),
            _route("POST", b + "/sessions", self.broker_create_session, "broker"),
            _route("DELETE", b + r"/sessions/(?P<sid>[^/]+)", self.broker_delete_session,
                   "broker"),
            _route("GET", b + "/jobs/next", self.broker_next_job, "broker"),
            _route("GET", b + r"/jobs/(?P<id>\d+)", self.broker_get_job, "broker"),
            _route("POST", b + r"/jobs/(?P<id>\d+)/result", self.broker_job_result, "broker"),
        ]

    def handle(self, req):
        try:
            for route in self.routes:
                m = route.pattern.fullmatch(req.path)
                if m and route.method == req.method:
                    req.match = m.groupdict()
                    if route.auth == "broker":
                        return route.handler(req, self._broker_runner(req))
                    return route.handler(req)
            raise ApiError(404, f"no fake endpoint {req.method} {req.path}")
        except ApiError as e:
            return e.response()
        except (KeyError, ValueError, TypeError) as e:
            return ApiError(400, f"{type(e).__name__}: {e}").response()
        except Exception:
            traceback.print_exc()
            return ApiError(500, "fake_github internal error (see its stderr)").response()

    @staticmethod
    def _body(req):
        if not req.body_raw.strip():
            return {}
        try:
            body = json.loads(req.body_raw)
        except ValueError:
            raise ApiError(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        return body

    # -- admin ------------------------------------------------------------------------------

    def state(self, req):
        return Response(200, self.gh.state())

    def get_calls(self, req):
        calls = self.gh.calls_to(req.query.get("path_regex", ""), req.query.get("method"))
        return Response(200, calls)

    def delete_calls(self, req):
        self.gh.reset_calls()
        return Response(204)

    def add_org(self, req):
        return Response(201, {"scope": self.gh.add_org(self._body(req)["name"])})

    def add_repo(self, req):
        body = self._body(req)
        full = body.get("full_name") or f"{body['owner']}/{body['name']}"
        return Response(201, {"scope": self.gh.add_repo(full)})

    def add_enterprise(self, req):
        return Response(201, {"scope": self.gh.add_enterprise(self._body(req)["name"])})

    def add_runner_group(self, req):
        body = self._body(req)
        gid = self.gh.add_runner_group(body["scope"], body["name"],
                                       body.get("visibility", "all"))
        return Response(201, {"id": gid})

    def add_pat(self, req):
        body = self._body(req)
        scopes = body.get("scopes", list(DEFAULT_PAT_SCOPES))
        fine = bool(body.get("fine_grained"))
        token = self.gh.add_pat(body.get("token"), scopes, fine, body.get("permissions"))
        return Response(201, {"token": token, "scopes": [] if fine else scopes})

    def list_apps(self, req):
        with self.gh._lock:
            return Response(200, [a.to_dict() for a in self.gh._apps.values()])

    def add_app(self, req):
        body = self._body(req)
        app = self.gh.add_app(body.get("app_id"), body.get("client_id"), body.get("permissions"))
        return Response(201, app.to_dict(with_keys=True))

    def install_app(self, req):
        body = self._body(req)
        iid = self.gh.app(req.match["id"]).install(org=body.get("org"), repo=body.get("repo"),
                                                   permissions=body.get("permissions"))
        return Response(201, {"installation_id": iid})

    def app_jwt(self, req):
        body = self._body(req)
        jwt = self.gh.app(req.match["id"]).make_jwt(
            iat=body.get("iat"), exp=body.get("exp"), iss=body.get("iss"))
        return Response(201, {"jwt": jwt})

    def list_faults(self, req):
        return Response(200, self.gh.faults())

    def add_fault(self, req):
        body = self._body(req)
        params = dict(body.pop("params", {}) or {})
        kind = body.pop("kind", "status")
        method = body.pop("method", None)
        path_regex = body.pop("path_regex", ".*")
        times = body.pop("times", 1)
        params.update(body)
        return Response(201, {"id": self.gh.inject(method, path_regex, kind, times, **params)})

    def clear_faults(self, req):
        self.gh.clear_faults()
        return Response(204)

    def set_down(self, req):
        body = self._body(req)
        self.gh.set_down(bool(body.get("down", True)), body.get("mode", "status"),
                         body.get("status", 503))
        return Response(200, {"down": self.gh._down})

    def get_rate_limits(self, req):
        with self.gh._lock:
            return Response(200, {k: b.snapshot() for k, b in self.gh._buckets.items()})

    def set_rate_limit(self, req):
        body = self._body(req)
        self.gh.set_rate_limit(**{k: body[k] for k in
                                  ("limit", "remaining", "reset_in", "status", "credential")
                                  if k in body})
        return self.get_rate_limits(req)

    def settings(self, req):
        body = self._body(req)
        unknown = set(body) - set(SETTINGS)
        if unknown:
            raise ApiError(400, f"unknown settings {sorted(unknown)}; known: {list(SETTINGS)}")
        if body.get("ghes") is not None and body["ghes"] not in GHES_VERSIONS:
            raise ApiError(400, f"ghes must be null or one of {list(GHES_VERSIONS)}")
        for k, v in body.items():
            setattr(self.gh, k, v)
        return Response(200, {k: getattr(self.gh, k) for k in SETTINGS})

    def list_runners(self, req):
        return Response(200, self.gh.runners(req.query.get("scope")))

    def add_runner(self, req):
        body = self._body(req)
        try:
            runner = self.gh.register_runner(
                body["scope"], body["name"], body.get("status", "offline"),
                body.get("busy", False), body.get("labels"), body.get("runner_group_id", 1),
                body.get("ephemeral", True))
        except ValueError as e:
            raise ApiError(409, str(e)) from None
        return Response(201, runner)

    def patch_runner(self, req):
        try:
            return Response(200, self.gh.set_runner(req.match["id"], **self._body(req)))
        except KeyError:
            raise ApiError(404, f"no runner {req.match['id']}") from None

    def delete_runner(self, req):
        if not self.gh.delete_runner(req.match["id"]):
            raise ApiError(404, f"no runner {req.match['id']}")
        return Response(204)

    def reg_tokens(self, req):
        return Response(200, self.gh.registration_tokens())

    def list_jobs(self, req):
        return Response(200, self.gh.jobs())

    def queue_job(self, req):
        body = self._body(req)
        job = self.gh.queue_job(body.get("name", "build"), body.get("steps", []),
                                body.get("runner_labels"), body.get("scope"),
                                body.get("container"), body.get("services"))
        return Response(201, job.to_dict())

    def get_job(self, req):
        try:
            job = self.gh.job(req.match["id"])
        except KeyError:
            raise ApiError(404, f"no job {req.match['id']}") from None
        wait_status = req.query.get("wait_status")
        if wait_status:
            timeout = min(float(req.query.get("timeout", 10)), BROKER_MAX_WAIT)
            try:
                self.gh.wait_job(job, wait_status.split(","), timeout)
            except TimeoutError as e:
                return Response(408, {"message": str(e), "job": job.to_dict()})
        return Response(200, job.to_dict())

    def cancel_job(self, req):
        return Response(200, self.gh.cancel_job(req.match["id"]).to_dict())

    def oauth(self, req):
        return Response(200, {"access_token": _rand(40), "token_type": "bearer",
                              "expires_in": 3600})

    # -- broker -----------------------------------------------------------------------------

    def _broker_runner(self, req):
        gh = self.gh
        client = req.headers.get("x-fake-runner-client", "")
        with gh._lock:
            rid = gh._clients.get(client)
            if rid is None:
                raise ApiError(401, "Unknown runner client: send X-Fake-Runner-Client with the "
                                    "clientId of .credentials")
            r = gh._runners.get(rid)
            if r is None:
                raise ApiError(404, f"Registration {rid} was not found")
            return r

    def broker_register(self, req):
        body = self._body(req)
        runner, files = self.gh.configure_runner(
            body.get("token"), body["name"], body.get("labels", []), body.get("runner_group"),
            body.get("work_folder", "_work"), body.get("replace", False),
            body.get("ephemeral", True), body.get("no_default_labels", False))
        return Response(201, {"runner": runner, "files": files})

    def broker_unregister(self, req, r):
        self.gh._check_reg_token(self._body(req).get("token"), "remove")
        self.gh.delete_runner(r.id)
        return Response(204)

    def broker_create_session(self, req, r):
        body, gh = self._body(req), self.gh
        with gh._lock:
            if r.session_id:
                raise ApiError(409, f"A session for runner {r.name} already exists.")
            r.session_id = str(uuid.uuid4())
            gh._sessions[r.session_id] = r.id
            r.status, r.os = "online", body.get("os", "Linux")
            r.last_seen = gh._now()
            r.version = body.get("version", RUNNER_VERSION)
            gh._cond.notify_all()
            return Response(200, {"sessionId": r.session_id, "runnerId": r.id})

    def broker_delete_session(self, req, r):
        gh = self.gh
        if gh.session_delete_seconds:
            time.sleep(float(gh.session_delete_seconds))
        with gh._lock:
            if r.session_id != req.match["sid"]:
                raise ApiError(404, f"Session {req.match['sid']} was not found")
            gh._sessions.pop(r.session_id, None)
            r.session_id, r.status = None, "offline"
            gh._cond.notify_all()
        return Response(204)

    def broker_next_job(self, req, r):
        """The runner's poll carries its version and .runner's DisableUpdate
        (BrokerServer.GetRunnerMessageAsync). A version below min_runner_version is refused
        with AccessDenied error code 1 (the runner exits 7, Program.cs); a runner that allows
        updates and is older than latest_runner_version is sent a RunnerRefresh message
        (Runner.cs → SelfUpdaterV2): GitHub pushes every release to such runners."""
        gh = self.gh
        sid = req.query.get("sessionId")
        wait = min(max(float(req.query.get("wait", 0) or 0), 0.0), BROKER_MAX_WAIT)
        version = req.query.get("runnerVersion") or RUNNER_VERSION
        disable_update = req.query.get("disableUpdate", "false").lower() == "true"
        deadline = time.monotonic() + wait
        with gh._cond:
            r.polling += 1
            r.last_seen = gh._now()
            if sid and r.session_id == sid:
                r.status = "online"
            try:
                return self._next_job_locked(r, sid, version, disable_update, deadline)
            finally:
                r.polling -= 1
                r.last_seen = gh._now()

    def _next_job_locked(self, r, sid, version, disable_update, deadline):
        gh = self.gh
        while True:
            if gh._runners.get(r.id) is not r:
                raise ApiError(404, f"Registration {r.id} was not found")
            if not sid or r.session_id != sid:
                raise ApiError(404, f"Session {sid} was not found")
            if gh.min_runner_version and _version(version) < _version(
                    gh.min_runner_version):
                raise ApiError(403, f"Runner version v{version} is deprecated and cannot "
                                    f"receive messages.", extra={"errorCode": 1})
            if (not disable_update and gh.latest_runner_version
                    and _version(version) < _version(gh.latest_runner_version)):
                return Response(200, {"messageType": "RunnerRefresh",
                                      "targetVersion": gh.latest_runner_version})
            job = next((j for j in sorted(gh._jobs.values(), key=lambda j: j.id)
                        if j.status == "queued" and gh._job_fits(j, r)), None)
            if job is not None:
                job.status, job.started_at = "running", gh._now()
                job.runner_id, job.runner_name = r.id, r.name
                r.busy, r.status, r.jobs_taken = True, "online", r.jobs_taken + 1
                gh._cond.notify_all()
                return Response(200, {"messageType": "RunnerJobRequest", "id": job.id,
                                      "name": job.name, "steps": job.steps,
                                      "runner_labels": job.runner_labels,
                                      "container": job.container, "services": job.services})
            left = deadline - time.monotonic()
            if left <= 0 or gh._stopping.is_set():
                return Response(204)
            gh._cond.wait(left)

    def _runner_job(self, req, r):
        with self.gh._lock:
            job = self.gh._jobs.get(int(req.match["id"]))
            if job is None or job.runner_id != r.id:
                raise ApiError(404, f"Job {req.match['id']} was not found for runner {r.id}")
            return job

    def broker_get_job(self, req, r):
        job = self._runner_job(req, r)
        with self.gh._lock:
            job.renewed_at = r.last_seen = self.gh._now()
        return Response(200, job.to_dict())

    def broker_job_result(self, req, r):
        gh = self.gh
        result = self._body(req).get("result", "Succeeded")
        with gh._lock:
            job = self._runner_job(req, r)
            if job.status != "running":
                raise ApiError(409, f"Job {job.id} is {job.status}")
            job.status, job.result, job.completed_at = "completed", result, gh._now()
            r.busy = False
            if r.ephemeral:  # the service removes an ephemeral runner after its one job
                gh.delete_runner(r.id)
            gh._cond.notify_all()
            return Response(200, job.to_dict())


# ---------------------------------------------------------------------------------------------
# HTTP over TLS


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this

    def version_string(self):
        return "GitHub.com"

    def date_time_string(self, timestamp=None):
        """Date on the fake's clock (clock_offset), as expires_at is: a client that reads a
        token's lifetime as expires_at minus Date gets it right (RFC 9110 §6.6.1)."""
        return super().date_time_string(self.server.gh._now() if timestamp is None
                                        else timestamp)

    def log_message(self, fmt, *args):
        if self.server.gh.verbose:
            sys.stderr.write(f"fake_github {self.address_string()} {fmt % args}\n")

    def _read_body(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("content-length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _dispatch(self):
        gh = self.server.gh
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(Response(400, {"message": "Problems reading the request body"}))
            return
        raw_path, _, raw_query = self.path.partition("?")
        pod = POD_PREFIX_RE.match(raw_path)
        if pod:
            raw_path = raw_path[pod.end():]
        prefix = "/api/v3" if raw_path == "/api/v3" or raw_path.startswith("/api/v3/") else ""
        query = {k: v[-1] for k, v in
                 urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}
        req = Request(method=self.command, raw_path=raw_path, path=raw_path[len(prefix):] or "/",
                      prefix=prefix, query=query, raw_query=raw_query,
                      headers={k.lower(): v for k, v in self.headers.items()}, body_raw=body,
                      client=self.client_address[0], pod=pod.group(1) if pod else None)
        if req.path == "/_fake" or req.path.startswith("/_fake/"):
            resp = gh._admin.handle(req)
        else:
            resp = gh._api.handle(req)
        if resp is None:
            self._drop(reset=req.drop_reset)
        else:
            self._send(resp)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _send(self, resp):
        data, ctype = resp.encode()
        self.send_response(resp.status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if resp.status != 204:
            self.send_header("Content-Length", str(len(data)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data and resp.status != 204:
            self.wfile.write(data)

    def _drop(self, reset=False):
        """No answer: FIN now (the client reads EOF), or with reset an RST when the socket is
        closed right after this handler returns (linger 0)."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(http.server.ThreadingHTTPServer):
    """A thread per connection, TLS handshake in that thread. server_close() wakes every
    connection thread (blocked in a keep-alive read, a delay or a long poll) and joins it. The
    threads are daemons (the stdlib joins only non-daemon ones) so that a test that forgets
    stop() cannot keep the interpreter alive."""

    request_queue_size = 128
    handshake_timeout = 10
    join_timeout = 5

    def __init__(self, address, gh, ssl_context):
        self.gh, self.ssl_context = gh, ssl_context
        self.request_queue_size = gh.listen_backlog
        self._conns, self._workers, self._conns_lock = set(), [], threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        worker = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True,
                                  name=f"fake-github-conn:{self.server_address[1]}")
        with self._conns_lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def server_close(self):
        super().server_close()
        self.close_connections()
        with self._conns_lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.join(self.join_timeout)

    def finish_request(self, request, client_address):
        # headers and body are separate writes: without this, Nagle + delayed ACK cost 40 ms
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self.ssl_context.wrap_socket(request, server_side=True,
                                           do_handshake_on_connect=False)
        with self._conns_lock:
            self._conns.add(tls)
        try:
            tls.settimeout(self.handshake_timeout)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as e:
                with self.gh._lock:
                    self.gh.tls_errors.append({"client": client_address[0], "error": str(e),
                                               "ts": time.time()})
                return
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def close_connections(self):
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake GitHub REST API over HTTPS (for tests).")
    ap.add_argument("--dir", required=True, help="where the test CA and keys are written")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--url-host", help="host in the URLs (default: the bind address)")
    ap.add_argument("--san", action="append", default=[],
                    help="extra DNS name or IP for the server certificate")
    ap.add_argument("--org", action="append", default=[])
    ap.add_argument("--repo", action="append", default=[], help="OWNER/NAME")
    ap.add_argument("--enterprise", action="append", default=[])
    ap.add_argument("--pat", action="append", default=[], help="TOKEN[=SCOPE,SCOPE...]")
    ap.add_argument("--pat-file", action="append", default=[],
                    help="create a PAT with every runner scope and write it to this file")
    ap.add_argument("--app", action="store_true",
                    help="create an app installed on every --org and --repo; its key goes to "
                         "DIR/app-<id>.pem")
    ap.add_argument("--installation-token-format", choices=("short", "long"), default="short")
    ap.add_argument("--ghes", choices=GHES_VERSIONS,
                    help="emulate this GitHub Enterprise Server version (default: github.com)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    if args.bind not in ("127.0.0.1", "::1", "localhost"):
        print(f"fake_github: warning: /_fake/ endpoints are unauthenticated and {args.bind} is "
              f"not a loopback address", file=sys.stderr)
    gh = FakeGitHub(args.dir, host=args.bind, port=args.port, url_host=args.url_host,
                    extra_names=args.san, verbose=args.verbose)
    gh.installation_token_format = args.installation_token_format
    gh.ghes = args.ghes
    for org in args.org:
        gh.add_org(org)
    for repo in args.repo:
        gh.add_repo(repo)
    for ent in args.enterprise:
        gh.add_enterprise(ent)
    pats = []
    for spec in args.pat:
        token, _, scopes = spec.partition("=")
        pats.append(gh.add_pat(token, scopes.split(",") if scopes else DEFAULT_PAT_SCOPES))
    for path in args.pat_file:
        token = gh.add_pat()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        pats.append(token)
    apps = []
    if args.app:
        app = gh.add_app()
        key_file = os.path.join(args.dir, f"app-{app.app_id}.pem")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(app.private_key_pem)
        ids = [app.install(org=o) for o in args.org] + [app.install(repo=r) for r in args.repo]
        apps.append({"app_id": app.app_id, "client_id": app.client_id,
                     "private_key_file": key_file, "installation_ids": sorted(set(ids))})

    # Block the stop signals before any thread exists (threads inherit the mask), then wait.
    gh._runner_rsa_params()  # generate the runner key now, not in the first request
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    gh.start()
    print(json.dumps({"url": gh.url, "api_url": gh.api_url, "ca_file": gh.ca_file,
                      "port": gh.port, "pid": os.getpid(), "pats": pats, "apps": apps}),
          flush=True)
    signal.sigwait(stop_signals)
    gh.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
