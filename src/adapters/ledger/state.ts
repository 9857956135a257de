/**
 * Opens a state URI with its read side: the ledger with the inline projections installed, the
 * read models over them, and rebuild. Memory state folds the ledger's events on demand instead.
 * (`openLedger` stays for callers that only append and read events.)
 */
import { initFastHash } from '../../events/chain.js';
import { PROJECTION_NAMES, type ProjectionName } from '../../projections/changes.js';
import { foldingReadModels } from '../../projections/memory.js';
import type { ReadModels } from '../../projections/readModels.js';
import type { LedgerStore } from '../../ports.js';
import { createMemoryLedger } from './memory.js';
import type { OpenLedgerOptions } from './open.js';
import type { RebuildReport } from './projectionsSqlite.js';
import { openSqliteProjections, type SqliteProjections } from './projectionsSqlite.js';
import { createSqliteLedger } from './sqlite.js';
import { guardDamage, orDamaged } from './sqliteDamage.js';
import { parseStateUri, unusablePostgres } from './stateUri.js';

export type { RebuildReport } from './projectionsSqlite.js';

export interface State {
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  /** Recomputes projections (all by default) from the ledger, in one transaction. */
  rebuild(only?: readonly ProjectionName[]): Promise<RebuildReport>;
  close(): Promise<void>;
}

export type OpenStateOptions = OpenLedgerOptions;

export async function openState(uri: string, options: OpenStateOptions): Promise<State> {
  await initFastHash();
  const location = parseStateUri(uri, options.projectRoot);
  switch (location.kind) {
    case 'memory': {
      const ledger = createMemoryLedger();
      const readModels = foldingReadModels(ledger);
      return {
        ledger,
        readModels,
        async rebuild() {
          const t0 = performance.now();
          const { events } = await readModels.rebuild();
          return {
            projections: [...PROJECTION_NAMES],
            events,
            ms: Math.round(performance.now() - t0),
          };
        },
        close: () => ledger.close(),
      };
    }
    case 'sqlite': {
      let projections: SqliteProjections | undefined;
      const ledger = createSqliteLedger({
        path: location.path,
        ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}),
        projections: [
          (db, records, head, events) => projections?.inline(db, records, head, events),
        ],
      });
      try {
        projections = openSqliteProjections(ledger.db);
      } catch (e) {
        await ledger.close();
        throw orDamaged(location.path, 'opening the read models', e);
      }
      const p = projections;
      return {
        ledger,
        readModels: guardDamage(location.path, 'reading the read models', p.readModels),
        rebuild: (only) =>
          p.rebuild(only).catch((e: unknown) => {
            throw orDamaged(location.path, 'rebuilding the read models', e);
          }),
        close: () => ledger.close(),
      };
    }
    case 'postgres': {
      const { openPostgresState } = await import('./projectionsPostgres.js');
      return openPostgresState(location.connectionString, location.schema).catch((e: unknown) => {
        throw unusablePostgres(uri, e);
      });
    }
  }
}
