/**
 * Key order where it reaches what a run records (ADR 126): a parallel's merge conflict names the
 * same key whatever order the branches added theirs in, and a rendered object (a hitl message,
 * a system prompt, a history turn) is written with its keys sorted by code point, integer-like
 * keys too, in the layout JSON.stringify gives.
 */
import { describe, expect, it } from 'vitest';

import { mergeContexts } from '../../../src/actors/data.js';
import { turnText } from '../../../src/blueprint/history.js';
import { ENGINE_FLAGS, withEngineFlags } from '../../../src/dsl/engineFlags.js';
import { sortedJson } from '../../../src/dsl/keyOrder.js';
import { redactDeep } from '../../../src/redact.js';

const FLAG = ENGINE_FLAGS.objectKeysInOrder;

describe('a merge conflict under object-keys-in-order', () => {
  it('names the smallest conflicting key, whatever order a branch added them in', () => {
    const base = {};
    const one = { zeta: 1, alpha: 1 };
    const two = { alpha: 2, zeta: 2 };
    const swapped = { zeta: 2, alpha: 2 };
    for (const b of [two, swapped])
      expect(
        withEngineFlags([FLAG], () => mergeContexts(base, [one, b], 'context_update')),
      ).toEqual({ ok: false, key: 'alpha' });
    // A run recorded before the flag names the first as its branch held them, as it did.
    expect(
      withEngineFlags([], () => mergeContexts(base, [one, swapped], 'error_on_conflict')),
    ).toEqual({ ok: false, key: 'zeta' });
  });
});

describe('sortedJson', () => {
  const value = { b: [1, { y: null, x: 'é' }], a: {}, '10': true, '9': [], c: undefined };

  it('is JSON.stringify of the value with its keys sorted, compact and indented', () => {
    const sorted = { '10': true, '9': [], a: {}, b: [1, { x: 'é', y: null }] };
    // JSON.stringify itself would put "9" before "10" (an object lists integer keys first).
    expect(sortedJson(value)).toBe('{"10":true,"9":[],"a":{},"b":[1,{"x":"é","y":null}]}');
    expect(sortedJson(value, 2)).toBe(
      JSON.stringify(sorted, null, 2).replace('"9": [],\n  "10": true', '"10": true,\n  "9": []'),
    );
    expect(sortedJson('text')).toBe('"text"');
    expect(sortedJson(undefined)).toBeUndefined();
    expect(sortedJson([undefined])).toBe('[null]');
  });

  it('writes a history turn of an object sorted under the flag, as built before it', () => {
    const out = { zeta: 1, alpha: 2 };
    expect(withEngineFlags([FLAG], () => turnText(out))).toBe('{"alpha":2,"zeta":1}');
    expect(withEngineFlags([], () => turnText(out))).toBe('{"zeta":1,"alpha":2}');
  });
});

describe('redactDeep', () => {
  it('keeps a __proto__ key as an own key, and stops at depth 256', () => {
    const raw = JSON.parse('{"__proto__": "x", "a": "Bearer sk-abcdefghijklmnop1234"}') as object;
    const out = redactDeep(raw) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out.a).toBe('Bearer [redacted]');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => redactDeep(cyclic)).not.toThrow();
  });
});
