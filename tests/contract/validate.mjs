// Checks HTTP requests against GitHub's OpenAPI descriptions, offline: the npm package
// @octokit/openapi repackages github/rest-api-description (api.github.com, GHEC, and one
// description per GitHub Enterprise Server version); two releases of it are installed, under
// their own names, to have both the oldest GHES versions (3.8-3.12) and the newest.
//
// stdin:  {"calls": [{"id", "description": "api.github.com" | "ghec" | "ghes-3.10" ...,
//                     "method", "path" (without the API base), "query" (raw), "body"}]}
// stdout: {"results": [{"id", "operationId", "errors": [string]}],
//          "descriptions": {name: "package@version/generated/file"}}
//
// A request passes when its description has an operation for the method and path, every
// path and query parameter is declared and valid, no required one is missing, and the JSON
// body is valid. Stricter than the spec on one point: an object schema that lists its
// properties accepts no others (the spec leaves additionalProperties open, and GitHub
// ignores or refuses unknown fields; either way such a field does nothing we meant).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";

const here = (rel) => fileURLToPath(new URL(`./node_modules/${rel}`, import.meta.url));

// Which package holds which description.
const NEW = "@octokit/openapi";
const OLD = "octokit-openapi-ghes-3.8-3.12";
function fileOf(description) {
  if (description === "api.github.com" || description === "ghec")
    return [NEW, `${description}.json`];
  const m = /^ghes-3\.(\d+)$/.exec(description);
  if (m && Number(m[1]) >= 8 && Number(m[1]) <= 12) return [OLD, `${description}.json`];
  if (m && Number(m[1]) >= 17) return [NEW, `${description}.json`];
  throw new Error(`no description ${description} is installed`);
}

const docs = new Map();
function load(description) {
  if (!docs.has(description)) {
    const [pkg, file] = fileOf(description);
    const version = JSON.parse(readFileSync(here(`${pkg}/package.json`), "utf8")).version;
    const doc = JSON.parse(readFileSync(here(`${pkg}/generated/${file}`), "utf8"));
    const templates = Object.keys(doc.paths).map((t) => ({
      template: t,
      params: (t.match(/\{/g) || []).length,
      re: new RegExp(
        "^" +
          t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "([^/]+)") +
          "$",
      ),
      names: [...t.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]),
    }));
    templates.sort((a, b) => a.params - b.params); // a literal segment wins over {param}
    docs.set(description, { doc, templates, source: `${pkg}@${version}/generated/${file}` });
  }
  return docs.get(description);
}

function resolve(doc, node, depth = 0) {
  if (depth > 40) throw new Error("$ref nesting too deep");
  if (Array.isArray(node)) return node.map((x) => resolve(doc, x, depth + 1));
  if (!node || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    const target = node.$ref
      .replace(/^#\//, "")
      .split("/")
      .reduce((o, k) => o?.[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
    if (target === undefined) throw new Error(`unresolved ${node.$ref}`);
    return resolve(doc, target, depth + 1);
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = resolve(doc, v, depth + 1);
  return out;
}

// additionalProperties: false wherever an object lists its properties and says nothing
// about others, outside compositions (where it would refuse the other branches' fields).
function strict(schema, inComposition = false) {
  if (Array.isArray(schema)) return schema.map((s) => strict(s, inComposition));
  if (!schema || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    const composing = ["allOf", "anyOf", "oneOf"].includes(k);
    out[k] = k === "example" || k === "examples" ? v : strict(v, composing || (inComposition && k !== "properties" && k !== "items"));
  }
  if (
    out.properties &&
    out.additionalProperties === undefined &&
    !inComposition &&
    !out.allOf &&
    !out.anyOf &&
    !out.oneOf
  )
    out.additionalProperties = false;
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const compiled = new Map();
function validator(key, schema) {
  if (!compiled.has(key)) compiled.set(key, ajv.compile(schema));
  return compiled.get(key);
}

function describe(errors) {
  return (errors || []).map((e) =>
    `${e.instancePath || "(body)"} ${e.message}${e.params?.additionalProperty ? `: ${e.params.additionalProperty}` : ""}`,
  );
}

// A parameter's text as its schema's type wants it (query and path values are strings).
function coerce(text, schema) {
  const type = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
  if (type === "integer" || type === "number")
    return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
  if (type === "boolean") return text === "true" ? true : text === "false" ? false : text;
  return text;
}

function check(call) {
  const { doc, templates } = load(call.description);
  const errors = [];
  const method = call.method.toLowerCase();
  const matching = templates.filter((t) => t.re.test(call.path));
  if (matching.length === 0)
    return { operationId: null, errors: [`no path ${call.path} in ${call.description}`] };
  const found = matching.find((t) => doc.paths[t.template][method]);
  if (!found)
    return {
      operationId: null,
      errors: [`${call.method} is not an operation of ${matching[0].template} in ${call.description}`],
    };
  const item = doc.paths[found.template];
  const op = item[method];
  const params = [...(item.parameters || []), ...(op.parameters || [])].map((p) =>
    resolve(doc, p),
  );
  const id = `${call.description} ${op.operationId}`;
  // path
  const values = found.re.exec(call.path).slice(1);
  found.names.forEach((name, i) => {
    const p = params.find((x) => x.in === "path" && x.name === name);
    if (!p) return errors.push(`path parameter ${name} is not declared`);
    const v = validator(`${id} path ${name}`, strict(p.schema || {}));
    if (!v(coerce(decodeURIComponent(values[i]), p.schema)))
      errors.push(`path ${name}=${values[i]}: ${describe(v.errors).join("; ")}`);
  });
  // query
  const query = new URLSearchParams(call.query || "");
  const seen = new Set();
  for (const [name, text] of query) {
    if (seen.has(name)) errors.push(`query ${name} is given twice`);
    seen.add(name);
    const p = params.find((x) => x.in === "query" && x.name === name);
    if (!p) {
      errors.push(`query parameter ${name} is not declared for ${op.operationId}`);
      continue;
    }
    const v = validator(`${id} query ${name}`, strict(p.schema || {}));
    if (!v(coerce(text, p.schema)))
      errors.push(`query ${name}=${text}: ${describe(v.errors).join("; ")}`);
  }
  for (const p of params)
    if (p.in === "query" && p.required && !seen.has(p.name))
      errors.push(`required query parameter ${p.name} is missing`);
  // body
  const rb = op.requestBody ? resolve(doc, op.requestBody) : null;
  const hasBody = call.body !== null && call.body !== undefined;
  if (!rb && hasBody) errors.push(`${op.operationId} takes no request body`);
  if (rb && rb.required && !hasBody) errors.push(`${op.operationId} needs a request body`);
  if (rb && hasBody) {
    const schema = rb.content?.["application/json"]?.schema;
    if (!schema) errors.push(`${op.operationId} takes no JSON body`);
    else {
      const v = validator(`${id} body`, strict(resolve(doc, schema)));
      if (!v(call.body)) errors.push(...describe(v.errors).map((e) => `body ${e}`));
    }
  }
  return { operationId: op.operationId, errors };
}

const input = JSON.parse(readFileSync(0, "utf8"));
const results = input.calls.map((call) => {
  try {
    return { id: call.id, ...check(call) };
  } catch (e) {
    return { id: call.id, operationId: null, errors: [String(e.message || e)] };
  }
});
const descriptions = Object.fromEntries([...docs].map(([name, d]) => [name, d.source]));
process.stdout.write(JSON.stringify({ results, descriptions }));
