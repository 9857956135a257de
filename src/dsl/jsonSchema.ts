/**
 * JSON Schemas a plan carries, compiled with the options the runtime compiles them with (answers
 * and structured output both use Ajv's 2020-12 dialect, not strict): the blueprint loader reports
 * one that does not compile (V-K4), the model adapter refuses it before any request, so it is
 * never a run that fails later or a pause no answer can pass, and resume checks a human's answer
 * against the one its question recorded.
 *
 * One Ajv instance and one bounded cache of compiled validators serve the whole process (ADR 53):
 * an instance's first compile also compiles the 2020-12 meta-schema, about 10 ms, against well
 * under 1 ms on an instance that has compiled once, so an engine created for one resume (a CLI
 * command, a worker that reloads a pipeline) does not pay it again.
 */
import { Ajv2020, type Options, type ValidateFunction } from 'ajv/dist/2020.js';

/**
 * Every Ajv instance's options. Not strict. No logger: Ajv otherwise writes `unknown format
 * "email" ignored in schema…` to the console for each compile of a zod `.email()` schema. In
 * 2020-12 a `format` is an annotation, not a check (a zod format also carries the `pattern` that
 * checks it), so ignoring one is the dialect's rule, not a problem to print.
 */
export const AJV_OPTIONS: Options = { allErrors: true, strict: false, logger: false };

const MAX_CACHED = 256;

let ajv: Ajv2020 | undefined;
/** Compiled validators by the schema's JSON text. */
const compiled = new Map<string, ValidateFunction>();

/**
 * The validator of `schema`, compiled once per process and kept (at most 256, then all dropped)
 * by its JSON text. Throws Ajv's error when the schema does not compile. The validator keeps its
 * `errors` until its next call, so read them at once.
 */
export function compiledSchema(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (v) return v;
  ajv ??= new Ajv2020(AJV_OPTIONS);
  try {
    v = ajv.compile(schema as object);
  } finally {
    // Ajv also keeps every schema it compiled, by object and by $id: drop them (it keeps its
    // meta-schemas), so the process holds only the bounded cache above, and two schemas that
    // reuse an $id never collide.
    ajv.removeSchema();
  }
  if (compiled.size >= MAX_CACHED) compiled.clear();
  compiled.set(key, v);
  return v;
}

/** Why `schema` does not compile, or null when it does. */
export function schemaProblem(schema: unknown): string | null {
  try {
    compiledSchema(schema);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
