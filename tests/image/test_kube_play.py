"""The runner pod of the `job` and `deployment` overlays, started with `podman kube play`
against the fake GitHub, for one whole lifecycle (issue 6, item 4).

`kubectl kustomize k8s-manifests/OVERLAY` renders the overlay; the workload's pod template
(`spec.template` of the Job or the Deployment) becomes a `kind: Pod` next to the rendered
settings ConfigMap, and podman 4.3 (Debian 12) runs it with the runner image the other image
tests built (copied from the private dockerd: `docker save | podman load`). Checked as for
the docker scenarios: exit 0, the job ran (the fake GitHub's job Succeeded), nothing left
registered (deregistration confirmed), the termination log equal to the final summary, the
workspace wiped (`podman diff`), what the container's PID 1 got (seccomp, capabilities,
no_new_privs, masked /proc) and the `sandbox.report`, which is printed and kept with the
others (conftest's terminal summary, RS_IMAGE_TEST_CACHE/last-sandbox-reports.json).

What the test changes in the rendered objects, and why (pod_for_podman and
settings_for_podman; test_pod_differs_only_as_documented checks that nothing else changes):

  pod template -> Pod
    kind Pod, metadata.name      podman runs Pods (and Deployments, but only the pod is tested
                                 here); the name is unique per run
    restartPolicy: Never         the Deployment's Always would make podman restart the
                                 container after the job; one lifecycle is the test
    image                        the locally built image (localhost/rs-test/runner-supervisor)
    annotation seccomp.security.alpha.kubernetes.io/pod: unconfined
                                 the template sets no seccompProfile, which a default kubelet
                                 (seccompDefault off, as in k3s) runs Unconfined; podman would
                                 apply its own default profile instead. podman 4.3 reads
                                 only this annotation, not securityContext.seccompProfile.
                                 A third run leaves it out: podman's default profile, the
                                 one CRI-O uses for RuntimeDefault, which allows unshare but
                                 refuses sethostname: the supervisor keeps the pod's hostname
    secret volume optional: false
                                 podman 4.3.1 dereferences the unset `optional` of a secret
                                 volume (nil pointer panic in VolumeFromSecret); fixed in 4.4
    + hostPath volume at /dev/termination-log
                                 the kubelet bind-mounts a host file at
                                 terminationMessagePath and reads it after the exit; podman
                                 does not, so the test does the same with a file it reads
    + hostPath /rs-test/ca.pem (read-only) and /rs-test/record
                                 the fake GitHub's test CA (GITHUB_CA_FILE; the fixture's
                                 fake runner reads the same path) and the fake runner's
                                 record of what it saw; test fixtures, as in test_image.py
  ConfigMap runner-supervisor-settings
    GITHUB_URL                   the fake GitHub (https://127.0.0.1:PORT/acme)
    + GITHUB_CA_FILE             /rs-test/ca.pem
  Secret runner-supervisor-github (not rendered: the user creates it)
    podman >= 4.4 takes the Kubernetes Secret (stringData github_token) in the same YAML.
    podman 4.3 stores such a Secret but then writes the base64 text of `data` into the
    files and ignores `stringData`, so the test creates the podman secret itself with the
    token as plain text under `data` (what 4.3 writes verbatim). 4.3 also ignores
    `defaultMode` (files 0644).
  volume modes                   the pod is created with --start=false, and before its start
                                 the test gives the volumes the modes the kubelet gives them:
                                 the secret's files the template's defaultMode (0400; podman
                                 4.3: 0644), the work folder's emptyDir 0777 (podman: 0755
                                 root, in which the runner, uid 1001, cannot work; the
                                 kubelet makes every emptyDir 0777)
  podman kube play --network=host
                                 the fake GitHub listens on 127.0.0.1 (a cluster pod reaches
                                 GitHub through the pod network)

podman ignores, and the test leaves as rendered: serviceAccountName,
automountServiceAccountToken, enableServiceLinks, terminationMessagePolicy,
ephemeral-storage, emptyDir sizeLimit (the cpu and memory limits are applied), procMount.

    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/image/test_kube_play.py
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import (CA_PATH, CACHE, RECORD_DIR, REPO, Run, _note_report, _unavailable,
                      json_events,
                      proc_view)
import runner_install
from kubeplay import Podman, PodmanError
from test_image import (JOB_STEPS, assert_container, assert_report, assert_whole_lifecycle,
                        print_report)

MANIFESTS = REPO / "k8s-manifests"
SETTINGS = "runner-supervisor-settings"
SECRET = "runner-supervisor-github"
TERMINATION_LOG = "/dev/termination-log"
SECCOMP_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
TEST_VOLUMES = ("rs-test-termination-log", "rs-test-ca", "rs-test-record")
# The template's capabilities: CHOWN DAC_OVERRIDE FOWNER KILL SETGID SETUID SETPCAP
TEMPLATE_CAPS_MASK = "00000000000001eb"
# In the container's layer after the run: the mount points of the template's secret volume
# (/var/run -> /run) and of the test's (the work folder's is allowed by assert_layer_clean).
MOUNTED = {"/run/secrets", "/run/secrets/runner-supervisor", "/rs-test", "/rs-test/ca.pem",
           "/rs-test/record"}


def kubectl():
    exe = shutil.which(os.environ.get("KUBECTL", "kubectl"))
    if not exe:
        _unavailable("kubectl not found (Debian package kubernetes-client; make manifest-deps)")
    return exe


def render(overlay):
    r = subprocess.run([kubectl(), "kustomize", str(MANIFESTS / overlay)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"kubectl kustomize {overlay} failed:\n{r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or
                                                       d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in the rendered overlay"
    return found[0]


def pod_for_podman(template, name, image, files, seccomp="unconfined"):
    """The workload's pod template as a Pod podman 4.3 runs; every change is in the module
    docstring. files: host paths of the termination log, the CA and the record directory.
    seccomp "unconfined" (the kubelet's default), or None: podman's own default profile."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": copy.deepcopy(template.get("metadata", {})),
           "spec": copy.deepcopy(template["spec"])}
    pod["metadata"]["name"] = name
    if seccomp:
        pod["metadata"].setdefault("annotations", {})[SECCOMP_ANNOTATION] = seccomp
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"
    (container,) = [c for c in spec["containers"] if c["name"] == "runner"]
    container["image"] = image
    for volume in spec["volumes"]:
        if "secret" in volume:
            volume["secret"].setdefault("optional", False)
    spec["volumes"] += [
        {"name": TEST_VOLUMES[0], "hostPath": {"path": str(files["termination_log"]),
                                               "type": "File"}},
        {"name": TEST_VOLUMES[1], "hostPath": {"path": str(files["ca"]), "type": "File"}},
        {"name": TEST_VOLUMES[2], "hostPath": {"path": str(files["record"]),
                                               "type": "Directory"}}]
    container["volumeMounts"] += [
        {"name": TEST_VOLUMES[0], "mountPath": TERMINATION_LOG},
        {"name": TEST_VOLUMES[1], "mountPath": CA_PATH, "readOnly": True},
        {"name": TEST_VOLUMES[2], "mountPath": RECORD_DIR}]
    return pod


