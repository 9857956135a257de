/**
 * The budget check before a call: would its upper-bound estimate, on top of what the run has
 * spent and what other calls hold reserved, pass a limit? The driver records the outcome.
 */
import {
  noteReservation,
  reservedTotals,
  type BudgetState,
  type FoldState,
} from '../actors/fold.js';
import { idempotencyKey } from '../actors/decisions.js';
import type { Decision } from '../actors/vocabulary.js';
import type { ErrorInfo, NewEvent } from '../events/catalogue.js';

const usd = (micros: number) => (micros / 1e6).toFixed(6).replace(/0{1,4}$/, '');

export interface Estimate {
  readonly costMicros: number;
  readonly tokens: number;
}

/** The refusal naming the limit and the spend, or null when the call fits. */
export function overBudget(b: BudgetState, est: Estimate, path: string): ErrorInfo | null {
  const held = reservedTotals(b);
  const cost = b.spentMicros + held.costMicros + est.costMicros;
  const tokens = b.spentTokens + held.tokens + est.tokens;
  if (b.limitMicros !== undefined && cost > b.limitMicros) {
    return {
      code: 'COST_LIMIT_EXCEEDED',
      message: `cost limit $${usd(b.limitMicros)} would be exceeded: the call at ${path} may cost up to $${usd(est.costMicros)}; spent $${usd(b.spentMicros)}, reserved $${usd(held.costMicros)}`,
      retryable: false,
    };
  }
  if (b.limitTokens !== undefined && tokens > b.limitTokens) {
    return {
      code: 'TOKEN_LIMIT_EXCEEDED',
      message: `token limit ${b.limitTokens} would be exceeded: the call at ${path} may use up to ${est.tokens} tokens; used ${b.spentTokens}, reserved ${held.tokens}`,
      retryable: false,
    };
  }
  return null;
}

/**
 * Reserves a call's upper-bound estimate under the run's limits (a BudgetReserved marker joins
 * `markers`), or returns the AgentFailed that refuses it. No limits: nothing to reserve.
 */
export function reserveCall(
  state: FoldState,
  d: Extract<Decision, { type: 'callAgent' }>,
  estimate: () => Estimate | undefined,
  markers: NewEvent[],
): NewEvent | null {
  const b = state.budget;
  if (b.limitMicros === undefined && b.limitTokens === undefined) return null;
  const est = estimate() ?? { costMicros: 0, tokens: 0 };
  const refused = overBudget(b, est, d.path);
  if (refused) {
    const key = idempotencyKey(state.runId, d.path, d.attempt);
    return { type: 'AgentFailed', data: { path: d.path, attempt: d.attempt, key, error: refused } };
  }
  noteReservation(state, d.path, d.attempt, est.costMicros, est.tokens);
  markers.push({
    type: 'BudgetReserved',
    data: { path: d.path, attempt: d.attempt, costMicros: est.costMicros, tokens: est.tokens },
  });
  return null;
}
