/**
 * `flujo cancel RUN_ID [--reason TEXT]`: records RunCancelled for a run that has not ended — one
 * paused on a person, interrupted, or driven by another process (whose next append then fails and
 * which reports the run cancelled). Needs only the ledger: no pipeline is loaded, so a run whose
 * pipeline file has changed or gone can still be cancelled. A run that already ended is refused.
 */
import { userInfo } from 'node:os';

import { hasEnded } from '../../actors/foldState.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { createEngine } from '../../runtime/engine.js';
import type { RunResult } from '../../runtime/summary.js';
import {
  openProjectState,
  projectConfig,
  refuseMissingState,
  resolveRunId,
  type GlobalOptions,
} from '../context.js';
import { viaFleet, type FleetFlags } from '../fleet.js';
import { runArgument } from '../io.js';
import type { Output } from '../output.js';
import { printRun, runJson, printRefusal } from '../runReport.js';
import { flujoCommand, runIdWords } from '../shell.js';

export interface CancelFlags extends GlobalOptions, FleetFlags {
  readonly reason?: string;
  readonly json?: boolean;
}

export async function cancel(runArg: string, flags: CancelFlags, out: Output): Promise<number> {
  try {
    runArgument(runArg);
  } catch (e) {
    if (flags.json) printRefusal(out, runArg, e);
    throw e;
  }
  if (flags.fleet)
    return viaFleet(
      flags,
      out,
      (fleet, wait) =>
        fleet.cancel(runArg, {
          ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
          wait,
        }),
      // A worker refuses a run that ended in this command's words, less the next step it names.
      (r) =>
        r.code === ErrorCode.RUN_NOT_RESUMABLE && r.status !== undefined && hasEnded(r.status)
          ? `${r.message}. ${seeIt(r.runId)}`
          : undefined,
    );
  const cfg = projectConfig(flags, process.env, process.cwd());
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  try {
    refuseMissingState(cfg, runArg);
  } catch (e) {
    if (flags.json) printRefusal(out, runArg, e);
    throw e;
  }
  // With its projections, so lens and the web lens show the run cancelled at once.
  const state = await openProjectState(cfg);
  let runId: string | undefined;
  try {
    runId = await resolveRunId(state.ledger, runArg);
    const engine = createEngine({ ledger: state.ledger, worker: `cli-${process.pid}` });
    // Ended before this command: refused, nothing recorded. Ended while it ran (the run completed
    // just before our append): refused the same way; the engine appends nothing to an ended run
    // (and refuses a head row that disagrees with the run's last event: LEDGER_CORRUPT).
    const before = await state.ledger.head(runId);
    // Who: the OS user, as `flujo resume` records an answer's `by` (ADR 67 amended).
    const result = await engine.cancel(runId, flags.reason, `${osUser()} (flujo cancel)`);
    if (before?.terminal || result.status !== 'cancelled') throw ended(result);
    if (flags.json) out.json(runJson(result));
    else printRun(out, result, 0);
    return ExitCode.ok;
  } catch (e) {
    // Under --json a refusal is still one JSON object on stdout, as `flujo resume` prints it; a
    // RUN that matched no run (or several) is named as it was given.
    if (flags.json) printRefusal(out, runId ?? runArg, e);
    throw e;
  } finally {
    await state.close();
  }
}

function osUser(): string {
  const env = process.env;
  try {
    return env.USER || env.USERNAME || userInfo().username || 'unknown user';
  } catch {
    return 'unknown user';
  }
}

const seeIt = (runId: string) => `See it with: ${flujoCommand(`lens show ${runIdWords(runId)}`)}`;

function ended(r: RunResult): EngineError {
  return new EngineError(
    ErrorCode.RUN_NOT_RESUMABLE,
    `run ${r.runId} already ended (${r.status}); there is nothing to cancel and nothing was recorded. ${seeIt(r.runId)}`,
    { exitCode: ExitCode.runtime, details: { runId: r.runId, status: r.status } },
  );
}
