/**
 * The projections on SQLite: tables created beside the ledger's, one prepared statement per
 * change kind run inside the append transaction (SqliteInlineProjection), the read-model queries,
 * the version check that rebuilds a stale projection on open, and rebuild itself (one write
 * transaction: drop, recreate, fold every event in commit order).
 */
import type Database from 'better-sqlite3';

import {
  PROJECTION_NAMES,
  PROJECTION_VERSIONS,
  staleProjections,
  type Change,
  type ProjectionName,
} from '../../projections/changes.js';
import { changesOfRecords } from '../../projections/fold.js';
import { RebuildDamage, type DamagedRun } from '../../projections/damage.js';
import type { ReadModels, RunQuery, RunStatusRow } from '../../projections/readModels.js';
import { RUN_STATUSES, sortCosts } from '../../projections/tables.js';
import { utcDay } from '../../projections/preview.js';
import type { StoredRecord } from '../../events/envelope.js';
import type { EventType } from '../../events/catalogue.js';
import type { SqliteInlineProjection } from './sqlite.js';
import { SELECT_AFTER_POS, SELECT_EMPTY_RUNS } from './sqliteSchema.js';
import {
  CHANGE_SQL,
  META_DDL,
  PROJECTION_DDL,
  RUN_JOIN,
  RUN_SELECT,
  TIDY_DDL,
} from './projectionsSql.js';
import { costRow, hitlRow, runFilter, runRow, stepRow, type Row } from './projectionsRows.js';

export interface RebuildReport {
  readonly projections: readonly ProjectionName[];
  readonly events: number;
  readonly ms: number;
  /** Runs the rebuild could not fold whole (no RunStarted at seq 1, an undecodable event). */
  readonly damaged?: readonly DamagedRun[];
}

export interface SqliteProjections {
  readonly inline: SqliteInlineProjection;
  readonly readModels: ReadModels;
  rebuild(only?: readonly ProjectionName[]): Promise<RebuildReport>;
  /** Projections whose recorded version differs from this Flujo's (rebuilt by `open`). */
  stale(): ProjectionName[];
}

type Stmt = Database.Statement<unknown[], unknown>;

/** Creates what is missing, then rebuilds every projection whose version is not current. */
export function openSqliteProjections(db: Database.Database): SqliteProjections {
  db.exec(META_DDL);
  const stale = (): ProjectionName[] => {
    const rows = db.prepare('SELECT name, version FROM projection_versions').all() as {
      name: string;
      version: number;
    }[];
    return staleProjections(rows).map((p) => p.name);
  };

  function recreate(names: readonly ProjectionName[]): void {
    for (const n of names) {
      db.exec(`DROP TABLE IF EXISTS ${n}`);
      db.exec(PROJECTION_DDL.sqlite[n]);
      db.prepare(
        'INSERT INTO projection_versions (name, version) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET version = excluded.version',
      ).run(n, PROJECTION_VERSIONS[n]);
    }
  }

  let stmts: Map<string, Stmt | null> | null = null;
  const statement = (c: Change): Stmt | null => {
    stmts ??= new Map(
      Object.entries(CHANGE_SQL).map(([k, sql]) => [
        k,
        sql === null ? null : (db.prepare(sql) as Stmt),
      ]),
    );
    return stmts.get(`${c.p}.${c.op}`) as Stmt | null;
  };
  const apply = (changes: readonly Change[]) => {
    for (const c of changes) statement(c)?.run(c as unknown as Record<string, unknown>);
  };

  function rebuildNow(only: readonly ProjectionName[]): {
    events: number;
    damaged: DamagedRun[];
  } {
    const selectPage = db.prepare<[number, number], Row>(SELECT_AFTER_POS);
    recreate(only);
    stmts = null; // the tables are new: prepare against them
    const set = new Set(only);
    const damage = new RebuildDamage();
    let after = 0;
    let events = 0;
    for (;;) {
      const page = selectPage.all(after, 2000).map(toStored);
      apply(changesOfRecords(page, { only: set, damage }));
      events += page.length;
      if (page.length < 2000) break;
      after = Number((page[page.length - 1] as StoredRecord).pos);
    }
    for (const h of db.prepare<[], { run_id: string; seq: number }>(SELECT_EMPTY_RUNS).all())
      damage.withoutEvents(h.run_id, h.seq);
    return { events, damaged: damage.list() };
  }

  async function rebuild(
    only: readonly ProjectionName[] = PROJECTION_NAMES,
  ): Promise<RebuildReport> {
    const t0 = performance.now();
    const { events, damaged } = db.transaction(() => rebuildNow(only)).immediate();
    return { projections: [...only], events, ms: Math.round(performance.now() - t0), damaged };
  }

  // Another process may be rebuilding: decide under the write lock.
  db.transaction(() => {
    db.exec(TIDY_DDL);
    const names = stale();
    if (names.length) rebuildNow(names);
  }).immediate();

  const inline: SqliteInlineProjection = (_db, records, _head, events) => {
    apply(changesOfRecords(records, { events }));
  };

  return { inline, readModels: sqliteReadModels(db), rebuild, stale };
}

