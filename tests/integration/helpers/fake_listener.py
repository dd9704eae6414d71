#!/usr/bin/python3
"""A stand-in for RUNNER_ROOT/bin/Runner.Listener, for the GitHub tests (github_fixtures.py).

Installed as RUNNER_ROOT/bin/Runner.Listener; runs as the runner user. Standard library only.

Every invocation first writes what it saw to $FAKE_LISTENER_RECORD/<verb>.json (written to a
temporary name, then renamed, so a reader never sees half a file):
    {"argv", "uid", "gid", "euid", "egid", "groups", "cwd", "env", "root",
     "files": {name: {"mode", "uid", "gid", "size"}}}     (the runner root's entries)

`Runner.Listener configure ...` then does what config.sh does against the fake GitHub:
POST <origin of --url>/_fake/broker/register with the token from ACTIONS_RUNNER_INPUT_TOKEN,
and writes the .runner, .credentials and .credentials_rsaparams files it gets back (0600).

`Runner.Listener run` then behaves as $FAKE_LISTENER_MODE says:
    exit    print $FAKE_LISTENER_STDOUT on stdout and $FAKE_LISTENER_STDERR on stderr (each a
            line, when set), then exit with $FAKE_LISTENER_EXIT (default 0)
    job     open a broker session with the clientId of .credentials, take one job
            (waiting up to $FAKE_LISTENER_WAIT s, default 20), run it for
            $FAKE_LISTENER_JOB_SECONDS (default 0), report $FAKE_LISTENER_RESULT
            (default Succeeded), exit 100 + the result's index when
            ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED=true (as the real runner), else 0;
            with no job in time, exit 0 as a runner that was stopped does
    sleep   wait until SIGINT or SIGTERM, then exit 0 (the runner's answer to a stop)
    hold    wait until the file $FAKE_LISTENER_GO exists, then exit $FAKE_LISTENER_EXIT
TLS to the fake is verified with the CA file $FAKE_LISTENER_CA; proxies are not used.
"""
import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

RESULTS = ["Succeeded", "SucceededWithIssues", "Failed", "Canceled", "Skipped", "Abandoned"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))


def say(text):
    """A line as the real Listener prints it: Terminal.WriteLine's `{DateTime.UtcNow:u}: `
    prefix (src/Runner.Listener/Program.cs, Terminal.cs)."""
    print(time.strftime("%Y-%m-%d %H:%M:%SZ: ", time.gmtime()) + text, flush=True)


def record(verb):
    where = os.environ.get("FAKE_LISTENER_RECORD")
    if not where:
        return
    files = {}
    for name in sorted(os.listdir(ROOT)):
        st = os.lstat(os.path.join(ROOT, name))
        files[name] = {"mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid,
                       "size": st.st_size}
    data = {"argv": sys.argv[1:], "uid": os.getuid(), "gid": os.getgid(),
            "euid": os.geteuid(), "egid": os.getegid(), "groups": os.getgroups(),
            "cwd": os.getcwd(), "env": dict(os.environ), "root": ROOT, "files": files,
            "pid": os.getpid()}
    final = os.path.join(where, f"{verb}.json")
    tmp = f"{final}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.rename(tmp, final)


def tls():
    return ssl.create_default_context(cafile=os.environ["FAKE_LISTENER_CA"])


def call(method, url, body=None, client=None, timeout=30):
    """→ (status, JSON or None)."""
    headers = {"Content-Type": "application/json"}
    if client:
        headers["X-Fake-Runner-Client"] = client
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    # Straight to the fake: the proxy tests look at the supervisor's traffic only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=tls()))
    try:
        with opener.open(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw) if raw else None
        except ValueError:
            return e.code, None


def option(args, name):
    return args[args.index(name) + 1] if name in args else None


def configure(args):
    url = urllib.parse.urlsplit(option(args, "--url"))
    origin = f"{url.scheme}://{url.netloc}"
    labels = option(args, "--labels")
    body = {"token": os.environ.get("ACTIONS_RUNNER_INPUT_TOKEN", ""),
            "name": option(args, "--name"),
            "labels": labels.split(",") if labels else [],
            "runner_group": option(args, "--runnergroup"),
            "work_folder": option(args, "--work") or "_work",
            "ephemeral": "--ephemeral" in args}
    status, answer = call("POST", origin + "/_fake/broker/register", body)
    if status != 201:
        print(f"configure failed: HTTP {status}: {answer}", file=sys.stderr)
        return 1
    for name, content in answer["files"].items():
        path = os.path.join(ROOT, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(content, f)
    print("Settings Saved.")
    return 0


def read_json(name):
    with open(os.path.join(ROOT, name), encoding="utf-8-sig") as f:
        return json.load(f)


def take_one_job():
    dot_runner = read_json(".runner")
    broker = (dot_runner.get("ServerUrlV2") or dot_runner["ServerUrl"]).rstrip("/")
    client = read_json(".credentials")["Data"]["clientId"]
    status, session = call("POST", broker + "/sessions", {"os": "Linux"}, client)
    if status != 200:
        print(f"session refused: HTTP {status}: {session}", file=sys.stderr)
        return 1
    say("Listening for Jobs")
    wait = float(os.environ.get("FAKE_LISTENER_WAIT", "20"))
    status, job = call("GET", f"{broker}/jobs/next?sessionId={session['sessionId']}&wait={wait}",
                       client=client, timeout=wait + 30)
    if status == 204:
        call("DELETE", f"{broker}/sessions/{session['sessionId']}", client=client)
        return 0
    if status != 200:
        print(f"no job: HTTP {status}: {job}", file=sys.stderr)
        return 1
    say(f"Running job: {job['name']}")
    time.sleep(float(os.environ.get("FAKE_LISTENER_JOB_SECONDS", "0")))  # the job's steps
    result = os.environ.get("FAKE_LISTENER_RESULT", "Succeeded")
    status, _ = call("POST", f"{broker}/jobs/{job['id']}/result", {"result": result}, client)
    say(f"Job {job['name']} completed with result: {result}")
    if os.environ.get("ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED") == "true":
        return 100 + RESULTS.index(result)
    return 0


def sleep_until_signalled():
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    deadline = time.monotonic() + 120
    while not stop and time.monotonic() < deadline:
        time.sleep(0.05)
    return 0


def hold():
    go = os.environ["FAKE_LISTENER_GO"]
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.02)
    return int(os.environ.get("FAKE_LISTENER_EXIT", "0"))


def run():
    mode = os.environ.get("FAKE_LISTENER_MODE", "exit")
    if mode == "job":
        return take_one_job()
    if mode == "sleep":
        return sleep_until_signalled()
    if mode == "hold":
        return hold()
    for name, stream in (("FAKE_LISTENER_STDOUT", sys.stdout), ("FAKE_LISTENER_STDERR",
                                                                 sys.stderr)):
        if os.environ.get(name):
            print(os.environ[name], file=stream, flush=True)
    return int(os.environ.get("FAKE_LISTENER_EXIT", "0"))


def main():
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    record(verb or "none")
    if verb == "configure":
        return configure(sys.argv[2:])
    if verb == "run":
        return run()
    print(f"fake Runner.Listener: unknown command {verb!r}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
