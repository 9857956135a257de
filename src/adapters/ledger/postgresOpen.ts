/**
 * Opening a Postgres ledger: the schema name and pool checks, the pool (the caller's or one made
 * here, with `search_path` set to the ledger schema), its idle-error listener, and the schema made
 * current (`migrate`) or, for a read-only open (`lens verify`, `lens export`; ADR 83), checked
 * and left as it is (`checkSchema`). Opened for writing, a ledger restored from a cluster whose
 * transaction counter was further on is refused (`assertTxidsBehind`, ADR 92). The store built on
 * what this returns is in ./postgres.ts.
 */
import pg from 'pg';

import { ConfigError, ErrorCode, LedgerStoreError, isEngineError } from '../../errors.js';
import type { PostgresLedgerOptions } from './postgres.js';
import {
  SCHEMA_NAME,
  assertTxidsBehind,
  checkSchema,
  isTransient,
  migrate,
} from './postgresSql.js';
import { privilegeRefused, redactUri } from './stateUri.js';

export interface OpenedPool {
  readonly schema: string;
  readonly pool: pg.Pool;
  /** The store made the pool, so it ends it on close. */
  readonly ownPool: boolean;
  /** The pool's `error` listener, taken off a caller's pool on close. */
  readonly onPoolError: (err: Error) => void;
}

/** The `application_name` a pool this store makes connects with (at most 63 bytes kept). */
export const applicationName = (schema: string): string => `flujo ${schema}`.slice(0, 63);

/** The state URI naming this ledger, password hidden (for messages). */
export function stateUriOf(connectionString: string, schema: string): string {
  try {
    const url = new URL(connectionString);
    if (schema !== 'public') url.searchParams.set('schema', schema);
    return redactUri(url.toString());
  } catch {
    return redactUri(connectionString);
  }
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
      // `lens renumber` refuses while another Flujo has this schema open (ADR 92).
      application_name: applicationName(schema),
    });
  // An idle client whose server connection drops (restart, pg_terminate_backend, network)
  // emits `error` on the pool; unhandled, that kills the process. The pool has already dropped
  // the client, and no operation was running on it, so there is nothing to fail: log it.
  const onPoolError = (err: Error) => {
    logger?.warn({ err, schema }, 'postgres ledger: an idle connection failed and was dropped');
  };
  pool.on('error', onPoolError);

  try {
    if (options.readOnly) await checkSchema(pool, schema);
    else {
      await migrate(pool, schema);
      await assertTxidsBehind(pool, schema, stateUriOf(options.connectionString, schema));
    }
  } catch (e) {
    if (ownPool) await pool.end().catch(() => {});
    else pool.off('error', onPoolError);
    if (isEngineError(e)) throw e;
    // A role without USAGE on the schema (or the right to create it): what to grant (ADR 94).
    const refused = privilegeRefused(
      stateUriOf(options.connectionString, schema),
      e,
      options.readOnly ? 'read' : 'write',
    );
    if (refused) throw refused;
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
