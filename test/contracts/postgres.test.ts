import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { ConfigError, LedgerConflictError } from '../../src/errors.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead, sealBatch, type Head } from '../../src/events/envelope.js';
import type { Logger } from '../../src/ports.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { started, stepDone } from '../support/events.js';
import { describeLedgerContract } from './ledgerContract.js';

const AT = 1_764_000_000_000;
/** Small pools: several test files share one server. */
const MAX = 4;

const open = (schema: string, extra: Partial<Parameters<typeof createPostgresLedger>[0]> = {}) =>
  createPostgresLedger({ connectionString: PG_URL, schema, max: MAX, ...extra });

/** The contract's tampering hooks, as SQL on the events table of the store's schema. */
function rowEdits(run: (sql: string, ...params: unknown[]) => Promise<void>) {
  return {
    async setColumn(runId: string, seq: number, column: string, value: unknown) {
      await run(
        `UPDATE events SET ${column} = $1 WHERE run_id = $2 AND seq = $3`,
        value,
        runId,
        seq,
      );
    },
    async setSeq(runId: string, seq: number, newSeq: number) {
      await run('UPDATE events SET seq = $1 WHERE run_id = $2 AND seq = $3', newSeq, runId, seq);
    },
    async deleteRow(runId: string, seq: number) {
      await run('DELETE FROM events WHERE run_id = $1 AND seq = $2', runId, seq);
    },
    async deleteHead(runId: string) {
      await run('DELETE FROM run_heads WHERE run_id = $1', runId);
    },
  };
}

describeLedgerContract({
  name: 'postgres',
  available: postgresReachable,
  async fresh() {
    const schema = uniqueSchema('ledger');
    const store = await open(schema);
    const run = async (sql: string, ...params: unknown[]) => {
      await store.pool.query(sql, params);
    };
    return {
      store,
      uri: `${PG_URL}?schema=${schema}`,
      reopen: () => open(schema),
      ...rowEdits(run),
      async cleanup() {
        await store.close();
        await dropSchema(schema);
      },
    };
  },
});

// The same contract through the projected append (openState: `flujo run`'s path), where the
// append and the projections' statements go out as one protocol batch.
describeLedgerContract({
  name: 'postgres with inline projections',
  available: postgresReachable,
  async fresh() {
    const schema = uniqueSchema('ledgerproj');
    const uri = `${PG_URL}?schema=${schema}`;
    const openStore = async () => (await openState(uri, { projectRoot: '/' })).ledger;
    const store = (await openStore()) as PostgresLedger;
    const run = async (sql: string, ...params: unknown[]) => {
      await store.pool.query(sql, params);
    };
    return {
      store,
      uri,
      reopen: openStore,
      ...rowEdits(run),
      async cleanup() {
        await store.close();
        await dropSchema(schema);
      },
    };
  },
});