function toStored(r: Row): StoredRecord {
  return {
    runId: r.run_id as string,
    seq: r.seq as number,
    type: r.type as EventType,
    at: r.at as number,
    prev: r.prev as Uint8Array,
    hash: r.hash as Uint8Array,
    body: r.body as Uint8Array,
    pos: String(r.pos),
  };
}

export function sqliteReadModels(db: Database.Database): ReadModels {
  const cache = new Map<string, Stmt>();
  const prep = (sql: string): Stmt => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql) as Stmt));
    return s;
  };
  const where = (q: RunQuery, withStatus: boolean) => {
    const f = runFilter(q, withStatus, 'sqlite');
    return { sql: f.clauses.length ? `WHERE ${f.clauses.join(' AND ')}` : '', params: f.params };
  };
  return {
    async listRuns(q = {}) {
      const w = where(q, true);
      const rows = prep(
        `${RUN_SELECT.sqlite} FROM (SELECT * FROM runs ${w.sql}
           ORDER BY started_at DESC, run_id DESC LIMIT ? OFFSET ?) r ${RUN_JOIN}
         ORDER BY r.started_at DESC, r.run_id DESC`,
      ).all(...w.params, q.limit ?? -1, q.offset ?? 0) as Row[];
      return rows.map(runRow);
    },
    async countByStatus(q = {}) {
      const w = where(q, false);
      const rows = prep(`SELECT status, count(*) AS n FROM runs ${w.sql} GROUP BY status`).all(
        ...w.params,
      ) as { status: RunStatusRow; n: number }[];
      const out = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<
        RunStatusRow,
        number
      >;
      for (const r of rows) out[r.status] = r.n;
      return out;
    },
    async getRun(runId) {
      const r = prep(`${RUN_SELECT.sqlite} FROM runs r ${RUN_JOIN} WHERE r.run_id = ?`).get(
        runId,
      ) as Row | undefined;
      return r ? runRow(r) : null;
    },
    async steps(runId) {
      return (
        prep('SELECT * FROM steps WHERE run_id = ? ORDER BY seq, attempt').all(runId) as Row[]
      ).map(stepRow);
    },
    async costs(q) {
      const since = q.since === undefined ? '' : utcDay(q.since);
      const rows =
        q.runId === undefined
          ? prep(
              `SELECT key, sum(calls) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
                      sum(cost_micros) AS cost_micros FROM costs WHERE dim = ? AND day >= ? GROUP BY key`,
            ).all(q.by, since)
          : prep(
              `SELECT ${runCostKey[q.by]} AS key, sum(s.calls) AS calls, sum(s.tokens_in) AS tokens_in,
                      sum(s.tokens_out) AS tokens_out, sum(s.cost_micros) AS cost_micros
                 FROM steps s JOIN runs r ON r.run_id = s.run_id
                WHERE s.run_id = ? AND s.model IS NOT NULL AND s.call_day IS NOT NULL AND s.call_day >= ?
                GROUP BY 1`,
            ).all(q.runId, since);
      return sortCosts(q.by, (rows as Row[]).map(costRow));
    },
    async hitl(q = {}) {
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (q.status !== undefined) {
        clauses.push('status = ?');
        params.push(q.status);
      }
      if (q.runId !== undefined) {
        clauses.push('run_id = ?');
        params.push(q.runId);
      }
      const w = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
      return (
        prep(`SELECT * FROM hitl ${w} ORDER BY requested_at, run_id, seq`).all(...params) as Row[]
      ).map(hitlRow);
    },
    async getSystemState(key) {
      const r = prep('SELECT value FROM system_state WHERE key = ?').get(key) as
        { value: string } | undefined;
      return r ? (JSON.parse(r.value) as unknown) : null;
    },
    async setSystemState(key, value) {
      prep(
        'INSERT INTO system_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ).run(key, JSON.stringify(value ?? null));
    },
  };
}

export const runCostKey = {
  model: 's.model',
  step: 's.name',
  day: 's.call_day',
  pipeline: 'r.pipeline',
} as const;

/** Every projection table's rows in primary-key order, as JSON lines (tests, rebuild checks). */
export function dumpSqliteProjections(db: Database.Database): string {
  const pk: Record<ProjectionName, string> = {
    runs: 'run_id',
    steps: 'run_id, path, attempt',
    hitl: 'run_id, path',
    costs: 'dim, key, day',
  };
  return PROJECTION_NAMES.map(
    (n) =>
      `# ${n}\n` +
      (db.prepare(`SELECT * FROM ${n} ORDER BY ${pk[n]}`).all() as Row[])
        .map((r) => JSON.stringify(r))
        .join('\n'),
  ).join('\n');
}
