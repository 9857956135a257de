/**
 * `flujo lens rebuild [--json]`: recomputes every read model from the ledger (after an upgrade,
 * or if a projection table was damaged) and prints what was rebuilt. A run it cannot fold whole
 * (no RunStarted at seq 1, an event that does not decode, a head row with no events under it)
 * or whose events have no head row is
 * named on stderr and makes the command exit 1; the read models of every other run are rebuilt
 * all the same (ADR 74).
 */
import { ExitCode } from '../../errors.js';
import { decodeEnvelope } from '../../events/envelope.js';
import type { Output } from '../output.js';
import type { LensFlags } from './lensCommon.js';
import { withState } from './lensState.js';
import { flujoCommand, runIdWords } from '../shell.js';

export async function lensRebuild(flags: LensFlags, out: Output): Promise<number> {
  return withState(
    flags,
    async (state) => {
      const t0 = performance.now();
      const report = await state.rebuild();
      const ms = Math.round(performance.now() - t0);
      const damaged: { run_id: string; seq: number; reason: string; detail: string }[] = (
        report.damaged ?? []
      ).map((d) => ({
        run_id: d.runId,
        seq: d.seq,
        reason: d.reason,
        detail: `${d.detail}; ${d.reason === 'no_start' || d.reason === 'truncated' ? 'the run has no row in the read models (lens list/show leave it out)' : 'this event is left out of the read models'}`,
      }));
      // Events whose head row is gone are not read by the rebuild at all (their run is unlisted).
      for (const o of (await state.ledger.orphans?.()) ?? []) {
        let runId = '(unknown run)';
        try {
          runId = decodeEnvelope(runId, o.firstSeq, o.firstBody).runId;
        } catch {
          // still reported, unnamed
        }
        damaged.push({
          run_id: runId,
          seq: o.firstSeq,
          reason: 'orphaned',
          detail: `${o.events} stored events have no head row; the run is left out of the read models`,
        });
      }
      for (const d of damaged)
        out.error(
          `${out.color.bad('✗')} run ${d.run_id} seq ${d.seq}: ${d.reason} — ${d.detail}. Check it with: ${flujoCommand(`lens verify ${runIdWords(d.run_id)}`)}`,
        );
      if (flags.json)
        out.json({
          projections: report.projections,
          events: report.events,
          elapsed_ms: ms,
          damaged,
        });
      else
        out.data(
          `${damaged.length ? out.color.bad('✗') : out.color.ok('✓')} rebuilt ${report.projections.join(', ')} from ${report.events} events in ${ms}ms${damaged.length ? `; damage named above` : ''}`,
        );
      return damaged.length ? ExitCode.runtime : ExitCode.ok;
    },
    'write',
  );
}
