"""What KEDA's own CRD schemas demand of a ScaledJob and a TriggerAuthentication, by release.

Facts, not copies: each row was read from the `openAPIV3Schema` of the v1alpha1 version in
kedacore/keda's `config/crd/bases/keda.sh_scaledjobs.yaml` and
`config/crd/bases/keda.sh_triggerauthentications.yaml`, at every release tag from v2.12.0 to
v2.20.2 (`git show vX.Y.Z:config/crd/bases/...`), for the parts of the objects these manifests
use or tell users to use. Identical consecutive releases are one row. The pod template inside
`jobTargetRef` is left out: it is Kubernetes' own PodTemplateSpec, validated against
Kubernetes' schemas. k8s-manifests/README.md shows the same table (a test keeps them equal).

A row is (kind, path, constraint, first release, last release, value):
- path: dotted field names from the object's root ("" is the root), `[]` for every item of an
  array, `{}` for every value of a map;
- required: each object at the path must have these fields;
- enum: the value at the path, when present, must be one of these;
- properties: the fields the schema declares at the path; the API server prunes any other one
  (or `kubectl apply` refuses it under strict field validation);
- type: the JSON type of the value(s) at the path.
"""

RELEASES = [
    "2.12.0", "2.12.1", "2.13.0", "2.13.1", "2.14.0", "2.14.1", "2.15.0", "2.15.1", "2.16.0",
    "2.16.1", "2.17.0", "2.17.1", "2.17.2", "2.17.3", "2.18.0", "2.18.1", "2.18.2", "2.18.3",
    "2.19.0", "2.20.0", "2.20.1", "2.20.2",
]

SOURCES = {
    "ScaledJob": "config/crd/bases/keda.sh_scaledjobs.yaml",
    "TriggerAuthentication": "config/crd/bases/keda.sh_triggerauthentications.yaml",
}

_PFP = "spec.jobTargetRef.podFailurePolicy"

FACTS = [
    ("ScaledJob", "spec", "required", "2.12.0", "2.20.2", ["jobTargetRef", "triggers"]),
    ("ScaledJob", "spec", "properties", "2.12.0", "2.20.2",
     ["envSourceContainerName", "failedJobsHistoryLimit", "jobTargetRef", "maxReplicaCount",
      "minReplicaCount", "pollingInterval", "rollout", "rolloutStrategy", "scalingStrategy",
      "successfulJobsHistoryLimit", "triggers"]),
    ("ScaledJob", "spec.jobTargetRef", "required", "2.12.0", "2.20.2", ["template"]),
    ("ScaledJob", "spec.jobTargetRef", "properties", "2.12.0", "2.15.1",
     ["activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode",
      "completions", "manualSelector", "maxFailedIndexes", "parallelism", "podFailurePolicy",
      "podReplacementPolicy", "selector", "suspend", "template", "ttlSecondsAfterFinished"]),
    ("ScaledJob", "spec.jobTargetRef", "properties", "2.16.0", "2.20.2",
     ["activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode",
      "completions", "managedBy", "manualSelector", "maxFailedIndexes", "parallelism",
      "podFailurePolicy", "podReplacementPolicy", "selector", "successPolicy", "suspend",
      "template", "ttlSecondsAfterFinished"]),
    ("ScaledJob", _PFP, "required", "2.12.0", "2.20.2", ["rules"]),
    ("ScaledJob", _PFP + ".rules[]", "required", "2.12.0", "2.20.2", ["action"]),
    ("ScaledJob", _PFP + ".rules[]", "properties", "2.12.0", "2.20.2",
     ["action", "onExitCodes", "onPodConditions"]),
    ("ScaledJob", _PFP + ".rules[].onExitCodes", "required", "2.12.0", "2.20.2",
     ["operator", "values"]),
    ("ScaledJob", _PFP + ".rules[].onExitCodes", "properties", "2.12.0", "2.20.2",
     ["containerName", "operator", "values"]),
    ("ScaledJob", _PFP + ".rules[].onPodConditions[]", "required", "2.12.0", "2.19.0",
     ["status", "type"]),
    ("ScaledJob", _PFP + ".rules[].onPodConditions[]", "required", "2.20.0", "2.20.2", ["type"]),
    ("ScaledJob", _PFP + ".rules[].onPodConditions[]", "properties", "2.12.0", "2.20.2",
     ["status", "type"]),
    ("ScaledJob", "spec.rollout", "properties", "2.12.0", "2.20.2",
     ["propagationPolicy", "strategy"]),
    ("ScaledJob", "spec.rollout.strategy", "enum", "2.20.0", "2.20.2", ["gradual", "immediate"]),
    ("ScaledJob", "spec.rollout.propagationPolicy", "enum", "2.20.0", "2.20.2",
     ["foreground", "background"]),
    ("ScaledJob", "spec.rolloutStrategy", "enum", "2.20.0", "2.20.2", ["gradual", "immediate"]),
    ("ScaledJob", "spec.scalingStrategy", "properties", "2.12.0", "2.20.2",
     ["customScalingQueueLengthDeduction", "customScalingRunningJobPercentage",
      "multipleScalersCalculation", "pendingPodConditions", "strategy"]),
    ("ScaledJob", "spec.scalingStrategy.strategy", "enum", "2.20.0", "2.20.1",
     ["custom", "accurate", "eager"]),
    ("ScaledJob", "spec.scalingStrategy.strategy", "enum", "2.20.2", "2.20.2",
     ["default", "custom", "accurate", "eager"]),
    ("ScaledJob", "spec.scalingStrategy.multipleScalersCalculation", "enum", "2.20.0", "2.20.2",
     ["min", "avg", "sum", "max"]),
    ("ScaledJob", "spec.triggers[]", "required", "2.12.0", "2.20.2", ["metadata", "type"]),
    ("ScaledJob", "spec.triggers[]", "properties", "2.12.0", "2.20.2",
     ["authenticationRef", "metadata", "metricType", "name", "type", "useCachedMetrics"]),
    ("ScaledJob", "spec.triggers[].metadata{}", "type", "2.12.0", "2.20.2", "string"),
    ("ScaledJob", "spec.triggers[].authenticationRef", "required", "2.12.0", "2.20.2", ["name"]),
    ("ScaledJob", "spec.triggers[].authenticationRef", "properties", "2.12.0", "2.20.2",
     ["kind", "name"]),
    ("ScaledJob", "spec.triggers[].authenticationRef.kind", "enum", "2.20.0", "2.20.2",
     ["TriggerAuthentication", "ClusterTriggerAuthentication"]),
    ("TriggerAuthentication", "", "required", "2.12.0", "2.20.2", ["spec"]),
    ("TriggerAuthentication", "spec.secretTargetRef[]", "required", "2.12.0", "2.20.2",
     ["key", "name", "parameter"]),
    ("TriggerAuthentication", "spec.secretTargetRef[]", "properties", "2.12.0", "2.20.2",
     ["key", "name", "parameter"]),
]

