/**
 * The projections on Postgres: the same statements as SQLite (./projectionsSql.ts) as named
 * prepared statements sent with the append in its transaction (PostgresInlineProjection), the read
 * models over the pool, the version check on open and rebuild. Rebuild and the version check
 * take a transaction-scoped advisory lock (one rebuilder per schema) and a SHARE lock on
 * run_heads, which every append writes: appends wait for the rebuild, reads go on.
 */
import { createHash } from 'node:crypto';

import type pg from 'pg';

import type { EventType } from '../../events/catalogue.js';
import type { StoredRecord } from '../../events/envelope.js';
import {
  PROJECTION_NAMES,
  PROJECTION_VERSIONS,
  staleProjections,
  type Change,
  type ProjectionName,
} from '../../projections/changes.js';
import { RebuildDamage } from '../../projections/damage.js';
import { changesOfRecords } from '../../projections/fold.js';
import { utcDay } from '../../projections/preview.js';
import type { ReadModels, RunQuery, RunStatusRow } from '../../projections/readModels.js';
import { RUN_STATUSES, sortCosts } from '../../projections/tables.js';
import { createPostgresLedger, type PostgresInlineProjection } from './postgres.js';
import { stateUriOf } from './postgresOpen.js';
import type { PlainParam, ProjectionStatement } from './postgresFlight.js';
import {
  CHANGE_SQL,
  META_DDL,
  PRIMARY_KEYS,
  PROJECTION_DDL,
  RUN_JOIN,
  RUN_SELECT,
  TIDY_DDL,
  positional,
} from './projectionsSql.js';
import { costRow, hitlRow, runFilter, runRow, stepRow, type Row } from './projectionsRows.js';
import type { RebuildReport } from './projectionsSqlite.js';
import type { State } from './state.js';
import { privilegeRefused } from './stateUri.js';

const compiled = Object.fromEntries(
  Object.entries(CHANGE_SQL).map(([k, sql]) => [k, sql === null ? null : positional(sql)]),
) as Record<string, { text: string; names: string[] } | null>;

