/**
 * Pure data operations of the run machine: how a node's output reaches the run context
 * (`updates_context` deep merge, `sink_to` path) and how parallel branches combine.
 */
import { ENGINE_FLAGS, recordedWith } from '../dsl/engineFlags.js';
import { byCodePoint } from '../dsl/keyOrder.js';
import type { ParallelNode, PlanNode, RouterNode } from '../dsl/ir.js';

type Obj = Record<string, unknown>;
/** A plain record: an object that is not an array or bytes. */
export const isObj = (v: unknown): v is Obj =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
/**
 * The one key that is not data: assigning it would set an object's prototype. The ledger refuses
 * it in outputs (OUTPUT_NOT_RECORDABLE). `constructor`, `prototype` or `toString` are keys like
 * any other here — own properties, read with `own` so nothing inherited is ever taken for data.
 */
const FORBIDDEN = '__proto__';

/** `o[k]` when `k` is an own key of `o`, else undefined (never an inherited member). */
const own = (o: Obj, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

/** Deep merge as Flujo's context adapter does: objects merge key by key, anything else replaces. */
export function deepMerge(base: Obj, patch: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (k === FORBIDDEN) continue;
    const cur = own(out, k);
    out[k] = isObj(cur) && isObj(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

/** Sets a dotted path (`a.b.c`) immutably, creating objects on the way. */
export function setPath(base: Obj, path: string, value: unknown): Obj {
  const [head, ...rest] = path.split('.');
  if (!head || head === FORBIDDEN) return base;
  if (rest.length === 0) return { ...base, [head]: value };
  const cur = own(base, head);
  const child = isObj(cur) ? cur : {};
  return { ...base, [head]: setPath(child, rest.join('.'), value) };
}

/**
 * Context keys the engine keeps for blueprints through `record` (the latest human answer, the
 * outputs `steps.<name>.output` reads): a step's output cannot write them through
 * `updatesContext` or `sinkTo`, so a model reply holding `resume_input: {approved: true}` cannot
 * stand in for what a person answered. The output itself is recorded whole, as always.
 */
export const ENGINE_CONTEXT_KEYS: ReadonlySet<string> = new Set(['resume_input', 'step_outputs']);

/**
 * Context keys the engine keeps, which a parallel's join merges the same way whatever its merge
 * strategy (ADR 58), except `no_merge`, which keeps nothing of the branches: the entries each
 * branch changed in `step_outputs`, `__map_items`, `__cache` are united, each entry whole (a
 * later branch wins an entry both changed); `resume_input` and other values are taken whole from
 * the last branch (in declaration order) whose value differs from the one the parallel started
 * with. A user's strategy is about the user's keys: two branches that each ask a person,
 * or each record a step's output, are not in conflict.
 */
export const ENGINE_MERGED_KEYS: ReadonlySet<string> = new Set([
  ...ENGINE_CONTEXT_KEYS,
  '__map_items',
  '__cache',
]);

function mergeEngineKeys(ctx: Obj, base: Obj, branches: readonly Obj[]): Obj {
  let out = ctx;
  for (const branch of branches)
    for (const k of ENGINE_MERGED_KEYS) {
      if (!Object.hasOwn(branch, k)) continue;
      const before = own(base, k);
      const v = branch[k];
      if (deepEqual(before, v)) continue; // this branch left it as it was
      const prev = own(out, k);
      // Keyed tables (step_outputs, __map_items, __cache): the entries this branch changed, each
      // whole — its copy of the others is the base's and must not undo another branch's newer
      // one (a parallel in a loop writes the same entries every round). Anything else, whole.
      out = {
        ...out,
        [k]:
          ENGINE_TABLES.has(k) && isObj(prev) && isObj(v)
            ? { ...prev, ...changedEntries(isObj(before) ? before : {}, v) }
            : v,
      };
    }
  return out;
}

const ENGINE_TABLES: ReadonlySet<string> = new Set(['step_outputs', '__map_items', '__cache']);

/** The entries of `next` that differ from `base`'s, each whole (keys removed are not). */
function changedEntries(base: Obj, next: Obj): Obj {
  const patch: Obj = {};
  for (const [k, v] of Object.entries(next))
    if (k !== FORBIDDEN && !deepEqual(own(base, k), v)) patch[k] = v;
  return patch;
}

/** The run context after a node completed with `output`. */
export function applyNodeOutput(
  node: PlanNode,
  ctx: Obj,
  output: unknown,
  flags: readonly string[] = [],
): Obj {
  let next = ctx;
  if (node.updatesContext && isObj(output)) {
    // None of the engine's keys: not the answer or step outputs (ADR 60), nor a map's current
    // item or the cache's entries, which the engine writes through its own nodes' sinkTo.
    let patch = output;
    if (Object.keys(output).some((k) => ENGINE_MERGED_KEYS.has(k)))
      patch = Object.fromEntries(
        Object.entries(output).filter(([k]) => !ENGINE_MERGED_KEYS.has(k)),
      );
    next = deepMerge(next, patch);
  }
  if (node.sinkTo) {
    const path = node.sinkTo.replace(/^context\./, '');
    if (!ENGINE_CONTEXT_KEYS.has(path.split('.')[0] ?? '')) next = setPath(next, path, output);
  }
  for (const p of node.record ?? []) next = setPath(next, p, output);
  // ADR 123: a run recorded before the flag kept only the outputs `record` names.
  if (node.keepOutput && flags.includes(ENGINE_FLAGS.stepOutputsKeptForEveryRead)) {
    const outputs = own(next, 'step_outputs');
    if (node.name !== FORBIDDEN)
      next = { ...next, step_outputs: { ...(isObj(outputs) ? outputs : {}), [node.name]: output } };
  }
  return next;
}

/** A parallel node's output from its succeeded branches, in declaration order. */
export function mergeBranches(
  node: ParallelNode | RouterNode,
  keys: readonly string[],
  outputs: Obj,
): unknown {
  const present = keys.filter((k) => Object.hasOwn(outputs, k));
  const values = present.map((k) => outputs[k]);
  switch (node.reduce) {
    case undefined:
      return Object.fromEntries(present.map((k) => [k, outputs[k]]));
    case 'keys':
      return present;
    case 'values':
      return values;
    case 'union':
      return values.reduce<Obj>((acc, v) => (isObj(v) ? { ...acc, ...v } : acc), {});
    case 'concat':
      return values.flatMap((v) => (Array.isArray(v) ? v : [v]));
    case 'first':
      return values[0] ?? null;
    case 'last':
      return values[values.length - 1] ?? null;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return (
      a instanceof Uint8Array &&
      b instanceof Uint8Array &&
      a.length === b.length &&
      a.every((x, i) => x === b[i])
    );
  }
  const ka = Object.keys(a as Obj);
  const kb = Object.keys(b as Obj);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Obj)[k], (b as Obj)[k]));
}

