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
    if (flags.json)
      out.json({ projections: report.projections, events: report.events, elapsed_ms: ms });
    else
      out.data(
        `${out.color.ok('✓')} rebuilt ${report.projections.join(', ')} from ${report.events} events in ${ms}ms`,
      );
    return ExitCode.ok;
  });
}
