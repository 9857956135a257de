/**
 * The contract's cases of `orphans(runIdPrefix)` (ports.ts, ADR 139), as `lens verify RUN` uses
 * it through `orphanedRuns`: a RUN the store does not list is looked for among the events whose
 * head row was removed, by its prefix. Run by describeLedgerContract for every store with a heads
 * table; on SQLite the orphans sit below, between and above the head rows' run numbers.
 */
import { expect } from 'vitest';

import { emptyHead } from '../../src/events/envelope.js';
import { orphanedRuns } from '../../src/runtime/verifyLedger.js';
import { started, stepDone } from '../support/events.js';
import type { LedgerFixture } from './ledgerContract.js';

type Test = (title: string, fn: (fx: LedgerFixture) => Promise<void>) => void;

const names = async (fx: LedgerFixture, prefix?: string) =>
  (await orphanedRuns(fx.store, prefix)).map((o) => o.runId).sort();

export function orphansByPrefix(test: Test): void {
  test('a run-id prefix finds the orphaned runs it names, and only those (ADR 139)', async (fx) => {
    if (!fx.deleteHead) return; // a store without a heads table cannot lose one
    // Seeded in this order: on SQLite, first is below every kept run number, last above.
    const runs = ['first', 'ab-1', 'ab-2', 'ab%x', 'mid', 'é-1', '\u{10ffff}z', 'last'];
    for (const id of runs) {
      await fx.store.append({
        runId: id,
        expected: emptyHead(id),
        events: [started(), stepDone('0')],
        at: 1_764_000_000_000,
      });
    }
    for (const id of ['first', 'ab-2', 'ab%x', 'é-1', '\u{10ffff}z', 'last'])
      await fx.deleteHead(id);
    expect(await names(fx)).toEqual(['ab%x', 'ab-2', 'first', 'last', 'é-1', '\u{10ffff}z']);
    expect(await names(fx, 'ab-')).toEqual(['ab-2']);
    expect(await names(fx, 'ab-2')).toEqual(['ab-2']);
    // LIKE's wildcards are plain characters of an id.
    expect(await names(fx, 'ab%')).toEqual(['ab%x']);
    expect(await names(fx, 'ab')).toEqual(['ab%x', 'ab-2']);
    expect(await names(fx, 'first')).toEqual(['first']);
    expect(await names(fx, 'las')).toEqual(['last']);
    expect(await names(fx, 'é')).toEqual(['é-1']);
    // The last code point there is: no string sorts past every id it begins.
    expect(await names(fx, '\u{10ffff}')).toEqual(['\u{10ffff}z']);
    expect(await names(fx, 'mid')).toEqual([]);
    expect(await names(fx, 'ab-1')).toEqual([]);
    expect(await names(fx, 'zzz')).toEqual([]);
    // Postgres reads those runs' events alone; a SQLite v2 file's events hold no run id, so it
    // hands back every orphaned run, found from the run numbers no head row holds.
    const stored = await fx.store.orphans!('ab-');
    expect(stored).toHaveLength(fx.store.kind === 'postgres' ? 1 : 6);
    // With no head row left, every event is an orphan.
    for (const id of ['ab-1', 'mid']) await fx.deleteHead(id);
    expect(await names(fx, 'mid')).toEqual(['mid']);
    expect(await names(fx, 'a')).toEqual(['ab%x', 'ab-1', 'ab-2']);
    const mid = (await orphanedRuns(fx.store, 'mid'))[0];
    expect(mid).toMatchObject({ seq: 1, reason: 'orphaned' });
    expect(mid?.detail).toMatch(/^2 stored events from seq 1 /);
  });
}
