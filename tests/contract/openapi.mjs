// Loading docs/api/*.yaml strictly, linting them beyond the OpenAPI schema, and turning their
// response schemas into JSON Schemas that Ajv checks answers against.
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import Ajv from "ajv";
import addFormats from "ajv-formats";

export const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// Parses YAML 1.2 strictly: any error or warning (duplicate key, bad indentation, …) is fatal.
export function loadYaml(file) {
  const doc = parseDocument(readFileSync(file, "utf8"), {
    strict: true,
    uniqueKeys: true,
    prettyErrors: true,
  });
  const problems = [...doc.errors, ...doc.warnings].map((e) => `${file}: ${e.message}`);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return doc.toJS({ maxAliasCount: 0 });
}

// Follows a local "#/a/b" reference.
export function deref(spec, node) {
  let seen = 0;
  while (node && typeof node === "object" && typeof node.$ref === "string") {
    if (!node.$ref.startsWith("#/") || ++seen > 16) throw new Error(`unresolvable ${node.$ref}`);
    let target = spec;
    for (const part of node.$ref.slice(2).split("/")) {
      target = target?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    if (target === undefined) throw new Error(`dangling reference ${node.$ref}`);
    node = target;
  }
  return node;
}

// What the OpenAPI schema lets through but this project does not: a `$ref` with siblings
// (OpenAPI 3.0 ignores them, so a description there is silently lost), response code ranges
// or `default` (a contract test cannot check them), a response or media type without what a
// client needs.
export function lint(spec, file) {
  const out = [];
  const walk = (node, where) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${where}/${i}`));
    if (!node || typeof node !== "object") return;
    if ("$ref" in node && Object.keys(node).length > 1) {
      out.push(`${file}${where}: $ref has siblings (${Object.keys(node).filter((k) => k !== "$ref").join(", ")}), which OpenAPI 3.0 ignores`);
    }
    for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
  };
  walk(spec, "#");
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const where = `${file}: ${method.toUpperCase()} ${path}`;
      if (!op.summary) out.push(`${where}: no summary`);
      for (const [status, ref] of Object.entries(op.responses ?? {})) {
        if (!/^[1-5][0-9][0-9]$/.test(status)) {
          out.push(`${where}: response "${status}" is not one status code`);
          continue;
        }
        const r = deref(spec, ref);
        if (!r.description) out.push(`${where} ${status}: no description`);
        if (method === "head" || status === "304") {
          if (r.content) out.push(`${where} ${status}: a HEAD answer or a 304 has no content`);
          continue;
        }
        if (!r.content) out.push(`${where} ${status}: no content (every other answer of chukan has a body)`);
        for (const [type, media] of Object.entries(r.content ?? {})) {
          if (!media.schema) out.push(`${where} ${status} ${type}: no schema`);
        }
      }
    }
  }
  return out;
}

// OpenAPI 3.0 schema → JSON Schema (draft-07) for Ajv. Objects that list properties are closed
// (additionalProperties: false unless the document says otherwise), so an answer with a member
// the document does not name fails; allOf of objects is merged first so that closing works.
export function toJsonSchema(spec, schema, refPrefix) {
  const conv = (s) => {
    if (Array.isArray(s)) return s.map(conv);
    if (!s || typeof s !== "object") return s;
    if (s.$ref) {
      const m = /^#\/components\/schemas\/(.+)$/.exec(s.$ref);
      if (!m) throw new Error(`unexpected reference ${s.$ref}`);
      return { $ref: `${refPrefix}#/definitions/${m[1]}` };
    }
    let src = s;
    if (Array.isArray(s.allOf)) {
      const parts = s.allOf.map((p) => deref(spec, p));
      if (parts.every((p) => p.type === "object" || p.properties)) {
        const { allOf, ...rest } = s;
        src = { ...rest, type: "object", properties: {}, required: [] };
        for (const p of parts) {
          Object.assign(src.properties, p.properties ?? {});
          src.required.push(...(p.required ?? []));
        }
      }
    }
    const out = {};
    for (const [k, v] of Object.entries(src)) {
      if (["example", "nullable", "xml", "externalDocs", "deprecated", "discriminator"].includes(k)) continue;
      if (k === "properties") {
        out.properties = Object.fromEntries(Object.entries(v).map(([n, p]) => [n, conv(p)]));
      } else if (k === "additionalProperties" && typeof v === "object") {
        out.additionalProperties = conv(v);
      } else if (["items", "not"].includes(k)) {
        out[k] = conv(v);
      } else if (["allOf", "anyOf", "oneOf"].includes(k)) {
        out[k] = v.map(conv);
      } else {
        out[k] = v;
      }
    }
    if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
    if (out.required && out.required.length === 0) delete out.required;
    return src.nullable === true ? { anyOf: [out, { type: "null" }] } : out;
  };
  return conv(schema);
}

// An Ajv instance that knows the document's component schemas as `<id>#/definitions/<name>`.
export function makeAjv(documents) {
  const ajv = new Ajv({ strict: true, strictTypes: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
  ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  for (const [id, spec] of Object.entries(documents)) {
    const definitions = {};
    for (const [name, s] of Object.entries(spec.components?.schemas ?? {})) {
      definitions[name] = toJsonSchema(spec, s, id);
    }
    ajv.addSchema({ $id: id, definitions });
  }
  return ajv;
}

// The essence of a media type ("text/csv; charset=utf-8" → "text/csv").
export const essence = (t) => t.split(";")[0].trim().toLowerCase();
const normal = (t) => t.toLowerCase().replace(/\s*;\s*/g, "; ").trim();

// The documented media type a Content-Type answers to: the same text, or a documented type
// without parameters that is the answer's essence.
export function matchMedia(content, contentType) {
  for (const key of Object.keys(content ?? {})) {
    if (normal(key) === normal(contentType)) return key;
  }
  for (const key of Object.keys(content ?? {})) {
    if (!key.includes(";") && essence(key) === essence(contentType)) return key;
  }
  return null;
}
export const isJson = (type) => /^application\/([a-z0-9.+-]+\+)?json$/.test(essence(type));
