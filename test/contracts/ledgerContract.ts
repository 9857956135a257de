/**
 * The one contract every LedgerStore passes. Each adapter's test file supplies a harness; a test
 * that cannot apply to an adapter is skipped with the reason in its title.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { beforeAll, describe, expect, it } from 'vitest';

import {
  EngineError,
  LedgerConflictError,
  LedgerFencedError,
  LedgerStartError,
} from '../../src/errors.js';
import {
  decodeRecord,
  emptyHead,
  type Head,
  type StoredRecord,
} from '../../src/events/envelope.js';
import { bytesEqual } from '../../src/events/codec.js';
import { initFastHash } from '../../src/events/chain.js';
import type { LedgerStore } from '../../src/ports.js';
import { verifyStoredRun, verifyWholeLedger } from '../../src/runtime/verifyLedger.js';
import { claimed, completed, started, stepDone } from '../support/events.js';
import { bundledChild } from '../support/bundle.js';
import { listRunsByPrefix } from './listRunsContract.js';
import { orphansByPrefix } from './orphansContract.js';

export type Column = 'body' | 'hash' | 'prev';

export interface LedgerFixture {
  readonly store: LedgerStore;
  /** A state URI another process can open, for durable stores. */
  readonly uri?: string;
  /** Reopens the same data in a new store instance (durable stores). */
  reopen?(): Promise<LedgerStore>;
  setColumn(runId: string, seq: number, column: Column, value: Uint8Array): Promise<void>;
  /** Rewrites the seq column of a row (for reorder tampering). */
  setSeq(runId: string, seq: number, newSeq: number): Promise<void>;
  deleteRow(runId: string, seq: number): Promise<void>;
  /** Deletes a run's head row, leaving its events (stores with a heads table). */
  deleteHead?(runId: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface LedgerHarness {
  readonly name: string;
  /** False skips the suite (the service is down and not required). */
  available(): Promise<boolean>;
  fresh(): Promise<LedgerFixture>;
}

const AT = 1_764_000_000_000;
const CHILD = await bundledChild(
  fileURLToPath(new URL('../support/ledgerChild.ts', import.meta.url)),
);

async function seed(
  store: LedgerStore,
  runId: string,
  steps: number,
  finish = false,
): Promise<Head> {
  const events = [
    started(),
    ...Array.from({ length: steps }, (_, i) => stepDone(String(i), { i })),
  ];
  if (finish) events.push(completed());
  const res = await store.append({ runId, expected: emptyHead(runId), events, at: AT });
  return res.head;
}

/**
 * readAll after `n` rows are visible. On Postgres a commit becomes readable in commit order only
 * once every older transaction on the server has ended (ADR 4), so another suite's open
 * transaction may hide it briefly; order is what the test checks, not instant visibility.
 */
async function readAllSettled(store: LedgerStore, n: number): Promise<StoredRecord[]> {
  for (let i = 0; ; i++) {
    const rows = await store.readAll();
    if (rows.length >= n || i === 100) return rows;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawnChild(args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [CHILD, ...args], { stdio: 'pipe' });
}

function lines(
  child: ChildProcessWithoutNullStreams,
  onLine: (line: string) => void,
): Promise<number | null> {
  createInterface({ input: child.stdout }).on('line', onLine);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code, signal) =>
      code && code !== 0
        ? reject(new Error(`child exited ${code}: ${err}`))
        : resolve(signal ? null : code),
    ),
  );
}

