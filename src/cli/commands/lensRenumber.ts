/**
 * `flujo lens renumber [--dry-run] [--json]`: after a Postgres ledger was restored into a cluster
 * whose transaction counter is behind the one that wrote it, renumbers its commit positions so
 * readers see every event, in the old order, and new events sort after them (ADR 92). Only a
 * Postgres state URI has such positions; nothing else is touched.
 */
import { renumberPostgresLedger } from '../../adapters/ledger/postgresRenumber.js';
import { parseStateUri } from '../../adapters/ledger/stateUri.js';
import { ExitCode } from '../../errors.js';
import type { Output } from '../output.js';
import { lensConfig, usage, type LensFlags } from './lensCommon.js';

export interface LensRenumberFlags extends LensFlags {
  readonly dryRun?: boolean;
}

export async function lensRenumber(flags: LensRenumberFlags, out: Output): Promise<number> {
  const cfg = lensConfig(flags);
  const location = parseStateUri(cfg.stateUri, cfg.root);
  if (location.kind !== 'postgres')
    throw usage(
      `lens renumber repairs a Postgres ledger restored from another cluster; the state URI names a ${location.kind} ledger, which has nothing to renumber`,
    );
  const r = await renumberPostgresLedger({
    connectionString: location.connectionString,
    schema: location.schema,
    ...(flags.dryRun ? { dryRun: true } : {}),
  });
  for (const u of r.unmapped)
    out.error(
      `system_state ${u.key}: ${JSON.stringify(u.value)} looks like a position but names no event of this ledger; left as it is`,
    );
  if (flags.json) {
    out.json({
      schema: r.schema,
      renumbered: r.renumbered,
      dry_run: r.dryRun,
      events: r.events,
      ahead: r.ahead,
      highest_txid: r.highestTxid,
      cluster_xmax: r.clusterXmax,
      vacuumed: r.vacuumed,
      positions: r.positions,
      unmapped: r.unmapped,
    });
    return ExitCode.ok;
  }
  if (!r.renumbered) {
    out.data(
      `${out.color.ok('✓')} schema ${r.schema}: every event's transaction id is below this cluster's counter (${r.clusterXmax}); nothing to renumber`,
    );
    return ExitCode.ok;
  }
  const what = r.dryRun ? 'would renumber' : 'renumbered';
  out.data(
    `${out.color.ok('✓')} schema ${r.schema}: ${what} ${r.events} events (${r.ahead} had transaction ids up to ${r.highestTxid}, this cluster's counter is at ${r.clusterXmax}), order kept`,
  );
  for (const p of r.positions) out.data(`  system_state ${p.key}: position ${p.from} → ${p.to}`);
  if (r.dryRun) out.info('dry run: nothing was changed');
  else
    out.info(
      `old positions are kept in ${r.schema}.flujo_position_map (old_txid, old_pos → new_txid, new_pos) for positions stored elsewhere` +
        (r.vacuumed
          ? ''
          : `; VACUUM ${r.schema}.events failed: run it before starting Flujo (the old row versions slow every open and read until then)`),
    );
  return ExitCode.ok;
}