export async function openPostgresState(connectionString: string, schema: string): Promise<State> {
  const tag = createHash('sha256').update(schema).digest('hex').slice(0, 12);
  const queries = (changes: readonly Change[]): ProjectionStatement[] => {
    const out: ProjectionStatement[] = [];
    for (const c of changes) {
      const key = `${c.p}.${c.op}`;
      const q = compiled[key];
      if (!q) continue; // nothing to write (runs.head: ADR 64)
      // Every change field is a string, a number or null (projections/changes.ts).
      const rec = c as unknown as Record<string, PlainParam | undefined>;
      out.push({
        name: `flujo_proj_${tag}_${key}`,
        text: q.text,
        values: q.names.map((n) => rec[n] ?? null),
      });
    }
    return out;
  };
  const apply = async (client: pg.ClientBase, changes: readonly Change[]) => {
    for (const q of queries(changes)) await client.query(q);
  };
  const inline: PostgresInlineProjection = (records, events) =>
    queries(changesOfRecords(records, { events }));
  const ledger = await createPostgresLedger({ connectionString, schema, projections: [inline] });
  const pool = ledger.pool;

  /** Runs `work` in a transaction holding the schema's projection lock and blocking appends. */
  async function locked<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`flujo_proj.${schema}`]);
      await client.query(`LOCK TABLE "${schema}".run_heads IN SHARE MODE`);
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async function stale(client: pg.ClientBase): Promise<ProjectionName[]> {
    const res = await client.query<{ name: string; version: number }>(
      'SELECT name, version FROM projection_versions',
    );
    return staleProjections(res.rows).map((p) => p.name);
  }

  async function rebuildNow(client: pg.ClientBase, only: readonly ProjectionName[]) {
    for (const n of only) {
      // The grants on the table (an auditor's SELECT, ADR 94) outlive its DROP and CREATE.
      const grants = await client.query<{ sql: string }>(
        `SELECT format('GRANT %s ON %I TO %s%s', a.privilege_type, $2::text,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                  CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS sql
           FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
           LEFT JOIN pg_roles r ON r.oid = a.grantee
          WHERE c.oid = to_regclass($1) AND a.grantee <> (SELECT oid FROM pg_roles WHERE rolname = current_user)`,
        [`"${schema}".${n}`, n],
      );
      await client.query(`DROP TABLE IF EXISTS ${n}`);
      await client.query(PROJECTION_DDL.postgres[n]);
      for (const g of grants.rows) await client.query(g.sql);
      await client.query(
        'INSERT INTO projection_versions (name, version) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET version = excluded.version',
        [n, PROJECTION_VERSIONS[n]],
      );
    }
    const set = new Set(only);
    let txid = '0';
    let pos = '0';
    let events = 0;
    const damage = new RebuildDamage();
    for (;;) {
      const res = await client.query<Row>(
        // Qualified: a bare `ORDER BY txid` names the text alias, which sorts 1000 before 999.
        // Events whose head row is gone are left out, as SQLite's join to run_heads leaves them
        // out: the store lists no such run, and `lens rebuild` names them from `orphans()`.
        `SELECT txid::text AS txid, pos::text AS pos, run_id, seq, type, at, prev, hash, body FROM events
          WHERE (events.txid, events.pos) > ($1::text::xid8, $2::bigint)
            AND EXISTS (SELECT 1 FROM run_heads h WHERE h.run_id = events.run_id)
          ORDER BY events.txid, events.pos LIMIT 2000`,
        [txid, pos],
      );
      const page: StoredRecord[] = res.rows.map((r) => ({
        runId: String(r.run_id),
        seq: Number(r.seq),
        type: r.type as EventType,
        at: Number(r.at),
        prev: r.prev as Uint8Array,
        hash: r.hash as Uint8Array,
        body: r.body as Uint8Array,
        pos: `${String(r.txid)}:${String(r.pos)}`,
      }));
      await apply(client, changesOfRecords(page, { only: set, damage }));
      events += page.length;
      const last = res.rows[res.rows.length - 1];
      if (!last || res.rows.length < 2000) break;
      txid = String(last.txid);
      pos = String(last.pos);
    }
    const empty = await client.query<{ run_id: string; seq: string }>(
      `SELECT h.run_id, h.seq::text AS seq FROM run_heads h
        WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = h.run_id) ORDER BY h.run_id`,
    );
    for (const h of empty.rows) damage.withoutEvents(String(h.run_id), Number(h.seq));
    return { events, damaged: damage.list() };
  }

  try {
    await locked(async (client) => {
      await client.query(META_DDL);
      await client.query(TIDY_DDL);
      const names = await stale(client);
      if (names.length) await rebuildNow(client, names);
    });
  } catch (e) {
    await ledger.close();
    throw e;
  }

  return {
    ledger,
    readModels: postgresReadModels(pool, stateUriOf(connectionString, schema)),
    async rebuild(only: readonly ProjectionName[] = PROJECTION_NAMES): Promise<RebuildReport> {
      const t0 = performance.now();
      const { events, damaged } = await locked((client) => rebuildNow(client, only));
      return { projections: [...only], events, ms: Math.round(performance.now() - t0), damaged };
    },
    close: () => ledger.close(),
  };
}

/**
 * The read models over the pool. `state` names the state in errors: a role that may not read a
 * read-model table is told so and what to grant (ADR 94), not "a bug in Flujo".
 */
