/**
 * What the lens commands share: the project's config and ledger, run-id prefixes, and reading a
 * run's events. Read models come from the projections (./lensState.ts); everything here needs
 * only the ledger.
 */
import { existsSync } from 'node:fs';

import { openLedger } from '../../adapters/ledger/open.js';
import { parseStateUri } from '../../adapters/ledger/stateUri.js';
import type { EffectiveConfig } from '../../config/load.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import type { LedgerStore } from '../../ports.js';
import { projectConfig, resolveRunId, type GlobalOptions } from '../context.js';

export interface LensFlags extends GlobalOptions {
  readonly json?: boolean;
}

export function lensConfig(flags: GlobalOptions): EffectiveConfig {
  return projectConfig(flags, process.env, process.cwd());
}

/**
 * The SQLite file the project's state URI names, when it does not exist yet: a project that has
 * recorded no run. The lens reads that as an empty ledger and creates nothing.
 */
export function missingStateFile(cfg: EffectiveConfig): string | undefined {
  const location = parseStateUri(cfg.stateUri, cfg.root);
  return location.kind === 'sqlite' && !existsSync(location.path) ? location.path : undefined;
}

export async function openLensLedger(
  cfg: EffectiveConfig,
  access: { readonly readOnly?: boolean } = {},
): Promise<LedgerStore> {
  const sync = cfg.toml.settings?.sqlite_synchronous;
  return openLedger(cfg.stateUri, {
    projectRoot: cfg.root,
    ...(sync ? { sqliteSynchronous: sync } : {}),
    ...access,
  });
}

/**
 * Opens the ledger, resolves the run prefix, runs `work`, and always closes the ledger. The
 * commands that use this only read a run's events (trace, report, watch, verify, export,
 * replay), so the ledger is opened read-only by default: a role granted only SELECT, or a file
 * this user may only read, serves them, and nothing is created or migrated (ADR 83, 94).
 */
export async function withRun<T>(
  flags: GlobalOptions,
  prefix: string,
  work: (ctx: { cfg: EffectiveConfig; ledger: LedgerStore; runId: string }) => Promise<T>,
  access: { readonly readOnly?: boolean } = { readOnly: true },
): Promise<T> {
  const cfg = lensConfig(flags);
  // A project that has recorded no run has no state file: opening it read-only says so (exit 2,
  // the file named) instead of creating an empty one to find no run in.
  const ledger = await openLensLedger(cfg, missingStateFile(cfg) ? { readOnly: true } : access);
  try {
    const runId = await resolveRunId(ledger, prefix);
    return await work({ cfg, ledger, runId });
  } finally {
    await ledger.close();
  }
}

export function usage(message: string): EngineError {
  return new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });
}
