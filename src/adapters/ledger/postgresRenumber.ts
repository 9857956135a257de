/**
 * `flujo lens renumber`: repairs a Postgres ledger restored into a cluster whose transaction
 * counter is behind the one that wrote it (ADR 92). Every row's `(txid, pos)` is replaced by
 * `(3, its rank in the old (txid, pos) order)`: one transaction id below any snapshot's xmin, so
 * readers see every row, in the old order, and every later append sorts after them (its txid is
 * the cluster's own, above 3; its pos comes from the sequence, above every old pos). Subscriber
 * positions stored in the schema's `system_state` are mapped the same way, and every old
 * position is kept in `flujo_position_map` for positions stored elsewhere.
 *
 * One transaction, holding the ledger's migration lock, the projections' lock and ACCESS
 * EXCLUSIVE locks on `events` and `run_heads`; refused (nothing changed) while another Flujo has
 * the schema open or anything holds a lock on those tables.
 */
import pg from 'pg';

import { ConfigError, EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { applicationName, stateUriOf } from './postgresOpen.js';
import { POSITION, SCHEMA_NAME, txidCounter } from './postgresSql.js';
import { privilegeRefused } from './stateUri.js';

/** The transaction id every renumbered row carries: the first normal xid, below any xmin. */
export const RENUMBERED_TXID = '3';

export interface RenumberOptions {
  readonly connectionString: string;
  readonly schema: string;
  /** Do everything, report it, and roll it back. */
  readonly dryRun?: boolean;
}

export interface MappedPosition {
  /** The `system_state` key whose value held the position. */
  readonly key: string;
  readonly from: string;
  readonly to: string;
}

export interface RenumberReport {
  readonly schema: string;
  /** Rows were renumbered (and, unless a dry run, committed). */
  readonly renumbered: boolean;
  readonly dryRun: boolean;
  /** Rows renumbered (every row of `events`), 0 when nothing was ahead. */
  readonly events: number;
  /** Rows whose txid was at or above the cluster's counter before. */
  readonly ahead: number;
  readonly highestTxid: string | null;
  readonly clusterXmax: string;
  /** `events` was vacuumed after the commit (its old row versions sit where readers start). */
  readonly vacuumed: boolean;
  readonly positions: readonly MappedPosition[];
  /** Strings in `system_state` that look like positions but name no row of this ledger. */
  readonly unmapped: readonly { key: string; value: string }[];
}

const inUse = (message: string, details: Record<string, unknown>) =>
  new EngineError(ErrorCode.LEDGER_IN_USE, message, { exitCode: ExitCode.runtime, details });

/** Every string in a JSON value, with a way to replace it. */
function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, mapStrings(v, f)]),
    );
  return value;
}

