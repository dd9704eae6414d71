"""Rendering, schema validation and policy checks for k8s-manifests/.

Every checker takes plain dicts (as rendered by kustomize) and returns a list of violations,
empty when the object is fine, so that a test can feed it a deliberately bad object too.
"""

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "k8s-manifests"
HERE = Path(__file__).resolve().parent
# The binary whose --help gives the exit codes and defaults (README.md when it is not built).
BINARY = Path(os.environ.get("RUNNER_SUPERVISOR", REPO / "build" / "runner-supervisor"))
NODE_DIR = REPO / "build" / "manifests-node"

# The Kubernetes lines every object is validated against, and the npm package (an alias in
# package.json) holding each line's schemas: kubernetes-models 4.5.x carries Kubernetes
# v1.33.0's OpenAPI, 5.x v1.36.0's (the package's CHANGELOG, and the VERSIONS list of its
# scripts/generate.ts). Why these two: k8s-manifests/README.md, "Tested".
K8S_LINES = {
    "1.33": ("kubernetes-models-1.33", "4.5.1"),   # the oldest: see the README
    "1.36": ("kubernetes-models", "5.1.0"),        # the newest line published on npm
}
OLDEST_K8S, NEWEST_K8S = "1.33", "1.36"

# kustomize overlays (rendered with `kubectl kustomize`); arc/ also holds Helm values.
OVERLAYS = ["job", "deployment", "keda", "arc", "userns"]
WORKLOAD_KINDS = {"Job", "Deployment", "ScaledJob"}

SETTINGS_CONFIGMAP = "runner-supervisor-settings"
CREDENTIALS_SECRET = "runner-supervisor-github"
CREDENTIALS_DIR = "/var/run/secrets/runner-supervisor"
RUNNER_CONTAINER = "runner"
SUPERVISOR_PATH = "/usr/local/bin/runner-supervisor"

# Who can cause each of the supervisor's exit codes (README "Exit codes", `--help`), and so what
# a Job must do with it. Every code the supervisor documents must be here: a new code fails the
# tests until someone decides who can cause it.
#   job       a job can cause it, directly or not: it must never stop the fleet (no FailJob),
#             and must not use up backoffLimit either, or enough malicious jobs would
#   config    the manifests, the Secret or the node are wrong: every next pod fails the same
#             way, so stop at once (FailJob)
#   outdated  the image's runner is too old for GitHub, before any job: rebuild (FailJob)
#   outage    GitHub unreachable or rate limited: retry without counting
#   internal  a bug of the supervisor: retry, bounded by backoffLimit
#   report    exited only by `runner-supervisor report` (reading summaries, on an operator's
#             machine), never by `run`, the pods' command: no manifest decides about them, and
#             a podFailurePolicy rule naming one is a mistake
EXIT_CLASSES = {
    0: "job",        # the job ran (any result), or a clean stop
    7: "outdated",   # ARC mode only: the runner's own "outdated" (ARC marks the runner Outdated)
    64: "config",    # bad command line: the manifest's args
    65: "report",    # report: the input holds no summary
    66: "report",    # report: the input cannot be read
    69: "outage",    # GitHub unavailable past the registration deadline
    70: "internal",  # internal error
    71: "config",    # strict sandbox impossible on this node
    74: "job",       # wipe failed or installation changed: a hostile job can leave files behind
    75: "job",       # temporary: ghost, session conflict, crash before a job, rate limit; counted
                     # as job-causable to be safe (a job's traffic shares the rate limit)
    76: "outdated",  # the runner said it is outdated before any job
    77: "config",    # credentials rejected
    78: "config",    # configuration invalid
}
# 128+N: the supervisor died of signal N. As PID 1 only SIGKILL reaches it from outside: the
# kernel's OOM killer (on cgroup v2 the kubelet makes the whole container one OOM group, so a
# job over the memory limit takes the supervisor with it) or the kubelet after the grace
# period; the rest would be its own crash, which a hostile job might provoke. A job can cause
# all of them.
SIGNAL_EXITS = range(129, 160)
ACTION_FOR_CLASS = {"job": "Ignore", "outage": "Ignore", "config": "FailJob",
                    "outdated": "FailJob", "internal": "Count"}


