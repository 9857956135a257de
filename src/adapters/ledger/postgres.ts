/**
 * The Postgres ledger (pg 8). An append is ONE autocommit statement in the common case: a
 * data-modifying CTE moves the run's head only if it is still the head the batch was sealed
 * against (seq, previous hash, claim epoch, not terminal), and the events are inserted joined to
 * the row that CTE returned — so a stale writer inserts nothing and learns it from an empty result.
 * Only then is the head read to name the refusal, through the same `assertAppendable` every store
 * uses. Concurrent writers on one head serialise on its row lock (READ COMMITTED re-checks the
 * WHERE clause against the winner's row), or on the primary key for a new run.
 *
 * With inline projections the statement, the projections and COMMIT share one transaction on one
 * client instead. Event bytes live in bytea only and are returned as stored; nothing is ever
 * hashed from a value read back from a typed column.
 */
import { createHash } from 'node:crypto';

import pg from 'pg';

import {
  ConfigError,
  EngineError,
  ErrorCode,
  LedgerConflictError,
  LedgerStoreError,
  isEngineError,
} from '../../errors.js';
import type { EventType } from '../../events/catalogue.js';
import { HASH_BYTES } from '../../events/chain.js';
import { bytesEqual } from '../../events/codec.js';
import type { SealedRecord, StoredRecord } from '../../events/envelope.js';
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
  prepareAppend,
  type PreparedAppend,
} from './common.js';
import { redactUri } from './stateUri.js';

/** Runs inside the append transaction; projections write their tables through `client`. */
export type PostgresInlineProjection = (
  client: pg.PoolClient,
  records: readonly SealedRecord[],
  head: RunHead,
) => Promise<void> | void;

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
}