export async function renumberPostgresLedger(options: RenumberOptions): Promise<RenumberReport> {
  const { schema } = options;
  if (!SCHEMA_NAME.test(schema))
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `Postgres schema ${JSON.stringify(schema)} is not a plain lower-case identifier`,
      { schema },
    );
  const uri = stateUriOf(options.connectionString, schema);
  const s = `"${schema}"`;
  const client = new pg.Client({
    connectionString: options.connectionString,
    application_name: 'flujo lens renumber',
  });
  await client.connect();
  client.on('error', () => {}); // a drop fails the query in flight; that is reported
  let done = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `flujo.ledger.migrate:${schema}`,
    ]);
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`flujo_proj.${schema}`]);
    const tables = await client.query<{ events: string | null; state: string | null }>(
      `SELECT to_regclass('${s}.events')::text AS events, to_regclass('${s}.system_state')::text AS state`,
    );
    if (!tables.rows[0]?.events)
      throw new ConfigError(
        ErrorCode.CONFIG_STATE_URI,
        `Postgres schema ${schema} holds no Flujo ledger; nothing was changed. Check the state URI (its ?schema=) and the database`,
        { schema },
      );
    const hasState = Boolean(tables.rows[0]?.state);

    const others = await client.query<{ pid: number; app: string; state: string | null }>(
      `SELECT DISTINCT a.pid, a.application_name AS app, a.state
         FROM pg_stat_activity a
         LEFT JOIN pg_locks l ON l.pid = a.pid
          AND l.relation IN ('${s}.events'::regclass, '${s}.run_heads'::regclass)
        WHERE a.pid <> pg_backend_pid() AND a.datname = current_database()
          AND (a.application_name = $1 OR l.pid IS NOT NULL)
        ORDER BY a.pid`,
      [applicationName(schema)],
    );
    if (others.rows.length)
      throw inUse(
        `the Postgres ledger in schema ${schema} is in use by ${others.rows
          .map((r) => `pid ${r.pid}${r.app ? ` (${r.app})` : ''}`)
          .join(', ')}; nothing was changed. Stop every Flujo process using this schema ` +
          `(flujo worker, lens serve, run), then run flujo lens renumber again`,
        { schema, pids: others.rows.map((r) => r.pid) },
      );
    try {
      await client.query(`LOCK TABLE ${s}.events, ${s}.run_heads IN ACCESS EXCLUSIVE MODE NOWAIT`);
    } catch (e) {
      if ((e as { code?: string }).code !== '55P03') throw e;
      throw inUse(
        `the Postgres ledger in schema ${schema} is in use (another session took a lock on its tables just now); ` +
          `nothing was changed. Stop every process using this schema, then run flujo lens renumber again`,
        { schema },
      );
    }

    const counter = await txidCounter(client, schema);
    const base = {
      schema,
      dryRun: Boolean(options.dryRun),
      ahead: counter.ahead,
      highestTxid: counter.top,
      clusterXmax: counter.xmax,
    };
    if (counter.ahead === 0) {
      await client.query('ROLLBACK');
      done = true;
      return {
        ...base,
        renumbered: false,
        events: 0,
        vacuumed: false,
        positions: [],
        unmapped: [],
      };
    }

    // Per run, commit order must be seq order, or the rows' order cannot be kept as it is:
    // events were appended after the restore by a Flujo that did not check (ADR 92).
    const disorder = await client.query<{ run_id: string; seq: number; before: number }>(
      `SELECT run_id, seq, before FROM (
         SELECT run_id, seq, lag(seq) OVER (PARTITION BY run_id ORDER BY txid, pos) AS before
           FROM ${s}.events) x
        WHERE before > seq ORDER BY run_id, seq LIMIT 1`,
    );
    const bad = disorder.rows[0];
    if (bad)
      throw new ConfigError(
        ErrorCode.LEDGER_TXID_AHEAD,
        `the Postgres ledger in schema ${schema} has rows ahead of this cluster's transaction counter (${counter.xmax}), ` +
          `and in commit order run ${bad.run_id} seq ${bad.before} comes before seq ${bad.seq}: events were appended ` +
          `after the restore, and sort before it. Renumbering would keep that order, so nothing was changed. ` +
          `Move those events after the restored ones by hand (their txid above ${counter.top ?? 'the highest'}, in their order), ` +
          `then run flujo lens renumber again; see docs/adr/0092`,
        { schema, runId: bad.run_id, seq: bad.seq },
      );
    const xmin = await client.query<{ ok: boolean }>(
      `SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8 AS ok`,
      [RENUMBERED_TXID],
    );
    if (!xmin.rows[0]?.ok)
      throw new ConfigError(
        ErrorCode.LEDGER_TXID_AHEAD,
        `this cluster's transaction counter is at ${counter.xmax}, too low to renumber under; nothing was changed`,
        { schema },
      );

    await client.query(
      `CREATE TEMP TABLE flujo_renumber ON COMMIT DROP AS
         SELECT ctid AS rid, txid AS old_txid, pos AS old_pos,
                row_number() OVER (ORDER BY txid, pos) AS new_pos
           FROM ${s}.events`,
    );
    await client.query('CREATE INDEX ON flujo_renumber (old_txid, old_pos)');
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.flujo_position_map (
         renumbered_at timestamptz NOT NULL,
         old_txid      xid8        NOT NULL,
         old_pos       bigint      NOT NULL,
         new_txid      xid8        NOT NULL,
         new_pos       bigint      NOT NULL)`,
    );
    await client.query(
      `INSERT INTO ${s}.flujo_position_map
         SELECT now(), old_txid, old_pos, $1::xid8, new_pos FROM flujo_renumber`,
      [RENUMBERED_TXID],
    );
    const updated = await client.query(
      `UPDATE ${s}.events e SET txid = $1::xid8, pos = m.new_pos
         FROM flujo_renumber m WHERE e.ctid = m.rid`,
      [RENUMBERED_TXID],
    );

    const positions: MappedPosition[] = [];
    const unmapped: { key: string; value: string }[] = [];
    if (hasState) {
      const rows = await client.query<{ key: string; value: string }>(
        `SELECT key, value FROM ${s}.system_state ORDER BY key`,
      );
      for (const row of rows.rows) {
        let value: unknown;
        try {
          value = JSON.parse(row.value);
        } catch {
          continue; // not written by setSystemState; left as it is
        }
        const found = new Map<string, string | null>();
        mapStrings(value, (str) => {
          if (POSITION.test(str)) found.set(str, null);
          return str;
        });
        if (!found.size) continue;
        for (const old of found.keys()) {
          const [txid, pos] = old.split(':') as [string, string];
          const hit = await client.query<{ new_pos: string }>(
            'SELECT new_pos::text FROM flujo_renumber WHERE old_txid = $1::xid8 AND old_pos = $2::bigint',
            [txid, pos],
          );
          const to = hit.rows[0] ? `${RENUMBERED_TXID}:${hit.rows[0].new_pos}` : null;
          found.set(old, to);
          if (to) positions.push({ key: row.key, from: old, to });
          else unmapped.push({ key: row.key, value: old });
        }
        if (![...found.values()].some((v) => v !== null)) continue;
        const next = mapStrings(value, (str) => found.get(str) ?? str);
        await client.query(`UPDATE ${s}.system_state SET value = $2 WHERE key = $1`, [
          row.key,
          JSON.stringify(next),
        ]);
      }
    }

    const after = await txidCounter(client, schema);
    if (after.ahead !== 0)
      throw new Error(`renumber left ${after.ahead} rows ahead in ${schema} (rolled back)`);
    await client.query(options.dryRun ? 'ROLLBACK' : 'COMMIT');
    done = true;
    // Every row's old version is dead now, at the top of the commit-order index, where the open's
    // check and every reader start: reclaim them before anything reads (ADR 92, measured).
    let vacuumed = false;
    if (!options.dryRun)
      vacuumed = await client.query(`VACUUM (ANALYZE) ${s}.events`).then(
        () => true,
        () => false, // committed all the same; the command says to run it
      );
    return {
      ...base,
      renumbered: true,
      events: updated.rowCount ?? 0,
      vacuumed,
      positions,
      unmapped,
    };
  } catch (e) {
    if (!done) await client.query('ROLLBACK').catch(() => {});
    if (e instanceof EngineError) throw e;
    // A role that may not write the ledger (one granted SELECT to read it): exit 2, said so.
    const refused = privilegeRefused(uri, e, 'write');
    if (refused) throw refused;
    throw new EngineError(
      ErrorCode.LEDGER_STORE,
      `renumbering the Postgres ledger at ${uri} failed: ${(e as Error).message}; nothing was changed`,
      { cause: e },
    );
  } finally {
    await client.end().catch(() => {});
  }
}
