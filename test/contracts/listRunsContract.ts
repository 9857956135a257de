/**
 * The contract's cases of `listRuns({ prefix })` (ports.ts), as `resolveRunId` uses it: exactly
 * the runs whose id starts with the prefix, in id order, whatever characters the prefix holds
 * (LIKE's wildcards, a multi-byte character, the last code point there is), with `limit` and
 * `afterRunId` applied within them. The stores read them as an index range [prefix, prefixEnd).
 */
import { expect } from 'vitest';

import { emptyHead } from '../../src/events/envelope.js';
import { started } from '../support/events.js';
import type { LedgerFixture } from './ledgerContract.js';

type Test = (title: string, fn: (fx: LedgerFixture) => Promise<void>) => void;

export function listRunsByPrefix(test: Test): void {
  test('lists exactly the runs a prefix starts, for any prefix', async ({ store }) => {
    const runs = [
      'ab',
      'ab-1',
      'ab-2',
      'ab%x',
      'ab_y',
      'abc',
      'ac',
      'é-1',
      'ê',
      '\u{10ffff}',
      '\u{10ffff}z',
      'zz',
    ];
    for (const id of runs)
      await store.append({
        runId: id,
        expected: emptyHead(id),
        events: [started()],
        at: 1_764_000_000_000,
      });
    const ids = async (prefix: string, more: { limit?: number; afterRunId?: string } = {}) =>
      (await store.listRuns({ prefix, ...more })).map((r) => r.runId);
    expect(await ids('ab')).toEqual(['ab', 'ab%x', 'ab-1', 'ab-2', 'ab_y', 'abc']);
    expect(await ids('ab-')).toEqual(['ab-1', 'ab-2']);
    // LIKE's wildcards are plain characters of an id.
    expect(await ids('ab%')).toEqual(['ab%x']);
    expect(await ids('ab_')).toEqual(['ab_y']);
    expect(await ids('ab-2')).toEqual(['ab-2']);
    expect(await ids('é')).toEqual(['é-1']);
    // The last code point there is: no string sorts past every id it begins.
    expect(await ids('\u{10ffff}')).toEqual(['\u{10ffff}', '\u{10ffff}z']);
    // A prefix no run has, before, between and after the runs.
    expect(await ids('0')).toEqual([]);
    expect(await ids('ab-3')).toEqual([]);
    expect(await ids('zzz')).toEqual([]);
    expect(await ids('ab', { limit: 2 })).toEqual(['ab', 'ab%x']);
    expect(await ids('ab', { afterRunId: 'ab-2', limit: 5 })).toEqual(['ab_y', 'abc']);
  });
}
