/**
 * A model call's spend counts on the UTC day the call was requested, whichever event charges it
 * (ADR 145): a cancel's charge after midnight, or a reply before midnight and a charge of the same
 * attempt after it, land on the request's day, across runs as for the run, in memory, SQLite and
 * Postgres alike, inline and rebuilt. Before, each charge counted on its event's day: the cancel's
 * charge on the next day, and the split call's reply and charge on two days, while the run's own
 * costs put both on the reply's. A store written before is rebuilt once at its next open.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

import type { PostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { dumpPostgresProjections } from '../../src/adapters/ledger/projectionsPostgres.js';
import { dumpSqliteProjections } from '../../src/adapters/ledger/projectionsSqlite.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { BY_DAY, DAY_1, RUN_BY_DAY, runAcrossMidnight } from './costDayScenario.js';

const reachable = await postgresReachable();
const schema = uniqueSchema('costday');
const pgUri = `${PG_URL}?schema=${schema}`;
const dir = mkdtempSync(join(tmpdir(), 'flujo-costday-'));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (reachable) await dropSchema(schema);
});

interface Store {
  open(): Promise<State>;
  /** The projection rows as stored (SQL stores). */
  dump?(state: State): Promise<string>;
  /** Makes the store look written by the fold before ADR 145 (versions 5 and 2). */
  age?(): Promise<void>;
}

const stores: [string, Store][] = [
  ['memory', { open: () => openState('memory://', { projectRoot: '/' }) }],
  [
    'SQLite',
    {
      open: () => openState('sqlite:///state.db', { projectRoot: dir }),
      dump: async () => {
        const db = new Database(join(dir, 'state.db'), { readonly: true });
        try {
          return dumpSqliteProjections(db);
        } finally {
          db.close();
        }
      },
      age: async () => {
        const db = new Database(join(dir, 'state.db'));
        try {
          db.exec(OLD_ROWS);
        } finally {
          db.close();
        }
      },
    },
  ],
];
if (reachable)
  stores.push([
    'Postgres',
    {
      open: () => openState(pgUri, { projectRoot: '/' }),
      dump: (state) => {
        const l = state.ledger as PostgresLedger;
        return dumpPostgresProjections(l.pool, l.schema);
      },
      age: async () => {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        try {
          await c.query(`SET search_path TO "${schema}"`);
          await c.query(OLD_ROWS);
        } finally {
          await c.end();
        }
      },
    },
  ]);

/** The days the fold before ADR 145 gave: the cancel's charge and the split call's on DAY_2. */
const OLD_ROWS = `
  UPDATE projection_versions SET version = 5 WHERE name = 'steps';
  UPDATE projection_versions SET version = 2 WHERE name = 'costs';
  UPDATE steps SET call_day = '2025-03-11' WHERE run_id = 'late-1';
  DELETE FROM costs WHERE day = '${DAY_1}';`;

async function check(state: State): Promise<void> {
  const rm = state.readModels;
  expect(await rm.costs({ by: 'day' })).toEqual(BY_DAY);
  for (const [runId, rows] of Object.entries(RUN_BY_DAY))
    expect(await rm.costs({ by: 'day', runId })).toEqual(rows);
  // `since` counts whole days of the same rows: the first day's spend is the difference.
  expect(await rm.costs({ by: 'model', since: Date.UTC(2025, 2, 11) })).toEqual([
    { key: 'm:fast', calls: 1, tokensIn: 5, tokensOut: 5, costMicros: 30 },
  ]);
  // Across runs, every dimension sums to the runs' own costs.
  const runs = await rm.listRuns();
  const total = (rows: readonly { costMicros: number }[]) =>
    rows.reduce((n, r) => n + r.costMicros, 0);
  const perRun = runs.reduce((n, r) => n + r.costMicros, 0);
  expect(perRun).toBe(260);
  for (const by of ['model', 'pipeline', 'step', 'day'] as const)
    expect(total(await rm.costs({ by }))).toBe(perRun);
}

describe.each(stores)('costs by day across a UTC midnight (%s)', (_name, store) => {
  it('counts every charge of a call on the day it was requested, inline and rebuilt', async () => {
    const state = await store.open();
    try {
      await runAcrossMidnight(state.ledger);
      await check(state);
      const before = await store.dump?.(state);
      await state.rebuild();
      await check(state);
      if (store.dump) expect(await store.dump(state)).toBe(before);
    } finally {
      await state.close();
    }
  });

  it.skipIf(!store.age)('rebuilds steps and costs written before, once, on open', async () => {
    const first = await store.open();
    const before = await store.dump!(first);
    await first.close();
    await store.age!();
    const again = await store.open();
    try {
      await check(again);
      expect(await store.dump!(again)).toBe(before);
    } finally {
      await again.close();
    }
  });
});
