/**
 * A live reply that holds itself is refused as a cycle where it does (asRecordedFact), not as a
 * value nested deeper than the ledger records, 250 segments down (`output.a.a.a…`). A value plan
 * code returns keeps asRecorded's words: a refold makes that refusal again and compares it.
 */
import { describe, expect, it } from 'vitest';

import { asRecorded, asRecordedFact } from '../../../src/actors/frozen.js';
import { LedgerEncodeError } from '../../../src/errors.js';

const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof LedgerEncodeError) return { path: e.path, reason: e.reason };
    throw e;
  }
  throw new Error('not refused');
};

describe('asRecordedFact', () => {
  it('names a cycle at the place the value holds itself, and the value it holds', () => {
    const a: Record<string, unknown> = {};
    a.a = a;
    expect(refusal(() => asRecordedFact(a, 'output', 2))).toEqual({
      path: 'output.a',
      reason: 'a cycle: the value at output holds itself here',
    });
    const inner: Record<string, unknown> = { n: 1 };
    const list = [0, { x: { inner } }];
    inner.up = list[1];
    expect(refusal(() => asRecordedFact({ list }, 'output'))).toEqual({
      path: 'output.list[1].x.inner.up',
      reason: 'a cycle: the value at output.list[1] holds itself here',
    });
  });

  it('records what has no cycle, shared values included, and keeps the depth refusal for deep data', () => {
    const shared = { s: 1 };
    expect(asRecordedFact({ a: shared, b: [shared] }, 'output')).toEqual({
      a: { s: 1 },
      b: [{ s: 1 }],
    });
    let deep: unknown = 'end';
    for (let i = 0; i < 300; i++) deep = { d: deep };
    expect(refusal(() => asRecordedFact(deep, 'output')).reason).toMatch(/^nested deeper than/);
  });

  it('asRecorded, which plan code values go through, says what it said before', () => {
    const a: Record<string, unknown> = {};
    a.a = a;
    expect(refusal(() => asRecorded(a, 'returned value', 2)).reason).toMatch(
      /^nested deeper than \d+ levels, the most a run records here$/,
    );
  });
});