export function describeLedgerContract(harness: LedgerHarness): void {
  describe(`LedgerStore contract: ${harness.name}`, () => {
    let up = false;
    beforeAll(async () => {
      await initFastHash();
      up = await harness.available();
    });

    type Needs = 'uri' | 'reopen';
    const reasons: Record<Needs, string> = {
      uri: 'this store lives inside one process; no other process can open it',
      reopen: 'this store keeps nothing after close',
    };
    const test = (
      title: string,
      fn: (fx: LedgerFixture) => Promise<void>,
      timeout?: number,
      needs?: Needs,
    ) =>
      it(
        title,
        async (ctx) => {
          if (!up)
            ctx.skip(
              `${harness.name} is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)`,
            );
          const fx = await harness.fresh();
          if (needs && !fx[needs]) {
            await fx.cleanup();
            ctx.skip(reasons[needs]);
          }
          try {
            await fn(fx);
          } finally {
            await fx.cleanup();
          }
        },
        timeout,
      );

    test('appends a new run and reads back the exact bytes in seq order', async ({ store }) => {
      const res = await store.append({
        runId: 'r1',
        expected: emptyHead('r1'),
        events: [started(), stepDone('0')],
        at: AT,
      });
      expect(res.head.seq).toBe(2);
      const rows = await store.read('r1');
      expect(rows.map((r) => r.seq)).toEqual([1, 2]);
      expect(rows.map((r) => r.type)).toEqual(['RunStarted', 'StepCompleted']);
      for (const [i, r] of rows.entries()) {
        const sealed = res.records[i];
        expect(sealed).toBeDefined();
        expect(bytesEqual(r.body, sealed!.body)).toBe(true);
        expect(bytesEqual(r.hash, sealed!.hash)).toBe(true);
        expect(bytesEqual(r.prev, sealed!.prev)).toBe(true);
      }
      expect(bytesEqual(rows[0]!.prev, emptyHead('r1').hash)).toBe(true);
      expect(decodeRecord('r1', 2, rows[1]!.body)).toMatchObject({
        type: 'StepCompleted',
        data: { path: '0' },
      });
      expect((await verifyStoredRun(store, 'r1')).ok).toBe(true);
    });

    test('keeps the head, epoch and terminal flag in step with the events', async ({ store }) => {
      const h1 = await seed(store, 'r', 2);
      let head = await store.head('r');
      expect(head).toMatchObject({
        runId: 'r',
        seq: 3,
        epoch: 0,
        terminal: false,
        createdAt: AT,
        updatedAt: AT,
      });
      expect(bytesEqual(head!.hash, h1.hash)).toBe(true);
      const h2 = (
        await store.append({ runId: 'r', expected: h1, events: [claimed(1)], at: AT + 5 })
      ).head;
      await store.append({ runId: 'r', expected: h2, events: [completed()], at: AT + 9, epoch: 1 });
      head = await store.head('r');
      expect(head).toMatchObject({
        seq: 5,
        epoch: 1,
        terminal: true,
        createdAt: AT,
        updatedAt: AT + 9,
      });
      expect(await store.head('missing')).toBeNull();
    });

    test('reads from a seq with a limit', async ({ store }) => {
      await seed(store, 'r', 9);
      expect((await store.read('r', { fromSeq: 4, limit: 3 })).map((r) => r.seq)).toEqual([
        4, 5, 6,
      ]);
      expect((await store.read('r', { fromSeq: 11 })).length).toBe(0);
      expect(await store.read('nobody')).toEqual([]);
    });

    test('rejects a stale expected seq with LedgerConflictError and writes nothing', async ({
      store,
    }) => {
      const h = await seed(store, 'r', 1);
      await store.append({ runId: 'r', expected: h, events: [stepDone('1')], at: AT });
      const err = await store
        .append({ runId: 'r', expected: h, events: [stepDone('x')], at: AT })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LedgerConflictError);
      expect(err).toMatchObject({
        runId: 'r',
        expectedSeq: 2,
        actualSeq: 3,
        code: 'LEDGER_CONFLICT',
      });
      expect((await store.read('r')).length).toBe(3);
      expect((await verifyStoredRun(store, 'r')).ok).toBe(true);
    });

    test('rejects an append naming the right seq but the wrong previous hash', async ({
      store,
    }) => {
      const h = await seed(store, 'r', 1);
      const forged = { ...h, hash: new Uint8Array(32).fill(7) };
      await expect(
        store.append({ runId: 'r', expected: forged, events: [stepDone('1')], at: AT }),
      ).rejects.toBeInstanceOf(LedgerConflictError);
      expect((await store.read('r')).length).toBe(2);
    });

    test('rejects starting a run that already exists', async ({ store }) => {
      await seed(store, 'r', 0);
      await expect(
        store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT }),
      ).rejects.toBeInstanceOf(LedgerConflictError);
      expect((await store.read('r')).length).toBe(1);
    });

    test('refuses a new run sealed on anything but its genesis', async ({ store }) => {
      const forged = { ...emptyHead('r'), hash: new Uint8Array(32) };
      await expect(
        store.append({ runId: 'r', expected: forged, events: [started()], at: AT }),
      ).rejects.toThrow(/genesis/);
      expect(await store.head('r')).toBeNull();
    });

    test('lets exactly one of many concurrent appends on the same head win', async ({ store }) => {
      const h = await seed(store, 'r', 0);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.append({ runId: 'r', expected: h, events: [stepDone(`w${i}`)], at: AT }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LedgerConflictError);
      expect((await store.read('r')).length).toBe(2);
    });

    test('fences a writer holding an old claim epoch', async ({ store }) => {
      let h = await seed(store, 'r', 0);
      h = (await store.append({ runId: 'r', expected: h, events: [claimed(1, 'a')], at: AT })).head;
      h = (
        await store.append({ runId: 'r', expected: h, events: [claimed(2, 'b')], at: AT, epoch: 1 })
      ).head;
      const zombie = await store
        .append({ runId: 'r', expected: h, events: [stepDone('0')], at: AT, epoch: 1 })
        .catch((e: unknown) => e);
      expect(zombie).toBeInstanceOf(LedgerFencedError);
      await expect(
        store.append({ runId: 'r', expected: h, events: [claimed(2, 'c')], at: AT }),
      ).rejects.toBeInstanceOf(LedgerFencedError);
      await store.append({ runId: 'r', expected: h, events: [stepDone('0')], at: AT, epoch: 2 });
      expect((await store.read('r')).length).toBe(4);
    });

    test('refuses events after a terminal event', async ({ store }) => {
      const h = await seed(store, 'r', 1, true);
      await expect(
        store.append({ runId: 'r', expected: h, events: [stepDone('9')], at: AT }),
      ).rejects.toBeInstanceOf(EngineError);
      await expect(
        store.append({
          runId: 'q',
          expected: emptyHead('q'),
          events: [started(), completed(), stepDone('1')],
          at: AT,
        }),
      ).rejects.toThrow(/after a terminal event/);
      expect(await store.head('q')).toBeNull();
    });

    test('refuses a new run whose first event is not RunStarted, naming run, seq and type', async ({
      store,
    }) => {
      for (const events of [[stepDone('0')], [claimed(1), started()], [completed()]]) {
        const err = await store
          .append({ runId: 'q', expected: emptyHead('q'), events, at: AT })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LedgerStartError);
        expect(err).toMatchObject({
          code: 'LEDGER_BAD_START',
          runId: 'q',
          seq: 1,
          type: events[0]!.type,
          exitCode: 1,
        });
        expect((err as Error).message).toContain(
          `run q: its first event would be ${events[0]!.type}`,
        );
      }
      expect(await store.head('q')).toBeNull();
      expect(await store.read('q')).toEqual([]);
      expect(await store.listRuns()).toEqual([]);
    });

    test("refuses RunStarted at any seq but 1, in a new run's batch or a later one", async ({
      store,
    }) => {
      const err = await store
        .append({ runId: 'q', expected: emptyHead('q'), events: [started(), started()], at: AT })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LedgerStartError);
      expect(err).toMatchObject({ runId: 'q', seq: 2, type: 'RunStarted' });
      expect((err as Error).message).toContain('RunStarted at seq 2, but a run starts once');
      expect(await store.head('q')).toBeNull();

      const h = await seed(store, 'r', 1);
      const again = await store
        .append({ runId: 'r', expected: h, events: [stepDone('1'), started()], at: AT })
        .catch((e: unknown) => e);
      expect(again).toMatchObject({ code: 'LEDGER_BAD_START', runId: 'r', seq: 4 });
      expect((await store.read('r')).length).toBe(2);
      expect(await store.head('r')).toMatchObject({ seq: 2 });
      expect((await verifyStoredRun(store, 'r')).ok).toBe(true);
    });

    test('writes nothing of a batch holding a value that cannot be recorded', async ({ store }) => {
      const h = await seed(store, 'r', 0);
      await expect(
        store.append({
          runId: 'r',
          expected: h,
          events: [stepDone('0'), stepDone('1', { x: Number.NaN })],
          at: AT,
        }),
      ).rejects.toThrow(/1\.|output\.x|non-finite/);
      expect((await store.read('r')).length).toBe(1);
    });

    test('lists runs by id with prefix and keyset paging', async ({ store }) => {
      for (const id of ['b-2', 'a-1', 'b-1', 'c-1']) await seed(store, id, 0);
      expect((await store.listRuns()).map((r) => r.runId)).toEqual(['a-1', 'b-1', 'b-2', 'c-1']);
      expect((await store.listRuns({ prefix: 'b-' })).map((r) => r.runId)).toEqual(['b-1', 'b-2']);
      expect((await store.listRuns({ afterRunId: 'b-1', limit: 2 })).map((r) => r.runId)).toEqual([
        'b-2',
        'c-1',
      ]);
    });

    listRunsByPrefix(test);

    test('reads all runs in commit order and tails new commits', async ({ store }) => {
      const ha = await seed(store, 'a', 0);
      const hb = await seed(store, 'b', 0);
      await store.append({ runId: 'a', expected: ha, events: [stepDone('0')], at: AT });
      const all = await readAllSettled(store, 3);
      expect(all.map((r) => `${r.runId}${r.seq}`)).toEqual(['a1', 'b1', 'a2']);
      expect((await store.readAll(all[0]!.pos)).map((r) => `${r.runId}${r.seq}`)).toEqual([
        'b1',
        'a2',
      ]);

      const ac = new AbortController();
      const seen: StoredRecord[] = [];
      const tail = (async () => {
        for await (const r of store.subscribe({
          after: all[2]!.pos,
          signal: ac.signal,
          pollMs: 20,
        })) {
          seen.push(r);
          if (seen.length === 3) ac.abort();
        }
      })();
      let h = hb;
      for (let i = 0; i < 3; i++)
        h = (await store.append({ runId: 'b', expected: h, events: [stepDone(String(i))], at: AT }))
          .head;
      await tail;
      expect(seen.map((r) => `${r.runId}${r.seq}`)).toEqual(['b2', 'b3', 'b4']);
    });

    describe('verify', () => {
      test('reports an intact run with its head', async ({ store }) => {
        const h = await seed(store, 'r', 4, true);
        const v = await verifyStoredRun(store, 'r');
        expect(v).toMatchObject({ ok: true, events: 6, headSeq: h.seq });
      });

      test('names a row whose body is not CBOR', async (fx) => {
        await seed(fx.store, 'r', 4);
        await fx.setColumn('r', 3, 'body', new Uint8Array([0xff, 0x00, 0x13]));
        expect((await verifyStoredRun(fx.store, 'r')).failure).toMatchObject({
          seq: 3,
          reason: 'bad_encoding',
        });
      });

      test('names a row whose body was edited', async (fx) => {
        await seed(fx.store, 'r', 4);
        const row = (await fx.store.read('r', { fromSeq: 4, limit: 1 }))[0]!;
        const body = new Uint8Array(row.body);
        const at = Buffer.from(body).indexOf('StepCompleted');
        body[at] = 'T'.charCodeAt(0); // "StepCompleted" -> "TtepCompleted": still valid CBOR
        await fx.setColumn('r', 4, 'body', body);
        expect((await verifyStoredRun(fx.store, 'r')).failure).toMatchObject({
          seq: 4,
          reason: 'body_altered',
        });
      });

      test('names a row whose hash column was edited', async (fx) => {
        await seed(fx.store, 'r', 4);
        await fx.setColumn('r', 2, 'hash', new Uint8Array(32).fill(1));
        expect((await verifyStoredRun(fx.store, 'r')).failure).toMatchObject({
          seq: 2,
          reason: 'hash_altered',
        });
      });

      test('names a row whose link to the previous event was edited', async (fx) => {
        await seed(fx.store, 'r', 4);
        await fx.setColumn('r', 5, 'prev', new Uint8Array(32).fill(2));
        expect((await verifyStoredRun(fx.store, 'r')).failure).toMatchObject({
          seq: 5,
          reason: 'link_broken',
        });
      });

      test('names the first missing seq when a row was removed', async (fx) => {
        await seed(fx.store, 'r', 4);
        await fx.deleteRow('r', 3);
        expect((await verifyStoredRun(fx.store, 'r')).failure).toMatchObject({
          seq: 3,
          reason: 'gap',
        });
      });

      test('detects a removed tail against the recorded head', async (fx) => {
        await seed(fx.store, 'r', 4, true);
        await fx.deleteRow('r', 6);
        expect((await verifyStoredRun(fx.store, 'r')).failure).toMatchObject({
          seq: 6,
          reason: 'truncated',
        });
      });

      test('the whole ledger names the events of a run whose head row was removed', async (fx) => {
        if (!fx.deleteHead) return; // a store without a heads table cannot lose one
        await seed(fx.store, 'kept', 2, true);
        await seed(fx.store, 'gone', 3, true);
        expect(await verifyWholeLedger(fx.store)).toMatchObject({ ok: true, orphans: [] });
        await fx.deleteHead('gone');
        const v = await verifyWholeLedger(fx.store);
        expect(v).toMatchObject({ ok: false, runsChecked: 1 });
        expect(v.orphans).toEqual([
          expect.objectContaining({ runId: 'gone', seq: 1, reason: 'orphaned' }),
        ]);
        expect(v.orphans?.[0]?.detail).toMatch(/^5 stored events from seq 1 /);
      });

      test('events whose head row was removed are read only by orphans (ports.ts, ADR 130)', async (fx) => {
        if (!fx.deleteHead) return; // a store without a heads table cannot lose one
        await seed(fx.store, 'gone', 3, true);
        await seed(fx.store, 'kept', 1);
        await readAllSettled(fx.store, 8);
        await fx.deleteHead('gone');
        expect(await fx.store.head('gone')).toBeNull();
        expect((await fx.store.listRuns()).map((h) => h.runId)).toEqual(['kept']);
        expect(await fx.store.read('gone')).toEqual([]);
        expect(await fx.store.read('gone', { fromSeq: 1, limit: 1 })).toEqual([]);
        expect((await fx.store.read('kept')).map((r) => r.seq)).toEqual([1, 2]);
        const all = await fx.store.readAll();
        expect(all.map((r) => `${r.runId}${r.seq}`)).toEqual(['kept1', 'kept2']);
        // A subscriber from the start meets what a rebuild folds: the kept run alone.
        const ac = new AbortController();
        const seen: string[] = [];
        for await (const r of fx.store.subscribe({ signal: ac.signal, pollMs: 20 })) {
          seen.push(`${r.runId}${r.seq}`);
          if (r.runId === 'kept' && r.seq === 2) ac.abort();
        }
        expect(seen).toEqual(['kept1', 'kept2']);
        expect(await fx.store.orphans!()).toEqual([
          expect.objectContaining({ events: 5, firstSeq: 1 }),
        ]);
      });

      orphansByPrefix(test);

      test('detects two events swapped in place', async (fx) => {
        await seed(fx.store, 'r', 4);
        await fx.setSeq('r', 3, 1000);
        await fx.setSeq('r', 4, 3);
        await fx.setSeq('r', 1000, 4);
        const f = (await verifyStoredRun(fx.store, 'r')).failure;
        expect(f?.seq).toBe(3);
        expect(['link_broken', 'reorder']).toContain(f?.reason);
      });
    });

    test(
      'keeps every event across a reopen',
      async (fx) => {
        await seed(fx.store, 'r', 3);
        await fx.store.close();
        const again = await fx.reopen!();
        try {
          expect((await verifyStoredRun(again, 'r')).ok).toBe(true);
          expect((await again.read('r')).length).toBe(4);
        } finally {
          await again.close();
        }
      },
      undefined,
      'reopen',
    );

    test(
      'lets exactly one of two processes win each seq, and the loser learns it',
      async (fx) => {
        await seed(fx.store, 'race', 0);
        const n = 300;
        const kids = ['p', 'q'].map((name) =>
          spawnChild(['race', fx.uri!, 'race', String(n), name]),
        );
        const outputs: string[][] = kids.map(() => []);
        let ready = 0;
        const exits = kids.map((k, i) =>
          lines(k, (l) => {
            if (l === 'ready' && ++ready === kids.length)
              for (const c of kids) c.stdin.write('go\n');
            else if (l !== 'ready') outputs[i]!.push(l);
          }),
        );
        await Promise.all(exits);
        const results = outputs.map(
          (o) => JSON.parse(o[0]!) as { wins: number[]; conflicts: number },
        );
        const allWins = results.flatMap((r) => r.wins).sort((a, b) => a - b);
        expect(allWins).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 2));
        expect(results.reduce((s, r) => s + r.conflicts, 0)).toBeGreaterThan(0);
        const rows = await fx.store.read('race');
        expect(rows.length).toBe(2 * n + 1);
        expect((await verifyStoredRun(fx.store, 'race')).ok).toBe(true);
      },
      120_000,
      'uri',
    );

    test(
      'survives SIGKILL mid-append: the ledger verifies and no batch is half-written',
      async (fx) => {
        let total = 0;
        for (let round = 0; round < 3; round++) {
          const child = spawnChild(['flood', fx.uri!, 'flood']);
          let batches = 0;
          const target = 40 + Math.floor(Math.random() * 60);
          const exited = lines(child, () => {
            batches += 1;
            if (batches === target)
              setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 15));
          });
          expect(await exited).toBeNull();
          total += batches;
        }
        const rows = await fx.store.read('flood');
        expect(rows.length).toBeGreaterThan(total); // batches average ~10 events
        expect(rows.length).toBeGreaterThan(1000);
        const v = await verifyStoredRun(fx.store, 'flood');
        expect(v.ok).toBe(true);
        const byBatch = new Map<number, number[]>();
        let lastBatch = -1;
        for (const r of rows) {
          const ev = decodeRecord('flood', r.seq, r.body);
          if (ev.type === 'RunStarted' && r.seq === 1) continue;
          if (ev.type !== 'StepCompleted') throw new Error('unexpected event');
          const o = ev.data.output as { batch: number; i: number; n: number };
          expect(o.batch).toBeGreaterThanOrEqual(lastBatch);
          lastBatch = o.batch;
          const got = byBatch.get(o.batch) ?? [];
          got.push(o.i);
          byBatch.set(o.batch, got);
        }
        for (const [batch, is] of byBatch) {
          expect({ batch, is }).toEqual({
            batch,
            is: Array.from({ length: (batch % 25) + 1 }, (_, i) => i),
          });
        }
      },
      120_000,
      'uri',
    );
  });
}
