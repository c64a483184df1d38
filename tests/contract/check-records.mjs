// Checks answers recorded from live chukan processes (tests/contract/contract_test.cc) against
// docs/api/openapi.yaml ("server") and docs/api/hub-openapi.yaml ("hub"):
//  - every answer is to a documented operation, with a documented status, a documented media
//    type, a body that validates against the documented schema (objects closed: no member the
//    document does not name), the documented required headers (WWW-Authenticate on 401), and
//    Cache-Control: no-store and X-Content-Type-Options: nosniff;
//  - a wrong method on a documented path is 405 with Allow = exactly the documented methods;
//    an unknown path is 404 with an error body;
//  - every documented (operation, status) was seen at least once, unless unexercised.mjs lists
//    it with a reason; every documented path was probed with a wrong method.
// Usage: node check-records.mjs RECORDS.jsonl ; exit 0 when the contract holds.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { loadYaml, deref, makeAjv, toJsonSchema, matchMedia, isJson, METHODS } from "./openapi.mjs";
import allowList from "./unexercised.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const specs = {
  server: loadYaml(join(here, "../../docs/api/openapi.yaml")),
  hub: loadYaml(join(here, "../../docs/api/hub-openapi.yaml")),
};
const ajv = makeAjv(specs);
const records = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

const errors = [];
const seen = new Set();
const probed = new Set();
const key = (spec, path, method, status) => `${spec} ${method.toUpperCase()} ${path} ${status}`;
const validators = new Map();
function validatorFor(spec, schemaNode, cacheKey) {
  if (!validators.has(cacheKey)) validators.set(cacheKey, ajv.compile(toJsonSchema(specs[spec], schemaNode, spec)));
  return validators.get(cacheKey);
}
const header = (r, name) => r.headers?.[name.toLowerCase()];

for (const r of records) {
  try {
    checkOne(r);
  } catch (e) {
    errors.push(`${r.spec} ${r.method} ${r.path} → ${r.status} (${r.note ?? ""}): ${e.message}`);
  }
}

function checkOne(r) {
  const where = `${r.spec} ${r.method} ${r.path} → ${r.status} (${r.note ?? ""})`;
  const spec = specs[r.spec];
  if (!spec) {
    errors.push(`${where}: unknown spec`);
    return;
  }
  if (header(r, "cache-control") !== "no-store") errors.push(`${where}: Cache-Control is ${header(r, "cache-control")}, not no-store`);
  if (header(r, "x-content-type-options") !== "nosniff") errors.push(`${where}: X-Content-Type-Options is not nosniff`);
  const errorBody = () => {
    const v = validatorFor(r.spec, { $ref: "#/components/schemas/Error" }, `${r.spec} Error`);
    let body;
    try {
      body = JSON.parse(r.body);
    } catch {
      errors.push(`${where}: body is not JSON`);
      return;
    }
    if (!v(body)) errors.push(`${where}: ${ajv.errorsText(v.errors)}`);
  };
  if (r.kind === "wrong-method") {
    const item = spec.paths[r.path];
    if (!item) {
      errors.push(`${where}: path not documented`);
      return;
    }
    const documented = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase()).sort();
    const allow = (header(r, "allow") ?? "").split(",").map((m) => m.trim()).filter(Boolean).sort();
    if (r.status !== 405) errors.push(`${where}: expected 405`);
    if (documented.includes(r.method)) errors.push(`${where}: the method is documented`);
    if (allow.join(",") !== documented.join(",")) errors.push(`${where}: Allow "${header(r, "allow")}" but the document gives ${documented.join(", ")}`);
    errorBody();
    probed.add(`${r.spec} ${r.path}`);
    return;
  }
  if (r.kind === "unknown-path") {
    if (spec.paths[r.path]) errors.push(`${where}: the path is documented`);
    if (r.status !== 404) errors.push(`${where}: expected 404`);
    errorBody();
    return;
  }
  const method = r.method.toLowerCase();
  const op = spec.paths[r.path]?.[method];
  if (!op) {
    errors.push(`${where}: operation not documented`);
    return;
  }
  const ref = op.responses[String(r.status)];
  if (!ref) {
    errors.push(`${where}: status not documented (documented: ${Object.keys(op.responses).join(", ")}); body ${String(r.body).slice(0, 300)}`);
    return;
  }
  seen.add(key(r.spec, r.path, method, r.status));
  const resp = deref(spec, ref);
  for (const [name, h] of Object.entries(resp.headers ?? {})) {
    const value = header(r, name);
    if (deref(spec, h).required && value === undefined) errors.push(`${where}: header ${name} missing`);
    const schema = deref(spec, h).schema;
    if (value !== undefined && schema) {
      const v = validatorFor(r.spec, schema, `${r.spec} ${r.path} ${method} ${r.status} header ${name}`);
      if (!v(value)) errors.push(`${where}: header ${name}: ${ajv.errorsText(v.errors)}`);
    }
  }
  if (method === "head" || r.status === 304) {
    if (r.body !== "") errors.push(`${where}: a HEAD answer or a 304 has a body`);
    return;
  }
  const media = matchMedia(resp.content, r.content_type ?? "");
  if (!media) {
    errors.push(`${where}: Content-Type "${r.content_type}" not documented (documented: ${Object.keys(resp.content ?? {}).join(", ")})`);
    return;
  }
  const schema = resp.content[media].schema;
  const v = validatorFor(r.spec, schema, `${r.spec} ${r.path} ${method} ${r.status} ${media}`);
  let body = r.body;
  if (isJson(media)) {
    try {
      body = JSON.parse(r.body);
    } catch (e) {
      errors.push(`${where}: body is not JSON: ${e.message}`);
      return;
    }
  }
  if (!v(body)) errors.push(`${where}: body does not match the schema: ${ajv.errorsText(v.errors)}; body ${String(r.body).slice(0, 300)}`);
}

// Coverage: nothing documented that never happens.
const matches = (a, spec, path, method, status) =>
  (a.spec === "*" || a.spec === spec) && (a.path === "*" || a.path === path) && (a.method === "*" || a.method === method) && a.status === status;
let documented = 0;
let allowed = 0;
const used = new Set();
for (const [name, spec] of Object.entries(specs)) {
  for (const [path, item] of Object.entries(spec.paths)) {
    if (!probed.has(`${name} ${path}`)) errors.push(`${name} ${path}: no wrong-method probe`);
    for (const method of METHODS) {
      if (!item[method]) continue;
      for (const status of Object.keys(item[method].responses)) {
        documented++;
        if (seen.has(key(name, path, method, status))) continue;
        const a = allowList.find((e) => matches(e, name, path, method, Number(status)));
        if (a) {
          allowed++;
          used.add(a);
        } else {
          errors.push(`${key(name, path, method, status)}: documented but never answered in the test`);
        }
      }
    }
  }
}
for (const a of allowList) {
  if (!used.has(a) && !Object.entries(specs).some(([name, spec]) => Object.entries(spec.paths).some(([path, item]) => METHODS.some((m) => item[m] && Object.keys(item[m].responses).some((s) => matches(a, name, path, m, Number(s))))))) {
    errors.push(`unexercised.mjs: ${JSON.stringify(a)} names no documented answer`);
  }
}
for (const e of errors) console.log(`FAIL ${e}`);
console.log(`contract: ${records.length} answers checked; ${documented} documented (operation, status) pairs: ${seen.size} answered, ${allowed} allow-listed (unexercised.mjs)`);
console.log(`${errors.length === 0 ? 1 : 0} passed, ${errors.length === 0 ? 0 : 1} failed`);
process.exit(errors.length === 0 ? 0 : 1);