def exit_class(code):
    return "job" if code in SIGNAL_EXITS else EXIT_CLASSES.get(code)


def run_exit_codes(exit_codes):
    """The codes a pod's `run` can end with: all but the report command's."""
    return {c for c in exit_codes if exit_class(c) != "report"}


def expected_action(code):
    """What the Job must do when the runner container exits with `code` (0: succeeds)."""
    return "Succeeded" if code == 0 else ACTION_FOR_CLASS[exit_class(code)]


# Pod Security Standards, capabilities "baseline" allows to be added.
BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
BASELINE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}
PSS_LEVELS = ["restricted", "baseline", "privileged"]

# Top-level values of ARC's gha-runner-scale-set chart (its values.yaml).
ARC_VALUES_KEYS = {
    "githubConfigUrl", "githubConfigSecret", "proxy", "maxRunners", "minRunners", "runnerGroup",
    "runnerScaleSetName", "fullnameOverride", "githubServerTLS", "keyVault", "containerMode",
    "listenerTemplate", "listenerMetrics", "template", "controllerServiceAccount",
    "namespaceOverride", "annotations", "labels", "resourceMeta", "scaleSetLabels",
}


# ---- the supervisor's own tables ---------------------------------------------------------

def supervisor_help():
    """`runner-supervisor --help`, or None when the binary is not built."""
    if not os.access(BINARY, os.X_OK):
        return None
    out = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True, timeout=30)
    return out.stdout if out.returncode == 0 else None


def exit_codes_from_help(text):
    part = text.split("Exit codes:", 1)[1]
    return {int(m.group(1)): m.group(2).strip()
            for m in re.finditer(r"^\s+(\d+)\s+(\S.*)$", part, re.M)}


def exit_codes_from_readme():
    text = (REPO / "README.md").read_text()
    part = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2).strip()
            for m in re.finditer(r"^\|\s*(\d+)\s*\|\s*(.*?)\s*\|\s*$", part, re.M)}


def settings_defaults_from_help(text):
    """{SETTING: default} from the help's settings list."""
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^\s+([A-Z][A-Z0-9_]+)\s+--\S+\s+\[default: ([^\]]*)\]", text, re.M)}