JSON_TYPES = {"string": str, "object": dict, "array": list, "boolean": bool}


def _release_key(release):
    return tuple(int(x) for x in release.split("."))


def facts_for(kind, release):
    """The rows that hold for one release of one kind."""
    r = _release_key(release)
    return [f for f in FACTS if f[0] == kind
            and _release_key(f[3]) <= r <= _release_key(f[4])]


def nodes_at(doc, path):
    """[(pointer, value)] of every value at a dotted path ([] = each item, {} = each value)."""
    found = [("", doc)]
    for part in path.split(".") if path else []:
        each_item, each_value = part.endswith("[]"), part.endswith("{}")
        name = part[:-2] if each_item or each_value else part
        nxt = []
        for ptr, node in found:
            if not isinstance(node, dict) or name not in node:
                continue
            child, here = node[name], f"{ptr}/{name}"
            if each_item:
                nxt += [(f"{here}/{i}", v) for i, v in enumerate(child or [])]
            elif each_value:
                nxt += [(f"{here}/{k}", v) for k, v in (child or {}).items()]
            else:
                nxt.append((here, child))
        found = nxt
    return found


def check(doc, release):
    """Violations of KEDA's CRD constraints at `release` (empty: the API server accepts the
    fields these facts cover, and prunes none of them)."""
    bad = []
    for kind, path, constraint, _, _, value in facts_for(doc.get("kind"), release):
        for ptr, node in nodes_at(doc, path):
            where = ptr or "/"
            if constraint == "required" and isinstance(node, dict):
                bad += [f"KEDA {release}: {where}: {f} is required" for f in value if f not in node]
            elif constraint == "enum" and node not in value:
                bad.append(f"KEDA {release}: {where}: {node!r} is not one of {value}")
            elif constraint == "properties" and isinstance(node, dict):
                bad += [f"KEDA {release}: {where}/{f}: not in the CRD (pruned or refused)"
                        for f in node if f not in value]
            elif constraint == "type" and not isinstance(node, JSON_TYPES[value]):
                bad.append(f"KEDA {release}: {where}: {node!r} is not a {value}")
    return bad
