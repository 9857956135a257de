/**
 * Opens the project's state for the lens commands that read projections (list, show, costs,
 * rebuild): the ledger with its inline projections installed and the read models over them
 * (openState, docs/projections.md).
 */
import { openState, type RebuildReport } from '../../adapters/ledger/state.js';
import type { EffectiveConfig } from '../../config/load.js';
import type { ReadModels } from '../../projections/readModels.js';
import type { LedgerStore } from '../../ports.js';
import { openProjectState, type GlobalOptions } from '../context.js';
import { lensConfig, missingStateFile } from './lensCommon.js';

export interface LensState {
  readonly cfg: EffectiveConfig;
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  rebuild(): Promise<RebuildReport>;
  close(): Promise<void>;
}

export async function openLensState(flags: GlobalOptions): Promise<LensState> {
  const cfg = lensConfig(flags);
  const state = missingStateFile(cfg)
    ? await openState('memory://', { projectRoot: cfg.root })
    : await openProjectState(cfg);
  return { cfg, ...state, rebuild: () => state.rebuild(), close: () => state.close() };
}

export async function withState<T>(
  flags: GlobalOptions,
  work: (state: LensState) => Promise<T>,
): Promise<T> {
  const state = await openLensState(flags);
  try {
    return await work(state);
  } finally {
    await state.close();
  }
}
