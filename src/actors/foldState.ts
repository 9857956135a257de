/**
 * What a fold knows besides the machine's snapshot: the work it waits for and the run's budget,
 * with the bookkeeping the runtime does on them. Everything here is derived from events; the
 * fold (./fold.ts) keeps it in step with the ledger.
 */
import type { AnyMachineSnapshot } from 'xstate';

import type { Decision, Release } from './vocabulary.js';

export type RunStatus = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

/** The statuses a run does not leave: nothing more is recorded for it but a refusal. */
export type EndedStatus = Extract<RunStatus, 'completed' | 'failed' | 'cancelled'>;

/** Whether a run in `status` has ended (the driver, the engine, cancel and the fleet ask this). */
export function hasEnded(status: string): status is EndedStatus {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** Work the run has asked for and not yet received an answer to. */
export interface Outstanding {
  /** Agent calls by idempotency key path:attempt, with the decision that asked. */
  readonly calls: Map<string, Extract<Decision, { type: 'callAgent' }>>;
  /** Timers by path:timerId, with the `at` of the event that scheduled them. */
  readonly timers: Map<
    string,
    { decision: Extract<Decision, { type: 'scheduleTimer' }>; at: number }
  >;
  /** Human input requests by path. */
  readonly human: Map<string, Extract<Decision, { type: 'requestHuman' }>>;
}

/** Run-level limits and what counts against them, all derived from events. */
export interface BudgetState {
  readonly limitMicros?: number;
  readonly limitTokens?: number;
  spentMicros: number;
  spentTokens: number;
  /** Reservations of calls not yet answered, by path#attempt. */
  readonly reserved: Map<string, { readonly costMicros: number; readonly tokens: number }>;
}

export interface FoldState {
  readonly runId: string;
  snapshot: AnyMachineSnapshot;
  readonly outstanding: Outstanding;
  readonly budget: BudgetState;
  status: RunStatus;
  /** Counts waits the machine abandoned (Release); the runtime aborts their work when it moves. */
  released: number;
  /**
   * The waits the last transition abandoned, in order: the runtime records the steps they leave
   * unfinished (StepAbandoned, ADR 78). Not part of a snapshot: it is the last transition's.
   */
  releasedNow: Release[];
  /**
   * Recorded decisions the fold took as recorded although they differ from today's in form only
   * (a hitl message's key order, ADR 93), so a replay can say so. Not part of a snapshot.
   */
  asRecorded?: { seq: number; reason: 'message_key_order' }[];
}

export function reservedTotals(b: BudgetState): { costMicros: number; tokens: number } {
  let costMicros = 0;
  let tokens = 0;
  for (const r of b.reserved.values()) {
    costMicros += r.costMicros;
    tokens += r.tokens;
  }
  return { costMicros, tokens };
}

/** Records a reservation marker (BudgetReserved) into the budget. */
export function noteReservation(
  state: FoldState,
  path: string,
  attempt: number,
  costMicros: number,
  tokens: number,
): void {
  state.budget.reserved.set(callKey(path, attempt), { costMicros, tokens });
}

/**
 * Records a BudgetReconciled marker into the budget: an attempt whose usage is unknown (the
 * runtime stopped waiting for it, or a crash lost it) counts as spent at its reservation, which
 * it no longer holds (docs/adr/0055).
 */
export function noteReconciled(
  state: FoldState,
  path: string,
  attempt: number,
  costMicros: number,
  tokens: number,
): void {
  state.budget.reserved.delete(callKey(path, attempt));
  state.budget.spentMicros += costMicros;
  state.budget.spentTokens += tokens;
}

/** The reservation this call holds, if any. */
export function reservationOf(
  state: FoldState,
  path: string,
  attempt: number,
): { readonly costMicros: number; readonly tokens: number } | undefined {
  return state.budget.reserved.get(callKey(path, attempt));
}

export const callKey = (path: string, attempt: number) => `${path}#${attempt}`;
export const timerKey = (path: string, timerId: string) => `${path}#${timerId}`;

/** A budget reservation for this call was recorded and not yet settled. */
export function isReserved(state: FoldState, path: string, attempt: number): boolean {
  return state.budget.reserved.has(callKey(path, attempt));
}

/** The timer is still awaited (not fired, not abandoned). */
export function awaitsTimer(state: FoldState, path: string, timerId: string): boolean {
  return state.outstanding.timers.has(timerKey(path, timerId));
}

/** The call is still awaited (not answered, not abandoned). */
export function awaitsCall(state: FoldState, path: string, attempt: number): boolean {
  return state.outstanding.calls.has(callKey(path, attempt));
}

/** True when the run waits only for people: nothing else is in flight. */
export function restsOnHuman(state: FoldState): boolean {
  const o = state.outstanding;
  return (
    state.status === 'running' && o.human.size > 0 && o.calls.size === 0 && o.timers.size === 0
  );
}

export function markPaused(state: FoldState): void {
  state.status = 'paused';
}
