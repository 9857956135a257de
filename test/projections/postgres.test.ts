import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { dumpPostgresProjections } from '../../src/adapters/ledger/projectionsPostgres.js';
import type { PostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { createEngine } from '../../src/runtime/engine.js';
import { asking, runMix } from './scenario.js';

const reachable = await postgresReachable();
const schema = uniqueSchema('proj');
const uri = `${PG_URL}?schema=${schema}`;

describe.skipIf(!reachable)('Postgres projections', () => {
  let state: State;
  beforeAll(async () => {
    state = await openState(uri, { projectRoot: '/' });
    await runMix(state.ledger);
  });
  afterAll(async () => {
    await state?.close();
    await dropSchema(schema);
  });
  const dump = () => {
    const l = state.ledger as PostgresLedger;
    return dumpPostgresProjections(l.pool, l.schema);
  };

  it('lens rebuild reproduces every projection row byte for byte', async () => {
    const before = await dump();
    expect(before).toContain('"status":"paused"');
    const report = await state.rebuild();
    expect(report.events).toBeGreaterThan(80);
    expect(await dump()).toBe(before);
  });

  it('answers the read models the same as the memory fold of the same events', async () => {
    const mem = await openState('memory://', { projectRoot: '/' });
    await runMix(mem.ledger);
    const both = async (f: (s: State) => Promise<unknown>) =>
      expect(await f(state)).toEqual(await f(mem));
    const runs = await mem.readModels.listRuns();
    await both((s) => s.readModels.listRuns());
    for (const r of runs) {
      await both((s) => s.readModels.getRun(r.runId));
      await both((s) => s.readModels.steps(r.runId));
      for (const by of ['model', 'pipeline', 'step', 'day'] as const)
        await both((s) => s.readModels.costs({ by, runId: r.runId }));
    }
    for (const by of ['model', 'pipeline', 'step', 'day'] as const) {
      await both((s) => s.readModels.costs({ by }));
      await both((s) => s.readModels.costs({ by, since: Date.UTC(2025, 1, 1) }));
    }
    await both((s) => s.readModels.hitl({ status: 'pending' }));
    await both((s) => s.readModels.countByStatus({ pipeline: 'asking' }));
    await both((s) => s.readModels.listRuns({ status: 'completed', since: 0, prefix: 'run-' }));
  });

  it('rebuilds a projection whose recorded version differs, on open', async () => {
    const before = await dump();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`UPDATE "${schema}".projection_versions SET version = 0 WHERE name = 'costs'`);
    await c.query(`DELETE FROM "${schema}".costs`);
    await c.end();
    const again = await openState(uri, { projectRoot: '/' });
    await again.close();
    expect(await dump()).toBe(before);
  });

  it('drops the steps_order index an older Flujo made, on open, and keeps every row (ADR 63)', async () => {
    const index = async () =>
      (
        await (state.ledger as PostgresLedger).pool.query(
          `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname = 'steps_order'`,
          [schema],
        )
      ).rows;
    expect(await index()).toEqual([]);
    const before = await dump();
    const steps = await state.readModels.steps('run-01');
    expect(steps.length).toBeGreaterThan(3);
    await (state.ledger as PostgresLedger).pool.query(
      `CREATE INDEX steps_order ON "${schema}".steps (run_id, seq, attempt)`,
    );
    const again = await openState(uri, { projectRoot: '/' });
    expect(await index()).toEqual([]);
    expect(await again.readModels.steps('run-01')).toEqual(steps);
    await again.close();
    expect(await dump()).toBe(before);
  });

  it('keeps no head in the runs table: a run is read with the ledger head row (ADR 64)', async () => {
    const pool = (state.ledger as PostgresLedger).pool;
    const columns = async () =>
      (
        await pool.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'runs'`,
          [schema],
        )
      ).rows.map((c) => c.column_name);
    expect(await columns()).not.toContain('head_seq');
    const runs = await state.readModels.listRuns();
    for (const r of runs) {
      const head = (await state.ledger.head(r.runId))!;
      expect([r.headSeq, r.updatedAt]).toEqual([head.seq, head.updatedAt]);
      expect(r.headHash).toBe(Buffer.from(head.hash).toString('hex'));
    }
    // A state written before: runs v1 with its head columns, rebuilt on open.
    await pool.query(`UPDATE projection_versions SET version = 1 WHERE name = 'runs'`);
    await pool.query(`ALTER TABLE runs ADD COLUMN head_seq bigint NOT NULL DEFAULT 0`);
    const again = await openState(uri, { projectRoot: '/' });
    expect(await columns()).not.toContain('head_seq');
    expect(await again.readModels.listRuns()).toEqual(runs);
    await again.close();
  });

  it('flags a listed run the ledger no longer records: no head row, no RunStarted (ADR 130)', async () => {
    const own = uniqueSchema('proj');
    const damaged = await openState(`${PG_URL}?schema=${own}`, { projectRoot: '/' });
    try {
      await runMix(damaged.ledger);
      const pool = (damaged.ledger as PostgresLedger).pool;
      await pool.query(`DELETE FROM "${own}".run_heads WHERE run_id = 'run-01'`);
      await pool.query(`DELETE FROM "${own}".events WHERE run_id = 'run-02' AND seq = 1`);
      await pool.query(`DELETE FROM "${own}".events WHERE run_id = 'run-03'`);
      const runs = await damaged.readModels.listRuns();
      expect(runs.map((r) => [r.runId, r.damaged])).toEqual([
        ['run-04', undefined],
        ['run-03', 'no_start'],
        ['run-02', 'no_start'],
        ['run-01', 'unrecorded'],
      ]);
      expect(runs[0]).not.toHaveProperty('damaged');
      expect(await damaged.readModels.getRun('run-02')).toMatchObject({ damaged: 'no_start' });
      expect(await damaged.readModels.getRun('run-04')).not.toHaveProperty('damaged');
    } finally {
      await damaged.close();
      await dropSchema(own);
    }
  });

  it('rebuilds in commit order when transaction ids and positions change digit count', async () => {
    // The rebuild read `txid::text AS txid … ORDER BY txid, pos`: ORDER BY took the text
    // aliases, so commit 1000 came before 999 and position 10 before 9. A run paused in one
    // commit and resumed in a later one came back `paused` whenever the ids crossed 10^n.
    const own = uniqueSchema('projorder');
    const s = await openState(`${PG_URL}?schema=${own}`, { projectRoot: '/' });
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const { paused } = await runMix(s.ledger);
      const engine = createEngine({ ledger: s.ledger });
      await engine.resume(asking.plan, paused.runId, { humanInput: { name: 'Ada' } });
      const l = s.ledger as PostgresLedger;
      const dumpOwn = () => dumpPostgresProjections(l.pool, l.schema);
      const before = await dumpOwn();
      expect(before).toContain('"status":"completed"');
      // The same commits in the same order, numbered across 999 → 1000.
      await c.query(`UPDATE "${own}".events e SET txid = (999 + o.rank)::text::xid8
        FROM (SELECT txid, dense_rank() OVER (ORDER BY txid) - 1 AS rank
                FROM (SELECT DISTINCT txid FROM "${own}".events) d) o
        WHERE e.txid = o.txid`);
      const order = await c.query<{ n: string }>(
        `SELECT count(DISTINCT txid)::text AS n FROM "${own}".events WHERE txid >= '1000'::xid8`,
      );
      expect(Number(order.rows[0]?.n)).toBeGreaterThan(0);
      await s.rebuild();
      expect(await dumpOwn()).toBe(before);
    } finally {
      await c.end();
      await s.close();
      await dropSchema(own);
    }
  });
});
