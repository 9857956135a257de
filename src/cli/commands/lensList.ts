/**
 * `flujo lens list [--status S] [--pipeline P] [--since D] [--limit N] [--json]`: recent runs,
 * newest first, from the runs read model (an indexed query, fast over 100k runs).
 */
import { ExitCode } from '../../errors.js';
import { duration, isoTime, MARK, table, usd } from '../../lens/format.js';
import { runJson } from '../../lens/rows.js';
import type { RunDamage, RunQuery, RunRow, RunStatusRow } from '../../projections/readModels.js';
import type { Output } from '../output.js';
import { sinceFlag, usage, type LensFlags } from './lensCommon.js';
import { withState } from './lensState.js';
import { flujoCommand, runIdWords } from '../shell.js';

export interface LensListFlags extends LensFlags {
  readonly status?: string;
  readonly pipeline?: string;
  readonly since?: string;
  readonly limit?: string;
}

const why: Record<RunDamage, string> = {
  unrecorded: 'the ledger holds no head row of it',
  no_start: 'the ledger holds no RunStarted at seq 1 of it',
};

/** The line under a list holding rows the ledger no longer records (marked `✗ status?`). */
export function damagedNote(damaged: readonly RunRow[]): string {
  const only = damaged.length === 1 ? damaged[0] : undefined;
  return only
    ? `run ${only.runId}: ${why[only.damaged!]}; its row is what the read models kept. ` +
        `Check it with: ${flujoCommand(`lens verify ${runIdWords(only.runId)}`)} (${flujoCommand('lens rebuild')} drops such rows)`
    : `${damaged.length} runs marked ✗ are no longer recorded in the ledger (no head row, or no ` +
        `RunStarted at seq 1); their rows are what the read models kept. Check them with: ` +
        `${flujoCommand('lens verify --all')} (${flujoCommand('lens rebuild')} drops such rows)`;
}

const STATUSES: readonly RunStatusRow[] = ['running', 'paused', 'completed', 'failed', 'cancelled'];

export function runQuery(flags: LensListFlags, now: number): RunQuery {
  if (flags.status !== undefined && !(STATUSES as readonly string[]).includes(flags.status))
    throw usage(`--status ${flags.status} is not one of ${STATUSES.join(', ')}`);
  const since = sinceFlag(flags.since, now);
  const limit = flags.limit === undefined ? 50 : Number(flags.limit);
  // Up to 2^53 - 1: a larger one is no exact number, and the store refused it (datatype mismatch).
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw usage(
      `--limit takes a whole number from 1 to ${Number.MAX_SAFE_INTEGER} (2^53 - 1), got ${JSON.stringify(flags.limit)}`,
    );
  return {
    ...(flags.status ? { status: flags.status as RunStatusRow } : {}),
    ...(flags.pipeline ? { pipeline: flags.pipeline } : {}),
    ...(since !== undefined ? { since } : {}),
    limit,
  };
}

export async function lensList(flags: LensListFlags, out: Output): Promise<number> {
  const query = runQuery(flags, Date.now());
  return withState(flags, async ({ readModels }) => {
    const runs = await readModels.listRuns(query);
    if (flags.json) {
      out.json(runs.map(runJson));
      return ExitCode.ok;
    }
    if (runs.length === 0) {
      out.info(`no runs match; start one with: ${flujoCommand('run PIPELINE')}`);
      return ExitCode.ok;
    }
    const paint = (s: string) =>
      s === 'completed' ? out.color.ok(s) : s === 'failed' ? out.color.bad(s) : s;
    out.data(
      table(
        ['RUN', 'PIPELINE', 'STATUS', 'STARTED', 'DURATION', 'COST', 'TOKENS'],
        runs.map((r) => [
          r.runId,
          r.pipeline,
          r.damaged ? `✗ ${r.status}?` : `${MARK[r.status] ?? ''} ${r.status}`,
          isoTime(r.startedAt).replace('T', ' ').slice(0, 19),
          duration(r.durationMs),
          usd(r.costMicros),
          String(r.tokensIn + r.tokensOut),
        ]),
      )
        .split('\n')
        .map((line, i) =>
          i === 0 ? out.color.dim(line) : line.replace(/(completed|failed)/, paint),
        )
        .join('\n'),
    );
    // A row the ledger no longer records is what the read models kept (ADR 130): said, not hidden.
    const damaged = runs.filter((r) => r.damaged);
    if (damaged.length) out.error(`${out.color.bad('✗')} ${damagedNote(damaged)}`);
    return ExitCode.ok;
  });
}
