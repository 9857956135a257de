/**
 * ADR 104: a SQLite file read from a copy in memory is read again when it changes. `lens serve`
 * reads through `refreshingState`, which swaps to a fresh copy without failing a call reading
 * the old one and closes the old one after; `lens watch` swaps with `freshLedger`.
 */
import { describe, expect, it } from 'vitest';

import { freshLedger, refreshingState } from '../../../src/adapters/ledger/copyRefresh.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import type { State } from '../../../src/adapters/ledger/state.js';
import { emptyHead } from '../../../src/events/envelope.js';
import type { ReadModels, RunRow } from '../../../src/projections/readModels.js';
import type { LedgerStore } from '../../../src/ports.js';
import { completed, started } from '../../support/events.js';

/** A copy in memory as the store gives it: tagged, its outdated() and close() counted. */
function copy(tag: string, runs: string[] = []) {
  const mem = createMemoryLedger();
  const counts = { checks: 0, closes: 0 };
  let outdated = false;
  let hold: Promise<void> | undefined;
  const ledger = {
    kind: 'sqlite' as const,
    append: (r: Parameters<LedgerStore['append']>[0]) => mem.append(r),
    head: (id: string) => mem.head(id),
    read: (id: string) => mem.read(id),
    listRuns: () => mem.listRuns(),
    readAll: (after?: string, limit?: number) => mem.readAll(after, limit),
    subscribe: () => mem.subscribe(),
    copyOutdated: () => {
      counts.checks++;
      return outdated;
    },
    close: async () => {
      counts.closes++;
    },
  } satisfies LedgerStore & { copyOutdated(): boolean };
  const row = (runId: string) => ({ runId, pipeline: tag }) as RunRow;
  const readModels = {
    listRuns: async () => runs.map(row),
    getRun: async (runId: string) => {
      await hold;
      return runs.includes(runId) ? row(runId) : null;
    },
  } as unknown as ReadModels;
  const state: State = {
    ledger,
    readModels,
    rebuild: () => Promise.reject(new Error('read-only')),
    close: () => ledger.close(),
  };
  return {
    state,
    mem,
    counts,
    outdate: () => (outdated = true),
    holdReads: (p: Promise<void>) => (hold = p),
  };
}

function clock() {
  let t = 0;
  return { now: () => t, tick: (ms: number) => (t += ms) };
}

describe('refreshingState (lens serve from a copy in memory)', () => {
  it('reads the copy taken first until the file changed, then a fresh one, and closes the first', async () => {
    const first = copy('first', ['a']);
    const second = copy('second', ['a', 'b']);
    const c = clock();
    const opens: string[] = [];
    const state = refreshingState(first.state, {
      now: c.now,
      open: async () => (opens.push('open'), second.state),
    });
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a']);
    first.outdate();
    // Looked at no sooner than a second after the last look.
    c.tick(999);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a']);
    expect(opens).toEqual([]);
    c.tick(1);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a', 'b']);
    expect(opens).toEqual(['open']);
    expect(first.counts.closes).toBe(1);
    expect(second.counts.closes).toBe(0);
    await state.close();
    expect(first.counts.closes).toBe(1);
    expect(second.counts.closes).toBe(1);
  });

  it('looks at the file at most once a second however many calls come', async () => {
    const first = copy('first', ['a']);
    const c = clock();
    const state = refreshingState(first.state, {
      now: c.now,
      open: () => Promise.reject(new Error('not opened: the file did not change')),
    });
    for (let i = 0; i < 50; i++) {
      c.tick(100);
      await state.readModels.listRuns();
    }
    expect(first.counts.checks).toBe(5);
    await state.close();
  });

  it('a call reading the old copy when the new one comes finishes on it; the old closes after', async () => {
    const first = copy('first', ['a']);
    const second = copy('second', ['a', 'b']);
    const c = clock();
    const state = refreshingState(first.state, { now: c.now, open: async () => second.state });
    let letGo!: () => void;
    first.holdReads(new Promise<void>((r) => (letGo = r)));
    const inFlight = state.readModels.getRun('a');
    await new Promise((r) => setTimeout(r, 0));
    first.outdate();
    c.tick(1000);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a', 'b']);
    // The new copy serves; the old stays open for the call still reading it.
    expect(first.counts.closes).toBe(0);
    letGo();
    expect(await inFlight).toMatchObject({ runId: 'a', pipeline: 'first' });
    await new Promise((r) => setTimeout(r, 0));
    expect(first.counts.closes).toBe(1);
    expect(await state.readModels.getRun('b')).toMatchObject({ pipeline: 'second' });
    await state.close();
  });

  it('a refresh that fails keeps serving what was read, says why, and is tried again', async () => {
    const first = copy('first', ['a']);
    const second = copy('second', ['a', 'b']);
    const c = clock();
    const errors: string[] = [];
    let fail = true;
    const state = refreshingState(first.state, {
      now: c.now,
      open: async () => {
        if (fail) throw new Error('a -wal is beside it');
        return second.state;
      },
      onError: (e) => errors.push((e as Error).message),
    });
    first.outdate();
    c.tick(1000);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a']);
    expect(errors).toEqual(['a -wal is beside it']);
    expect(first.counts.closes).toBe(0);
    fail = false;
    c.tick(1000);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a', 'b']);
    expect(first.counts.closes).toBe(1);
    await state.close();
  });

  it("a subscriber follows the fresh copy: it yields what the new one holds after the old one's end", async () => {
    const first = copy('first');
    const second = copy('second');
    for (const store of [first.mem, second.mem])
      await store.append({ runId: 'r1', expected: emptyHead('r1'), events: [started()], at: 1 });
    const head = await second.mem.head('r1');
    await second.mem.append({ runId: 'r1', expected: head!, events: [completed()], at: 2 });
    const c = clock();
    const state = refreshingState(first.state, { now: c.now, open: async () => second.state });
    const abort = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const r of state.ledger.subscribe({ signal: abort.signal, pollMs: 5 })) {
        seen.push(r.type);
        if (r.type === 'RunCompleted') abort.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['RunStarted']);
    first.outdate();
    c.tick(1000);
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
    abort.abort();
    expect(seen).toEqual(['RunStarted', 'RunCompleted']);
    await state.close();
  });
});