export interface PostgresLedger extends LedgerStore {
  readonly pool: pg.Pool;
  readonly schema: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Each entry moves the schema one version up; `search_path` is the ledger schema when it runs. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     pos    bigserial NOT NULL,
     txid   xid8      NOT NULL DEFAULT pg_current_xact_id(),
     run_id text COLLATE "C" NOT NULL,
     seq    int       NOT NULL,
     type   text      NOT NULL,
     at     bigint    NOT NULL,
     prev   bytea     NOT NULL,
     hash   bytea     NOT NULL,
     body   bytea     NOT NULL,
     CONSTRAINT events_run_seq UNIQUE (run_id, seq)
   );
   CREATE INDEX events_commit_order ON events (txid, pos);
   CREATE TABLE run_heads (
     run_id     text COLLATE "C" PRIMARY KEY,
     seq        int     NOT NULL,
     hash       bytea   NOT NULL,
     epoch      int     NOT NULL,
     terminal   boolean NOT NULL,
     created_at bigint  NOT NULL,
     updated_at bigint  NOT NULL
   ) WITH (fillfactor = 70);`,
];

interface HeadRow {
  run_id: string;
  seq: number;
  hash: Buffer;
  epoch: number;
  terminal: boolean;
  created_at: string;
  updated_at: string;
}
interface EventRow {
  txid: string;
  pos: string;
  run_id: string;
  seq: number;
  type: string;
  at: string;
  prev: Buffer;
  hash: Buffer;
  body: Buffer;
}
interface AppendRow {
  epoch: number;
  created_at: string;
}

// pg returns int8 as a string; every int8 here is epoch ms or a row counter, far below 2^53.
const toHead = (r: HeadRow): RunHead => ({
  runId: r.run_id,
  seq: r.seq,
  hash: r.hash,
  epoch: r.epoch,
  terminal: r.terminal,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});
const toRecord = (r: EventRow): StoredRecord => ({
  runId: r.run_id,
  seq: r.seq,
  type: r.type as EventType,
  at: Number(r.at),
  prev: r.prev,
  hash: r.hash,
  body: r.body,
  pos: `${r.txid}:${r.pos}`,
});

const POSITION = /^(\d{1,20}):(\d{1,19})$/;

/**
 * Worth retrying: SQLSTATE classes 08 (connection), 40 (rollback), 53 (resources), 57 (operator
 * intervention, e.g. a terminated backend), 58 (system); Node socket errors (ECONNRESET …); and
 * pg's own code-less errors about a lost or unobtainable connection.
 */
function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code))
      return ['08', '40', '53', '57', '58'].includes(code.slice(0, 2));
    return /^E[A-Z]+$/.test(code);
  }
  return /connection|terminated|timeout/i.test((e as Error | undefined)?.message ?? '');
}

function storeError(op: string, e: unknown, runId?: string, expectedSeq = -1): never {
  if (isEngineError(e)) throw e;
  const code = (e as { code?: unknown }).code;
  if (code === '23505' && runId !== undefined) {
    // The head check passed but an event row exists: another writer's events are there.
    throw new LedgerConflictError(runId, expectedSeq, null, e);
  }
  throw new LedgerStoreError(
    `Postgres ledger ${op}${runId === undefined ? '' : ` of ${runId}`} failed (${typeof code === 'string' ? code : 'error'}): ${(e as Error).message}`,
    e,
    isTransient(e),
  );
}

/** A batch's parameters: seq[], type[], offset[], body length[] and prev ‖ hash ‖ body bytes. */
function batchValues(records: readonly SealedRecord[]): unknown[] {
  const offsets: number[] = [];
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const r of records) {
    if (r.prev.length !== HASH_BYTES || r.hash.length !== HASH_BYTES) {
      throw new EngineError(
        ErrorCode.USAGE,
        `run ${r.runId} seq ${r.seq}: hash is not ${HASH_BYTES} bytes`,
      );
    }
    offsets.push(at);
    parts.push(r.prev, r.hash, r.body);
    at += 2 * HASH_BYTES + r.body.length;
  }
  return [
    records.map((r) => r.seq),
    records.map((r) => r.type),
    offsets,
    records.map((r) => r.body.length),
    Buffer.concat(parts, at),
  ];
}

interface Statements {
  appendNew: string;
  appendNext: string;
  appendNewBatch: string;
  appendNextBatch: string;
  selectHead: string;
  selectEvents: string;
  selectAll: string;
}

function statements(schema: string): Statements {
  const s = `"${schema}"`;
  /*
   * The append statement is `WITH head AS (<move the head>), ins AS (<insert the events FROM
   * head>) SELECT epoch, created_at FROM head`. The events are joined to the row `head`
   * returned, so when the head did not match nothing is inserted and no row comes back.
   *
   * Parameters: $1 run, $2 new seq, $3 new hash, $4 claim epoch or null, $5 terminal, $6 at;
   * for an existing run also $7 expected seq, $8 expected hash, $9 writer epoch or null; then
   * the events from $first: one event as (type, prev, body) — its seq and hash are the new
   * head's — or a batch as (seq[], type[], offset[], body length[], bytes). The one-event form
   * skips the arrays and unnest, about 60 µs a statement here.
   */
  const head = {
    // A new run: the primary key decides between two writers starting it.
    new: `INSERT INTO ${s}.run_heads (run_id, seq, hash, epoch, terminal, created_at, updated_at)
          VALUES ($1, $2, $3, coalesce($4::int, 0), $5, $6::bigint, $6::bigint)
          ON CONFLICT (run_id) DO NOTHING
          RETURNING epoch, created_at`,
    // assertAppendable's rules: same seq and hash, not finished, the writer's epoch is the
    // current one, a claim raises the epoch. A second writer waits for the row lock, and READ
    // COMMITTED re-checks this WHERE against the row the winner left.
    next: `UPDATE ${s}.run_heads
              SET seq = $2, hash = $3, epoch = coalesce($4::int, epoch), terminal = $5,
                  updated_at = $6::bigint
            WHERE run_id = $1 AND seq = $7 AND hash = $8 AND NOT terminal
              AND ($9::int IS NULL OR epoch = $9::int)
              AND ($4::int IS NULL OR epoch < $4::int)
           RETURNING epoch, created_at`,
  };
  const one = (first: number) =>
    `SELECT $1, $2, $${first}, $6::bigint, $${first + 1}::bytea, $3, $${first + 2}::bytea FROM head`;
  // Array text literals would hex-encode every body (and Postgres parse it back); instead the
  // batch's bytes travel as ONE binary bytea, prev ‖ hash ‖ body per event, cut back apart here.
  const batch = (first: number) =>
    `SELECT $1, e.seq, e.type, $6::bigint,
            substring($${first + 4}::bytea FROM e.off + 1 FOR ${HASH_BYTES}),
            substring($${first + 4}::bytea FROM e.off + ${HASH_BYTES + 1} FOR ${HASH_BYTES}),
            substring($${first + 4}::bytea FROM e.off + ${2 * HASH_BYTES + 1} FOR e.len)
       FROM head,
            unnest($${first}::int[], $${first + 1}::text[], $${first + 2}::int[], $${first + 3}::int[])
              AS e(seq, type, off, len)
      ORDER BY e.seq`;
  const append = (move: string, events: string) =>
    `WITH head AS (${move}),
     ins AS (INSERT INTO ${s}.events (run_id, seq, type, at, prev, hash, body) ${events})
     SELECT epoch, created_at FROM head`;
  return {
    appendNew: append(head.new, one(7)),
    appendNext: append(head.next, one(10)),
    appendNewBatch: append(head.new, batch(7)),
    appendNextBatch: append(head.next, batch(10)),
    selectHead: `SELECT run_id, seq, hash, epoch, terminal, created_at, updated_at
                   FROM ${s}.run_heads WHERE run_id = $1`,
    selectEvents: `SELECT txid, pos, run_id, seq, type, at, prev, hash, body
                     FROM ${s}.events WHERE run_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
    // Commit order. A bigserial (or xid) is allocated before its transaction commits, so rows
    // become visible out of allocation order: a reader that went past `pos` 10 while `pos` 9 was
    // still uncommitted would skip 9 forever. So rows are only handed out once every transaction
    // that could still add a row before them has finished: `txid < xmin` of the statement's
    // snapshot means that transaction is over (committed rows are visible to this very
    // snapshot), and every transaction still running or not yet begun has `txid >= xmin`, so it
    // can only add rows *after* every position returned here. Ordering by `(txid, pos)` thus
    // makes the position a stable, monotonic cursor; the price is that a long-running
    // transaction anywhere in the cluster holds back what readAll/subscribe can see.
    selectAll: `SELECT txid, pos, run_id, seq, type, at, prev, hash, body
                  FROM ${s}.events
                 WHERE (txid, pos) > ($1::xid8, $2::bigint)
                   AND txid < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY txid, pos LIMIT $3`,
  };
}

