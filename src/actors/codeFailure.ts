/**
 * What a run records when its plan code throws inside a transition (ADR 44). Kept beside the
 * fold, which is its only user, so fold.ts stays about folding.
 */
import type { AnyMachineSnapshot } from 'xstate';

import { maskCredentials } from '../redact.js';
import type { ExecutableAction } from './pure.js';
import { stepError } from './vocabulary.js';

/**
 * Plan code (an input mapper, a condition, a router's pick) that throws stops XState's
 * transition: the snapshot comes back in status `error` (or a guard throws out of it). The run
 * then fails with the error's message. What the cut-short transition had settled before the code
 * ran is still recorded — a step that finished is completed (or failed), and the waits it left are
 * released — but nothing it would have started is. The same code throws the same way on a refold,
 * so the failure replays identically.
 */
export function failedCode(
  snapshot: AnyMachineSnapshot,
  decided: readonly ExecutableAction[],
): ExecutableAction[] | null {
  if (snapshot.status !== 'error') return null;
  return codeFailure((snapshot as { error?: unknown }).error, decided);
}

/** Decisions of a cut-short transition that stand: outcomes, not starts. */
const SETTLED: ReadonlySet<string> = new Set(['completeStep', 'failStep', 'release']);

/**
 * The outcomes decided before the transition started anything: a step that finished then (the
 * one whose reply this is, the nodes it closed). Past the first start, outcomes belong to steps
 * the failing transition itself started (an empty map, a branch), which are not recorded.
 */
function settledBefore(decided: readonly ExecutableAction[]): ExecutableAction[] {
  const out: ExecutableAction[] = [];
  for (const a of decided) {
    if (SETTLED.has(a.type)) out.push(a);
    else if (a.type !== 'failRun' && a.type !== 'completeRun') break;
  }
  return out;
}

export function codeFailure(
  e: unknown,
  decided: readonly ExecutableAction[] = [],
): ExecutableAction[] {
  const message = e instanceof Error ? e.message : String(e);
  const error = stepError(
    'PLAN_CODE_FAILED',
    maskCredentials(`pipeline code threw: ${message}`.slice(0, 2000)),
  );
  return [...settledBefore(decided), { type: 'failRun', params: { error } }];
}
