/**
 * The Postgres ledger (pg 8). An append is ONE autocommit statement in the common case: a
 * data-modifying CTE moves the run's head only if it is still the head the batch was sealed
 * against (seq, previous hash, claim epoch, not terminal), and the events are inserted joined to
 * the row that CTE returned — so a stale writer inserts nothing and learns it from an empty result.
 * Only then is the head read to name the refusal, through the same `assertAppendable` every store
 * uses. Concurrent writers on one head serialise on its row lock (READ COMMITTED re-checks the
 * WHERE clause against the winner's row), or on the primary key for a new run.
 *
 * With inline projections the statement and the projections' statements go out as one protocol
 * batch on one client instead: one implicit transaction, one round trip (docs/adr/0032). Event
 * bytes live in bytea only and are returned as stored; nothing is ever hashed from a value read
 * back from a typed column.
 *
 * Opening (the pool, the schema migrated or, read-only, checked) is in ./postgresOpen.ts, the SQL
 * text in ./postgresSql.ts, the append statement in ./postgresAppend.ts.
 */
import { createHash } from 'node:crypto';

import type pg from 'pg';

import { EngineError, ErrorCode, LedgerConflictError, isEngineError } from '../../errors.js';
import type { NewEvent } from '../../events/catalogue.js';
import { bytesEqual } from '../../events/codec.js';
import type { SealedRecord } from '../../events/envelope.js';
import type {
  AppendRequest,
  AppendResult,
  LedgerStore,
  ListRunsOptions,
  Logger,
  ReadOptions,
  RunHead,
  SubscribeOptions,
} from '../../ports.js';
import {
  Nudge,
  assertAppendable,
  pollSubscribe,
  prefixEnd,
  prepareAppend,
  type PreparedAppend,
} from './common.js';
import { openPostgresPool, stateUriOf } from './postgresOpen.js';
import {
  POSITION,
  assertPositionBehind,
  assertTxidsBehind,
  isTransient,
  statements,
  storeError,
  toHead,
  toRecord,
  type EventRow,
  type HeadRow,
  type Statements,
} from './postgresSql.js';
import { appendText, appendValues, isStaleHead, shapeKey, shapeOf } from './postgresAppend.js';
import {
  Flight,
  type FlightOutcome,
  type FlightStatement,
  type ProjectionStatement,
} from './postgresFlight.js';

/**
 * The statements that fold a batch into read models, from its events alone (invariant 6). They
 * run after the append, in its transaction, and are sent with it before any answer comes back:
 * none may depend on another's result, though each sees the writes of those before it.
 */
export type PostgresInlineProjection = (
  records: readonly SealedRecord[],
  /** The request's events the records were sealed from, in order. */
  events: readonly NewEvent[],
) => readonly ProjectionStatement[];

export interface PostgresLedgerOptions {
  readonly connectionString: string;
  /** The schema holding the ledger tables; created if absent. Default `public`. */
  readonly schema?: string;
  /** Use this pool instead of creating one; the store then never ends it. */
  readonly pool?: pg.Pool;
  /** Pool size when the store creates the pool (default 10). */
  readonly max?: number;
  readonly projections?: readonly PostgresInlineProjection[];
  readonly logger?: Logger;
  /** Create and migrate nothing; refuse appends (`lens verify`, `lens export`; ADR 83). */
  readonly readOnly?: boolean;
}

export interface PostgresLedger extends LedgerStore {
  readonly pool: pg.Pool;
  readonly schema: string;
}

