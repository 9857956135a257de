/**
 * Pure data operations of the run machine: how a node's output reaches the run context
 * (`updates_context` deep merge, `sink_to` path) and how parallel branches combine.
 */
import type { ParallelNode, PlanNode, RouterNode } from '../dsl/ir.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Deep merge as Flujo's context adapter does: objects merge key by key, anything else replaces. */
export function deepMerge(base: Obj, patch: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (FORBIDDEN.has(k)) continue;
    const cur = out[k];
    out[k] = isObj(cur) && isObj(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

/** Sets a dotted path (`a.b.c`) immutably, creating objects on the way. */
export function setPath(base: Obj, path: string, value: unknown): Obj {
  const [head, ...rest] = path.split('.');
  if (!head || FORBIDDEN.has(head)) return base;
  if (rest.length === 0) return { ...base, [head]: value };
  const child = isObj(base[head]) ? (base[head] as Obj) : {};
  return { ...base, [head]: setPath(child, rest.join('.'), value) };
}

/** The run context after a node completed with `output`. */
export function applyNodeOutput(node: PlanNode, ctx: Obj, output: unknown): Obj {
  let next = ctx;
  if (node.updatesContext && isObj(output)) next = deepMerge(next, output);
  if (node.sinkTo) next = setPath(next, node.sinkTo.replace(/^context\./, ''), output);
  return next;
}

/** A parallel node's output from its succeeded branches, in declaration order. */
export function mergeBranches(
  node: ParallelNode | RouterNode,
  keys: readonly string[],
  outputs: Obj,
): unknown {
  const present = keys.filter((k) => k in outputs);
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
