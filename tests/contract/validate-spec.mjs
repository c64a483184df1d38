// Validates OpenAPI documents strictly: YAML without errors or warnings, the OpenAPI JSON
// schema of the document's version (@seriousme/openapi-schema-validator), this project's lint
// (openapi.mjs), and every schema compiled by Ajv in strict mode.
// Usage: node validate-spec.mjs FILE… ; exit 0 when all are valid.
import { Validator } from "@seriousme/openapi-schema-validator";
import { loadYaml, lint, makeAjv } from "./openapi.mjs";
import { basename } from "node:path";

let failed = 0;
let passed = 0;
for (const file of process.argv.slice(2)) {
  const problems = [];
  try {
    const spec = loadYaml(file);
    const validator = new Validator({ strict: true });
    const res = await validator.validate(structuredClone(spec));
    if (!res.valid) {
      for (const e of res.errors) problems.push(`${file}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
    }
    problems.push(...lint(spec, file));
    const id = basename(file);
    const ajv = makeAjv({ [id]: spec });
    for (const name of Object.keys(spec.components?.schemas ?? {})) {
      try {
        ajv.getSchema(`${id}#/definitions/${name}`);
      } catch (e) {
        problems.push(`${file}: schema ${name}: ${e.message}`);
      }
    }
    if (problems.length === 0) console.log(`ok   ${file} (OpenAPI ${spec.openapi}, ${Object.keys(spec.paths).length} paths)`);
  } catch (e) {
    problems.push(`${file}: ${e.message}`);
  }
  for (const p of problems) console.log(`FAIL ${p}`);
  if (problems.length > 0) failed++;
  else passed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
