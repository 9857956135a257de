/**
 * The Postgres append has a statement per batch shape (new or existing run × 1..LISTED_MAX events,
 * and the array form beyond), in two modes: alone (autocommit), and strict in the projected
 * append's batch. Each must store the same bytes and refuse the same way, and a refused projected
 * append must project nothing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  createPostgresLedger,
  type PostgresInlineProjection,
  type PostgresLedger,
} from '../../src/adapters/ledger/postgres.js';
import { LISTED_MAX } from '../../src/adapters/ledger/postgresAppend.js';
import { EngineError, LedgerConflictError, LedgerFencedError } from '../../src/errors.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { initFastHash } from '../../src/events/chain.js';
import { bytesEqual } from '../../src/events/codec.js';
import { emptyHead, type Head } from '../../src/events/envelope.js';
import type { AppendRequest } from '../../src/ports.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { claimed, completed, started, stepDone } from '../support/events.js';

const AT = 1_764_000_000_000;
const SIZES = Array.from({ length: LISTED_MAX + 2 }, (_, i) => i + 1);
const steps = (n: number, tag: string): NewEvent[] =>
  Array.from({ length: n }, (_, i) => stepDone(`${tag}.${i}`, { i, tag }));

/** Counts what the projection saw: one row per run, its last seq and its number of events. */
const counting: PostgresInlineProjection = (records) => [
  {
    text: `INSERT INTO proj (run_id, seq, events) VALUES ($1, $2, $3)
           ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, events = proj.events + excluded.events`,
    values: [records[0]!.runId, records[records.length - 1]!.seq, records.length],
  },
];

