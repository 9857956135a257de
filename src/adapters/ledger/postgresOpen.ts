/**
 * Opening a Postgres ledger: the schema name and pool checks, the pool (the caller's or one made
 * here, with `search_path` set to the ledger schema), its idle-error listener, and the schema made
 * current (`migrate`) or, for a read-only open (`lens verify`, `lens export`; ADR 83), checked
 * and left as it is (`checkSchema`). The store built on what this returns is in ./postgres.ts.
 */
import pg from 'pg';

import { ConfigError, ErrorCode, LedgerStoreError, isEngineError } from '../../errors.js';
import type { PostgresLedgerOptions } from './postgres.js';
import { SCHEMA_NAME, checkSchema, isTransient, migrate } from './postgresSql.js';
import { redactUri } from './stateUri.js';

export interface OpenedPool {
  readonly schema: string;
  readonly pool: pg.Pool;
  /** The store made the pool, so it ends it on close. */
  readonly ownPool: boolean;
  /** The pool's `error` listener, taken off a caller's pool on close. */
  readonly onPoolError: (err: Error) => void;
}

export async function openPostgresPool(options: PostgresLedgerOptions): Promise<OpenedPool> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `Postgres schema ${JSON.stringify(schema)} is not a plain lower-case identifier`,
      { schema },
    );
  }
  if (options.pool?.options.pipeline) {
    // pg refuses the projected append's flight (a custom query) on a pipelining client.
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      'the Postgres ledger needs a pool without pipeline mode',
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
    await (options.readOnly ? checkSchema(pool, schema) : migrate(pool, schema));
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
  return { schema, pool, ownPool, onPoolError };
}
