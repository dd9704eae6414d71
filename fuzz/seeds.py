#!/usr/bin/python3
"""Regenerates the seeds of the github and jit harnesses from tests/fakes/fake_github.py.

    /usr/bin/python3 fuzz/seeds.py

Each github seed is a conversation github.c has in `run`, `check --online` or after a lost
registration: the settings the harness reads, then GitHub's answers, recorded over HTTPS
from the fake in the order github.c asks (fuzz/github.c describes the format). The jit
seeds are a real-shaped encoded_jit_config in the three forms fuzz/jit.c takes. Not part of
any make target: the output is committed under fuzz/corpus/ and only needs regenerating
when the fake's answers change shape.
"""
import base64
import http.client
import json
import os
import ssl
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.fakes.fake_github import FakeGitHub  # noqa: E402

SEP = "\n~~~\n"
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
BODY = {"labels": ["self-hosted", "Linux", "X64"], "work_folder": "_work"}


class Recorder:
    def __init__(self, gh):
        self.gh = gh
        self.ctx = ssl.create_default_context(cafile=gh.ca_file)

    def call(self, method, path, auth, body=None):
        """One request, as github.c sends it; → (record text, status, parsed JSON or None)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.gh.port, context=self.ctx)
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": "runner-supervisor/0.1.0", "Authorization": auth}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode()
        conn.close()
        lines = [f"HTTP/1.1 {resp.status} {resp.reason}"]
        lines += [f"{k}: {v}" for k, v in resp.getheaders()]
        record = "\n".join(lines) + "\n\n" + raw
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return record, resp.status, parsed


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def seed(name, settings, records):
    write("github", name, "\n".join(settings) + SEP + SEP.join(records))


def jitconfig(rec, scope_path, auth, name, group=1):
    body = dict(BODY, name=name, runner_group_id=group)
    return rec.call("POST", f"{scope_path}/actions/runners/generate-jitconfig", auth, body)


def main():
    with tempfile.TemporaryDirectory() as tmp, FakeGitHub(tmp) as gh:
        gh.add_org("acme")
        gh.add_repo("acme", "app")
        gh.add_enterprise("ent")
        group = gh.add_runner_group("acme", "builders")
        pat = gh.add_pat()
        fine = gh.add_pat(fine_grained=True)
        app = gh.add_app()
        inst = app.install(org="acme")
        rec = Recorder(gh)
        bearer = f"Bearer {pat}"
        org = "/orgs/acme"

        # run with a PAT: register, then delete the runner (204: confirmed gone).
        r1, _, j = jitconfig(rec, org, bearer, "pod-a")
        blob, rid = j["encoded_jit_config"], j["runner"]["id"]
        r2, _, _ = rec.call("DELETE", f"{org}/actions/runners/{rid}", bearer)
        seed("pat-register-gone", ["RUNNER_NAME=pod-a", f"id={rid}"], [r1, r2])

        # After a job GitHub removed the runner itself: GET 404.
        r3, _, _ = rec.call("GET", f"{org}/actions/runners/{rid}", bearer)
        seed("gone-likely-404", ["op=gone-likely", f"id={rid}"], [r3])

        # run with an App: installation lookup, token, register; the runner busy (422) on
        # delete, watched with GET until its job ends, then deleted.
        jwt = f"Bearer {app.make_jwt(iss=app.app_id)}"
        a1, _, _ = rec.call("GET", f"{org}/installation", jwt)
        a2, _, tok = rec.call("POST", f"/app/installations/{inst}/access_tokens", jwt,
                              {"permissions": {"organization_self_hosted_runners": "write"}})
        itok = f"Bearer {tok['token']}"
        a3, _, j = jitconfig(rec, org, itok, "pod-b")
        rid = j["runner"]["id"]
        gh.set_runner(rid, status="online", busy=True)
        a4, _, _ = rec.call("DELETE", f"{org}/actions/runners/{rid}", itok)
        a5, _, _ = rec.call("GET", f"{org}/actions/runners/{rid}", itok)
        gh.set_runner(rid, busy=False)
        a6, _, _ = rec.call("GET", f"{org}/actions/runners/{rid}", itok)
        a7, _, _ = rec.call("DELETE", f"{org}/actions/runners/{rid}", itok)
        seed("app-register-busy-gone", ["auth=app", f"GITHUB_APP_ID={app.app_id}",
                                        "RUNNER_NAME=pod-b", f"id={rid}"],
             [a1, a2, a3, a4, a5, a6, a7])

        # The name held by an offline ghost: 409, list by name, delete it, register again.
        old = gh.register_runner("acme", "pod-c", status="offline")
        c1, _, _ = jitconfig(rec, org, bearer, "pod-c")
        c2, _, _ = rec.call("GET", f"{org}/actions/runners?name=pod-c&per_page=100&page=1", bearer)
        c3, _, _ = rec.call("DELETE", f"{org}/actions/runners/{old['id']}", bearer)
        c4, _, _ = jitconfig(rec, org, bearer, "pod-c")
        seed("409-ghost-replaced", ["op=register", "RUNNER_NAME=pod-c"], [c1, c2, c3, c4])

        # The name held by an online runner: a suffixed name.
        gh.register_runner("acme", "pod-d", status="online", busy=True)
        d1, _, _ = jitconfig(rec, org, bearer, "pod-d")
        d2, _, _ = rec.call("GET", f"{org}/actions/runners?name=pod-d&per_page=100&page=1", bearer)
        d3, _, _ = jitconfig(rec, org, bearer, "pod-d-1a2b3c")
        seed("409-online-suffixed", ["op=register", "RUNNER_NAME=pod-d"], [d1, d2, d3])
        # The same with a 64-byte name of two-byte characters: the suffixed name must not cut
        # one in two (names.c; found by this harness).
        wide = "\u00fc" * 32
        gh.register_runner("acme", wide, status="online")
        w1, _, _ = jitconfig(rec, org, bearer, wide)
        w2, _, _ = rec.call("GET", f"{org}/actions/runners?name={'%C3%BC' * 32}&per_page=100"
                            "&page=1", bearer)
        w3, _, _ = jitconfig(rec, org, bearer, wide[:28] + "-1a2b3c")
        seed("409-online-utf8-name", ["op=register", f"RUNNER_NAME={wide}"], [w1, w2, w3])

        # A group by name, then by id (configure --runnergroup needs its name).
        g1, _, _ = rec.call("GET", f"{org}/actions/runner-groups?per_page=100&page=1", bearer)
        g2, _, _ = jitconfig(rec, org, bearer, "pod-e", group)
        seed("group-by-name", ["op=register", "RUNNER_GROUP=builders", "RUNNER_NAME=pod-e"],
             [g1, g2])
        seed("group-name-by-id", ["op=group", f"RUNNER_GROUP={group}"], [g1])
        # An unknown group id: 404 from generate-jitconfig, then the list to tell why.
        g3, _, _ = jitconfig(rec, org, bearer, "pod-f", 999)
        seed("group-unknown-404", ["op=register", "RUNNER_GROUP=999", "RUNNER_NAME=pod-f"],
             [g3, g1])

        # Token registration and check --online (classic and fine-grained PAT).
        t1, _, _ = rec.call("POST", f"{org}/actions/runners/registration-token", bearer)
        seed("registration-token", ["op=token", "SUPERVISOR_REGISTRATION=token"], [t1])
        k1, _, _ = rec.call("GET", f"{org}/actions/runners?per_page=1", bearer)
        seed("check-classic-pat", ["op=check"], [k1])
        k2, _, _ = rec.call("GET", f"{org}/actions/runners?per_page=1", f"Bearer {fine}")
        seed("check-fine-grained-pat", ["op=check"], [k2])

        # A lost registration answer: forget the name (list, GET, DELETE).
        lost = gh.register_runner("acme", "pod-g", status="offline")
        f1, _, _ = rec.call("GET", f"{org}/actions/runners?name=pod-g&per_page=100&page=1",
                            bearer)
        f2, _, _ = rec.call("DELETE", f"{org}/actions/runners/{lost['id']}", bearer)
        seed("forget-lost-registration", ["op=auth", "op=forget", "RUNNER_NAME=pod-g"],
             [f1, f2])

        # The fleet's sweep (sweep.c): a page of the scope's runners, its offline ghost deleted
        # (204), and one that took a job meanwhile (422).
        fleet = ["self-hosted", "Linux", "X64", "fleet-a"]
        ghost = gh.register_runner("acme", "fleet-ghost", status="offline", labels=fleet)
        taken = gh.register_runner("acme", "fleet-taken", status="online", busy=True,
                                   labels=fleet)
        s1, _, _ = rec.call("GET", f"{org}/actions/runners?per_page=100&page=1", bearer)
        s2, _, _ = rec.call("DELETE", f"{org}/actions/runners/{ghost['id']}", bearer)
        s3, _, _ = rec.call("DELETE", f"{org}/actions/runners/{taken['id']}", bearer)
        seed("sweep-page-delete", ["op=page", "op=delete-idle", "op=delete-idle",
                                   f"id={ghost['id']}"], [s1, s2, s3])

        # Rate limits: a secondary limit with retry-after, then a primary one, then the 201.
        gh.inject("POST", "generate-jitconfig", "secondary_limit", retry_after=3)
        gh.inject("POST", "generate-jitconfig", "primary_limit", reset_in=60)
        l1, _, _ = jitconfig(rec, org, bearer, "pod-h")
        l2, _, _ = jitconfig(rec, org, bearer, "pod-h")
        l3, _, _ = jitconfig(rec, org, bearer, "pod-h")
        seed("rate-limited", ["op=register", "RUNNER_NAME=pod-h"], [l1, l2, l3])
        # A server error, a dropped connection, an expired token (401), past the deadline.
        gh.inject("POST", "generate-jitconfig", "status", status=502, body="<html>Bad gateway</html>")
        e1, _, _ = jitconfig(rec, org, bearer, "pod-i")
        seed("server-errors", ["op=register", "RUNNER_NAME=pod-i"],
             [e1, "Connection reset by peer", l3])
        gh.inject(None, ".*", "unauthorized")
        u1, _, _ = jitconfig(rec, org, bearer, "pod-j")
        seed("unauthorized-past-deadline", ["op=register", "deadline=past"], [u1, e1])

        # A repository, with an App token narrowed to it.
        repo = "/repos/acme/app"
        rinst = app.install(repo="acme/app")
        jwt = f"Bearer {app.make_jwt(iss=app.app_id)}"
        p1, _, _ = rec.call("GET", f"{repo}/installation", jwt)
        p2, _, tok = rec.call("POST", f"/app/installations/{rinst}/access_tokens", jwt,
                              {"permissions": {"administration": "write"},
                               "repositories": ["app"]})
        p3, _, _ = jitconfig(rec, repo, f"Bearer {tok['token']}", "pod-k")
        seed("app-repo-register", ["auth=app", f"GITHUB_APP_ID={app.app_id}",
                                   "GITHUB_URL=https://github.com/acme/app", "op=register"],
             [p1, p2, p3])
        seed("app-check", ["auth=app", f"GITHUB_APP_ID={app.app_id}",
                           f"GITHUB_APP_INSTALLATION_ID={inst}", "op=check"],
             [a2, k1])

        # An enterprise with a PAT.
        n1, _, _ = jitconfig(rec, "/enterprises/ent", bearer, "pod-l")
        seed("enterprise-register", ["GITHUB_URL=https://github.com/enterprises/ent",
                                     "op=register"], [n1])

        # GHES 3.9: no generate-jitconfig (404), and its version header.
        gh.ghes = "3.9"
        h1, _, _ = jitconfig(rec, org, bearer, "pod-m")
        seed("ghes-3.9-no-jit", ["GITHUB_URL=https://ghes.example.com/acme", "op=register"], [h1])
        gh.ghes = "3.10"
        h2, _, _ = rec.call("GET", f"{org}/actions/runners?name=pod-c&per_page=100&page=1", bearer)
        seed("ghes-3.10-forget", ["GITHUB_URL=https://ghes.example.com/acme", "op=auth",
                                  "op=forget", "RUNNER_NAME=pod-c"], [h2])
        gh.ghes = None

        # The JIT blob in the three forms of fuzz/jit.c.
        write("jit", "blob", "0" + blob)
        write("jit", "blob-newline", "0" + blob + "\n")
        files = json.loads(base64.b64decode(blob))
        write("jit", "files-json", "1" + json.dumps(files))
        plain = {k: base64.b64decode(v).decode() for k, v in files.items()}
        write("jit", "files-plain", "2" + json.dumps(plain, indent=1))
        runner = json.loads(plain[".runner"])
        runner = {k[0].lower() + k[1:]: v for k, v in runner.items()}
        write("jit", "files-plain-camel-bom",
              "2" + json.dumps(dict(plain, **{".runner": "\ufeff" + json.dumps(runner)})))
    print(f"wrote seeds under {CORPUS}")


if __name__ == "__main__":
    main()
