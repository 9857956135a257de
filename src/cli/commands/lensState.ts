/**
 * Opens the project's state for the lens commands that read projections (list, show, costs,
 * rebuild): the ledger and the read models over its projection tables (docs/projections.md) —
 * read-only when nothing needs bringing up to date (ADR 94), else with the inline projections
 * installed (openState).
 */
import { openState, type RebuildReport, type State } from '../../adapters/ledger/state.js';
import { openStateForReading } from '../../adapters/ledger/stateRead.js';
import { ConfigError, ErrorCode, isEngineError, withoutCode } from '../../errors.js';
import type { EffectiveConfig } from '../../config/load.js';
import type { ReadModels } from '../../projections/readModels.js';
import type { LedgerStore } from '../../ports.js';
import { openProjectState, type GlobalOptions } from '../context.js';
import { missingStateFile } from '../context.js';
import { lensConfig } from './lensCommon.js';

export interface LensState {
  readonly cfg: EffectiveConfig;
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  rebuild(): Promise<RebuildReport>;
  close(): Promise<void>;
}

/**
 * `read` (list, show, costs): the state as it is, read-only, when it is already this release's
 * (ADR 94), so a role or a file that may only be read serves; otherwise, and for `write`
 * (rebuild), opened as every command opens it, which brings it up to date.
 */
export async function openLensState(
  flags: GlobalOptions,
  access: 'read' | 'write' = 'read',
): Promise<LensState> {
  const cfg = lensConfig(flags);
  if (missingStateFile(cfg))
    return wrap(cfg, await openState('memory://', { projectRoot: cfg.root }));
  let stale: string | undefined;
  if (access === 'read') {
    const read = await openStateForReading(cfg.stateUri, { projectRoot: cfg.root });
    if ('state' in read) return wrap(cfg, read.state);
    // No ledger in that schema: read as an empty one, creating nothing, as for a SQLite file
    // that does not exist (a mistyped ?schema= must not make a ledger).
    if (read.missing) return wrap(cfg, await openState('memory://', { projectRoot: cfg.root }));
    stale = read.stale;
  }
  try {
    return wrap(cfg, await openProjectState(cfg));
  } catch (e) {
    // Reading needed the state brought up to date first, and this role or user may not.
    if (stale && isEngineError(e) && e.code === ErrorCode.CONFIG_STATE_URI)
      throw new ConfigError(ErrorCode.CONFIG_STATE_URI, `${stale}; ${withoutCode(e.message)}`, {
        ...(e.details ?? {}),
        stale,
      });
    throw e;
  }
}

function wrap(cfg: EffectiveConfig, state: State): LensState {
  return { cfg, ...state, rebuild: () => state.rebuild(), close: () => state.close() };
}

export async function withState<T>(
  flags: GlobalOptions,
  work: (state: LensState) => Promise<T>,
  access: 'read' | 'write' = 'read',
): Promise<T> {
  const state = await openLensState(flags, access);
  try {
    return await work(state);
  } finally {
    await state.close();
  }
}