def settings_for_podman(configmap, github_url):
    cm = copy.deepcopy(configmap)
    cm["data"]["GITHUB_URL"] = github_url
    cm["data"]["GITHUB_CA_FILE"] = CA_PATH
    return cm


def secret_mode(template):
    (volume,) = [v for v in template["spec"]["volumes"] if v.get("secret", {}).get(
        "secretName") == SECRET]
    return volume["secret"].get("defaultMode", 0o644)


SECRET_DIR = "/var/run/secrets/runner-supervisor"
EMPTYDIR_MODE = 0o777  # the kubelet's (pkg/volume/emptydir); podman 4.3 makes them 0755


def kubelet_volume_modes(pm, ctr, template):
    """Before the first start (kube play --start=false), give the pod's volumes the modes
    the kubelet gives them and podman 4.3 does not: the secret's files defaultMode (podman:
    0644), emptyDir directories 0777 (podman: 0755 root, which the runner, uid 1001, cannot
    create its work folder's directories in). → {mount path: host directory}."""
    mounts = json.loads(pm.podman("inspect", ctr, timeout=30, quiet=True).stdout)[0]["Mounts"]
    sources = {m["Destination"]: m["Source"] for m in mounts}
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    found = {}
    for m in template_container(template)["volumeMounts"]:
        volume = volumes[m["name"]]
        source = sources.get(m["mountPath"])
        if source is None and m["mountPath"].startswith("/var/run/"):
            source = sources.get(m["mountPath"][len("/var"):])
        assert source, f"no mount at {m['mountPath']} in podman's container: {sources}"
        if "secret" in volume:
            for f in Path(source).iterdir():
                f.chmod(volume["secret"].get("defaultMode", 0o644))
        elif "emptyDir" in volume:
            os.chmod(source, EMPTYDIR_MODE)
        found[m["mountPath"]] = source
    return found