describe.each([
  { mode: 'direct', suffix: '' },
  { mode: 'projected', suffix: 's' },
])('postgres append shapes, $mode', ({ mode, suffix }) => {
  let up = false;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    await initFastHash();
    up = await postgresReachable();
  });
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const skipUnlessUp = (ctx: { skip: (why: string) => void }) => {
    if (!up) ctx.skip('postgres is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)');
  };
  /** One connection by default, so its prepared statements show which shapes ran. */
  async function fresh(max = 1): Promise<PostgresLedger> {
    const schema = uniqueSchema('pgshape');
    cleanups.push(() => dropSchema(schema));
    const store = await createPostgresLedger({
      connectionString: PG_URL,
      schema,
      max,
      ...(mode === 'projected' ? { projections: [counting] } : {}),
    });
    cleanups.push(() => store.close());
    await store.pool.query(
      'CREATE TABLE proj (run_id text PRIMARY KEY, seq int NOT NULL, events int NOT NULL)',
    );
    return store;
  }

  /** The projection agrees with the ledger: it saw every stored event and nothing else. */
  async function projectedAll(store: PostgresLedger, runId: string): Promise<void> {
    if (mode !== 'projected') return;
    const { rows } = await store.pool.query('SELECT seq, events FROM proj WHERE run_id = $1', [
      runId,
    ]);
    const seq = (await store.head(runId))?.seq;
    expect(rows).toEqual(seq === undefined ? [] : [{ seq, events: seq }]);
  }

  /** Appends, then checks the stored rows are the sealed records, in seq and commit order. */
  async function appendExact(store: PostgresLedger, req: AppendRequest): Promise<Head> {
    const res = await store.append(req);
    const rows = await store.read(req.runId, { fromSeq: req.expected.seq + 1 });
    expect(rows.length).toBe(req.events.length);
    const pos = rows.map((r) => r.pos.split(':').map(BigInt) as [bigint, bigint]);
    for (const [i, r] of rows.entries()) {
      const sealed = res.records[i]!;
      expect({ seq: r.seq, type: r.type, at: r.at }).toEqual({
        seq: sealed.seq,
        type: sealed.type,
        at: sealed.at,
      });
      expect(bytesEqual(r.prev, sealed.prev)).toBe(true);
      expect(bytesEqual(r.hash, sealed.hash)).toBe(true);
      expect(bytesEqual(r.body, sealed.body)).toBe(true);
      if (i > 0) {
        expect(pos[i]![0]).toBe(pos[0]![0]); // one transaction
        expect(pos[i]![1] > pos[i - 1]![1]).toBe(true);
      }
    }
    return res.head;
  }

  it('stores batches of every size, new run or existing, byte for byte in seq and commit order', async (ctx) => {
    skipUnlessUp(ctx);
    const store = await fresh();
    for (const n of SIZES) {
      const runId = `r${n}`;
      let head = await appendExact(store, {
        runId,
        expected: emptyHead(runId),
        events: [started(), ...steps(n - 1, 'a')],
        at: AT,
      });
      // A claim inside the batch moves the epoch; the next batch writes under it and finishes.
      head = await appendExact(store, {
        runId,
        expected: head,
        events: [claimed(n), ...steps(n - 1, 'b')],
        at: AT + 1,
      });
      head = await appendExact(store, {
        runId,
        expected: head,
        events: [...steps(n - 1, 'c'), completed()],
        at: AT + 2,
        epoch: n,
      });
      expect(await store.head(runId)).toMatchObject({
        seq: 3 * n,
        epoch: n,
        terminal: true,
        createdAt: AT,
        updatedAt: AT + 2,
      });
      expect(bytesEqual((await store.head(runId))!.hash, head.hash)).toBe(true);
      expect((await verifyStoredRun(store, runId)).ok).toBe(true);
      await projectedAll(store, runId);
    }
    const { rows } = await store.pool.query<{ name: string }>(
      "SELECT name FROM pg_prepared_statements WHERE name LIKE 'flujo_ledger_%_append_%'",
    );
    const shapes = rows.map((r) => r.name.replace(/^.*_append_/, '')).sort();
    const listed = SIZES.filter((n) => n <= LISTED_MAX);
    const names = [...listed.map((n) => `new${n}`), 'newn', ...listed.map((n) => `next${n}`)];
    expect(shapes).toEqual([...names, 'nextn'].map((n) => n + suffix).sort());
  });

  it('refuses a stale, forged, fenced, unraised or finished append in every shape and writes nothing', async (ctx) => {
    skipUnlessUp(ctx);
    const store = await fresh();
    for (const n of [1, 2, 4, LISTED_MAX, LISTED_MAX + 1]) {
      const runId = `r${n}`;
      const h0 = (
        await store.append({
          runId,
          expected: emptyHead(runId),
          events: [started(), claimed(1)],
          at: AT,
        })
      ).head;
      const h1 = (
        await store.append({ runId, expected: h0, events: steps(n, 'ok'), at: AT, epoch: 1 })
      ).head;
      const refused = async (req: Omit<AppendRequest, 'runId' | 'at'>, kind: unknown) => {
        const err = await store.append({ runId, at: AT, ...req }).catch((e: unknown) => e);
        expect(err, `${n} events`).toBeInstanceOf(kind);
        expect((await store.head(runId))!.seq).toBe(h1.seq);
        await projectedAll(store, runId);
        return err;
      };
      const stale = await refused(
        { expected: h0, events: steps(n, 'x'), epoch: 1 },
        LedgerConflictError,
      );
      expect(stale).toMatchObject({ expectedSeq: h0.seq, actualSeq: h1.seq });
      const forged = { ...h1, hash: new Uint8Array(32).fill(7) };
      await refused({ expected: forged, events: steps(n, 'x'), epoch: 1 }, LedgerConflictError);
      // A second start of an existing run (shaped as a start, so that the head decides).
      await refused(
        { expected: emptyHead(runId), events: [started(), ...steps(n - 1, 'x')] },
        LedgerConflictError,
      );
      await refused({ expected: h1, events: steps(n, 'x'), epoch: 2 }, LedgerFencedError);
      await refused(
        { expected: h1, events: [claimed(1), ...steps(n - 1, 'x')] },
        LedgerFencedError,
      );
      const done = (
        await store.append({ runId, expected: h1, events: [completed()], at: AT, epoch: 1 })
      ).head;
      const err = await store
        .append({ runId, expected: done, events: steps(n, 'x'), at: AT })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(String((err as Error).message)).toMatch(/finished/);
      expect((await store.read(runId)).length).toBe(h1.seq + 1);
      expect((await verifyStoredRun(store, runId)).ok).toBe(true);
      await projectedAll(store, runId);
    }
  });

  it('lets exactly one of concurrent batches on the same head win, in every form', async (ctx) => {
    skipUnlessUp(ctx);
    const store = await fresh(4);
    for (const n of [1, 4, LISTED_MAX + 1]) {
      const runId = `r${n}`;
      const h = (
        await store.append({ runId, expected: emptyHead(runId), events: [started()], at: AT })
      ).head;
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, (_, w) =>
          store.append({ runId, expected: h, events: steps(n, `w${w}`), at: AT }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LedgerConflictError);
      expect((await store.read(runId)).length).toBe(1 + n);
      expect((await verifyStoredRun(store, runId)).ok).toBe(true);
      await projectedAll(store, runId);
    }
  });
});
