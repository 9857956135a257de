/**
 * The run-context cache of `kind: cache` steps (IR `{cache: CacheOp}`): entries live in
 * `context.__cache` under `<fingerprint>:<blake3 of the canonical input>`, so a hit is a pure
 * function of the recorded run (the cache is part of the context the ledger rebuilds), never of
 * state outside it. See docs/adr/0029.
 */
import type { CacheOp } from '../dsl/ir.js';
import { contentHash } from '../events/chain.js';
import { encodeCanonical } from '../events/codec.js';
import { sortedJson } from '../dsl/keyOrder.js';

export const CACHE_KEY = '__cache';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function inputHash(input: unknown): string {
  try {
    return contentHash(encodeCanonical(input ?? null));
  } catch {
    // A value the codec refuses (a lone surrogate) still gets a key, its keys sorted as the
    // canonical encoding sorts them (ADR 132; JSON.stringify followed the order the run added
    // them). No run records a lookup made here: an object the codec refuses fails the run at the
    // cache's input, and a string is recorded in the lookup's own batch, which the ledger refuses.
    return contentHash(new TextEncoder().encode(sortedJson(input ?? null)));
  }
}

export function cacheFn(op: CacheOp): (...args: unknown[]) => unknown {
  return (value, context) => {
    const ctx = isObj(context) ? context : {};
    const cache = isObj(ctx[CACHE_KEY]) ? (ctx[CACHE_KEY] as Obj) : {};
    switch (op.op) {
      case 'lookup':
        return Object.hasOwn(cache, `${op.key}:${inputHash(value)}`) ? 'hit' : 'miss';
      case 'get':
        return cache[`${op.key}:${inputHash(value)}`] ?? null;
      case 'put': {
        const outs = ctx.step_outputs;
        const input = isObj(outs) ? outs[op.inputFrom] : undefined;
        return { ...cache, [`${op.key}:${inputHash(input)}`]: value };
      }
    }
  };
}
