import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  createSqliteLedger,
  type SqliteInlineProjection,
} from '../../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../../src/events/chain.js';
import { emptyHead } from '../../../src/events/envelope.js';
import { started, stepDone } from '../../support/events.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const path = () => {
  const d = mkdtempSync(join(tmpdir(), 'flujo-proj-'));
  dirs.push(d);
  return join(d, 'state.db');
};

const countSteps: SqliteInlineProjection = (db, records) => {
  db.exec('CREATE TABLE IF NOT EXISTS step_counts (run_id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  const up = db.prepare(
    'INSERT INTO step_counts (run_id, n) VALUES (?, 1) ON CONFLICT (run_id) DO UPDATE SET n = n + 1',
  );
  for (const r of records) if (r.type === 'StepCompleted') up.run(r.runId);
};

describe('inline projections on SQLite', () => {
  beforeAll(initFastHash);

  it('are written in the same transaction as the events', async () => {
    const store = createSqliteLedger({ path: path(), projections: [countSteps] });
    const h = (
      await store.append({
        runId: 'r',
        expected: emptyHead('r'),
        events: [started(), stepDone('0')],
        at: 1,
      })
    ).head;
    await store.append({ runId: 'r', expected: h, events: [stepDone('1'), stepDone('2')], at: 2 });
    expect(store.db.prepare('SELECT n FROM step_counts WHERE run_id = ?').get('r')).toEqual({
      n: 3,
    });
    await store.close();
  });

  it('roll the append back when they fail, so events and views never disagree', async () => {
    let fail = false;
    const flaky: SqliteInlineProjection = (db, records, head, events) => {
      countSteps(db, records, head, events);
      if (fail) throw new Error('projection broke');
    };
    const store = createSqliteLedger({ path: path(), projections: [flaky] });
    const h = (
      await store.append({
        runId: 'r',
        expected: emptyHead('r'),
        events: [started(), stepDone('0')],
        at: 1,
      })
    ).head;
    fail = true;
    await expect(
      store.append({ runId: 'r', expected: h, events: [stepDone('1')], at: 2 }),
    ).rejects.toThrow(/projection broke/);
    expect((await store.read('r')).length).toBe(2);
    expect((await store.head('r'))?.seq).toBe(2);
    expect(store.db.prepare('SELECT n FROM step_counts').get()).toEqual({ n: 1 });
    fail = false;
    await store.append({ runId: 'r', expected: h, events: [stepDone('1')], at: 2 });
    expect(store.db.prepare('SELECT n FROM step_counts').get()).toEqual({ n: 2 });
    await store.close();
  });
});
