/**
 * How templates and expressions see data. The safety model lives here: only OWN properties of
 * plain objects (prototype Object.prototype or null) and integer indexes of arrays and strings
 * are readable, and `__proto__`, `constructor` and `prototype` are never readable even as own
 * keys. Class instances, functions, Maps and the like are opaque: every member is undefined.
 */
import { ENGINE_FLAGS, recordedWith } from '../dsl/engineFlags.js';
import { sortedKeys } from '../dsl/keyOrder.js';
import { isPlainObject } from '../plainObject.js';

const DENIED = new Set(['__proto__', 'constructor', 'prototype']);

export { isPlainObject };

/** Own data key of a plain object, never a getter's result and never a denied name. */
export function ownKey(o: Record<string, unknown>, key: string): unknown {
  if (DENIED.has(key) || !Object.hasOwn(o, key)) return undefined;
  const d = Object.getOwnPropertyDescriptor(o, key);
  return d && 'value' in d ? (d.value as unknown) : undefined;
}

/** `v.key` / `v[key]`: dict keys, list and string indexes (negative counts from the end). */
export function member(v: unknown, key: unknown): unknown {
  if (isPlainObject(v)) {
    if (typeof key === 'string') return ownKey(v, key);
    if (typeof key === 'number' && Number.isFinite(key)) return ownKey(v, String(key));
    return undefined;
  }
  if (Array.isArray(v) || typeof v === 'string') {
    const n = typeof key === 'number' ? key : typeof key === 'string' ? intText(key) : NaN;
    if (!Number.isInteger(n)) return undefined;
    const i = n < 0 ? v.length + n : n;
    if (i < 0 || i >= v.length) return undefined;
    return Array.isArray(v) ? (v[i] as unknown) : v[i];
  }
  return undefined;
}

function intText(s: string): number {
  return /^-?[0-9]+$/.test(s) ? Number(s) : NaN;
}

/**
 * Run contexts as templates and expressions see them: their top-level keys starting with `__`
 * are the engine's (ADR 58/60: a map's current items, the cache) and are left out wherever the
 * whole context is listed — `{{ context }}`, `| tojson`, `| length`, `.keys()`, iteration —
 * while a named read (`context.__cache`, the engine's own) still finds them.
 */
const contexts = new WeakSet<object>();

export function asRunContext<T extends object>(ctx: T): T {
  // A run recorded before this showed its engine keys, and refolds as recorded (ADR 84).
  if (recordedWith(ENGINE_FLAGS.contextViewHidesEngineKeys)) contexts.add(ctx);
  // The outputs the engine keeps for itself (a loop's or an import's stash) sit in step_outputs
  // under `__` names beside the user's steps: hidden the same way, one flag later.
  const outputs = (ctx as Record<string, unknown>).step_outputs;
  if (isPlainObject(outputs)) asEngineKeyed(outputs);
  return ctx;
}

/** An object keyed by step name (step_outputs, `steps`): its `__` keys are the engine's. */
export function asEngineKeyed<T extends object>(o: T): T {
  if (recordedWith(ENGINE_FLAGS.stepOutputsHideEngineKeys)) contexts.add(o);
  return o;
}

/**
 * A value a template hands on whole (`input: "{{ context }}"`, `propagation: context`): a run
 * context (or its step_outputs) becomes a copy without its engine keys, anything else is itself.
 */
export function userView(v: unknown): unknown {
  if (!marked(v)) return v;
  const o = v as Record<string, unknown>;
  if (!Object.keys(o).some((k) => k.startsWith('__') || marked(o[k]))) return v;
  return Object.fromEntries(keysOf(o).map((k) => [k, userView(ownKey(o, k))]));
}

const marked = (v: unknown): boolean => v !== null && typeof v === 'object' && contexts.has(v);

/**
 * Own keys of a plain object, minus denied names (and a run context's engine keys). In a run
 * recorded with `object-keys-in-order` (ADR 126) they come sorted by code point, as Jinja's
 * `tojson` sorts them: the order a run added keys in is not kept by a snapshot (the ledger
 * stores a map's keys in its own order), so a context listed after a resume from one, or after
 * a crash, differed from the same run uninterrupted, and its replay diverged there.
 */
export function keysOf(o: Record<string, unknown>): string[] {
  const hide = contexts.has(o);
  const keys = Object.keys(o).filter((k) => !DENIED.has(k) && !(hide && k.startsWith('__')));
  return recordedWith(ENGINE_FLAGS.objectKeysInOrder) ? sortedKeys(keys) : keys;
}

/** Python truthiness: None, False, 0, '', [] and {} are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (isPlainObject(v)) return keysOf(v).length > 0;
  return true;
}

/** Python type name, for error messages. */
export function pyType(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  if (isPlainObject(v)) return 'dict';
  return typeof v === 'object' ? 'object' : typeof v;
}

const NUMERIC = /^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$/;

/** Flujo coerces a numeric-looking string compared with a number. */
function coercePair(a: unknown, b: unknown): [unknown, unknown] {
  if (typeof a === 'boolean' && typeof b === 'number') return [a ? 1 : 0, b];
  if (typeof b === 'boolean' && typeof a === 'number') return [a, b ? 1 : 0];
  if (typeof a === 'number' && typeof b === 'string' && NUMERIC.test(b)) return [a, Number(b)];
  if (typeof b === 'number' && typeof a === 'string' && NUMERIC.test(a)) return [Number(a), b];
  return [a, b];
}

/** Called once per value a comparison visits: the evaluator charges it to its step budget. */
export type Tick = () => void;
const free: Tick = () => {};

/**
 * `==`: structural for lists and dicts; None equals only None. Depth-bounded by the caller's
 * data; `tick` bounds the work (a list of a million references to a million-element list is
 * small to build and 10^12 comparisons to compare).
 */
export function equal(a: unknown, b: unknown, depth = 0, tick: Tick = free): boolean {
  tick();
  if (a === b) return true;
  if (depth > 100) return false; // data nested deeper than this never compares equal
  [a, b] = coercePair(a, b);
  if (a === undefined || a === null) return b === undefined || b === null;
  if (Array.isArray(a)) {
    return (
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => equal(x, b[i], depth + 1, tick))
    );
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = keysOf(a);
    if (ka.length !== keysOf(b).length) return false;
    return ka.every(
      (k) => Object.hasOwn(b, k) && equal(ownKey(a, k), ownKey(b, k), depth + 1, tick),
    );
  }
  return a === b; // after coercion: 3 == "3"
}

/** `<` and friends: numbers with numbers, strings with strings; anything else is simply false. */
export function order(a: unknown, b: unknown): number | undefined {
  [a, b] = coercePair(a, b);
  if (typeof a === 'number' && typeof b === 'number') {
    return Number.isNaN(a) || Number.isNaN(b) ? undefined : a - b;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

/** `x in c`: list membership, substring, dict key. Not a container: false. */
export function contains(c: unknown, x: unknown, tick: Tick = free): boolean {
  if (Array.isArray(c)) return c.some((y) => equal(x, y, 0, tick));
  if (typeof c === 'string') return typeof x === 'string' && c.includes(x);
  if (isPlainObject(c)) return typeof x === 'string' && ownKey(c, x) !== undefined;
  return false;
}

/** Length in Python terms: code points of a string, items of a list, keys of a dict. */
export function lengthOf(v: unknown): number | undefined {
  if (typeof v === 'string') {
    let n = 0;
    for (const _ of v) n++;
    return n;
  }
  if (Array.isArray(v)) return v.length;
  if (isPlainObject(v)) return keysOf(v).length;
  return undefined;
}