def podman_version(pm):
    out = pm.podman("version", "--format", "{{.Client.Version}}", timeout=30, quiet=True).stdout
    return tuple(int(x) for x in out.strip().split("-")[0].split(".")[:2])


@pytest.fixture(scope="session")
def podman(engine, images, run_dir):
    """The private podman (kubeplay.py) with the runner image; → (Podman, image name)."""
    pm = Podman(CACHE, run_dir)
    try:
        pm.check()
        pm.reset()
        image = pm.load_from(engine, images.image)
    except (PodmanError, OSError, subprocess.SubprocessError) as err:
        pm.cleanup_state()
        _unavailable(f"cannot run podman kube play: {err}")
    yield pm, image
    pm.reset()
    pm.prune()
    pm.cleanup_state()


OVERLAYS = {"job": "Job", "deployment": "Deployment"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_differs_only_as_documented(overlay, tmp_path):
    """The Pod the test plays is the rendered template plus exactly the changes listed in
    the module docstring."""
    docs = render(overlay)
    template = one(docs, OVERLAYS[overlay])["spec"]["template"]
    files = {"termination_log": tmp_path / "t", "ca": tmp_path / "c", "record": tmp_path / "r"}
    pod = pod_for_podman(template, "x", "localhost/x:y", files)
    back = copy.deepcopy(pod)
    assert back["metadata"].pop("name") == "x"
    assert back["metadata"]["annotations"].pop(SECCOMP_ANNOTATION) == "unconfined"
    if not back["metadata"]["annotations"]:
        del back["metadata"]["annotations"]
    spec = back["spec"]
    spec["restartPolicy"] = template["spec"]["restartPolicy"]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] not in TEST_VOLUMES]
    for v in spec["volumes"]:
        if "secret" in v and "optional" not in template_volume(template, v["name"])["secret"]:
            assert v["secret"].pop("optional") is False
    for c in spec["containers"]:
        if c["name"] == "runner":
            assert c["image"] == "localhost/x:y"
            c["image"] = template_container(template)["image"]
            c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] not in TEST_VOLUMES]
    assert back == {"apiVersion": "v1", "kind": "Pod", **template}
    cm = settings_for_podman(one(docs, "ConfigMap", SETTINGS), "https://h/acme")
    orig = one(docs, "ConfigMap", SETTINGS)
    changed = {k for k in set(cm["data"]) | set(orig["data"])
               if cm["data"].get(k) != orig["data"].get(k)}
    assert changed == {"GITHUB_URL", "GITHUB_CA_FILE"}, changed


def template_volume(template, name):
    return next(v for v in template["spec"]["volumes"] if v["name"] == name)


def template_container(template):
    return next(c for c in template["spec"]["containers"] if c["name"] == "runner")


# podman's default seccomp profile (containers/common's, which CRI-O uses for RuntimeDefault
# too) allows unshare but answers sethostname with EPERM without CAP_SYS_ADMIN: the probe
# finds that out and the supervisor keeps the pod's hostname (this run once ended in exit 75,
# a pod churn that the Job's podFailurePolicy ignores).

@pytest.mark.parametrize("overlay,seccomp", [
    ("job", "unconfined"), ("deployment", "unconfined"),
    pytest.param("job", "runtime-default")])