describe('refreshingState holds two copies at the peak, not three (ADR 113)', () => {
  it('closes the old copy when the open releases it and no call reads it, before the new copy is taken', async () => {
    const first = copy('first', ['a']);
    const second = copy('second', ['a', 'b']);
    const c = clock();
    const seen: number[] = [];
    const state = refreshingState(first.state, {
      now: c.now,
      open: async (release) => {
        release(); // the bytes are read; SQLite's copy is next
        seen.push(first.counts.closes);
        return second.state;
      },
    });
    first.outdate();
    c.tick(1000);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a', 'b']);
    expect(seen).toEqual([1]);
    expect(first.counts.closes).toBe(1);
    await state.close();
    expect(first.counts.closes).toBe(1);
  });

  it('keeps the old copy for a call still reading it, released or not', async () => {
    const first = copy('first', ['a']);
    const second = copy('second', ['a', 'b']);
    const c = clock();
    const seen: number[] = [];
    const state = refreshingState(first.state, {
      now: c.now,
      open: async (release) => {
        release();
        seen.push(first.counts.closes);
        return second.state;
      },
    });
    let letGo!: () => void;
    first.holdReads(new Promise<void>((r) => (letGo = r)));
    const inFlight = state.readModels.getRun('a');
    await new Promise((r) => setTimeout(r, 0));
    first.outdate();
    c.tick(1000);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a', 'b']);
    expect(seen).toEqual([0]);
    letGo();
    expect(await inFlight).toMatchObject({ runId: 'a', pipeline: 'first' });
    await new Promise((r) => setTimeout(r, 0));
    expect(first.counts.closes).toBe(1);
    await state.close();
  });

  it('an open that fails after the release: calls fail with its reason until a look reads the file again', async () => {
    const first = copy('first', ['a']);
    const second = copy('second', ['a', 'b']);
    const c = clock();
    const errors: string[] = [];
    let fail = true;
    const state = refreshingState(first.state, {
      now: c.now,
      open: async (release) => {
        release();
        if (fail) throw new Error('read models of another release');
        return second.state;
      },
      onError: (e) => errors.push((e as Error).message),
    });
    first.outdate();
    c.tick(1000);
    await expect(state.readModels.listRuns()).rejects.toThrow('read models of another release');
    expect(first.counts.closes).toBe(1);
    c.tick(500);
    await expect(state.readModels.getRun('a')).rejects.toThrow('read models of another release');
    fail = false;
    c.tick(500);
    expect((await state.readModels.listRuns()).map((r) => r.runId)).toEqual(['a', 'b']);
    expect(errors).toEqual(['read models of another release']);
    await state.close();
    expect(first.counts.closes).toBe(1);
  });
});

describe('freshLedger (lens watch from a copy in memory)', () => {
  it('returns the fresh open and closes the copy it replaces', async () => {
    const first = copy('first');
    const second = copy('second');
    first.outdate();
    expect(await freshLedger(first.state.ledger, async () => second.state.ledger)).toBe(
      second.state.ledger,
    );
    expect(first.counts.closes).toBe(1);
    expect(second.counts.closes).toBe(0);
  });

  it('keeps a copy the file has not moved on from, and closes an outdated one before reading again', async () => {
    const first = copy('first');
    const order: string[] = [];
    const open = async () => {
      order.push(`open after ${first.counts.closes} close`);
      throw new Error('gone');
    };
    expect(await freshLedger(first.state.ledger, open)).toBe(first.state.ledger);
    expect(order).toEqual([]);
    first.outdate();
    await expect(freshLedger(first.state.ledger, open)).rejects.toThrow('gone');
    expect(order).toEqual(['open after 1 close']);
  });
});
