"""Benchmark job taker: takes one job from the fake GitHub's broker, as the runner would, so
that GitHub (the fake) removes the ephemeral runner afterwards."""
import json
import os
import ssl
import time
import urllib.request

url = os.environ["PROBE_FAKE_URL"]
ctx = ssl.create_default_context(cafile=os.environ["PROBE_CA_FILE"])
creds = json.load(open(".credentials", encoding="utf-8-sig"))
client = creds["Data"]["clientId"]


def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Fake-Runner-Client": client,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        data = r.read()
        return json.loads(data) if data else None


def status(text):
    """The runner's status lines, which the supervisor reads (actions-runner contract)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    print(f"{stamp}: {text}", flush=True)


sid = call("POST", "/_fake/broker/sessions", {})["sessionId"]
status("Listening for Jobs")
job = call("GET", f"/_fake/broker/jobs/next?sessionId={sid}&wait=10")
status(f"Running job: {job['name']}")
call("POST", f"/_fake/broker/jobs/{job['id']}/result", {"result": "Succeeded"})
status(f"Job {job['name']} completed with result: Succeeded")
