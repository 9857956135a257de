/**
 * Structured output schemas: a step's JSON Schema (from YAML or from zod via the DSL) becomes what
 * providers accept in strict mode, and replies are checked against the schema the user wrote.
 *
 * - Non-object schemas are wrapped as `{ value: <schema> }` (providers want an object root) and
 *   the reply is unwrapped again.
 * - Strict mode (OpenAI) wants every property required and `additionalProperties: false`; an
 *   optional property becomes nullable, and a null the model sends for it is dropped before the
 *   reply is validated, so the user's own schema is what decides.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { AJV_OPTIONS } from '../../dsl/jsonSchema.js';
import { canonicalJson } from '../../projections/preview.js';

type Schema = Record<string, unknown>;

export interface OutputShape {
  /** The schema as written by the user (validation runs against this). */
  readonly user: Schema;
  /** The object-rooted schema sent to the provider (before strictification). */
  readonly sent: Schema;
  readonly wrapped: boolean;
}

const isObj = (x: unknown): x is Schema => typeof x === 'object' && x !== null && !Array.isArray(x);

export function isObjectSchema(s: Schema): boolean {
  return s.type === 'object' || (s.type === undefined && isObj(s.properties));
}

export function outputShape(schema: Schema): OutputShape {
  const { $schema: _drop, ...bare } = schema;
  if (isObjectSchema(bare)) return { user: schema, sent: bare, wrapped: false };
  return {
    user: schema,
    sent: { type: 'object', properties: { value: bare }, required: ['value'] },
    wrapped: true,
  };
}

function nullable(s: unknown): boolean {
  if (!isObj(s)) return s === true;
  if (s.type === 'null' || (Array.isArray(s.type) && s.type.includes('null'))) return true;
  const alts = [...((s.anyOf as unknown[]) ?? []), ...((s.oneOf as unknown[]) ?? [])];
  return alts.some(nullable);
}

/** OpenAI strict mode's rules, applied like the SDK's zod helper (openai/lib/transform). */
export function strictify(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictify);
  if (!isObj(schema)) return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$schema') continue;
    if (k === 'properties' && isObj(v)) {
      const required = new Set((schema.required as string[] | undefined) ?? []);
      out.properties = Object.fromEntries(
        Object.entries(v).map(([name, prop]) => {
          const strict = strictify(prop);
          return [
            name,
            required.has(name) || nullable(prop) ? strict : { anyOf: [strict, { type: 'null' }] },
          ];
        }),
      );
      out.required = Object.keys(v);
    } else if (k === 'required') {
      continue;
    } else if (k === '$defs' || k === 'definitions') {
      out[k] = isObj(v)
        ? Object.fromEntries(Object.entries(v).map(([n, d]) => [n, strictify(d)]))
        : v;
    } else if (k === 'items' || k === 'anyOf' || k === 'allOf') {
      out[k] = strictify(v);
    } else if (k === 'oneOf') {
      out.anyOf = strictify(v);
    } else {
      out[k] = v;
    }
  }
  if (out.type === 'object' || isObj(out.properties)) {
    out.additionalProperties = false;
    if (!out.properties) {
      out.properties = {};
      out.required = [];
    }
  }
  return out;
}

/** Drops nulls the model sent for properties the user's schema left optional (and not nullable). */
export function dropStrictNulls(value: unknown, schema: unknown): unknown {
  if (!isObj(schema)) return value;
  if (Array.isArray(value)) return value.map((v) => dropStrictNulls(v, schema.items));
  if (!isObj(value) || !isObj(schema.properties)) return value;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const prop = schema.properties[k];
    if (v === null && !required.has(k) && prop !== undefined && !nullable(prop)) continue;
    out[k] = dropStrictNulls(v, prop);
  }
  return out;
}

const ajv = new Ajv2020(AJV_OPTIONS);
const compiled = new Map<string, ValidateFunction>();

/** Validation errors of `value` against `schema`, as `path message` lines; empty when valid. */
export function validateAgainst(schema: Schema, value: unknown): string[] {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    if (compiled.size > 500) compiled.clear();
    compiled.set(key, validate);
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map(
    (e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`,
  );
}

/** Parses model JSON, refusing keys that could reach an object's prototype later. */
export function parseModelJson(
  text: string,
): { ok: true; value: unknown } | { ok: false; error: string } {
  const body = stripFence(text);
  try {
    let bad = '';
    const value = JSON.parse(body, (k, v: unknown) => {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') bad = k;
      return v;
    }) as unknown;
    if (bad) return { ok: false, error: `the reply has a "${bad}" key, which is not allowed` };
    return { ok: true, value };
  } catch (e) {
    // JSON.parse with a reviver recurses: a reply nested thousands deep overflows the stack, which
    // is no syntax error (the repair request would tell the model its JSON was invalid).
    if (e instanceof RangeError)
      return { ok: false, error: 'the reply nests too deeply to read; reply with flatter JSON' };
    return { ok: false, error: `the reply is not valid JSON: ${(e as Error).message}` };
  }
}

/** Models in prompt mode often wrap JSON in a ``` fence. */
function stripFence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(text);
  return m ? (m[1] as string) : text.trim();
}

/** The user message for an input: strings as they are, anything else as canonical JSON. */
export function userMessage(input: unknown): string {
  return typeof input === 'string' ? input : jsonText(input);
}

/**
 * canonicalJson, except that a bigint (plain data a step may return) is written as its digits:
 * JSON numbers have no size limit, and JSON.stringify throws on one.
 */
function jsonText(x: unknown): string {
  if (typeof x === 'bigint') return x.toString();
  if (Array.isArray(x)) return `[${x.map(jsonText).join(',')}]`;
  if (isObj(x) && !(x instanceof Uint8Array)) {
    const keys = Object.keys(x)
      .filter((k) => x[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${jsonText(x[k])}`).join(',')}}`;
  }
  return canonicalJson(x);
}
