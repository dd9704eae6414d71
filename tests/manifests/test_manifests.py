"""k8s-manifests/: every overlay renders, validates against the Kubernetes schemas of the
oldest and the newest Kubernetes line tested and against KEDA's CRD constraints of every
supported release, with no unknown field, and keeps the policies its README promises."""

import copy
import json
import re

import pytest
import yaml

import k8scheck as k
import keda_crds
from k8scheck import OVERLAYS

KUSTOMIZE_OVERLAYS = ["job", "deployment", "keda", "arc", "userns"]
WORKLOAD_OVERLAYS = ["job", "deployment", "keda", "userns"]
JOB_OVERLAYS = ["job", "keda", "userns"]
K8S_LINES = sorted(k.K8S_LINES)
EXPECTED_PSS = {"job": "baseline", "deployment": "baseline", "keda": "baseline",
                "arc": "baseline", "userns": "privileged"}


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def rendered():
    return {o: k.render(o) for o in KUSTOMIZE_OVERLAYS}


@pytest.fixture(scope="session")
def validator():
    return k.ensure_validator()


@pytest.fixture(scope="session")
def tables():
    return k.supervisor_tables()


@pytest.fixture(scope="session")
def arc_values():
    (values,) = k.load_yaml(k.MANIFESTS / "arc" / "values.yaml")
    return values


def ghes_values():
    """arc/values.yaml with its `# GHES: ` lines uncommented, as its comment tells GHES users."""
    text = (k.MANIFESTS / "arc" / "values.yaml").read_text()
    assert k.GHES_MARK.search(text), "arc/values.yaml has no GHES lines"
    (values,) = [d for d in yaml.safe_load_all(k.with_ghes_lines(text)) if d]
    return values


@pytest.fixture(scope="session")
def base_template():
    (doc,) = k.load_yaml(k.MANIFESTS / "base" / "pod-template.yaml")
    return doc["template"]


def pods_of(overlay, rendered, arc_values):
    """[(where, pod template)] the overlay runs."""
    if overlay == "arc":
        return [("arc/values.yaml template", arc_values["template"])]
    return [(k.obj_id(d), k.pod_template_of(d)) for d in rendered[overlay]
            if d.get("kind") in k.WORKLOAD_KINDS]


def settings_maps(docs):
    return {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}


def effective(overlay, rendered, spec, tables):
    return k.effective_settings(settings_maps(rendered[overlay]), spec, tables[1])


# ---- rendering and schemas -----------------------------------------------------------------

@pytest.mark.parametrize("overlay", KUSTOMIZE_OVERLAYS)
def test_overlay_renders_with_a_workload_and_the_shared_objects(overlay, rendered):
    kinds = {d["kind"] for d in rendered[overlay]}
    assert {"Namespace", "ServiceAccount", "ConfigMap", "NetworkPolicy"} <= kinds
    workloads = kinds & k.WORKLOAD_KINDS
    assert len(workloads) == (0 if overlay == "arc" else 1), workloads
    assert "Secret" not in kinds, "apply -k must never overwrite the user's real Secret"


def schema_items(docs):
    """Every object, plus the Job spec inside a ScaledJob, which KEDA hands to Kubernetes as a
    batch/v1 JobSpec (KEDA's own schema package knows only the newest Kubernetes)."""
    items = [{"id": k.obj_id(d), "doc": d} for d in docs]
    items += [{"id": k.obj_id(d) + " jobTargetRef", "doc": d["spec"]["jobTargetRef"],
               "schema": "IoK8sApiBatchV1JobSpec"} for d in docs if d["kind"] == "ScaledJob"]
    return items


@pytest.mark.parametrize("line", K8S_LINES)
@pytest.mark.parametrize("overlay", KUSTOMIZE_OVERLAYS)
def test_every_rendered_object_validates_with_no_unknown_field(overlay, line, rendered,
                                                               validator):
    items = schema_items(rendered[overlay])
    results = k.validate(items, validator, line)
    for item in items:
        r = results[item["id"]]
        assert r["errors"] == [], f"{overlay} {item['id']} ({r['schema']}): {r['errors']}"
        assert r["unknown"] == [], f"{overlay} {item['id']}: fields the schema does not know"


@pytest.mark.parametrize("line", K8S_LINES)
def test_secret_examples_ipv6_policy_and_arc_pods_validate(line, validator, arc_values):
    items = [{"id": p.name, "doc": d}
             for p in sorted((k.MANIFESTS / "base").glob("*.yaml"))
             if p.name.endswith(".example.yaml") or p.name == "networkpolicy-ipv6.yaml"
             for d in k.load_yaml(p)]
    assert len(items) == 3
    items.append({"id": "arc-template", "doc": arc_values["template"],
                  "schema": "IoK8sApiCoreV1PodTemplateSpec"})
    ghes = ghes_values()
    items.append({"id": "arc-ghes-pod", "doc": k.arc_chart_pod_spec(ghes),
                  "schema": "IoK8sApiCoreV1PodSpec"})
    items.append({"id": "base-pod-template",
                  "doc": k.load_yaml(k.MANIFESTS / "base" / "pod-template.yaml")[0]})
    for item_id, r in k.validate(items, validator, line).items():
        assert r["errors"] == [] and r["unknown"] == [], (item_id, r)


