// Validates Kubernetes objects offline against the schemas shipped by the npm packages
// kubernetes-models (Kubernetes' own OpenAPI, one package per Kubernetes line, installed under
// aliases) and @kubernetes-models/keda (KEDA's API types).
//
// stdin:  {"packages": {"1.33": "kubernetes-models-1.33", "1.36": "kubernetes-models"},
//          "items": [{"id": "...", "doc": {...}, "k8s": "1.33", "schema": "IoK8s... (optional)"}]}
//         "k8s" picks the Kubernetes line's package. Without "schema", the schema is found from
//         the object's apiVersion and kind.
// stdout: {"results": [{"id", "schema", "errors": [{"path", "message"}], "unknown": [path]}]}
//
// The schemas, like Kubernetes' OpenAPI, accept fields they do not declare, so a misspelt or
// misplaced field (`securityContext.procmount`, `spec.hostUser`) would pass. The strict check
// finds every field the schema does not know: it replaces one field's value at a time by a
// function, a value no declared field accepts whatever its type, and a field whose
// replacement produces no error at its own path is one the schema does not declare. Maps
// (labels, ConfigMap data...) declare every key through additionalProperties, so their keys
// count as known.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// API group -> package path prefix, for groups outside kubernetes-models' own.
const crdPackages = {
  "keda.sh": "@kubernetes-models/keda/keda.sh",
  "eventing.keda.sh": "@kubernetes-models/keda/eventing.keda.sh",
};

// "pkg/sub/path" -> file URL of node_modules/pkg/sub/path.mjs (or .js) beside this script.
// kubernetes-models 4.x ships ES modules as .mjs (its .js are CommonJS); 5.x ships ES modules
// as .js. Resolving by hand (rather than with import.meta.resolve) keeps the script working on
// Node.js 18, where that needs a flag, and lets two versions of one package sit side by side
// under npm aliases.
function resolveModule(spec) {
  for (const ext of [".mjs", ".js"]) {
    const url = new URL(`./node_modules/${spec}${ext}`, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  throw new Error(`module not found: ${spec}`);
}

async function schemaFor(item, packages) {
  const pkg = packages[item.k8s];
  if (!pkg) throw new Error(`no kubernetes-models package for Kubernetes ${item.k8s}`);
  let schemaUrl;
  if (item.schema) {
    schemaUrl = resolveModule(`${pkg}/_schemas/${item.schema}`).href;
  } else {
    const { apiVersion, kind } = item.doc;
    if (typeof apiVersion !== "string" || typeof kind !== "string")
      throw new Error("no apiVersion/kind");
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    const modelPath = group in crdPackages
      ? `${crdPackages[group]}/${version}/${kind}`
      : group ? `${pkg}/${group}/${version}/${kind}` : `${pkg}/${version}/${kind}`;
    let modelUrl;
    try {
      modelUrl = resolveModule(modelPath).href;
    } catch {
      throw new Error(`no schema for ${apiVersion} ${kind} (${modelPath})`);
    }
    // A model module imports its validator from ../../_schemas/NAME.js (or .mjs).
    const text = readFileSync(fileURLToPath(modelUrl), "utf8");
    const m = text.match(/"((?:\.\.\/)+_schemas\/[A-Za-z0-9]+\.m?js)"/);
    if (!m) throw new Error(`no validator import in ${modelPath}`);
    schemaUrl = new URL(m[1], modelUrl).href;
  }
  const mod = await import(schemaUrl);
  if (typeof mod.validate !== "function") throw new Error(`no validate function in ${schemaUrl}`);
  return {
    validate: mod.validate,
    name: schemaUrl.replace(/.*\/node_modules\//, "").replace(/\/_schemas\//, ":").replace(/\.m?js$/, ""),
  };
}

const escape = (k) => String(k).replace(/~/g, "~0").replace(/\//g, "~1");

function errorsOf(validate, doc) {
  return validate(doc) ? [] : (validate.errors || []).map((e) => ({
    path: e.instancePath || "/",
    message: `${e.message || e.keyword} ${JSON.stringify(e.params)}`,
  }));
}

function unknownFields(validate, doc) {
  const unknown = [];
  const sentinel = function sentinel() {};
  const visit = (node, ptr) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => visit(v, `${ptr}/${i}`));
    } else if (node && typeof node === "object") {
      for (const key of Object.keys(node)) {
        const here = `${ptr}/${escape(key)}`;
        const saved = node[key];
        node[key] = sentinel;
        const hit = (validate(doc) ? [] : validate.errors || [])
          .some((e) => e.instancePath === here || e.instancePath.startsWith(here + "/"));
        node[key] = saved;
        if (!hit) unknown.push(here);
        else visit(saved, here);
      }
    }
  };
  visit(doc, "");
  return unknown;
}

const input = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const item of input.items) {
  const r = { id: item.id, schema: null, errors: [], unknown: [] };
  try {
    const { validate, name } = await schemaFor(item, input.packages);
    r.schema = name;
    r.errors = errorsOf(validate, item.doc);
    if (r.errors.length === 0) r.unknown = unknownFields(validate, item.doc);
  } catch (e) {
    r.errors = [{ path: "/", message: String(e.message || e) }];
  }
  results.push(r);
}
process.stdout.write(JSON.stringify({ results }) + "\n");
