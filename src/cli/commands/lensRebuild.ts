/**
 * `flujo lens rebuild [--json]`: recomputes every read model from the ledger (after an upgrade,
 * or if a projection table was damaged) and prints what was rebuilt.
 */
import { ExitCode } from '../../errors.js';
import type { Output } from '../output.js';
import type { LensFlags } from './lensCommon.js';
import { withState } from './lensState.js';

export async function lensRebuild(flags: LensFlags, out: Output): Promise<number> {
  return withState(flags, async (state) => {
    const t0 = performance.now();
    const report = await state.rebuild();
    const ms = Math.round(performance.now() - t0);
    if (flags.json) out.json({ ...(report as object), elapsed_ms: ms });
    else {
      const parts = Object.entries(report as Record<string, unknown>).map(
        ([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
      );
      out.data(`${out.color.ok('✓')} rebuilt the read models in ${ms}ms (${parts.join(', ')})`);
    }
    return ExitCode.ok;
  });
}