def test_the_oldest_line_catches_what_the_newest_forgives(validator, rendered):
    """Kubernetes 1.26-1.34 require status in onPodConditions (1.35 defaults it): a Job
    without it passes the newest schema and must fail the oldest."""
    (job,) = k.find(rendered["job"], "Job")
    job = copy.deepcopy(job)
    for rule in job["spec"]["podFailurePolicy"]["rules"]:
        for c in rule.get("onPodConditions") or []:
            c.pop("status")
    oldest = k.validate([{"id": "j", "doc": job}], validator, k.OLDEST_K8S)["j"]
    newest = k.validate([{"id": "j", "doc": job}], validator, k.NEWEST_K8S)["j"]
    assert any(e["message"].startswith("required") and "status" in e["message"]
               for e in oldest["errors"]), oldest
    assert newest["errors"] == []


def test_the_lines_are_the_installed_packages():
    deps = json.loads((k.HERE / "package.json").read_text())["dependencies"]
    lock = json.loads((k.HERE / "package-lock.json").read_text())["packages"]
    for line, (package, version) in k.K8S_LINES.items():
        want = version if package == "kubernetes-models" else f"npm:kubernetes-models@{version}"
        assert deps[package] == want, (line, deps)
        assert lock[f"node_modules/{package}"]["version"] == version, line
    assert {k.OLDEST_K8S, k.NEWEST_K8S} == set(k.K8S_LINES)
    readme = (k.MANIFESTS / "README.md").read_text()
    for line, (package, version) in k.K8S_LINES.items():
        assert f"kubernetes-models {version}" in readme and f"Kubernetes {line}" in readme, line


def test_validator_reports_schema_errors_and_unknown_fields(validator, rendered):
    (job,) = k.find(rendered["job"], "Job")
    wrong_type = copy.deepcopy(job)
    wrong_type["spec"]["parallelism"] = "four"
    typo = copy.deepcopy(job)
    typo["spec"]["template"]["spec"]["hostUser"] = False
    typo["spec"]["template"]["spec"]["containers"][0]["securityContext"]["procmount"] = "Unmasked"
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Nothing", "metadata": {"name": "x"}}
    r = k.validate([{"id": "type", "doc": wrong_type}, {"id": "typo", "doc": typo},
                    {"id": "kind", "doc": unknown_kind}], validator, k.OLDEST_K8S)
    assert any(e["path"] == "/spec/parallelism" for e in r["type"]["errors"])
    assert r["typo"]["errors"] == []
    assert set(r["typo"]["unknown"]) == {
        "/spec/template/spec/hostUser",
        "/spec/template/spec/containers/0/securityContext/procmount"}
    assert r["kind"]["errors"] and "no schema" in r["kind"]["errors"][0]["message"]


def test_arc_values_are_the_charts_and_share_the_secret(arc_values):
    assert set(arc_values) <= k.ARC_VALUES_KEYS, set(arc_values) - k.ARC_VALUES_KEYS
    assert "containerMode" not in arc_values, "containerMode replaces the runner template"
    assert arc_values["githubConfigSecret"] == k.CREDENTIALS_SECRET
    assert arc_values["githubConfigUrl"].startswith("https://")


# ---- the one pod template ------------------------------------------------------------------

@pytest.mark.parametrize("overlay", ["job", "deployment", "keda", "arc", "userns"])
def test_every_overlay_embeds_the_base_pod_template(overlay, rendered, arc_values, base_template):
    ((where, tpl),) = pods_of(overlay, rendered, arc_values)
    want = copy.deepcopy(base_template)
    got = copy.deepcopy(tpl)
    if overlay == "deployment":
        assert got["spec"].pop("restartPolicy") == "Always"
        want["spec"].pop("restartPolicy")
    if overlay == "userns":
        got["spec"], want["spec"] = k.userns_stripped(got["spec"]), k.userns_stripped(want["spec"])
    assert got == want, f"{where} differs from base/pod-template.yaml"


# ---- policies ------------------------------------------------------------------------------

POD_CHECKS = [k.check_no_privileged, k.check_no_host_access, k.check_secrets_as_files,
              k.check_images_pinned, k.check_resources, k.check_supervisor_is_pid1,
              k.check_api_rules]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("check", POD_CHECKS, ids=lambda c: c.__name__)
