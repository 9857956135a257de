/**
 * `flujo lens costs [RUN] [--by model|pipeline|step|day] [--since D] [--json]`: spend grouped by
 * one dimension, over every run or one, from the costs read model.
 */
import { ExitCode } from '../../errors.js';
import { table, usd } from '../../lens/format.js';
import type { CostDimension } from '../../projections/readModels.js';
import type { Output } from '../output.js';
import { recordedStart } from '../../runtime/verifyLedger.js';
import { resolveRunId } from '../context.js';
import { sinceFlag, usage, type LensFlags } from './lensCommon.js';
import { withState } from './lensState.js';

export interface LensCostsFlags extends LensFlags {
  readonly by?: string;
  readonly since?: string;
}

const DIMENSIONS: readonly CostDimension[] = ['model', 'pipeline', 'step', 'day'];

export async function lensCosts(
  run: string | undefined,
  flags: LensCostsFlags,
  out: Output,
): Promise<number> {
  const by = (flags.by ?? 'model') as CostDimension;
  if (!DIMENSIONS.includes(by))
    throw usage(`--by ${flags.by} is not one of ${DIMENSIONS.join(', ')}`);
  const since = sinceFlag(flags.since, Date.now());
  return withState(flags, async ({ ledger, readModels }) => {
    const runId = run ? await resolveRunId(ledger, run) : undefined;
    // One run's costs are its read-model rows: not shown for a run whose RunStarted (or every
    // event) was removed, as lens show does not (ADR 124).
    if (runId) await recordedStart(ledger, runId, 'nothing was shown');
    const rows = await readModels.costs({
      by,
      ...(runId ? { runId } : {}),
      ...(since !== undefined ? { since } : {}),
    });
    const total = rows.reduce(
      (t, r) => ({
        calls: t.calls + r.calls,
        tin: t.tin + r.tokensIn,
        tout: t.tout + r.tokensOut,
        micros: t.micros + r.costMicros,
      }),
      { calls: 0, tin: 0, tout: 0, micros: 0 },
    );
    if (flags.json) {
      out.json({
        by,
        run_id: runId ?? null,
        rows: rows.map((r) => ({
          key: r.key,
          calls: r.calls,
          tokens: { input: r.tokensIn, output: r.tokensOut },
          cost_usd: r.costMicros / 1e6,
        })),
        total: {
          calls: total.calls,
          tokens: { input: total.tin, output: total.tout },
          cost_usd: total.micros / 1e6,
        },
      });
      return ExitCode.ok;
    }
    out.data(
      table(
        [by.toUpperCase(), 'CALLS', 'TOKENS IN', 'TOKENS OUT', 'COST'],
        [
          ...rows.map((r) => [
            r.key,
            String(r.calls),
            String(r.tokensIn),
            String(r.tokensOut),
            usd(r.costMicros),
          ]),
          ['total', String(total.calls), String(total.tin), String(total.tout), usd(total.micros)],
        ],
      ),
    );
    return ExitCode.ok;
  });
}