def test_kube_play_one_lifecycle(overlay, seccomp, podman, github, run_dir):
    """One whole lifecycle of the overlay's pod. seccomp "unconfined": no seccomp filter, as
    a default kubelet runs the template (no seccompProfile); "runtime-default": podman's own
    default profile, standing in for a node with seccompDefault: true (podman's profile is
    not containerd's, so only the lifecycle and the container's seccomp mode are asserted;
    test_image.py (b) checks the fallback under docker's profile)."""
    pm, image = podman
    started_all = time.monotonic()
    docs = render(overlay)
    template = one(docs, OVERLAYS[overlay])["spec"]["template"]
    scenario = f"kube-play-{overlay}" + ("" if seccomp == "unconfined" else f"-{seccomp}")
    name = f"rs-kp-{overlay}-{uuid.uuid4().hex[:6]}"
    ctr = f"{name}-runner"  # podman names a pod's containers POD-CONTAINER
    work = Path(tempfile.mkdtemp(prefix=f"kp-{overlay}-", dir=run_dir))
    work.chmod(0o755)
    files = {"termination_log": work / "termination-log", "ca": work / "ca.pem",
             "record": work / "record"}
    files["termination_log"].write_text("")
    shutil.copyfile(github.fake.ca_file, files["ca"])
    files["ca"].chmod(0o644)
    files["record"].mkdir()
    files["record"].chmod(0o1777)

    pod = pod_for_podman(template, name, image, files,
                         seccomp="unconfined" if seccomp == "unconfined" else None)
    settings = settings_for_podman(one(docs, "ConfigMap", SETTINGS), f"{github.fake.url}/acme")
    objects = [settings, pod]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET},
              "type": "Opaque"}
    legacy_secret = podman_version(pm) < (4, 4)
    if legacy_secret:
        path = work / "secret.yaml"
        path.write_text(yaml.safe_dump({**secret, "data": {"github_token": github.pat}}))
        pm.podman("secret", "create", "--driver", "file", SECRET, path, timeout=30)
        path.unlink()
    else:
        objects.insert(0, {**secret, "stringData": {"github_token": github.pat}})
    kube_yaml = work / "pod.yaml"
    kube_yaml.write_text(yaml.safe_dump_all(objects, sort_keys=False))

    job = github.fake.queue_job(name=f"job-kube-play-{overlay}", steps=JOB_STEPS)
    try:
        pm.podman("kube", "play", "--network=host", "--start=false", kube_yaml, timeout=120)
        prepared = kubelet_volume_modes(pm, ctr, template)
        started = time.monotonic()
        pm.podman("pod", "start", name, timeout=60)
        pid = pm.podman("inspect", "--format", "{{.State.Pid}}", ctr, timeout=30,
                        quiet=True).stdout.strip()
        container_view = proc_view(int(pid)) if pid.isdigit() and pid != "0" else {
            "error": f"no PID 1 ({pid!r})"}
        try:
            w = pm.podman("wait", ctr, timeout=150, check=False)
        except PodmanError as err:
            logs = pm.podman("logs", ctr, timeout=60, check=False, quiet=True)
            raise AssertionError(f"{scenario}: {err}\n{logs.stdout[-3000:]}\n"
                                 f"{logs.stderr[-8000:]}") from None
        elapsed = time.monotonic() - started
        state = json.loads(pm.podman("inspect", ctr, timeout=30, quiet=True).stdout)[0]["State"]
        logs = pm.podman("logs", ctr, timeout=60, quiet=True)
        diff = pm.podman("diff", ctr, timeout=60, quiet=True).stdout.splitlines()
        secret_files = sorted(f"{f.name} {f.stat().st_mode & 0o7777:o} uid {f.stat().st_uid}"
                              for f in Path(prepared[SECRET_DIR]).iterdir())
        termination_log = files["termination_log"].read_text()
        record = runner_install.read_record(files["record"] / "record.jsonl")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        pm.podman("pod", "rm", "-f", "-t", "5", "--ignore", name, timeout=120, check=False)
        pm.podman("volume", "rm", "-f", SECRET, timeout=30, check=False, quiet=True)
        if legacy_secret:
            pm.podman("secret", "rm", SECRET, timeout=30, check=False, quiet=True)
    events = json_events(logs.stderr)
    run = Run(name=scenario, code=state["ExitCode"], stdout=logs.stdout,
              stderr=logs.stderr, events=events,
              termination_log=termination_log, record=record,
              job=github.fake.job(job.id), runners_left=github.fake.runners(),
              elapsed=elapsed, container_view=container_view, diff=diff)
    _note_report(run)
    print_report(run)
    print(f"{run.name}: podman wait -> {w.stdout.strip()!r}, secret volume {secret_files}, "
          f"run {run.elapsed:.1f}s, {time.monotonic() - started_all:.1f}s in all")
    for e in run.events:
        if e.get("event") != "runner.output":
            print(f"{run.name}:   {e.get('ts')} {e.get('event')}: {e.get('msg')}")
    assert_whole_lifecycle(run, mounted=MOUNTED)
    assert_container(run, seccomp="0" if seccomp == "unconfined" else "2", userns=False,
                     caps=TEMPLATE_CAPS_MASK)
    assert run.container_view["NoNewPrivs"] == "1", run.container_view  # allowPrivilegeEscalation
    assert secret_files == [f"github_token {secret_mode(template):o} uid 0"], secret_files
    if seccomp != "unconfined":
        return
    # As scenario (a) of test_image.py (the kubelet's default: no seccomp filter), with the
    # template's seven capabilities and no_new_privs from the start.
    assert_report(run, user_namespace="applied", pid_namespace="unavailable",
                  mount_namespace="applied", proc="unavailable", hidden_paths="applied",
                  landlock="applied", seccomp="applied", capabilities="applied",
                  no_new_privs="applied", separate_uid="applied")