def test_pod_policy(overlay, check, rendered, arc_values):
    for where, tpl in pods_of(overlay, rendered, arc_values):
        assert check(tpl["spec"]) == [], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_service_account_token(overlay, rendered, arc_values):
    sas = {d["metadata"]["name"]: d for d in rendered[overlay] if d["kind"] == "ServiceAccount"}
    for where, tpl in pods_of(overlay, rendered, arc_values):
        assert k.check_no_sa_token(tpl["spec"], sas) == [], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_are_the_secret_mounted_where_the_settings_point(overlay, rendered,
                                                                      arc_values, tables):
    for where, tpl in pods_of(overlay, rendered, arc_values):
        spec = tpl["spec"]
        vols = {v["name"]: v for v in spec["volumes"] if "secret" in v}
        assert [v["secret"]["secretName"] for v in vols.values()] == [k.CREDENTIALS_SECRET]
        (runner,) = [c for c in spec["containers"] if c["name"] == k.RUNNER_CONTAINER]
        mounts = [m for m in runner["volumeMounts"] if m["name"] in vols]
        assert [m["mountPath"] for m in mounts] == [k.CREDENTIALS_DIR]
        settings = effective("job" if overlay == "arc" else overlay, rendered, spec, tables)
        for key in ("GITHUB_TOKEN_FILE", "GITHUB_APP_PRIVATE_KEY_FILE"):
            if settings.get(key) not in (None, "-"):
                assert settings[key].startswith(k.CREDENTIALS_DIR + "/"), (where, key)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_drain_stop_and_deregistration(overlay, rendered, arc_values, tables):
    for where, tpl in pods_of(overlay, rendered, arc_values):
        settings = effective("job" if overlay == "arc" else overlay, rendered, tpl["spec"], tables)
        assert k.check_grace(tpl["spec"], settings) == [], where
        assert tpl["spec"]["terminationGracePeriodSeconds"] == k.required_grace(settings), where


# Every source file that sets terminationGracePeriodSeconds, and the overlay whose settings its
# pod gets (arc: the base ConfigMap, as the job overlay renders it).
GRACE_SOURCES = {"base/pod-template.yaml": "job", "job/job.yaml": "job",
                 "deployment/deployment.yaml": "deployment", "keda/scaledjob.yaml": "keda",
                 "arc/values.yaml": "job"}


def test_every_grace_period_is_in_the_checked_files():
    found = {str(p.relative_to(k.MANIFESTS)) for p in k.MANIFESTS.rglob("*.yaml")
             if k.grace_comments(p.read_text())}
    assert found == set(GRACE_SOURCES)


@pytest.mark.parametrize("path", sorted(GRACE_SOURCES))
def test_grace_comment_states_the_arithmetic_of_the_pods_settings(path, rendered, tables,
                                                                   base_template):
    overlay = GRACE_SOURCES[path]
    settings = effective(overlay, rendered, base_template["spec"], tables)
    ((line, value, comment),) = k.grace_comments((k.MANIFESTS / path).read_text())
    assert k.check_grace_comment(value, comment, settings) == [], f"{path}:{line}"


def test_grace_follows_the_configmap(rendered, tables, base_template):
    """DRAIN 0 + STOP_GRACE 55 + 10 + DEREGISTER 30 + 5 = 100 with the shipped settings, and
    a changed setting is caught."""
    settings = effective("job", rendered, base_template["spec"], tables)
    assert (settings["SUPERVISOR_STOP_GRACE"], settings["SUPERVISOR_DEREGISTER_DEADLINE"],
            settings["SUPERVISOR_DRAIN_TIMEOUT"]) == ("55", "30", "0")
    assert k.required_grace(settings) == 100
    ((_, value, comment),) = k.grace_comments(
        (k.MANIFESTS / "base" / "pod-template.yaml").read_text())
    assert k.check_grace_comment(value, comment, dict(settings, SUPERVISOR_STOP_GRACE="25")) != []
    assert k.check_grace_comment(110, comment, settings) != []
    assert k.check_grace_comment(value, comment.replace("+ 5 (report)", ""), settings) != []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_summary_goes_to_the_termination_message(overlay, rendered, arc_values, tables):
    for where, tpl in pods_of(overlay, rendered, arc_values):
        settings = effective("job" if overlay == "arc" else overlay, rendered, tpl["spec"], tables)
        assert k.check_termination_message(tpl["spec"], settings) == [], where


@pytest.mark.parametrize("overlay", KUSTOMIZE_OVERLAYS)
def test_settings_are_the_supervisors(overlay, rendered, tables):
    for name, data in settings_maps(rendered[overlay]).items():
        assert k.check_settings_known(data, tables[1]) == [], name


def job_spec(overlay, rendered):
    (workload,) = [d for d in rendered[overlay] if d["kind"] in ("Job", "ScaledJob")]
    return k.job_spec_of(workload)


@pytest.mark.parametrize("overlay", JOB_OVERLAYS)
def test_pod_failure_policy_follows_the_exit_codes(overlay, rendered, tables):
    assert k.check_pod_failure_policy(job_spec(overlay, rendered), tables[0]) == []


def test_every_exit_code_is_classified_by_who_can_cause_it(tables):
    codes, _, source = tables
    assert set(codes) == set(k.EXIT_CLASSES), f"{source}: {sorted(codes)}"
    assert {c for c, cls in k.EXIT_CLASSES.items() if cls == "job"} == {0, 74, 75}
    assert {c for c, cls in k.EXIT_CLASSES.items() if cls in ("config", "outdated")} == {
        7, 64, 71, 76, 77, 78}
    assert "ARC" in codes[7], "7 is documented as ARC mode only"
    report_only = {c for c, cls in k.EXIT_CLASSES.items() if cls == "report"}
    assert report_only == {65, 66}
    for c in report_only:
        assert codes[c].startswith("report:"), f"{source}: {c} is documented as report's only"


