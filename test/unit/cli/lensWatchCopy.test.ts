/**
 * ADR 104: `lens watch` of a SQLite file read from a copy in memory holds one copy at a time.
 * When the file changes it reads a fresh copy and closes the one it read before, the first
 * (opened by withRun) included. Before, the first stayed open until the watch ended, holding
 * the file twice in memory. The stores are stand-ins for the copies, counting their closes.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { lensWatch } from '../../../src/cli/commands/lensWatch.js';
import type { Output } from '../../../src/cli/output.js';
import { emptyHead } from '../../../src/events/envelope.js';
import type { LedgerStore } from '../../../src/ports.js';
import { completed, started } from '../../support/events.js';

const stores = vi.hoisted(() => ({
  first: undefined as unknown as LedgerStore,
  fresh: [] as LedgerStore[],
  closesWhenWatchReturned: -1,
}));

vi.mock('../../../src/cli/commands/lensCommon.js', async (original) => ({
  ...(await original<object>()),
  // As withRun does: the first copy is closed (again) when the work is done.
  withRun: async (
    _flags: unknown,
    _prefix: string,
    work: (ctx: { cfg: unknown; ledger: LedgerStore; runId: string }) => Promise<number>,
  ) => {
    try {
      return await work({ cfg: {}, ledger: stores.first, runId: 'r1' });
    } finally {
      stores.closesWhenWatchReturned = closes.get(stores.first) ?? 0;
      await stores.first.close();
    }
  },
  openLensLedger: async () => {
    const next = stores.fresh.shift();
    if (!next) throw new Error('no more copies');
    return next;
  },
}));

const closes = new Map<LedgerStore, number>();

/** A copy in memory of the file as it was: the run's events so far; `outdated` once it moved on. */
async function copyHolding(done: boolean, outdated: boolean): Promise<LedgerStore> {
  const mem = createMemoryLedger();
  const h = await mem.append({
    runId: 'r1',
    expected: emptyHead('r1'),
    events: [started()],
    at: 1,
  });
  if (done) await mem.append({ runId: 'r1', expected: h.head, events: [completed()], at: 2 });
  const store: LedgerStore & { copyOutdated(): boolean } = {
    kind: 'sqlite',
    append: (r) => mem.append(r),
    head: (id) => mem.head(id),
    read: (id, o) => mem.read(id, o),
    listRuns: (o) => mem.listRuns(o),
    readAll: (after, limit) => mem.readAll(after, limit),
    subscribe: (o) => mem.subscribe(o),
    copyOutdated: () => outdated,
    close: async () => {
      closes.set(store, (closes.get(store) ?? 0) + 1);
    },
  };
  return store;
}

const quiet = {
  data: () => {},
  jsonLine: () => {},
  info: () => {},
  error: () => {},
} as unknown as Output;

describe('lens watch from a copy in memory', () => {
  beforeEach(() => closes.clear());

  it('closes the first copy when it reads a fresh one, and the fresh one when it ends', async () => {
    stores.first = await copyHolding(false, true);
    const second = await copyHolding(false, true);
    const third = await copyHolding(true, false);
    stores.fresh = [second, third];
    expect(await lensWatch('r1', { json: true, interval: '10' }, quiet)).toBe(0);
    // Fails before ADR 104: the first copy was closed only by withRun, after the watch (0 here).
    expect(stores.closesWhenWatchReturned).toBe(1);
    expect(closes.get(second)).toBe(1);
    expect(closes.get(third)).toBe(1);
  });
});
