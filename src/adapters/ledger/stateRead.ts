/**
 * Opens a state URI for commands that only read it (`lens list`, `show`, `costs`; ADR 94): the
 * ledger read-only (ADR 83) and the read models over their tables, with nothing created,
 * migrated, locked or rebuilt. A database role granted only SELECT, or a file this user may only
 * read, serves them.
 *
 * Only a state that is already this release's is read this way: the ledger schema at the version
 * this Flujo writes and every projection at its version. Otherwise (a schema with no ledger yet,
 * the first command after an upgrade) this says why and the caller opens the state as every
 * other command does (`openState`), which brings it up to date, as the read commands always did.
 */
import { ConfigError, EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { initFastHash } from '../../events/chain.js';
import { PROJECTION_VERSIONS, staleProjections } from '../../projections/changes.js';
import type { ReadModels } from '../../projections/readModels.js';
import type { LedgerStore } from '../../ports.js';
import type { OpenStateOptions, State } from './state.js';
import { sqliteReadModels } from './projectionsSqlite.js';
import { createSqliteLedger } from './sqlite.js';
import { guardDamage } from './sqliteDamage.js';
import { LEDGER_SCHEMA_VERSION } from './sqliteSchema.js';
import { parseStateUri, redactUri, unusablePostgres } from './stateUri.js';

/** The state opened for reading, or why it must first be brought up to date. */
export type ReadState =
  | { readonly state: State }
  /** `missing`: there is no ledger there at all (a Postgres schema none was made in). */
  | { readonly stale: string; readonly missing?: true };

/** The stale projections, each named with the version recorded and the one this Flujo reads. */
function staleNames(rows: readonly { name: string; version: number }[]): string[] {
  return staleProjections(rows).map(({ name, recorded }) =>
    recorded === undefined
      ? `${name} missing`
      : `${name} v${recorded}, this Flujo reads v${PROJECTION_VERSIONS[name]}`,
  );
}

const staleReason = (where: string, names: readonly string[]) =>
  `the read models in ${where} are not this Flujo's (${names.join('; ')}) and must be rebuilt first (flujo lens rebuild)`;

function readState(ledger: LedgerStore, readModels: ReadModels): State {
  return {
    ledger,
    readModels,
    rebuild() {
      return Promise.reject(
        new EngineError(
          ErrorCode.USAGE,
          'this state was opened for reading; rebuild opens it to write',
          {
            exitCode: ExitCode.config,
          },
        ),
      );
    },
    close: () => ledger.close(),
  };
}

/** `beforeCopy`: see openSqliteReadOnly (a SQLite file read into a copy in memory; ADR 113). */
export async function openStateForReading(
  uri: string,
  options: OpenStateOptions,
  beforeCopy?: () => void,
): Promise<ReadState> {
  await initFastHash();
  const location = parseStateUri(uri, options.projectRoot);
  switch (location.kind) {
    case 'memory':
      return { stale: 'a memory state holds nothing to read until it is opened' };
    case 'sqlite': {
      // A missing file, a damaged one or a newer schema: the same error the writer would give.
      const ledger = createSqliteLedger({
        path: location.path,
        readOnly: true,
        ...(beforeCopy ? { beforeCopy } : {}),
      });
      try {
        const version = ledger.db.pragma('user_version', { simple: true }) as number;
        if (version !== LEDGER_SCHEMA_VERSION) {
          await ledger.close();
          return { stale: `${location.path} has ledger schema v${version}` };
        }
        const table = ledger.db
          .prepare(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'projection_versions'",
          )
          .get();
        const names = table
          ? staleNames(
              ledger.db.prepare('SELECT name, version FROM projection_versions').all() as {
                name: string;
                version: number;
              }[],
            )
          : ['none built yet'];
        if (names.length) {
          await ledger.close();
          return { stale: staleReason(location.path, names) };
        }
        const readModels = guardDamage(
          location.path,
          'reading the read models',
          sqliteReadModels(ledger.db),
        );
        return { state: readState(ledger, readModels) };
      } catch (e) {
        await ledger.close().catch(() => {});
        throw e;
      }
    }
    case 'postgres': {
      const { createPostgresLedger } = await import('./postgres.js');
      const { postgresReadModels } = await import('./projectionsPostgres.js');
      const { POSTGRES_SCHEMA_VERSION } = await import('./postgresSql.js');
      const { connectionString, schema } = location;
      let ledger;
      try {
        ledger = await createPostgresLedger({ connectionString, schema, readOnly: true });
      } catch (e) {
        // A schema with no ledger yet is made by the writer's open, as before.
        if (e instanceof ConfigError && (e.details as { missing?: boolean }).missing)
          return { stale: `Postgres schema ${schema} holds no Flujo ledger yet`, missing: true };
        throw unusablePostgres(uri, e, 'read');
      }
      try {
        const probe = await ledger.pool.query<{ v: number; pv: string | null }>(
          `SELECT (SELECT coalesce(max(version), 0) FROM "${schema}".flujo_schema_migrations) AS v,
                  to_regclass('"${schema}".projection_versions')::text AS pv`,
        );
        const { v, pv } = probe.rows[0] ?? { v: 0, pv: null };
        if (Number(v) !== POSTGRES_SCHEMA_VERSION) {
          await ledger.close();
          return { stale: `Postgres schema ${schema} has ledger schema v${v}` };
        }
        const names = pv
          ? staleNames(
              (
                await ledger.pool.query<{ name: string; version: number }>(
                  `SELECT name, version FROM "${schema}".projection_versions`,
                )
              ).rows,
            )
          : ['none built yet'];
        if (names.length) {
          await ledger.close();
          return { stale: staleReason(`Postgres schema ${schema}`, names) };
        }
        return { state: readState(ledger, postgresReadModels(ledger.pool, redactUri(uri))) };
      } catch (e) {
        await ledger.close().catch(() => {});
        throw unusablePostgres(uri, e, 'read');
      }
    }
  }
}