async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      // Two processes starting on a fresh database queue here instead of racing the DDL.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `flujo.ledger.migrate:${schema}`,
      ]);
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(`SET LOCAL search_path TO "${schema}"`);
      const table = await client.query<{ t: string | null }>(
        `SELECT to_regclass('"${schema}".flujo_schema_migrations')::text AS t`,
      );
      if (table.rows[0]?.t == null) {
        await client.query(
          `CREATE TABLE flujo_schema_migrations (
             version    int PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
           )`,
        );
      }
      const current = await client.query<{ v: number }>(
        'SELECT coalesce(max(version), 0) AS v FROM flujo_schema_migrations',
      );
      const version = current.rows[0]?.v ?? 0;
      if (version > MIGRATIONS.length) {
        throw new ConfigError(
          ErrorCode.CONFIG_STATE_URI,
          `Postgres schema ${schema} has ledger schema v${version}; this Flujo knows up to v${MIGRATIONS.length}. Upgrade Flujo.`,
          { schema, version },
        );
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        await client.query(MIGRATIONS[v] as string);
        await client.query('INSERT INTO flujo_schema_migrations (version) VALUES ($1)', [v + 1]);
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw e;
    }
  } finally {
    client.release(broken);
  }
}

export async function createPostgresLedger(
  options: PostgresLedgerOptions,
): Promise<PostgresLedger> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `Postgres schema ${JSON.stringify(schema)} is not a plain lower-case identifier`,
      { schema },
    );
  }
  const logger = options.logger;
  const ownPool = options.pool === undefined;
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      // Unqualified names in inline projections resolve to the ledger schema. The store's own
      // SQL qualifies every table, so it is right on a caller's pool too.
      options: `-c search_path=${schema}`,
    });
  // An idle client whose server connection drops (restart, pg_terminate_backend, network)
  // emits `error` on the pool; unhandled, that kills the process. The pool has already dropped
  // the client, and no operation was running on it, so there is nothing to fail: log it.
  const onPoolError = (err: Error) => {
    logger?.warn({ err, schema }, 'postgres ledger: an idle connection failed and was dropped');
  };
  pool.on('error', onPoolError);

  try {
    await migrate(pool, schema);
  } catch (e) {
    if (ownPool) await pool.end().catch(() => {});
    else pool.off('error', onPoolError);
    if (isEngineError(e)) throw e;
    if (isTransient(e)) {
      throw new LedgerStoreError(
        `cannot reach the Postgres ledger at ${redactUri(options.connectionString)}: ${(e as Error).message}`,
        e,
      );
    }
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `cannot open the Postgres ledger at ${redactUri(options.connectionString)} (schema ${schema}): ${(e as Error).message}`,
      { uri: redactUri(options.connectionString), schema },
    );
  }

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
    appendNew: named('appendNew'),
    appendNext: named('appendNext'),
    appendNewBatch: named('appendNewBatch'),
    appendNextBatch: named('appendNextBatch'),
    selectHead: named('selectHead'),
    selectEvents: named('selectEvents'),
    selectAll: named('selectAll'),
  };
  let closed = false;

  function appendQuery(req: AppendRequest, prepared: PreparedAppend): pg.QueryConfig {
    const rs = prepared.records;
    const common = [
      req.runId,
      prepared.head.seq,
      prepared.head.hash,
      prepared.claimEpoch,
      prepared.terminal,
      req.at,
    ];
    const only = rs.length === 1 ? rs[0] : undefined;
    const events = only ? [only.type, only.prev, only.body] : batchValues(rs);
    if (req.expected.seq === 0) {
      return { ...(only ? q.appendNew : q.appendNewBatch), values: [...common, ...events] };
    }
    return {
      ...(only ? q.appendNext : q.appendNextBatch),
      values: [...common, req.expected.seq, req.expected.hash, req.epoch ?? null, ...events],
    };
  }

  async function readHead(runId: string): Promise<RunHead | null> {
    let res: pg.QueryResult<HeadRow>;
    try {
      res = await pool.query<HeadRow>({ ...q.selectHead, values: [runId] });
    } catch (e) {
      storeError('head read', e, runId);
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

  /** Common case: one statement, one round trip, autocommit. */
  async function appendDirect(req: AppendRequest, prepared: PreparedAppend): Promise<boolean> {
    const res = await pool.query<AppendRow>(appendQuery(req, prepared));
    return res.rows.length > 0;
  }

  /** With inline projections: BEGIN, the same statement, each projection, COMMIT on one client. */
  async function appendWithProjections(
    req: AppendRequest,
    prepared: PreparedAppend,
  ): Promise<boolean> {
    const client = await pool.connect();
    // A checked-out client has no pool listener; a connection drop between queries (while a
    // projection awaits something else) would otherwise be an uncaught `error` event. The
    // failure still reaches the caller through the next query on this client.
    const onClientError = (err: Error) => {
      logger?.warn({ err, schema }, 'postgres ledger: connection failed during an append');
    };
    client.on('error', onClientError);
    let broken: Error | boolean = false;
    try {
      await client.query('BEGIN');
      try {
        const res = await client.query<AppendRow>(appendQuery(req, prepared));
        const row = res.rows[0];
        if (!row) {
          await client.query('ROLLBACK');
          return false;
        }
        // The stored head after this statement: the epoch comes back from the row itself.
        const head: RunHead = {
          runId: req.runId,
          seq: prepared.head.seq,
          hash: prepared.head.hash,
          epoch: row.epoch,
          terminal: prepared.terminal,
          createdAt: Number(row.created_at),
          updatedAt: req.at,
        };
        for (const project of projections) await project(client, prepared.records, head);
        await client.query('COMMIT');
        return true;
      } catch (e) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw e;
      }
    } catch (e) {
      if (isTransient(e)) broken = true;
      throw e;
    } finally {
      client.off('error', onClientError);
      client.release(broken);
    }
  }

  const store: PostgresLedger = {
    kind: 'postgres',
    pool,
    schema,

    async append(req: AppendRequest): Promise<AppendResult> {
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
          if (!(await landedAnyway(prepared, e)))
            storeError('append', e, req.runId, req.expected.seq);
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
        storeError('read', e, runId);
      }
    },

    async listRuns(opts: ListRunsOptions = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (opts.prefix) {
        params.push(opts.prefix);
        // run_id is COLLATE "C" (byte order, as SQLite), so `>=` bounds the index scan.
        where.push(
          `run_id >= $${params.length} AND left(run_id, length($${params.length})) = $${params.length}`,
        );
      }
      if (opts.afterRunId) {
        params.push(opts.afterRunId);
        where.push(`run_id > $${params.length}`);
      }
      params.push(opts.limit ?? null);
      const text = `SELECT run_id, seq, hash, epoch, terminal, created_at, updated_at
                      FROM "${schema}".run_heads ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
                     ORDER BY run_id LIMIT $${params.length}`;
      const variant = (opts.prefix ? 'p' : '') + (opts.afterRunId ? 'a' : '');
      try {
        const res = await pool.query<HeadRow>({
          name: `flujo_ledger_${tag}_listRuns_${variant}`,
          text,
          values: params,
        });
        return res.rows.map(toHead);
      } catch (e) {
        storeError('listRuns', e);
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
        const res = await pool.query<EventRow>({ ...q.selectAll, values: [txid, pos, limit] });
        return res.rows.map(toRecord);
      } catch (e) {
        storeError('readAll', e);
      }
    },

    subscribe(opts?: SubscribeOptions) {
      return pollSubscribe((after, limit) => store.readAll(after, limit), nudge, opts);
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
