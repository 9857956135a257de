import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { dumpSqliteProjections } from '../../src/adapters/ledger/projectionsSqlite.js';
import type { SqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead } from '../../src/events/envelope.js';
import { runMix } from './scenario.js';

const dirs: string[] = [];
const open = async (dir?: string) => {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'flujo-proj-'));
  if (!dir) dirs.push(d);
  return { dir: d, state: await openState('sqlite:///state.db', { projectRoot: d }) };
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const db = (s: State) => (s.ledger as SqliteLedger).db;

describe('SQLite projections', () => {
  it('lens rebuild reproduces every projection row byte for byte', async () => {
    const { state } = await open();
    await runMix(state.ledger);
    const before = dumpSqliteProjections(db(state));
    expect(before.split('\n').length).toBeGreaterThan(30);
    const report = await state.rebuild();
    expect(report.events).toBeGreaterThan(80);
    expect(dumpSqliteProjections(db(state))).toBe(before);
    await state.close();
  });

  it('answers the read models the same as the memory fold of the same events', async () => {
    const { state } = await open();
    const mem = await openState('memory://', { projectRoot: '/' });
    await runMix(state.ledger);
    await runMix(mem.ledger);
    const both = async (f: (s: State) => Promise<unknown>) => {
      const [a, b] = [await f(state), await f(mem)];
      expect(a).toEqual(b);
      return a;
    };
    const runs = (await both((s) => s.readModels.listRuns())) as { runId: string }[];
    expect(runs.map((r) => r.runId)).toEqual(['run-04', 'run-03', 'run-02', 'run-01']);
    for (const r of runs) {
      await both((s) => s.readModels.getRun(r.runId));
      await both((s) => s.readModels.steps(r.runId));
      for (const by of ['model', 'pipeline', 'step', 'day'] as const)
        await both((s) => s.readModels.costs({ by, runId: r.runId }));
    }
    for (const by of ['model', 'pipeline', 'step', 'day'] as const)
      await both((s) => s.readModels.costs({ by }));
    await both((s) => s.readModels.hitl());
    await both((s) => s.readModels.countByStatus());
    await both((s) => s.readModels.listRuns({ status: 'paused', limit: 1, offset: 0 }));
    await both((s) => s.readModels.listRuns({ pipeline: 'asking', prefix: 'run-0' }));
    await state.close();
  });
});

describe('SQLite projection versions', () => {
  it('rebuilds a projection whose recorded version differs, on open', async () => {
    const { dir, state } = await open();
    await runMix(state.ledger);
    const before = dumpSqliteProjections(db(state));
    db(state).exec(`UPDATE projection_versions SET version = 0 WHERE name = 'steps'`);
    db(state).exec(`DELETE FROM steps`);
    await state.close();
    const { state: again } = await open(dir);
    expect(dumpSqliteProjections(db(again))).toBe(before);
    await again.close();
  });

  it('drops the steps_order index an older Flujo made, on open, and keeps every row (ADR 63)', async () => {
    const { dir, state } = await open();
    const index = (s: State) =>
      db(s)
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'steps_order'`)
        .all();
    expect(index(state)).toEqual([]);
    await runMix(state.ledger);
    const before = dumpSqliteProjections(db(state));
    const steps = await state.readModels.steps('run-01');
    expect(steps.length).toBeGreaterThan(3);
    db(state).exec(`CREATE INDEX steps_order ON steps (run_id, seq, attempt)`);
    await state.close();
    const { state: again } = await open(dir);
    expect(index(again)).toEqual([]);
    expect(dumpSqliteProjections(db(again))).toBe(before);
    expect(await again.readModels.steps('run-01')).toEqual(steps);
    await again.close();
  });

  it('keeps no head in the runs table: a run is read with the ledger head row (ADR 64)', async () => {
    const { dir, state } = await open();
    await runMix(state.ledger);
    const columns = (s: State) =>
      (db(s).prepare(`SELECT name FROM pragma_table_info('runs')`).all() as { name: string }[]).map(
        (c) => c.name,
      );
    expect(columns(state)).not.toContain('head_seq');
    const runs = await state.readModels.listRuns();
    for (const r of runs) {
      const head = (await state.ledger.head(r.runId))!;
      expect([r.headSeq, r.updatedAt]).toEqual([head.seq, head.updatedAt]);
      expect(r.headHash).toBe(Buffer.from(head.hash).toString('hex'));
    }
    // A state written before: runs v1 with its head columns, rebuilt on open.
    db(state).exec(`UPDATE projection_versions SET version = 1 WHERE name = 'runs'`);
    db(state).exec(`ALTER TABLE runs ADD COLUMN head_seq INTEGER NOT NULL DEFAULT 0`);
    await state.close();
    const { state: again } = await open(dir);
    expect(columns(again)).not.toContain('head_seq');
    expect(
      db(again).prepare(`SELECT version FROM projection_versions WHERE name = 'runs'`).get(),
    ).toEqual({ version: 2 });
    expect(await again.readModels.listRuns()).toEqual(runs);
    // A head row deleted outside Flujo: the run is still listed, with the head it started with.
    db(again).exec(`DELETE FROM run_heads WHERE run_id = 'run-01'`);
    expect(await again.readModels.getRun('run-01')).toMatchObject({
      headSeq: 0,
      headHash: '',
      updatedAt: runs.find((r) => r.runId === 'run-01')!.startedAt,
    });
    await again.close();
  });

  it('flags a listed run the ledger no longer records: no head row, no RunStarted (ADR 130)', async () => {
    const { state } = await open();
    await runMix(state.ledger);
    db(state).exec(`DELETE FROM run_heads WHERE run_id = 'run-01'`);
    db(state).exec(`DELETE FROM events WHERE run_id = 'run-02' AND seq = 1`);
    db(state).exec(`DELETE FROM events WHERE run_id = 'run-03'`);
    const runs = await state.readModels.listRuns();
    expect(runs.map((r) => [r.runId, r.damaged])).toEqual([
      ['run-04', undefined],
      ['run-03', 'no_start'],
      ['run-02', 'no_start'],
      ['run-01', 'unrecorded'],
    ]);
    expect(runs[0]).not.toHaveProperty('damaged');
    expect(await state.readModels.getRun('run-02')).toMatchObject({ damaged: 'no_start' });
    expect(await state.readModels.getRun('run-04')).not.toHaveProperty('damaged');
    await state.close();
  });

  it('rolls the append back when a projection cannot write its row', async () => {
    const { state } = await open();
    db(state).exec(`DROP TABLE hitl`);
    const events: NewEvent[] = [
      {
        type: 'RunStarted',
        data: {
          pipeline: { name: 'p', fingerprint: 'f' },
          input: 1,
          engine: { version: '0', flags: [] },
        },
      },
      { type: 'HumanInputRequested', data: { path: '.', message: 'm', inputSchema: {} } },
    ];
    await expect(
      state.ledger.append({ runId: 'r1', expected: emptyHead('r1'), events, at: 1 }),
    ).rejects.toThrow(/hitl/);
    expect(await state.ledger.head('r1')).toBeNull();
    expect(await state.readModels.getRun('r1')).toBeNull();
    await state.close();
  });
});
