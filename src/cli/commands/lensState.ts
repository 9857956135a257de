/**
 * Opens the project's state for the lens commands that read projections (list, show, costs,
 * rebuild): the ledger plus its read models.
 */
import type { EffectiveConfig } from '../../config/load.js';
import { foldingReadModels } from '../../projections/memory.js';
import type { ReadModels } from '../../projections/readModels.js';
import type { LedgerStore } from '../../ports.js';
import type { GlobalOptions } from '../context.js';
import { lensConfig, openLensLedger } from './lensCommon.js';

export interface LensState {
  readonly cfg: EffectiveConfig;
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  rebuild(): Promise<unknown>;
  close(): Promise<void>;
}

export async function openLensState(flags: GlobalOptions): Promise<LensState> {
  const cfg = lensConfig(flags);
  const ledger = await openLensLedger(cfg);
  const readModels = foldingReadModels(ledger);
  return {
    cfg,
    ledger,
    readModels,
    rebuild: () => readModels.rebuild(),
    close: () => ledger.close(),
  };
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