/** What a branch changed relative to the context it started from (top-level keys). */
function changesOf(base: Obj, branch: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(branch)) if (!deepEqual(own(base, k), v)) out[k] = v;
  return out;
}

export type MergeResult =
  { readonly ok: true; readonly ctx: Obj } | { readonly ok: false; readonly key: string };

/**
 * Merges the contexts of a parallel node's succeeded branches (in declaration order) back into
 * the context they started from, by Flujo's strategies: `no_merge` keeps the base; `overwrite`
 * lets later branches win; `keep_first` lets earlier ones win; `context_update` deep-merges and
 * fails when two branches set the same leaf to different values; `error_on_conflict` fails when
 * two branches changed the same key at all.
 */
export function mergeContexts(
  base: Obj,
  branches: readonly Obj[],
  strategy: ParallelNode['merge'],
  /** False for the nested objects `context_update` merges: engine keys are top-level keys. */
  top = true,
): MergeResult {
  const engineKeys = (ctx: Obj) => (top ? mergeEngineKeys(ctx, base, branches) : ctx);
  // `no_merge` discards the branches' contexts whole, engine keys too: it is how an import keeps
  // its child's context (and answers, step outputs) out of the parent's.
  if (strategy === 'no_merge') return { ok: true, ctx: base };
  let ctx: Obj = { ...base };
  const touched = new Map<string, unknown>();
  // In key order since ADR 126: which conflicting key a failure names is recorded, and the
  // order a branch added its keys in is not kept by a snapshot.
  const sorted = recordedWith(ENGINE_FLAGS.objectKeysInOrder);
  for (const branch of branches) {
    const changes = Object.entries(changesOf(base, branch));
    if (sorted) changes.sort(([a], [b]) => byCodePoint(a, b));
    for (const [k, v] of changes) {
      if (k === FORBIDDEN || (top && ENGINE_MERGED_KEYS.has(k))) continue;
      if (!touched.has(k)) {
        touched.set(k, v);
        ctx[k] = v;
        continue;
      }
      const prev = touched.get(k);
      switch (strategy) {
        case 'overwrite':
          ctx[k] = v;
          break;
        case 'keep_first':
          break;
        case 'error_on_conflict':
          return { ok: false, key: k };
        case 'context_update': {
          if (deepEqual(prev, v)) break;
          if (isObj(prev) && isObj(v)) {
            const inner = mergeContexts(
              isObj(own(base, k)) ? (own(base, k) as Obj) : {},
              [prev, v],
              'context_update',
              false,
            );
            if (!inner.ok) return { ok: false, key: `${k}.${inner.key}` };
            ctx = { ...ctx, [k]: inner.ctx };
            touched.set(k, inner.ctx);
            break;
          }
          return { ok: false, key: k };
        }
      }
    }
  }
  return { ok: true, ctx: engineKeys(ctx) };
}
