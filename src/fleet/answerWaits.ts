/**
 * An answer that came while its run still has other work out (ADR 133): the engine refuses it
 * (`RUN_NOT_RESUMABLE`, `details.status: "running"`, `details.outstanding`) until the run rests.
 * In the fleet that refusal is temporary — the worker driving the run rests it once its work
 * settles, and if that worker died its message goes to another worker (or the reconciler adopts
 * the run), which rests it — so the answer message is retried with the other retryable failures'
 * backoff, each try counted against `--max-deliver`, and given up as a dead letter that says why.
 * The engine's words (take the run up first by resuming it without an answer) are for one
 * process; in the fleet its sender cannot tell whether the driving worker is alive, and such a
 * resume would take a live worker's run over and send its call again: these are the fleet's.
 */
import type { WorkMessage } from '../adapters/nats/work.js';
import { EngineError, ErrorCode } from '../errors.js';

/** What the run has out (the engine's `details.outstanding`), when `e` refused answer `m` for it. */
export function workOut(m: WorkMessage, e: unknown): readonly string[] | undefined {
  if (m.kind !== 'resume' || !('input' in m.body)) return undefined;
  if (!(e instanceof EngineError) || e.code !== ErrorCode.RUN_NOT_RESUMABLE) return undefined;
  const { status, outstanding } = e.details as { status?: unknown; outstanding?: unknown };
  if (status !== 'running' || !Array.isArray(outstanding) || outstanding.length === 0)
    return undefined;
  return outstanding.map(String);
}

const listed = (out: readonly string[]) =>
  out.slice(0, 5).join(', ') + (out.length > 5 ? ` and ${out.length - 5} more` : '');

const minutes = (ms: number) =>
  ms < 90_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;

/** What the sender of an answer that will be tried again is told (a note, not an outcome). */
export function waitingWords(
  runId: string,
  out: readonly string[],
  tried: { readonly failed: number; readonly maxDeliver: number; readonly delayMs: number },
): string {
  return `run ${runId} is still running on a worker: its work at ${listed(out)} is out, so the run is not waiting for an answer yet and the answer was not recorded. The answer is tried again until the run pauses (try ${tried.failed} of ${tried.maxDeliver}; the next in ${minutes(tried.delayMs)}); if that worker died, the fleet takes the run up (its message goes to another worker after the ack wait, or the reconciler adopts the run) and the answer is then taken`;
}

/** Why an answer whose tries ran out while its run was still running is a dead letter. */
export function gaveUpWords(
  runId: string,
  out: readonly string[],
  tries: number,
  waitedMs: number,
): string {
  return `run ${runId} was still running on a worker at each of ${tries} tries of this answer over ${minutes(waitedMs)} (its work at ${listed(out)} was out at the last), so the answer was never recorded: that work outlasted the tries (raise --max-deliver for longer), or nothing drives the run any more (no worker took it up: a worker with --reconcile-after adopts a quiet running run). Look at it with: flujo lens show ${runId}; once it pauses, retry this dead letter (flujo fleet dead-letters retry SEQ)`;
}