def settings_defaults_from_readme():
    text = (REPO / "README.md").read_text()
    part = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]+)` \| `--[^`]+` \| ([^|]*) \|", part, re.M)}


def supervisor_tables():
    """(exit codes, settings defaults, source): from --help when built, else README.md."""
    text = supervisor_help()
    if text:
        return exit_codes_from_help(text), settings_defaults_from_help(text), "--help"
    return exit_codes_from_readme(), settings_defaults_from_readme(), "README.md"


# ---- rendering -----------------------------------------------------------------------------

def kubectl():
    exe = os.environ.get("KUBECTL", "kubectl")
    path = shutil.which(exe)
    if not path:
        raise RuntimeError(f"{exe} not found: install Debian's kubernetes-client (make deps)")
    return path


def render(overlay, exe=None):
    out = subprocess.run([exe or kubectl(), "kustomize", str(MANIFESTS / overlay)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load_yaml(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def obj_id(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_template_of(doc):
    """The pod template (metadata + spec) of a workload, or None."""
    kind = doc.get("kind")
    if kind in ("Job", "Deployment"):
        return doc["spec"]["template"]
    if kind == "ScaledJob":
        return doc["spec"]["jobTargetRef"]["template"]
    if kind == "PodTemplate":
        return doc["template"]
    return None


def job_spec_of(doc):
    if doc.get("kind") == "Job":
        return doc["spec"]
    if doc.get("kind") == "ScaledJob":
        return doc["spec"]["jobTargetRef"]
    return None


def find(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind
            and (name is None or d.get("metadata", {}).get("name") == name)]


# ---- schema validation (node, offline) ---------------------------------------------------

def lock_digest():
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()


def ensure_validator():
    """npm ci into build/manifests-node (once per lock file); returns the script's path."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} not found: install nodejs and npm (make deps)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copyfile(HERE / name, NODE_DIR / name)
    stamp = NODE_DIR / ".installed"
    digest = lock_digest()
    if not (stamp.exists() and stamp.read_text() == digest and (NODE_DIR / "node_modules").is_dir()):
        out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"npm ci failed:\n{out.stdout}\n{out.stderr}")
        stamp.write_text(digest)
    return NODE_DIR / "validate.mjs"


def validate(items, script, line=NEWEST_K8S):
    """items: [{"id", "doc", optional "schema", optional "k8s"}] -> {id: {"schema", "errors",
    "unknown"}}, against Kubernetes `line` unless an item names its own."""
    packages = {v: pkg for v, (pkg, _) in K8S_LINES.items()}
    items = [dict(item, k8s=item.get("k8s", line)) for item in items]
    out = subprocess.run(["node", str(script)],
                         input=json.dumps({"packages": packages, "items": items}),
                         capture_output=True, text=True, timeout=300, cwd=NODE_DIR)
    if out.returncode != 0:
        raise RuntimeError(f"validate.mjs failed:\n{out.stderr}")
    return {r["id"]: r for r in json.loads(out.stdout)["results"]}


# ---- policy checkers ---------------------------------------------------------------------

def containers_of(spec):
    return [*spec.get("initContainers", []), *spec.get("containers", []),
            *spec.get("ephemeralContainers", [])]


def check_no_privileged(spec):
    bad = []
    for c in containers_of(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            bad.append(f"container {c['name']}: privileged")
        if "ALL" in ((sc.get("capabilities") or {}).get("add") or []):
            bad.append(f"container {c['name']}: adds ALL capabilities")
    return bad


def check_no_host_access(spec):
    bad = [f"{k}: true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    bad += [f"volume {v['name']}: hostPath" for v in spec.get("volumes", []) if "hostPath" in v]
    for c in containers_of(spec):
        bad += [f"container {c['name']}: hostPort {p['hostPort']}"
                for p in c.get("ports", []) if p.get("hostPort")]
    return bad


def check_secrets_as_files(spec):
    """Secrets only as read-only files with mode 0400: never env, envFrom or writable."""
    bad = []
    secret_volumes = {}
    for v in spec.get("volumes", []):
        if "secret" in v:
            secret_volumes[v["name"]] = v["secret"].get("defaultMode")
        if "projected" in v:
            if any("secret" in s for s in v["projected"].get("sources", [])):
                secret_volumes[v["name"]] = v["projected"].get("defaultMode")
    for name, mode in secret_volumes.items():
        if mode != 0o400:
            bad.append(f"secret volume {name}: defaultMode {mode!r}, want 0400 (256)")
    for c in containers_of(spec):
        for e in c.get("env", []):
            if "secretKeyRef" in (e.get("valueFrom") or {}):
                bad.append(f"container {c['name']}: env {e['name']} from a Secret")
        for e in c.get("envFrom", []):
            if "secretRef" in e:
                bad.append(f"container {c['name']}: envFrom secretRef {e['secretRef'].get('name')}")
        for m in c.get("volumeMounts", []):
            if m["name"] in secret_volumes and not m.get("readOnly"):
                bad.append(f"container {c['name']}: secret volume {m['name']} mounted writable")
    return bad


def check_no_sa_token(spec, service_accounts):
    """The pod mounts no API token, and its ServiceAccount says so too."""
    bad = []
    if spec.get("automountServiceAccountToken") is not False:
        bad.append("pod: automountServiceAccountToken is not false")
    name = spec.get("serviceAccountName", "default")
    sa = service_accounts.get(name)
    if sa is None:
        bad.append(f"ServiceAccount {name} is not part of the manifests")
    elif sa.get("automountServiceAccountToken") is not False:
        bad.append(f"ServiceAccount {name}: automountServiceAccountToken is not false")
    for v in spec.get("volumes", []):
        for s in (v.get("projected") or {}).get("sources", []):
            if "serviceAccountToken" in s:
                bad.append(f"volume {v['name']}: projects a service-account token")
    return bad


def image_pinned(image):
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.rsplit(":", 1)[1] not in ("", "latest")


def check_images_pinned(spec):
    return [f"container {c['name']}: image {c.get('image')!r} not pinned by tag or digest"
            for c in containers_of(spec) if not image_pinned(c.get("image", ""))]


def check_resources(spec):
    bad = []
    for c in containers_of(spec):
        res = c.get("resources") or {}
        for kind, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            missing = [k for k in keys if k not in (res.get(kind) or {})]
            if missing:
                bad.append(f"container {c['name']}: no resources.{kind} {', '.join(missing)}")
    return bad


def check_supervisor_is_pid1(spec):
    """The runner container starts the supervisor (ARC's default would be run.sh)."""
    runner = [c for c in spec.get("containers", []) if c["name"] == RUNNER_CONTAINER]
    if not runner:
        return [f"no container named {RUNNER_CONTAINER}"]
    cmd = runner[0].get("command") or []
    if cmd[:1] != [SUPERVISOR_PATH]:
        return [f"container {RUNNER_CONTAINER}: command {cmd!r}, want [{SUPERVISOR_PATH!r}, ...]"]
    return []


def check_termination_message(spec, settings):
    bad = []
    for c in spec.get("containers", []):
        if c["name"] != RUNNER_CONTAINER:
            continue
        if c.get("terminationMessagePolicy") != "FallbackToLogsOnError":
            bad.append(f"container {c['name']}: terminationMessagePolicy is not FallbackToLogsOnError")
        path = c.get("terminationMessagePath", "/dev/termination-log")
        if settings.get("SUPERVISOR_TERMINATION_LOG") != path:
            bad.append(f"SUPERVISOR_TERMINATION_LOG is {settings.get('SUPERVISOR_TERMINATION_LOG')!r},"
                       f" the container's terminationMessagePath is {path!r}")
    return bad


def check_api_rules(spec):
    """Rules the API server enforces that the OpenAPI schemas cannot express."""
    bad = []
    for c in containers_of(spec):
        sc = c.get("securityContext") or {}
        caps = (sc.get("capabilities") or {}).get("add") or []
        if sc.get("allowPrivilegeEscalation") is False and (
                sc.get("privileged") or "SYS_ADMIN" in caps or "CAP_SYS_ADMIN" in caps):
            bad.append(f"container {c['name']}: allowPrivilegeEscalation false with "
                       "privileged or SYS_ADMIN is rejected by the API server")
        if sc.get("procMount", "Default") != "Default" and spec.get("hostUsers") is not False:
            bad.append(f"container {c['name']}: procMount {sc['procMount']} needs hostUsers: false")
    return bad


def effective_settings(settings_map, spec, defaults):
    """The supervisor's settings as the runner container sees them: the defaults, then the
    ConfigMaps it takes with envFrom, then its env."""
    eff = dict(defaults)
    for c in spec.get("containers", []):
        if c["name"] != RUNNER_CONTAINER:
            continue
        for e in c.get("envFrom", []):
            if "configMapRef" in e:
                eff.update(settings_map.get(e["configMapRef"]["name"], {}))
        for e in c.get("env", []):
            if "value" in e:
                eff[e["name"]] = e["value"]
    return eff


# What the supervisor may still do after SIGTERM, in order, in seconds: let a job finish
# (SUPERVISOR_DRAIN_TIMEOUT), one stop grace from SIGINT to the SIGKILL of the sandbox
# (SUPERVISOR_STOP_GRACE: the runner's step cancellation, the job's finalisation, the Listener's
# session deletion; only one grace runs after a SIGTERM), the wipe, the deregistration
# (SUPERVISOR_DEREGISTER_DEADLINE) and the report.
WIPE_SECONDS, REPORT_SECONDS = 10, 5
GRACE_FORMULA = ("SUPERVISOR_DRAIN_TIMEOUT + SUPERVISOR_STOP_GRACE + 10 (wipe) + "
                 "SUPERVISOR_DEREGISTER_DEADLINE + 5 (report)")


def grace_terms(settings):
    num = lambda k: int(str(settings[k]).strip())
    return (num("SUPERVISOR_DRAIN_TIMEOUT"), num("SUPERVISOR_STOP_GRACE"), WIPE_SECONDS,
            num("SUPERVISOR_DEREGISTER_DEADLINE"), REPORT_SECONDS)


def required_grace(settings):
    return sum(grace_terms(settings))


def check_grace(spec, settings):
    need = required_grace(settings)
    have = spec.get("terminationGracePeriodSeconds", 30)
    if have < need:
        return [f"terminationGracePeriodSeconds {have} < {GRACE_FORMULA} = "
                f"{' + '.join(map(str, grace_terms(settings)))} = {need}"]
    return []


def grace_comments(text):
    """[(line number, terminationGracePeriodSeconds, the comment just above it, joined)] of a
    manifest's source text."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        m = re.match(r"^\s*terminationGracePeriodSeconds:\s*(\d+)\s*(#.*)?$", line)
        if not m:
            continue
        comment = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            comment.insert(0, lines[j].strip().lstrip("#").strip())
            j -= 1
        found.append((i + 1, int(m.group(1)), " ".join(comment)))
    return found


def check_grace_comment(value, comment, settings):
    """The comment above terminationGracePeriodSeconds states the formula and its arithmetic
    with the settings the pod really gets, and the value is their sum."""
    terms = grace_terms(settings)
    want = f"{' + '.join(map(str, terms))} = {sum(terms)}"
    bad = []
    if GRACE_FORMULA not in comment:
        bad.append(f"the comment does not state {GRACE_FORMULA!r}")
    if want not in comment:
        bad.append(f"the comment's arithmetic is not {want!r} (the pod's settings)")
    if value != sum(terms):
        bad.append(f"terminationGracePeriodSeconds {value} != {sum(terms)}")
    return bad


# ---- the Job's reaction to a pod's end ---------------------------------------------------

def simulate_pod_failure_policy(policy, exit_code, conditions=None):
    """The action Kubernetes takes for a failed pod whose runner container exited with
    exit_code and whose conditions ({type: status}) are given: the first matching rule wins,
    no match counts (pkg/controller/job/pod_failure_policy.go). Containers that exited 0 never
    match onExitCodes."""
    conditions = conditions or {}
    for rule in (policy or {}).get("rules", []):
        on = rule.get("onExitCodes")
        if on:
            if on.get("containerName") not in (None, RUNNER_CONTAINER) or exit_code == 0:
                continue
            hit = exit_code in on["values"]
            if (on["operator"] == "In") == hit:
                return rule["action"]
        for c in rule.get("onPodConditions") or []:
            if conditions.get(c["type"]) == c.get("status", "True"):
                return rule["action"]
    return "Count"


def simulate_job(job_spec, pods):
    """Play a Job through pod ends [(exit code, {condition: status})]: "Failed" at the first
    FailJob or when counted failures pass backoffLimit, "Complete" at `completions`
    successes, else "Running". Returns (state, pods consumed)."""
    policy = job_spec.get("podFailurePolicy")
    limit = job_spec.get("backoffLimit", 6)
    completions = job_spec.get("completions", 1)
    failed = succeeded = 0
    for n, (code, conditions) in enumerate(pods, 1):
        if code == 0 and not conditions:
            succeeded += 1
            if succeeded >= completions:
                return "Complete", n
            continue
        action = simulate_pod_failure_policy(policy, code, conditions)
        if action == "FailJob":
            return "Failed", n
        if action == "Count":
            failed += 1
            if failed > limit:
                return "Failed", n
    return "Running", len(pods)


def check_pod_failure_policy(job_spec, exit_codes):
    bad = []
    if job_spec["template"]["spec"].get("restartPolicy") != "Never":
        bad.append("podFailurePolicy needs restartPolicy Never")
    policy = job_spec.get("podFailurePolicy")
    if not policy:
        return bad + ["no podFailurePolicy"]
    if set(EXIT_CLASSES) != set(exit_codes):
        bad.append(f"the supervisor's exit codes {sorted(exit_codes)} differ from the ones the "
                   f"manifests decide about {sorted(EXIT_CLASSES)}")
    known = run_exit_codes(exit_codes) | set(SIGNAL_EXITS)
    for rule in policy.get("rules", []):
        on = rule.get("onExitCodes")
        if on:
            values = on["values"]
            if on.get("containerName") != RUNNER_CONTAINER:
                bad.append(f"rule {rule['action']}: containerName is not {RUNNER_CONTAINER}")
            if values != sorted(set(values)) or len(values) > 255:
                bad.append(f"rule {rule['action']}: values must be ascending, unique, <= 255")
            if on["operator"] == "In" and 0 in values:
                bad.append(f"rule {rule['action']}: 0 is not allowed with In")
            report_only = sorted(c for c in values if exit_class(c) == "report")
            if report_only:
                bad.append(f"rule {rule['action']}: exit codes {report_only} belong to the "
                           "report command, which no pod runs")
            unknown = sorted(set(values) - known - set(report_only))
            if unknown:
                bad.append(f"rule {rule['action']}: exit codes {unknown} are not the supervisor's")
        for c in rule.get("onPodConditions") or []:
            # Required by the OpenAPI schemas of Kubernetes 1.26-1.34 and by KEDA's CRD up to
            # 2.19; the API server would default it, kubeconform and KEDA refuse its absence.
            if c.get("status") != "True":
                bad.append(f"rule {rule['action']}: onPodConditions {c.get('type')} without "
                           "status: \"True\"")
    for code in sorted(known):
        if code == 0 or exit_class(code) is None:
            continue
        got, want = simulate_pod_failure_policy(policy, code), expected_action(code)
        if got != want:
            bad.append(f"exit {code} ({exit_codes.get(code, 'signal ' + str(code - 128))}): "
                       f"{got}, want {want}")
    for code in [0, *sorted(known)]:
        got = simulate_pod_failure_policy(policy, code, {"DisruptionTarget": "True"})
        if got != "Ignore":
            bad.append(f"an evicted or preempted pod (DisruptionTarget) that exited {code}: "
                       f"{got}, want Ignore")
            break
    return bad


def pss_violations(spec, level):
    """Which Pod Security Standard controls of `level` the pod spec violates."""
    bad = []
    if level == "privileged":
        return bad
    # baseline
    bad += [f"{k}" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    bad += [f"hostPath volume {v['name']}" for v in spec.get("volumes", []) if "hostPath" in v]
    psc = spec.get("securityContext") or {}
    bad += [f"sysctl {s['name']}" for s in psc.get("sysctls", []) if s["name"] not in BASELINE_SYSCTLS]
    contexts = [("pod", psc)] + [(c["name"], c.get("securityContext") or {}) for c in containers_of(spec)]
    for who, sc in contexts:
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            bad.append(f"{who}: seccomp Unconfined")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            bad.append(f"{who}: AppArmor Unconfined")
        if (sc.get("seLinuxOptions") or {}).get("type") not in (None, "", "container_t",
                                                               "container_init_t", "container_kvm_t"):
            bad.append(f"{who}: SELinux type")
    for c in containers_of(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            bad.append(f"{c['name']}: privileged")
        extra = set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPS
        if extra:
            bad.append(f"{c['name']}: capabilities {sorted(extra)}")
        if sc.get("procMount", "Default") != "Default":
            bad.append(f"{c['name']}: procMount {sc['procMount']}")
        bad += [f"{c['name']}: hostPort" for p in c.get("ports", []) if p.get("hostPort")]
    if level == "baseline":
        return bad
    # restricted
    bad += [f"volume {v['name']}: type not allowed" for v in spec.get("volumes", [])
            if not (set(v) - {"name"}) <= RESTRICTED_VOLUMES]
    pod_nonroot = psc.get("runAsNonRoot")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    for c in containers_of(spec):
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{c['name']}: allowPrivilegeEscalation not false")
        if sc.get("runAsNonRoot", pod_nonroot) is not True:
            bad.append(f"{c['name']}: runAsNonRoot not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            bad.append(f"{c['name']}: runAsUser 0")
        if (sc.get("seccompProfile") or {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{c['name']}: seccomp not RuntimeDefault or Localhost")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad.append(f"{c['name']}: capabilities not dropping ALL")
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            bad.append(f"{c['name']}: adds {sorted(extra)}")
    return bad


def pss_level(spec):
    """The strictest Pod Security Standard the pod spec satisfies."""
    for level in PSS_LEVELS:
        if not pss_violations(spec, level):
            return level
    return "privileged"


def check_pss_labels(namespace, specs):
    """The namespace enforces a level, and it is the strictest one its runner pods satisfy."""
    labels = namespace.get("metadata", {}).get("labels", {})
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    if enforce not in PSS_LEVELS:
        return [f"namespace {namespace['metadata']['name']}: no pod-security enforce label"]
    bad = []
    for spec in specs:
        level = pss_level(spec)
        if PSS_LEVELS.index(level) > PSS_LEVELS.index(enforce):
            bad.append(f"the pod needs {level} ({'; '.join(pss_violations(spec, enforce))}) "
                       f"but the namespace enforces {enforce}")
        elif level != enforce:
            bad.append(f"the namespace enforces {enforce} but the pod satisfies {level}: "
                       "label the stricter level")
    return bad


def check_settings_known(settings, defaults):
    """Every key of the settings ConfigMap is a setting the supervisor knows."""
    return [f"unknown setting {k}" for k in settings if k not in defaults]


def userns_stripped(spec):
    """The pod spec without what the userns overlay changes (for comparisons)."""
    spec = copy.deepcopy(spec)
    spec.pop("hostUsers", None)
    spec.pop("securityContext", None)
    for c in spec.get("containers", []):
        sc = c.get("securityContext") or {}
        sc.pop("procMount", None)
        sc.pop("allowPrivilegeEscalation", None)
        (sc.get("capabilities") or {}).pop("add", None)
    return spec


# ---- fits a small k3s node ---------------------------------------------------------------

def quantity(q):
    """A Kubernetes quantity as a number (CPU in cores, bytes otherwise)."""
    q = str(q)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", q)
    if not m or (m.group(2) and m.group(2) not in units):
        raise ValueError(f"quantity {q!r}")
    return float(m.group(1)) * units.get(m.group(2), 1)


GiB, MiB = 2**30, 2**20
# The smallest node the defaults must fit: one k3s server that is also the only agent, with 2
# CPUs, 4 GiB of RAM and a 40 GB disk (a small VM). What is left for the runner pods:
# - memory: the kernel keeps about 200 MiB of the 4 GiB out of MemTotal; the kubelet's default
#   hard eviction threshold (memory.available<100Mi) comes off the allocatable; k3s's own pods
#   request 140 MiB (CoreDNS 70Mi, metrics-server 70Mi: k3s's manifests/); and the k3s server
#   process itself (API server, controllers, kubelet, containerd, kine/SQLite in one binary)
#   lives outside any pod and takes about 1 GiB on a node like this: it is not part of what the
#   scheduler sees, but the pods' requests must leave it room, or the node swaps and evicts.
# - CPU: 2 cores, k3s reserves none for itself; its pods request 200m.
# - ephemeral storage: the kubelet's nodefs.available<10% eviction threshold, the images
#   (k3s's own, about 1 GB, and the runner image, about 2 GB unpacked).
SMALL_NODE_CAPACITY = {"cpu": 2.0, "memory": 4 * GiB, "ephemeral-storage": 40e9}
SMALL_NODE = {
    "cpu": 2.0 - 0.2,
    "memory": 4 * GiB - 200 * MiB - 100 * MiB - 140 * MiB - 1 * GiB,
    "ephemeral-storage": 40e9 * 0.9 - 3 * GiB,
}


def pod_requests(spec):
    """{resource: amount} the scheduler reserves for one pod: the sum over its containers
    (init containers run before, one at a time: their maximum counts when larger)."""
    total = {}
    for c in spec.get("containers", []):
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            total[k] = total.get(k, 0) + quantity(v)
    for c in spec.get("initContainers", []):
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            total[k] = max(total.get(k, 0), quantity(v))
    return total


def check_fits(spec, pods, node=SMALL_NODE, capacity=SMALL_NODE_CAPACITY):
    """`pods` copies of the pod fit the node's room, request by request, and no container's
    limit is beyond what the node has at all."""
    bad = []
    req = pod_requests(spec)
    for k, room in node.items():
        if req.get(k, 0) * pods > room:
            bad.append(f"{pods} pods request {req.get(k, 0) * pods:.3g} {k}, the node has "
                       f"{room:.3g}")
    for c in containers_of(spec):
        for k, v in ((c.get("resources") or {}).get("limits") or {}).items():
            if k in capacity and quantity(v) > capacity[k]:
                bad.append(f"container {c['name']}: limit {k} {v} beyond the node")
    return bad


# ---- ARC's chart, as it renders the runner pod ---------------------------------------------

def arc_chart_pod_spec(values):
    """The runner pod spec ARC's gha-runner-scale-set chart renders from `values` in its
    default container mode (no containerMode), as far as githubServerTLS changes it:
    templates/_helpers.tpl ("default-mode-runner-containers", "tls-volume") and
    templates/autoscalingrunnerset.yaml, identical from chart 0.12.0 to 0.14.2. With
    runnerMountPath set, the container named runner gets the CA ConfigMap's key mounted as a
    file at runnerMountPath/key, NODE_EXTRA_CA_CERTS pointing at it and RUNNER_UPDATE_CA_CERTS=1
    (unless the template sets them), and the pod gets the volume."""
    spec = copy.deepcopy(values["template"]["spec"])
    tls = values.get("githubServerTLS") or {}
    mount_dir = tls.get("runnerMountPath")
    if not mount_dir:
        return spec
    key = tls["certificateFrom"]["configMapKeyRef"]["key"]
    path = os.path.normpath(f"{mount_dir}/{key}")
    for c in spec["containers"]:
        if c["name"] != RUNNER_CONTAINER:
            continue
        env = c.setdefault("env", [])
        names = {e["name"] for e in env}
        if "NODE_EXTRA_CA_CERTS" not in names:
            env.append({"name": "NODE_EXTRA_CA_CERTS", "value": path})
        if "RUNNER_UPDATE_CA_CERTS" not in names:
            env.append({"name": "RUNNER_UPDATE_CA_CERTS", "value": "1"})
        mounts = c.setdefault("volumeMounts", [])
        if not any(m["name"] == "github-server-tls-cert" for m in mounts):
            mounts.append({"name": "github-server-tls-cert", "mountPath": path, "subPath": key})
    spec["volumes"] = [{"name": "github-server-tls-cert", "configMap": {
        "name": tls["certificateFrom"]["configMapKeyRef"]["name"],
        "items": [{"key": key, "path": key}]}}] + spec.get("volumes", [])
    return spec


GHES_MARK = re.compile(r"^([ \t]*)# GHES: ", re.M)


def with_ghes_lines(text):
    """values.yaml with its `# GHES: ` lines uncommented (what its comment tells users to do
    for GitHub Enterprise Server with a private CA)."""
    return GHES_MARK.sub(r"\1", text)


def check_ca_reaches_supervisor(spec, settings):
    """With ARC's CA mounted in the runner container, the supervisor's GITHUB_CA_FILE is that
    file."""
    (runner,) = [c for c in spec["containers"] if c["name"] == RUNNER_CONTAINER]
    env = {e["name"]: e.get("value") for e in runner.get("env", [])}
    ca = env.get("NODE_EXTRA_CA_CERTS")
    if not ca:
        return []
    mounted = {m["mountPath"] for m in runner.get("volumeMounts", [])}
    bad = []
    if ca not in mounted:
        bad.append(f"NODE_EXTRA_CA_CERTS {ca} is not a mounted file")
    if settings.get("GITHUB_CA_FILE") != ca:
        bad.append(f"GITHUB_CA_FILE is {settings.get('GITHUB_CA_FILE')!r}, ARC mounts the CA "
                   f"at {ca}: the supervisor would not trust the GHES certificate")
    return bad


# ---- NetworkPolicy -------------------------------------------------------------------------

def ip_blocks(np):
    return [p["ipBlock"] for r in np["spec"].get("egress", []) for p in r.get("to", [])
            if "ipBlock" in p]


def check_ip_family(np, version):
    """Every CIDR of the policy (and of its exceptions) is of one IP version: k3s's
    kube-router has stopped syncing every policy when handed a family it does not run
    (cloudnativelabs/kube-router#1245), and its IPv6 sets broke again in 2024 and 2025
    (k3s-io/k3s#9151, #13272)."""
    import ipaddress
    bad = []
    for b in ip_blocks(np):
        for cidr in [b["cidr"], *b.get("except", [])]:
            if ipaddress.ip_network(cidr).version != version:
                bad.append(f"{np['metadata']['name']}: {cidr} is not IPv{version}")
    return bad