def test_a_rule_on_an_exit_code_only_the_report_command_has_is_flagged(rendered, tables):
    """65 and 66 end `runner-supervisor report`, never a pod: a rule naming one is a mistake."""
    spec = copy.deepcopy(job_spec("job", rendered))
    rule = {"action": "FailJob", "onExitCodes": {
        "containerName": k.RUNNER_CONTAINER, "operator": "In", "values": [65]}}
    spec["podFailurePolicy"]["rules"].insert(0, rule)
    bad = k.check_pod_failure_policy(spec, tables[0])
    assert any("belong to the report command" in b for b in bad), bad


# What a job can make its pod exit with: its own end (0), a wipe it defeats (74), a retryable
# end it provokes or a rate limit its traffic shares (75), an OOM kill of the container or the
# kubelet's kill after the grace period (137), and any other signal death it might provoke.
JOB_CAUSED = [0, 74, 75, *k.SIGNAL_EXITS]


@pytest.mark.parametrize("overlay", JOB_OVERLAYS)
def test_no_fail_job_rule_fires_on_what_a_job_can_cause(overlay, rendered):
    policy = job_spec(overlay, rendered)["podFailurePolicy"]
    for code in JOB_CAUSED:
        for conditions in ({}, {"DisruptionTarget": "True"}):
            assert k.simulate_pod_failure_policy(policy, code, conditions) != "FailJob", code


@pytest.mark.parametrize("overlay", JOB_OVERLAYS)
def test_malicious_jobs_cannot_stop_the_fleet(overlay, rendered):
    """Thousands of pods, each ended by a hostile job in every way a job can choose: the Job
    never fails (none of it counts against backoffLimit)."""
    spec = dict(job_spec(overlay, rendered), completions=10**6)
    hostile = [(code, {}) for code in JOB_CAUSED if code] * 100
    hostile += [(0, {"DisruptionTarget": "True"})] * 100   # evicted: over ephemeral-storage
    assert k.simulate_job(spec, hostile) == ("Running", len(hostile))


@pytest.mark.parametrize("overlay", JOB_OVERLAYS)
@pytest.mark.parametrize("code", [7, 64, 71, 76, 77, 78])
def test_wrong_credentials_configuration_or_image_stop_the_fleet_at_once(overlay, code, rendered):
    spec = dict(job_spec(overlay, rendered), completions=10**6)
    assert k.simulate_job(spec, [(code, {})] * 5) == ("Failed", 1)


@pytest.mark.parametrize("overlay", JOB_OVERLAYS)
def test_outages_are_retried_and_bugs_are_bounded(overlay, rendered):
    spec = dict(job_spec(overlay, rendered), completions=10**6)
    assert k.simulate_job(spec, [(69, {})] * 1000) == ("Running", 1000)
    limit = spec["backoffLimit"]
    assert 1 < limit <= 10, "a few supervisor bugs are retried; a broken one stops soon"
    assert k.simulate_job(spec, [(70, {})] * 100) == ("Failed", limit + 1)


def test_fleet_simulation_catches_a_policy_that_counts_job_failures(rendered):
    """The old policy (74 and OOM kills counted, backoffLimit 50) lets 51 hostile jobs stop
    the fleet; the simulation must say so."""
    spec = copy.deepcopy(job_spec("job", rendered))
    spec.update(backoffLimit=50, completions=10**6)
    rules = spec["podFailurePolicy"]["rules"]
    rules[2]["onExitCodes"]["values"] = [69, 75]
    assert k.simulate_job(spec, [(74, {})] * 100) == ("Failed", 51)
    assert k.simulate_job(spec, [(137, {})] * 100) == ("Failed", 51)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_enforces_the_level_its_pods_satisfy(overlay, rendered, arc_values):
    (ns,) = k.find(rendered[overlay], "Namespace")
    specs = [tpl["spec"] for _, tpl in pods_of(overlay, rendered, arc_values)]
    assert k.check_pss_labels(ns, specs) == []
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == EXPECTED_PSS[overlay]