describe('postgres ledger specifics', () => {
  let up = false;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    await initFastHash();
    up = await postgresReachable();
  });
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });

  /** A store on a fresh schema, closed and dropped after the test. */
  async function fresh(extra: Partial<Parameters<typeof createPostgresLedger>[0]> = {}) {
    const schema = uniqueSchema('pgspec');
    cleanups.push(() => dropSchema(schema));
    const store = await open(schema, extra);
    cleanups.push(() => store.close());
    return { schema, store };
  }
  async function client(schema?: string): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: PG_URL,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    await c.connect();
    cleanups.push(() => c.end());
    return c;
  }
  const skipUnlessUp = (ctx: { skip: (why: string) => void }) => {
    if (!up) ctx.skip('postgres is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)');
  };

  it('read-only (lens verify, export; ADR 83): reads a ledger, creates nothing in a schema without one, refuses appends', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema, store } = await fresh();
    await store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT });
    const ro = await open(schema, { readOnly: true });
    cleanups.push(() => ro.close());
    expect((await verifyStoredRun(ro, 'r')).ok).toBe(true);
    await expect(
      ro.append({ runId: 'q', expected: emptyHead('q'), events: [started()], at: AT }),
    ).rejects.toThrow(/opened read-only/);

    const empty = uniqueSchema('pgro');
    cleanups.push(() => dropSchema(empty));
    const err = await open(empty, { readOnly: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`Postgres schema ${empty} holds no Flujo ledger`);
    const c = await client();
    const ns = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [empty]);
    expect(ns.rowCount).toBe(0);
  });

  it('lets exactly one of two store instances (separate pools) win each head', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema, store: a } = await fresh();
    const b = await open(schema);
    cleanups.push(() => b.close());
    expect(a.pool).not.toBe(b.pool);

    // Starting the same run from both sides: one RunStarted lands.
    const starts = await Promise.allSettled(
      [a, b].map((s) =>
        s.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT }),
      ),
    );
    expect(starts.filter((r) => r.status === 'fulfilled').length).toBe(1);
    let head: Head = (await a.head('r'))!;

    for (let round = 0; round < 25; round++) {
      const results = await Promise.allSettled(
        [a, b, a, b].map((s, i) =>
          s.append({
            runId: 'r',
            expected: head,
            events: [stepDone(`${round}.${i}`)],
            at: AT + round,
          }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won.length).toBe(1);
      for (const r of results)
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(LedgerConflictError);
          expect(r.reason).toMatchObject({ expectedSeq: head.seq, actualSeq: head.seq + 1 });
        }
      head = (won[0] as PromiseFulfilledResult<{ head: Head }>).value.head;
    }
    expect((await b.read('r')).length).toBe(26);
    expect((await verifyStoredRun(b, 'r')).ok).toBe(true);
  });

  it('holds readAll back behind a still-open earlier transaction, then yields both in (txid, pos) order', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema, store } = await fresh();
    await store.append({ runId: 'a', expected: emptyHead('a'), events: [started()], at: AT });
    const before = await store.readAll();
    expect(before.map((r) => `${r.runId}${r.seq}`)).toEqual(['a1']);
    const cursor = before[0]!.pos;

    // A writer opens a transaction and inserts an event (and its head row, as an append does:
    // readAll leaves out events whose run has none, ADR 130): it takes its xid and its pos first...
    const held = await client(schema);
    await held.query('BEGIN');
    const [x1] = sealBatch(emptyHead('x'), [started()], AT);
    await held.query(
      'INSERT INTO events (run_id, seq, type, at, prev, hash, body) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [x1!.runId, x1!.seq, x1!.type, x1!.at, x1!.prev, x1!.hash, x1!.body],
    );
    await held.query(
      'INSERT INTO run_heads (run_id, seq, hash, epoch, terminal, created_at, updated_at) VALUES ($1, 1, $2, 0, false, $3, $3)',
      [x1!.runId, x1!.hash, AT],
    );
    // ...then another append commits with a later xid and a later pos.
    await store.append({ runId: 'y', expected: emptyHead('y'), events: [started()], at: AT });
    expect((await store.read('y')).length).toBe(1); // committed and visible per run

    // A `pos > cursor` reader would hand out y now and then never see x: readAll holds y back.
    expect(await store.readAll(cursor)).toEqual([]);
    const ac = new AbortController();
    const tailed: string[] = [];
    const tail = (async () => {
      for await (const r of store.subscribe({ after: cursor, signal: ac.signal, pollMs: 10 })) {
        tailed.push(`${r.runId}${r.seq}`);
        if (tailed.length === 2) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    expect(tailed).toEqual([]);

    await held.query('COMMIT');
    await tail;
    expect(tailed).toEqual(['x1', 'y1']);

    // Other transactions on the shared server may briefly hold the horizon: poll for it.
    let after: string[] = [];
    for (let i = 0; i < 100 && after.length < 2; i++) {
      after = (await store.readAll(cursor)).map((r) => `${r.runId}${r.seq}`);
      if (after.length < 2) await new Promise((r) => setTimeout(r, 20));
    }
    expect(after).toEqual(['x1', 'y1']);
    const all = await store.readAll();
    const [tx, px] = all[1]!.pos.split(':').map(BigInt);
    const [ty, py] = all[2]!.pos.split(':').map(BigInt);
    expect(tx! < ty!).toBe(true);
    expect(px! < py!).toBe(true);
  });

  it('keeps the process alive when an idle pooled backend is terminated', async (ctx) => {
    skipUnlessUp(ctx);
    const warned: Array<{ obj: object; msg?: string }> = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn: (obj, msg) => void warned.push({ obj, ...(msg ? { msg } : {}) }),
      error() {},
    };
    const { store } = await fresh({ max: 1, logger });
    let head = (
      await store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT })
    ).head;
    // max 1: the one pooled connection is the one the store just used, now idle.
    const { rows } = await store.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]!.pid;
    const admin = await client();
    const killed = await admin.query('SELECT pg_terminate_backend($1) AS ok', [pid]);
    expect(killed.rows[0].ok).toBe(true);
    for (let i = 0; i < 100 && warned.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(warned.length).toBe(1);

    head = (await store.append({ runId: 'r', expected: head, events: [stepDone('0')], at: AT }))
      .head;
    expect(head.seq).toBe(2);
    expect((await verifyStoredRun(store, 'r')).ok).toBe(true);
  });

  it('migrates once when several processes start on a fresh schema together', async (ctx) => {
    skipUnlessUp(ctx);
    const schema = uniqueSchema('pgmig');
    cleanups.push(() => dropSchema(schema));
    const stores = await Promise.all(Array.from({ length: 4 }, () => open(schema, { max: 2 })));
    for (const s of stores) cleanups.push(() => s.close());
    const { rows } = await stores[0]!.pool.query(
      'SELECT version FROM flujo_schema_migrations ORDER BY version',
    );
    expect(rows).toEqual([{ version: 1 }]);
    await stores[1]!.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT });
    expect((await stores[2]!.read('r')).length).toBe(1);
  });

  it('refuses a schema written by a newer Flujo', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema, store } = await fresh();
    await store.pool.query('INSERT INTO flujo_schema_migrations (version) VALUES (999)');
    const err = await open(schema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'CONFIG_STATE_URI' });
    expect(String((err as Error).message)).toMatch(/v999/);
  });

  it('runs inline projections in the append transaction, and rolls both back together', async (ctx) => {
    skipUnlessUp(ctx);
    const schema = uniqueSchema('pgproj');
    cleanups.push(() => dropSchema(schema));
    let fail = false;
    const store = await open(schema, {
      projections: [
        (records) => [
          {
            text: `INSERT INTO proj (run_id, seq, events) VALUES ($1, $2, $3)
                   ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq,
                     events = proj.events + excluded.events`,
            values: [records[0]!.runId, records[records.length - 1]!.seq, records.length],
          },
          // Fails on the server, after the append and the first statement have run.
          ...(fail ? [{ text: `SELECT CAST('projection failed' AS int)` }] : []),
        ],
      ],
    });
    cleanups.push(() => store.close());
    // Unqualified: the pool's search_path is the ledger schema.
    await store.pool.query(
      'CREATE TABLE proj (run_id text PRIMARY KEY, seq int NOT NULL, events int NOT NULL)',
    );
    const h = (
      await store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT })
    ).head;
    fail = true;
    await expect(
      store.append({ runId: 'r', expected: h, events: [stepDone('0')], at: AT }),
    ).rejects.toThrow(/projection failed/);
    fail = false;
    await expect(
      store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT }),
    ).rejects.toBeInstanceOf(LedgerConflictError);
    expect((await store.pool.query('SELECT run_id, seq, events FROM proj')).rows).toEqual([
      { run_id: 'r', seq: 1, events: 1 },
    ]);
    expect((await store.head('r'))!.seq).toBe(1);
    expect((await store.read('r')).length).toBe(1);
  });

  it('runs the projected append on a caller pool, and refuses one that pipelines', async (ctx) => {
    skipUnlessUp(ctx);
    const schema = uniqueSchema('pgseq');
    cleanups.push(() => dropSchema(schema));
    const pool = new pg.Pool({
      connectionString: PG_URL,
      max: 1,
      options: `-c search_path=${schema}`,
    });
    cleanups.push(() => pool.end());
    let fail: 'server' | 'build' | null = null;
    const store = await open(schema, {
      pool,
      projections: [
        (records) => {
          if (fail === 'build') throw new Error('projection could not be built');
          return [
            {
              text: 'INSERT INTO proj (run_id, seq) VALUES ($1, $2)',
              values: [records[0]!.runId, records[records.length - 1]!.seq],
            },
            ...(fail === 'server' ? [{ text: `SELECT CAST('projection failed' AS int)` }] : []),
          ];
        },
      ],
    });
    cleanups.push(() => store.close());
    const piped = new pg.Pool({ connectionString: PG_URL, max: 1, pipeline: true });
    cleanups.push(() => piped.end());
    await expect(open(schema, { pool: piped })).rejects.toThrow(/pipeline/);
    await pool.query('CREATE TABLE proj (run_id text NOT NULL, seq int NOT NULL)');

    const h1 = (
      await store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT })
    ).head;
    const h2 = (
      await store.append({
        runId: 'r',
        expected: h1,
        events: [stepDone('0'), stepDone('1')],
        at: AT,
      })
    ).head;
    await expect(
      store.append({ runId: 'r', expected: h1, events: [stepDone('x')], at: AT }),
    ).rejects.toMatchObject({ expectedSeq: 1, actualSeq: 3 });
    for (const f of ['server', 'build'] as const) {
      fail = f;
      await expect(
        store.append({ runId: 'r', expected: h2, events: [stepDone('2')], at: AT }),
      ).rejects.toThrow(/projection/);
    }
    fail = null;
    await store.append({ runId: 'r', expected: h2, events: [stepDone('2')], at: AT });
    expect((await pool.query('SELECT run_id, seq FROM proj ORDER BY seq')).rows).toEqual([
      { run_id: 'r', seq: 1 },
      { run_id: 'r', seq: 3 },
      { run_id: 'r', seq: 4 },
    ]);
    expect((await verifyStoredRun(store, 'r')).ok).toBe(true);
  });

  it('refuses a projection parameter pg would have to convert, before sending anything', async (ctx) => {
    skipUnlessUp(ctx);
    const schema = uniqueSchema('pgproj');
    cleanups.push(() => dropSchema(schema));
    const store = await open(schema, {
      // The type allows no objects; a JavaScript caller can still pass one.
      projections: [
        () => [{ text: 'SELECT $1::text', values: [{ big: 1n } as unknown as string] }],
      ],
    });
    cleanups.push(() => store.close());
    await expect(
      store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT }),
    ).rejects.toThrow(/parameter \$1 is not a string/);
    expect(await store.head('r')).toBeNull();
  });

  it('keeps its prepared statements straight across flights that fail part way', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema, store: other } = await fresh();
    let check: string | null = null;
    const store = await open(schema, {
      max: 1, // one connection: every flight meets the statements the earlier ones prepared
      projections: [
        (records) => [
          {
            name: 'proj_ins',
            text: 'INSERT INTO proj (seq) VALUES ($1)',
            values: [records[0]!.seq],
          },
          ...(check === null
            ? []
            : [{ name: 'proj_check', text: 'SELECT CAST($1::text AS int)', values: [check] }]),
        ],
      ],
    });
    cleanups.push(() => store.close());
    await store.pool.query('CREATE TABLE proj (seq int NOT NULL)');
    const h1 = (
      await other.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT })
    ).head;
    // Refused at its first statement: the server skips the Parse of proj_ins behind it.
    await expect(
      store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT }),
    ).rejects.toBeInstanceOf(LedgerConflictError);
    const h2 = (await store.append({ runId: 'r', expected: h1, events: [stepDone('0')], at: AT }))
      .head;
    // proj_check parses, then fails when it runs: prepared, yet everything rolled back.
    check = 'x';
    await expect(
      store.append({ runId: 'r', expected: h2, events: [stepDone('1')], at: AT }),
    ).rejects.toThrow(/invalid input syntax/);
    check = '1';
    await store.append({ runId: 'r', expected: h2, events: [stepDone('1')], at: AT });
    expect((await store.pool.query('SELECT seq FROM proj ORDER BY seq')).rows).toEqual([
      { seq: 2 },
      { seq: 3 },
    ]);
  });

  it('refuses a statement name reused for another text, sending nothing', async (ctx) => {
    skipUnlessUp(ctx);
    const schema = uniqueSchema('pgproj');
    cleanups.push(() => dropSchema(schema));
    let clash = false;
    const store = await open(schema, {
      projections: [
        (records) => [
          { name: 'proj_clash', text: clash ? 'SELECT 2' : 'SELECT 1' },
          { text: 'INSERT INTO proj (seq) VALUES ($1)', values: [records[0]!.seq] },
        ],
      ],
      max: 1,
    });
    cleanups.push(() => store.close());
    await store.pool.query('CREATE TABLE proj (seq int NOT NULL)');
    const h = (
      await store.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: AT })
    ).head;
    clash = true;
    await expect(
      store.append({ runId: 'r', expected: h, events: [stepDone('0')], at: AT }),
    ).rejects.toThrow(/prepared with another text/);
    expect((await store.head('r'))!.seq).toBe(1);
    expect((await store.pool.query('SELECT seq FROM proj')).rows).toEqual([{ seq: 1 }]);
    clash = false;
    await store.append({ runId: 'r', expected: h, events: [stepDone('0')], at: AT });
    expect((await store.head('r'))!.seq).toBe(2);
  });
});