export function postgresReadModels(pool: pg.Pool, state: string): ReadModels {
  const rows = async (text: string, values: unknown[]) => {
    try {
      return (await pool.query<Row>(text, values)).rows;
    } catch (e) {
      throw privilegeRefused(state, e, /^\s*INSERT/.test(text) ? 'write' : 'read') ?? e;
    }
  };
  const where = (q: RunQuery, withStatus: boolean) => {
    const f = runFilter(q, withStatus, 'postgres');
    return { sql: f.clauses.length ? `WHERE ${f.clauses.join(' AND ')}` : '', params: f.params };
  };
  return {
    async listRuns(q = {}) {
      const w = where(q, true);
      const n = w.params.length;
      return (
        await rows(
          `${RUN_SELECT.postgres} FROM (SELECT * FROM runs ${w.sql}
             ORDER BY started_at DESC, run_id DESC LIMIT $${n + 1} OFFSET $${n + 2}) r ${RUN_JOIN}
           ORDER BY r.started_at DESC, r.run_id DESC`,
          [...w.params, q.limit ?? null, q.offset ?? 0],
        )
      ).map(runRow);
    },
    async countByStatus(q = {}) {
      const w = where(q, false);
      const out = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<
        RunStatusRow,
        number
      >;
      for (const r of await rows(
        `SELECT status, count(*) AS n FROM runs ${w.sql} GROUP BY status`,
        w.params,
      ))
        out[r.status as RunStatusRow] = Number(r.n);
      return out;
    },
    async getRun(runId) {
      const r = (
        await rows(`${RUN_SELECT.postgres} FROM runs r ${RUN_JOIN} WHERE r.run_id = $1`, [runId])
      )[0];
      return r ? runRow(r) : null;
    },
    async steps(runId) {
      return (
        await rows('SELECT * FROM steps WHERE run_id = $1 ORDER BY seq, attempt', [runId])
      ).map(stepRow);
    },
    async costs(q) {
      const since = q.since === undefined ? '' : utcDay(q.since);
      const key = { model: 's.model', step: 's.name', day: 's.call_day', pipeline: 'r.pipeline' }[
        q.by
      ];
      const found =
        q.runId === undefined
          ? await rows(
              `SELECT key, sum(calls) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
                      sum(cost_micros) AS cost_micros FROM costs WHERE dim = $1 AND day >= $2 GROUP BY key`,
              [q.by, since],
            )
          : await rows(
              `SELECT ${key} AS key, sum(s.calls) AS calls, sum(s.tokens_in) AS tokens_in,
                      sum(s.tokens_out) AS tokens_out, sum(s.cost_micros) AS cost_micros
                 FROM steps s JOIN runs r ON r.run_id = s.run_id
                WHERE s.run_id = $1 AND s.model IS NOT NULL AND s.call_day IS NOT NULL AND s.call_day >= $2
                GROUP BY 1`,
              [q.runId, since],
            );
      return sortCosts(q.by, found.map(costRow));
    },
    async hitl(q = {}) {
      const clauses: string[] = [];
      const params: unknown[] = [];
      if (q.status !== undefined) {
        params.push(q.status);
        clauses.push(`status = $${params.length}`);
      }
      if (q.runId !== undefined) {
        params.push(q.runId);
        clauses.push(`run_id = $${params.length}`);
      }
      const w = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
      return (await rows(`SELECT * FROM hitl ${w} ORDER BY requested_at, run_id, seq`, params)).map(
        hitlRow,
      );
    },
    async getSystemState(key) {
      const r = (await rows('SELECT value FROM system_state WHERE key = $1', [key]))[0];
      return r ? (JSON.parse(String(r.value)) as unknown) : null;
    },
    async setSystemState(key, value) {
      await rows(
        'INSERT INTO system_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        [key, JSON.stringify(value ?? null)],
      );
    },
  };
}

/** Every projection table's rows in primary-key order, as JSON lines (tests, rebuild checks). */
export async function dumpPostgresProjections(pool: pg.Pool, schema: string): Promise<string> {
  const parts: string[] = [];
  for (const n of PROJECTION_NAMES) {
    const res = await pool.query<Row>(`SELECT * FROM "${schema}".${n} ORDER BY ${PRIMARY_KEYS[n]}`);
    parts.push(`# ${n}\n` + res.rows.map((r) => JSON.stringify(r)).join('\n'));
  }
  return parts.join('\n');
}
