/**
 * The values a run holds are its own and read-only (docs/adr/0040). A refold rebuilds them from
 * the ledger and reruns only plan code, never a step's function, so a value the run holds must
 * not change behind the machine's back: a step function that mutated its input (the previous
 * step's output, or a part of the run context) used to steer the live run where its replay and
 * its resume do not go, and delta snapshots, which diff the context by reference (ADR 39), missed
 * such a change altogether.
 *
 * So every value the machine keeps is frozen all the way down, and every value that crosses from
 * the caller's or a step's code into the run is copied first: code outside the run keeps no
 * reference into it, and a step function gets a copy of its input that it may change freely.
 */

import { LedgerEncodeError } from '../errors.js';
import { decodeCanonical, encodeCanonicalScratch } from '../events/codec.js';
import { MAX_DEPTH } from '../events/codecLimits.js';
import { formatPath } from '../events/codecPath.js';
import { isPlainObject } from '../plainObject.js';

/**
 * Freezes `v` and everything reachable from it, in place, and returns it. A frozen object is taken
 * as frozen all the way down, as everything this module freezes is: values from outside the run
 * are fresh copies (asRecorded), so only an object that plan code itself returned already frozen
 * could hold something that is not, and plan code must be pure anyway (docs/dsl.md). A WeakSet of
 * deep-frozen objects would close that gap at five times the cost (0.78 against 0.14 µs for a
 * small output). Bytes cannot be frozen (a typed array with elements refuses) and stay as they
 * are; so does anything inside a value that is not plain data, which the ledger refuses anyway.
 */
export function freezeDeep<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  const o = v as unknown as object;
  if (Object.isFrozen(o) || ArrayBuffer.isView(o)) return v;
  Object.freeze(o); // before the walk: a cycle ends here
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) freezeDeep(o[i] as unknown);
  } else {
    for (const k of Object.keys(o)) freezeDeep((o as Record<string, unknown>)[k]);
  }
  return v;
}

/**
 * A copy of plain data (objects, arrays, bytes) that shares nothing with `v` and is not frozen.
 * What is not plain data (a Date, a Map, a class instance) is kept as it is, so that recording it
 * fails with the ledger's own error naming where it is. Nesting deeper than the ledger records
 * is kept as it is below that depth, and refused by the ledger the same way.
 */
export function ownCopy<T>(v: T, depth = 0): T {
  if (v === null || typeof v !== 'object' || depth > 256) return v;
  if (v instanceof Uint8Array) return v.slice() as T;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = ownCopy(v[i] as unknown, depth + 1);
    return out as T;
  }
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const copied = ownCopy((v as Record<string, unknown>)[k], depth + 1);
    // Defined as data: a key named __proto__ stays a key, as the ledger records it.
    if (k === '__proto__')
      Object.defineProperty(out, k, {
        value: copied,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    else out[k] = copied;
  }
  return out as T;
}

/**
 * `v` as the ledger records it and a refold reads it back: a fresh value that shares nothing with
 * `v`, with what recording changes already changed (an object's undefined entries gone, a bigint
 * that fits a safe integer a number). The run holds this, so the live run and its replay hold the
 * same values. Throws LedgerEncodeError naming `where` and the path when `v` is not recordable.
 */
export function asRecorded(v: unknown, where: string, depth = 0): unknown {
  return decodeCanonical(recordedBytes(v, where, depth));
}

/**
 * `v` as the ledger records it, as bytes valid until the next encode (they are the encoder's
 * scratch buffer). Throws LedgerEncodeError naming `where` and the path when `v` is not recordable,
 * also when it would sit `depth` levels down in its record (encodeCanonical) and nests too deep.
 */
export function recordedBytes(v: unknown, where: string, depth = 0): Uint8Array {
  try {
    return encodeCanonicalScratch(v, depth);
  } catch (e) {
    if (!(e instanceof LedgerEncodeError)) throw e;
    const at = !e.path ? where : e.path.startsWith('[') ? where + e.path : `${where}.${e.path}`;
    // Measured below its record's top: say how deep the value itself may nest.
    const reason =
      depth > 0 && e.reason === `nested deeper than ${MAX_DEPTH}`
        ? `nested deeper than ${MAX_DEPTH - depth} levels, the most a run records here`
        : e.reason;
    throw new LedgerEncodeError(at, reason);
  }
}

/** `where` and a path below it, as the ledger's refusals name a place (`output.a`, `output[0]`). */
function placeOf(where: string, segments: readonly (string | number)[]): string {
  // formatPath reads the segments innermost first, as the encoder gathers them.
  const path = formatPath([...segments].reverse());
  return !path ? where : path.startsWith('[') ? where + path : `${where}.${path}`;
}

/**
 * The first place within `limit` levels where `v` holds one of the values it is inside of: that
 * place and the outer value's, as paths; undefined when there is none.
 */
function cycleIn(
  v: unknown,
  limit: number,
): { at: (string | number)[]; back: (string | number)[] } | undefined {
  const outer: object[] = [];
  const paths: (string | number)[][] = [];
  const done = new WeakSet<object>();
  const walk = (x: unknown, path: (string | number)[]): ReturnType<typeof cycleIn> => {
    if (x === null || typeof x !== 'object' || ArrayBuffer.isView(x) || done.has(x)) return;
    const i = outer.indexOf(x);
    if (i >= 0) return { at: path, back: paths[i] as (string | number)[] };
    if (path.length > limit) return;
    outer.push(x);
    paths.push(path);
    const entries: [string | number, unknown][] = Array.isArray(x)
      ? x.map((e, k) => [k, e])
      : Object.keys(x).map((k) => [k, (x as Record<string, unknown>)[k]]);
    for (const [k, e] of entries) {
      const found = walk(e, [...path, k]);
      if (found) return found;
    }
    outer.pop();
    paths.pop();
    done.add(x);
    return undefined;
  };
  return walk(v, []);
}

/**
 * asRecorded for a value from outside the run (a live reply, a skill's output): one that holds
 * itself is refused as a cycle where it does (`output.a: a cycle: …`), not as nesting too deep
 * 250 levels down. Only for facts, which a refold reads as recorded: a value plan code returns
 * keeps asRecorded's words, which a refold makes again.
 */
export function asRecordedFact(v: unknown, where: string, depth = 0): unknown {
  try {
    return asRecorded(v, where, depth);
  } catch (e) {
    if (!(e instanceof LedgerEncodeError) || !e.reason.startsWith('nested deeper than')) throw e;
    const cycle = cycleIn(v, MAX_DEPTH - depth);
    if (!cycle) throw e;
    throw new LedgerEncodeError(
      placeOf(where, cycle.at),
      `a cycle: the value at ${placeOf(where, cycle.back)} holds itself here`,
    );
  }
}