export async function createPostgresLedger(
  options: PostgresLedgerOptions,
): Promise<PostgresLedger> {
  const { schema, pool, ownPool, onPoolError } = await openPostgresPool(options);
  const logger = options.logger;
  // A store error names the state; a refused privilege is a configuration error (ADR 94).
  const fail: (op: string, e: unknown, runId?: string, seq?: number) => never = (
    op,
    e,
    runId,
    seq,
  ) => storeError(op, e, runId, seq, stateUriOf(options.connectionString, schema));

  const projections = options.projections ?? [];
  const nudge = new Nudge();
  const sql = statements(schema);
  // Statement names are per connection and must map to one text, so they carry the schema.
  const tag = createHash('sha256').update(schema).digest('hex').slice(0, 12);
  const named = (name: keyof Statements) => ({
    name: `flujo_ledger_${tag}_${name}`,
    text: sql[name],
  });
  const q = {
    selectHead: named('selectHead'),
    selectEvents: named('selectEvents'),
    selectAll: named('selectAll'),
  };
  let closed = false;
  // Opened for writing, the txids were checked (ADR 92); read-only, the first readAll checks.
  let txidsChecked = !options.readOnly;
  // Every txid up to this one is known to be behind the counter: positions are checked past it.
  let behind = 0n;

  // One named statement per batch shape, made on first use: pg prepares each once per connection.
  const appendStatements = new Map<string, { name: string; text: string }>();
  function appendQuery(
    req: AppendRequest,
    prepared: PreparedAppend,
    strict: boolean,
  ): pg.QueryConfig {
    const shape = shapeOf(req, prepared, strict);
    const key = shapeKey(shape);
    let named = appendStatements.get(key);
    if (!named) {
      named = { name: `flujo_ledger_${tag}_append_${key}`, text: appendText(schema, shape) };
      appendStatements.set(key, named);
    }
    return { ...named, values: appendValues(req, prepared) };
  }

  async function readHead(runId: string): Promise<RunHead | null> {
    let res: pg.QueryResult<HeadRow>;
    try {
      res = await pool.query<HeadRow>({ ...q.selectHead, values: [runId] });
    } catch (e) {
      fail('head read', e, runId);
    }
    const row = res.rows[0];
    return row ? toHead(row) : null;
  }

  /** The write matched no head: read it and name the refusal the way every store does. */
  async function refuse(req: AppendRequest, prepared: PreparedAppend): Promise<never> {
    const current = await readHead(req.runId);
    assertAppendable(req, prepared, current);
    // The head allowed it when read: it moved between the write and the read. Still a conflict.
    throw new LedgerConflictError(req.runId, req.expected.seq, current?.seq ?? 0);
  }

  /**
   * The connection failed while the append was in flight, so it may or may not have committed.
   * If the head is now exactly the head this batch seals, these very bytes are in the ledger.
   * Otherwise the original error stands (a retry then gets a conflict and reloads).
   */
  async function landedAnyway(prepared: PreparedAppend, e: unknown): Promise<boolean> {
    if (isEngineError(e) || !isTransient(e)) return false;
    try {
      const now = await readHead(prepared.head.runId);
      return (
        now !== null && now.seq === prepared.head.seq && bytesEqual(now.hash, prepared.head.hash)
      );
    } catch {
      return false; // Still unreachable: report the append's own failure below.
    }
  }

  /**
   * Sends `statements` as one flight on a pooled client. A checked-out client has no pool
   * listener; a connection drop while the flight is out would otherwise be an uncaught `error`
   * event. The flight fails with it, and the client is dropped.
   */
  async function fly(statements: readonly FlightStatement[]): Promise<FlightOutcome> {
    const client = await pool.connect();
    const onClientError = (err: Error) => {
      logger?.warn({ err, schema }, 'postgres ledger: connection failed during an append');
    };
    client.on('error', onClientError);
    let broken = false;
    try {
      const outcome = await Flight.run(client, statements);
      broken = !outcome.ok && isTransient(outcome.error);
      return outcome;
    } catch (e) {
      broken = isTransient(e);
      throw e;
    } finally {
      client.off('error', onClientError);
      // Never hand the pool a connection still inside a transaction.
      client.release(broken || client.getTransactionStatus() !== 'I');
    }
  }

  /**
   * Common case: one statement, one round trip, autocommit; a stale head returns no row. As a
   * flight of one it skips describing and parsing that row (~10 µs a call here).
   */
  async function appendDirect(req: AppendRequest, prepared: PreparedAppend): Promise<boolean> {
    const outcome = await fly([appendQuery(req, prepared, false)]);
    if (outcome.ok) return outcome.rows > 0;
    throw outcome.error;
  }

  /**
   * With inline projections: the strict append and the projections' statements as one flight
   * (one write, one Sync, one implicit transaction). If the head moved, the append raises, the
   * server skips the rest and rolls back: nothing is projected.
   */
  async function appendWithProjections(
    req: AppendRequest,
    prepared: PreparedAppend,
  ): Promise<boolean> {
    // Built before anything is sent: a projection that throws leaves nothing to undo.
    const follow = projections.flatMap((project) => project(prepared.records, req.events));
    const outcome = await fly([appendQuery(req, prepared, true), ...follow]);
    if (outcome.ok) return true;
    if (outcome.at === 0 && isStaleHead(outcome.error)) return false;
    throw outcome.error;
  }

  const store: PostgresLedger = {
    kind: 'postgres',
    pool,
    schema,

    async append(req: AppendRequest): Promise<AppendResult> {
      if (options.readOnly)
        throw new EngineError(
          ErrorCode.USAGE,
          `append to ${req.runId}: the Postgres ledger (schema ${schema}) was opened read-only`,
        );
      const prepared = prepareAppend(req);
      if (closed)
        throw new EngineError(ErrorCode.USAGE, `append to ${req.runId}: ledger is closed`);
      // A new run has epoch 0: a writer epoch other than 0, or a claim of epoch 0, can never
      // be appended, so skip the write and let the head say whether it is a conflict or a fence.
      const hopeless =
        req.expected.seq === 0 &&
        ((req.epoch !== undefined && req.epoch !== 0) ||
          (prepared.claimEpoch !== null && prepared.claimEpoch <= 0));
      let written = false;
      if (!hopeless) {
        try {
          written = projections.length
            ? await appendWithProjections(req, prepared)
            : await appendDirect(req, prepared);
        } catch (e) {
          if (!(await landedAnyway(prepared, e))) fail('append', e, req.runId, req.expected.seq);
          written = true;
        }
      }
      if (!written) await refuse(req, prepared);
      nudge.notify();
      return { records: prepared.records, head: prepared.head };
    },

    head: readHead,

    async read(runId: string, opts: ReadOptions = {}) {
      try {
        const res = await pool.query<EventRow>({
          ...q.selectEvents,
          values: [runId, opts.fromSeq ?? 1, opts.limit ?? null],
        });
        return res.rows.map(toRecord);
      } catch (e) {
        fail('read', e, runId);
      }
    },

    async listRuns(opts: ListRunsOptions = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      // run_id is COLLATE "C" (byte order, as SQLite): the ids that start with the prefix are the
      // index range [prefix, prefixEnd) exactly; read to the index's end, a prefix no run has
      // read every row after it (10 ms at 20,000 runs).
      const end = opts.prefix ? prefixEnd(opts.prefix) : undefined;
      if (opts.prefix) {
        params.push(opts.prefix);
        where.push(`run_id >= $${params.length}`);
      }
      if (end !== undefined) {
        params.push(end);
        where.push(`run_id < $${params.length}`);
      }
      if (opts.afterRunId) {
        params.push(opts.afterRunId);
        where.push(`run_id > $${params.length}`);
      }
      params.push(opts.limit ?? null);
      const text = `SELECT run_id, seq, hash, epoch, terminal, created_at, updated_at
                      FROM "${schema}".run_heads ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
                     ORDER BY run_id LIMIT $${params.length}`;
      const variant =
        (opts.prefix ? 'p' : '') + (end !== undefined ? 'e' : '') + (opts.afterRunId ? 'a' : '');
      try {
        const res = await pool.query<HeadRow>({
          name: `flujo_ledger_${tag}_listRuns_${variant}`,
          text,
          values: params,
        });
        return res.rows.map(toHead);
      } catch (e) {
        fail('listRuns', e);
      }
    },

    async readAll(after?: string, limit = 1000) {
      let txid = '0';
      let pos = '0';
      if (after !== undefined) {
        const m = POSITION.exec(after);
        if (!m)
          throw new EngineError(
            ErrorCode.USAGE,
            `${JSON.stringify(after)} is not a Postgres ledger position (txid:pos)`,
          );
        txid = m[1] as string;
        pos = m[2] as string;
      }
      try {
        if (!txidsChecked) {
          await assertTxidsBehind(pool, schema, stateUriOf(options.connectionString, schema));
          txidsChecked = true;
        }
        if (BigInt(txid) > behind) behind = await assertPositionBehind(pool, schema, after!, txid);
        const res = await pool.query<EventRow>({ ...q.selectAll, values: [txid, pos, limit] });
        const last = res.rows[res.rows.length - 1];
        if (last && BigInt(last.txid) > behind) behind = BigInt(last.txid);
        return res.rows.map(toRecord);
      } catch (e) {
        fail('readAll', e);
      }
    },

    subscribe(opts?: SubscribeOptions) {
      return pollSubscribe((after, limit) => store.readAll(after, limit), nudge, opts);
    },

    async orphans(prefix?: string) {
      const end = prefix ? prefixEnd(prefix) : undefined;
      try {
        const res = await pool.query<{ events: string; first_seq: number; body: Uint8Array }>(
          end === undefined ? sql.selectOrphans : sql.selectOrphansIn,
          end === undefined ? [] : [prefix, end],
        );
        return res.rows.map((r) => ({
          events: Number(r.events),
          firstSeq: r.first_seq,
          firstBody: r.body,
        }));
      } catch (e) {
        fail('orphans', e);
      }
    },

    async unrecordedRuns() {
      try {
        const exists = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
          `"${schema}".runs`,
        ]);
        if (!exists.rows[0]?.t) return [];
        const res = await pool.query<{ run_id: string }>(sql.selectUnrecorded);
        return res.rows.map((r) => r.run_id);
      } catch (e) {
        fail('unrecordedRuns', e);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      // An owned pool keeps its error listener while ending: a drop during shutdown must not
      // crash. A caller's pool is left as it was found.
      if (ownPool) await pool.end();
      else pool.off('error', onPoolError);
    },
  };
  return store;
}
