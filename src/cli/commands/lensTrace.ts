/**
 * `flujo lens trace RUN [--json] [--prompt-preview-len N]`: the run's tree of steps built from its
 * events, with status, durations, retries, fallbacks, branches, iterations, pauses and costs.
 * `--json` prints the root span in Flujo's trace contract v1 shape.
 */
import { ExitCode } from '../../errors.js';
import { readRunEvents } from '../../lens/events.js';
import { buildTrace } from '../../lens/trace.js';
import { renderTrace } from '../../lens/traceText.js';
import { corruptRun } from '../../runtime/verifyLedger.js';
import type { Output } from '../output.js';
import { usage, withRun, type LensFlags } from './lensCommon.js';

export interface LensTraceFlags extends LensFlags {
  readonly promptPreviewLen?: string;
  /** Show the steps the engine made too (ADR 88). */
  readonly all?: boolean;
}

export async function lensTrace(run: string, flags: LensTraceFlags, out: Output): Promise<number> {
  const len = flags.promptPreviewLen === undefined ? 120 : Number(flags.promptPreviewLen);
  if (!Number.isInteger(len) || len < -1)
    throw usage('--prompt-preview-len takes a whole number: -1 (full), 0 (hide) or a length');
  return withRun(flags, run, async ({ ledger, runId }) => {
    const events = await readRunEvents(ledger, runId);
    // A run whose RunStarted is gone is damage to name, not a bug in the trace builder.
    if (events[0]?.type !== 'RunStarted' || events[0].seq !== 1)
      throw await corruptRun(ledger, runId, 'nothing was traced');
    const root = buildTrace(events);
    if (flags.json) out.json(root);
    else
      out.data(
        renderTrace(root, {
          previewLen: len,
          all: Boolean(flags.all),
          paint: (status, text) =>
            status === 'completed'
              ? out.color.ok(text)
              : status === 'failed'
                ? out.color.bad(text)
                : out.color.dim(text),
        }),
      );
    return ExitCode.ok;
  });
}
