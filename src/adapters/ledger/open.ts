/**
 * Opens the ledger a state URI names. Postgres is imported lazily so that an embedded SQLite user
 * never loads pg.
 */
import { initFastHash } from '../../events/chain.js';
import type { LedgerStore } from '../../ports.js';
import { createMemoryLedger } from './memory.js';
import { createSqliteLedger, type SqliteSynchronous } from './sqlite.js';
import { parseStateUri, unusablePostgres } from './stateUri.js';

export interface OpenLedgerOptions {
  readonly projectRoot: string;
  readonly sqliteSynchronous?: SqliteSynchronous;
  /**
   * Open read-only, changing and creating nothing (ADR 83): a missing SQLite file, or a Postgres
   * schema with no ledger, is CONFIG_STATE_URI; appends are refused.
   */
  readonly readOnly?: boolean;
}

export async function openLedger(uri: string, options: OpenLedgerOptions): Promise<LedgerStore> {
  await initFastHash();
  const location = parseStateUri(uri, options.projectRoot);
  switch (location.kind) {
    case 'memory':
      return createMemoryLedger();
    case 'sqlite':
      return createSqliteLedger({
        path: location.path,
        ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}),
        ...(options.readOnly ? { readOnly: true } : {}),
      });
    case 'postgres': {
      const { createPostgresLedger } = await import('./postgres.js');
      return createPostgresLedger({
        connectionString: location.connectionString,
        schema: location.schema,
        ...(options.readOnly ? { readOnly: true } : {}),
      }).catch((e: unknown) => {
        throw unusablePostgres(uri, e);
      });
    }
  }
}