@pytest.mark.parametrize("overlay", KUSTOMIZE_OVERLAYS)
def test_network_policy_selects_the_runner_pods_and_allows_only_dns_and_https(overlay, rendered,
                                                                              arc_values):
    (np,) = k.find(rendered[overlay], "NetworkPolicy")
    sel = np["spec"]["podSelector"]["matchLabels"]
    for where, tpl in pods_of(overlay, rendered, arc_values):
        assert sel.items() <= tpl["metadata"]["labels"].items(), where
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert not np["spec"].get("ingress")
    ports = {(p["protocol"], p["port"]) for r in np["spec"]["egress"] for p in r["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 443)}


def test_keda_trigger_matches_the_runners_labels_and_scope(rendered):
    (sj,) = k.find(rendered["keda"], "ScaledJob")
    (trigger,) = sj["spec"]["triggers"]
    assert trigger["type"] == "github-runner"
    settings = settings_maps(rendered["keda"])[k.SETTINGS_CONFIGMAP]
    labels = lambda s: {x.strip() for x in s.split(",") if x.strip()}
    assert labels(trigger["metadata"]["labels"]) == labels(settings["RUNNER_LABELS"])
    owner = settings["GITHUB_URL"].rstrip("/").split("/")[3]
    assert trigger["metadata"]["owner"] == owner
    assert trigger["metadata"]["runnerScope"] == "org"
    (ta,) = k.find(rendered["keda"], "TriggerAuthentication",
                   trigger["authenticationRef"]["name"])
    assert {r["name"] for r in ta["spec"]["secretTargetRef"]} == {k.CREDENTIALS_SECRET}


# ---- KEDA, release by release ----------------------------------------------------------

@pytest.mark.parametrize("release", keda_crds.RELEASES)
def test_keda_accepts_the_scaledjob_and_triggerauthentication(release, rendered):
    for kind in ("ScaledJob", "TriggerAuthentication"):
        (doc,) = k.find(rendered["keda"], kind)
        assert keda_crds.check(doc, release) == [], kind


@pytest.mark.parametrize("release", keda_crds.RELEASES)
def test_keda_accepts_the_github_app_variant(release, rendered):
    """The App variant docs/deploy.md patches in: appKey, applicationID, installationID."""
    (sj,) = k.find(rendered["keda"], "ScaledJob")
    (ta,) = k.find(rendered["keda"], "TriggerAuthentication")
    sj, ta = copy.deepcopy(sj), copy.deepcopy(ta)
    sj["spec"]["triggers"][0]["metadata"].update(applicationID="123456", installationID="7654321")
    ta["spec"]["secretTargetRef"][0] = {"parameter": "appKey", "name": k.CREDENTIALS_SECRET,
                                        "key": "github_app_private_key"}
    assert keda_crds.check(sj, release) == [] and keda_crds.check(ta, release) == []


def test_scaledjob_rolls_out_gradually(rendered):
    """Unset (or immediate), every change of the ScaledJob deletes the running Jobs."""
    (sj,) = k.find(rendered["keda"], "ScaledJob")
    assert sj["spec"].get("rollout", {}).get("strategy") == "gradual"
    assert "rolloutStrategy" not in sj["spec"], "deprecated since KEDA 2.10"


@pytest.mark.parametrize("spoil, fails_in", [
    ("no status", "2.12.0"), ("strategy default", "2.20.0"), ("rollout typo", "2.20.2"),
    ("unknown field", "2.12.0"), ("number in metadata", "2.12.0"), ("no secret key", "2.12.0"),
])
def test_keda_facts_reject_the_defects(spoil, fails_in, rendered):
    (sj,) = k.find(rendered["keda"], "ScaledJob")
    (ta,) = k.find(rendered["keda"], "TriggerAuthentication")
    sj, ta = copy.deepcopy(sj), copy.deepcopy(ta)
    if spoil == "no status":
        sj["spec"]["jobTargetRef"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0].pop(
            "status")
    elif spoil == "strategy default":
        sj["spec"]["scalingStrategy"] = {"strategy": "default"}
    elif spoil == "rollout typo":
        sj["spec"]["rollout"]["strategy"] = "Gradual"
    elif spoil == "unknown field":
        sj["spec"]["rollouts"] = {"strategy": "gradual"}
    elif spoil == "number in metadata":
        sj["spec"]["triggers"][0]["metadata"]["targetWorkflowQueueLength"] = 1
    else:
        ta["spec"]["secretTargetRef"][0].pop("key")
    assert keda_crds.check(sj, fails_in) + keda_crds.check(ta, fails_in) != []
    if spoil == "no status":
        assert keda_crds.check(sj, "2.20.0") == [], "optional from 2.20.0"
    if spoil == "strategy default":
        assert keda_crds.check(sj, "2.19.0") == [] and keda_crds.check(sj, "2.20.2") == []


def test_keda_facts_cover_every_release_once():
    releases = keda_crds.RELEASES
    assert releases[0] == "2.12.0" and releases == sorted(releases, key=keda_crds._release_key)
    for kind, path, constraint, first, last, _ in keda_crds.FACTS:
        assert first in releases and last in releases, (kind, path)
        assert keda_crds._release_key(first) <= keda_crds._release_key(last)
    for release in releases:
        rows = [(f[0], f[1], f[2]) for f in keda_crds.FACTS
                if keda_crds._release_key(f[3]) <= keda_crds._release_key(release)
                <= keda_crds._release_key(f[4])]
        assert len(rows) == len(set(rows)), f"two rows for one constraint at {release}"


def readme_keda_rows():
    text = (k.MANIFESTS / "README.md").read_text()
    part = text.split("### KEDA's CRDs, release by release", 1)[1].split("\n#", 1)[0]
    rows = []
    for m in re.finditer(r"^\| (ScaledJob|TriggerAuthentication) \| (?:`([^`]*)`|\(root\)) \| "
                         r"(\w+) \| ([\d.]+)(?: - ([\d.]+))? \| `([^`]*)` \| `([^`]*)` \|$",
                         part, re.M):
        kind, path, constraint, first, last, value, source = m.groups()
        assert source == keda_crds.SOURCES[kind].rsplit("/", 1)[1], m.group(0)
        value = value if constraint == "type" else [v.strip() for v in value.split(",")]
        rows.append((kind, path or "", constraint, first, last or first, value))
    return rows


def test_readme_keda_table_is_the_facts():
    facts = [(kind, path, c, first, last, sorted(v) if c != "type" else v)
             for kind, path, c, first, last, v in keda_crds.FACTS]
    rows = [(kind, path, c, first, last, sorted(v) if c != "type" else v)
            for kind, path, c, first, last, v in readme_keda_rows()]
    assert rows == facts


# ---- sizing --------------------------------------------------------------------------------

def fleet_size(overlay, rendered, arc_values):
    if overlay == "arc":
        return arc_values["maxRunners"]
    (w,) = [d for d in rendered[overlay] if d["kind"] in k.WORKLOAD_KINDS]
    return {"Job": lambda: w["spec"]["parallelism"],
            "Deployment": lambda: w["spec"]["replicas"],
            "ScaledJob": lambda: w["spec"]["maxReplicaCount"]}[w["kind"]]()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_fleet_fits_a_small_k3s_node(overlay, rendered, arc_values):
    pods = fleet_size(overlay, rendered, arc_values)
    assert pods >= 2
    for where, tpl in pods_of(overlay, rendered, arc_values):
        assert k.check_fits(tpl["spec"], pods) == [], where


def test_fit_checker_rejects_the_old_requests(good_pod):
    assert k.check_fits(good_pod, 4) == []
    good_pod["containers"][0]["resources"]["requests"].update(cpu="1", memory="2Gi")
    assert k.check_fits(good_pod, 4) != []
    assert k.check_fits(good_pod, 1) == []
    good_pod["containers"][0]["resources"]["limits"]["memory"] = "8Gi"
    assert k.check_fits(good_pod, 1) != []


def test_quantities():
    assert k.quantity("250m") == 0.25 and k.quantity("2") == 2
    assert k.quantity("512Mi") == 512 * 2**20 and k.quantity("1G") == 1e9
    with pytest.raises(ValueError):
        k.quantity("1 Gi")


# ---- ARC -----------------------------------------------------------------------------------

def test_arc_ghes_ca_reaches_the_supervisor(rendered, tables):
    values = ghes_values()
    assert values["githubServerTLS"]["runnerMountPath"]
    spec = k.arc_chart_pod_spec(values)
    settings = effective("job", rendered, spec, tables)
    assert k.check_ca_reaches_supervisor(spec, settings) == []
    assert settings["GITHUB_CA_FILE"].startswith(values["githubServerTLS"]["runnerMountPath"])
    for check in POD_CHECKS:
        assert check(spec) == [], check.__name__


def test_ca_checker_rejects_a_supervisor_without_the_ca(rendered, tables, arc_values):
    values = ghes_values()
    values["template"] = copy.deepcopy(arc_values["template"])   # no GITHUB_CA_FILE
    spec = k.arc_chart_pod_spec(values)
    assert k.check_ca_reaches_supervisor(spec, effective("job", rendered, spec, tables)) != []
    assert k.arc_chart_pod_spec(arc_values) == arc_values["template"]["spec"]


# ---- Secrets -------------------------------------------------------------------------------

# Where the project tells people how to create the credentials Secret.
RECIPE_FILES = ["docs/deploy.md", "k8s-manifests/README.md",
                "k8s-manifests/base/secret-pat.example.yaml",
                "k8s-manifests/base/secret-app.example.yaml", "k8s-manifests/arc/values.yaml",
                "k8s-manifests/keda/triggerauthentication.yaml"]
# A token or an id written with a newline, or an id read from a file (whose last line ends
# with one): ARC and KEDA before 2.18 put the value into headers untrimmed.
NEWLINE_RECIPES = [re.compile(r"printf '%s\\n'"), re.compile(r"\becho\b[^\n|]*>"),
                   re.compile(r"--from-file=github_app(_installation)?_id=")]


@pytest.mark.parametrize("path", RECIPE_FILES)
def test_secret_recipes_write_no_trailing_newline(path):
    text = (k.REPO / path).read_text()
    for pattern in NEWLINE_RECIPES:
        assert not pattern.search(text), f"{path}: {pattern.pattern}"
    for m in re.finditer(r"--from-file=github_token=([\w./-]*\w)", text):
        made = re.search(r"printf '%s' [^\n]*> *" + re.escape(m.group(1).lstrip("./")), text)
        assert made, f"{path}: {m.group(0)} from a file not written with printf '%s'"


# ---- NetworkPolicy -------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", KUSTOMIZE_OVERLAYS)
def test_network_policy_is_ipv4_with_dns_to_kube_dns(overlay, rendered):
    (np,) = k.find(rendered[overlay], "NetworkPolicy")
    assert k.check_ip_family(np, 4) == []
    (dns,) = [r for r in np["spec"]["egress"] if {p["port"] for p in r["ports"]} == {53}]
    (peer,) = dns["to"]
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"}


def test_ipv6_variant_adds_only_https_to_public_ipv6(rendered, arc_values):
    (np,) = k.load_yaml(k.MANIFESTS / "base" / "networkpolicy-ipv6.yaml")
    assert k.check_ip_family(np, 6) == []
    assert np["spec"]["policyTypes"] == ["Egress"]
    ports = {(p["protocol"], p["port"]) for r in np["spec"]["egress"] for p in r["ports"]}
    assert ports == {("TCP", 443)}
    (block,) = k.ip_blocks(np)
    assert block["cidr"] == "::/0" and {"fc00::/7", "fe80::/10", "::ffff:0:0/96"} <= set(
        block["except"])
    for where, tpl in pods_of("job", rendered, arc_values):
        assert np["spec"]["podSelector"]["matchLabels"].items() <= tpl["metadata"][
            "labels"].items(), where
    base = (k.MANIFESTS / "base" / "kustomization.yaml").read_text()
    assert "networkpolicy-ipv6.yaml" not in base, "opt-in only"


def test_ip_family_checker_rejects_a_mixed_policy(rendered):
    (np,) = k.find(rendered["job"], "NetworkPolicy")
    mixed = copy.deepcopy(np)
    mixed["spec"]["egress"][1]["to"].append({"ipBlock": {"cidr": "::/0"}})
    assert k.check_ip_family(mixed, 4) != []


def test_userns_overlay_asks_for_every_sandbox_layer(rendered):
    (job,) = k.find(rendered["userns"], "Job")
    spec = job["spec"]["template"]["spec"]
    (runner,) = spec["containers"]
    assert spec["hostUsers"] is False
    assert spec["securityContext"]["seccompProfile"]["type"] == "Unconfined"
    assert runner["securityContext"]["procMount"] == "Unmasked"
    assert {"SYS_ADMIN", "SETUID", "SETGID", "SETPCAP"} <= set(
        runner["securityContext"]["capabilities"]["add"])
    assert settings_maps(rendered["userns"])[k.SETTINGS_CONFIGMAP]["SUPERVISOR_SANDBOX"] == "strict"


def test_exit_code_sources_agree(tables):
    from_readme = k.exit_codes_from_readme()
    assert set(tables[0]) == set(from_readme), f"{tables[2]} and README.md disagree"
    assert 0 in from_readme and len(from_readme) >= 10


# ---- every checker rejects a bad object ----------------------------------------------------

@pytest.fixture
def good_pod(base_template):
    return copy.deepcopy(base_template["spec"])


def runner_of(spec):
    return spec["containers"][0]


BAD_PODS = {
    "privileged": (k.check_no_privileged,
                   lambda s: runner_of(s)["securityContext"].update(privileged=True)),
    "hostPath": (k.check_no_host_access,
                 lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
    "hostNetwork": (k.check_no_host_access, lambda s: s.update(hostNetwork=True)),
    "hostPID": (k.check_no_host_access, lambda s: s.update(hostPID=True)),
    "secretKeyRef": (k.check_secrets_as_files, lambda s: runner_of(s).setdefault("env", []).append(
        {"name": "T", "valueFrom": {"secretKeyRef": {"name": "x", "key": "t"}}})),
    "envFrom secret": (k.check_secrets_as_files,
                       lambda s: runner_of(s)["envFrom"].append({"secretRef": {"name": "x"}})),
    "secret mode 0644": (k.check_secrets_as_files,
                         lambda s: s["volumes"][0]["secret"].update(defaultMode=0o644)),
    "secret writable": (k.check_secrets_as_files,
                        lambda s: runner_of(s)["volumeMounts"][0].update(readOnly=False)),
    "latest": (k.check_images_pinned, lambda s: runner_of(s).update(image="example.com/r:latest")),
    "untagged": (k.check_images_pinned, lambda s: runner_of(s).update(image="example.com:5000/r")),
    "no limits": (k.check_resources, lambda s: runner_of(s)["resources"].pop("limits")),
    "run.sh": (k.check_supervisor_is_pid1,
               lambda s: runner_of(s).update(command=["/home/runner/run.sh"])),
    "NNP with SYS_ADMIN": (k.check_api_rules, lambda s: runner_of(s)["securityContext"][
        "capabilities"]["add"].append("SYS_ADMIN")),
    "Unmasked without userns": (k.check_api_rules, lambda s: runner_of(s)["securityContext"].update(
        procMount="Unmasked")),
}


@pytest.mark.parametrize("case", BAD_PODS)
def test_checker_rejects_a_bad_pod(case, good_pod):
    check, spoil = BAD_PODS[case]
    assert check(good_pod) == []
    spoil(good_pod)
    assert check(good_pod) != []


def test_sa_token_checker_rejects_a_mounted_token(good_pod):
    sas = {"runner-supervisor": {"automountServiceAccountToken": False}}
    assert k.check_no_sa_token(good_pod, sas) == []
    assert k.check_no_sa_token(good_pod, {"runner-supervisor": {}}) != []
    good_pod["automountServiceAccountToken"] = True
    assert k.check_no_sa_token(good_pod, sas) != []


def test_grace_checker_rejects_a_short_grace(good_pod, tables):
    settings = dict(tables[1], SUPERVISOR_DRAIN_TIMEOUT="0", SUPERVISOR_STOP_GRACE="55",
                    SUPERVISOR_DEREGISTER_DEADLINE="30")
    assert k.check_grace(good_pod, settings) == []
    assert k.check_grace(good_pod, dict(settings, SUPERVISOR_STOP_GRACE="56")) != []
    assert k.check_grace(good_pod, dict(settings, SUPERVISOR_DRAIN_TIMEOUT="600")) != []
    good_pod["terminationGracePeriodSeconds"] = 90
    assert k.check_grace(good_pod, settings) != []


def test_termination_checker_rejects_a_mismatch(good_pod):
    ok = {"SUPERVISOR_TERMINATION_LOG": "/dev/termination-log"}
    assert k.check_termination_message(good_pod, ok) == []
    assert k.check_termination_message(good_pod, {"SUPERVISOR_TERMINATION_LOG": "/tmp/x"}) != []
    runner_of(good_pod)["terminationMessagePolicy"] = "File"
    assert k.check_termination_message(good_pod, ok) != []


def test_settings_checker_rejects_a_misspelt_setting(tables):
    assert k.check_settings_known({"SUPERVISOR_STOP_GRACE": "25"}, tables[1]) == []
    assert k.check_settings_known({"SUPERVISOR_STOPGRACE": "25"}, tables[1]) != []


@pytest.mark.parametrize("spoil", ["77 ignored", "75 counted", "74 counted", "137 counted",
                                   "stale code", "no disruption rule", "disruption last",
                                   "no status", "unsorted", "other container",
                                   "restart OnFailure"])
def test_pod_failure_policy_checker_rejects_a_wrong_policy(spoil, rendered, tables):
    (job,) = k.find(rendered["job"], "Job")
    spec = copy.deepcopy(job["spec"])
    assert k.check_pod_failure_policy(spec, tables[0]) == []
    rules = spec["podFailurePolicy"]["rules"]
    disruption, fail, ignore = rules
    if spoil == "77 ignored":
        fail["onExitCodes"]["values"].remove(77)
        ignore["onExitCodes"]["values"] = sorted(ignore["onExitCodes"]["values"] + [77])
    elif spoil in ("75 counted", "74 counted", "137 counted"):
        ignore["onExitCodes"]["values"].remove(int(spoil.split()[0]))
    elif spoil == "stale code":
        fail["onExitCodes"]["values"].append(79)
    elif spoil == "no disruption rule":
        rules.remove(disruption)
    elif spoil == "disruption last":
        rules.append(rules.pop(0))
    elif spoil == "no status":
        disruption["onPodConditions"][0].pop("status")
    elif spoil == "unsorted":
        fail["onExitCodes"]["values"].reverse()
    elif spoil == "other container":
        fail["onExitCodes"]["containerName"] = "main"
    else:
        spec["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert k.check_pod_failure_policy(spec, tables[0]) != []


def test_pod_failure_policy_checker_rejects_an_unclassified_new_exit_code(rendered, tables):
    (job,) = k.find(rendered["job"], "Job")
    codes = {**tables[0], 73: "a new failure nobody classified"}
    assert k.check_pod_failure_policy(job["spec"], codes) != []


def test_pss_checker_rejects_a_wrong_label(good_pod):
    ns = {"metadata": {"name": "n", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    assert k.check_pss_labels(ns, [good_pod]) == []
    assert k.check_pss_labels({"metadata": {"name": "n", "labels": {}}}, [good_pod]) != []
    restricted = copy.deepcopy(ns)
    restricted["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
    assert k.check_pss_labels(restricted, [good_pod]) != []  # root: not restricted
    privileged = copy.deepcopy(ns)
    privileged["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    assert k.check_pss_labels(privileged, [good_pod]) != []  # could be stricter
    runner_of(good_pod)["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")
    assert k.check_pss_labels(ns, [good_pod]) != []


def test_pss_levels_of_known_pods(good_pod):
    assert k.pss_level(good_pod) == "baseline"
    restricted = copy.deepcopy(good_pod)
    sc = runner_of(restricted)["securityContext"]
    sc.update(runAsNonRoot=True, runAsUser=1001, seccompProfile={"type": "RuntimeDefault"})
    sc["capabilities"] = {"drop": ["ALL"]}
    assert k.pss_level(restricted) == "restricted"
    good_pod["securityContext"] = {"seccompProfile": {"type": "Unconfined"}}
    assert k.pss_level(good_pod) == "privileged"


def test_image_pinning_rules():
    assert k.image_pinned("registry.example.com/runner-supervisor:0.1.0-runner2.336.0")
    assert k.image_pinned("registry.example.com:5000/r@sha256:" + "0" * 64)
    assert not k.image_pinned("registry.example.com:5000/r")
    assert not k.image_pinned("r:latest")
