/**
 * State is a fold. A run's state comes from its events alone: start the machine with the
 * recorded input, feed it each recorded fact, and check that every decision it makes is the one
 * the ledger recorded next, byte for byte. Resume and replay are both this fold; they differ only
 * in what happens after it (continue the run, or stop and report).
 *
 * The fold and its check of each recorded decision read best together and stay here; what the
 * fold tracks besides the machine (outstanding work, budget) is in ./foldState.ts, and snapshots
 * of it in ./foldSnapshot.ts. Both are re-exported, so the runtime imports the fold from here.
 */
import { LedgerEncodeError, NondeterminismError } from '../errors.js';
import type { NewEvent } from '../events/catalogue.js';
import { bytesEqual, encodeCanonical } from '../events/codec.js';
import type { LedgerEvent } from '../events/envelope.js';
import { DRIVING_FACTS, MARKERS, decisionEvent, machineEventOf } from './decisions.js';
import { PlanCodeError } from './compileShared.js';
import {
  callKey,
  markPaused,
  noteReconciled,
  noteReservation,
  timerKey,
  type FoldState,
} from './foldState.js';
import { freezeDeep } from './frozen.js';
import type { RunMachine } from './machine.js';
import { pureInitial, pureTransition, type ExecutableAction } from './pure.js';
import { takesRecordedMessage } from './recordedMessage.js';
import { DECISION_NOT_RECORDABLE, notRecordableFailure } from './unrecordable.js';
import { codeFailure, failedCode } from './codeFailure.js';
import { DECISION_TYPES, type Decision, type Release, type RunMachineEvent } from './vocabulary.js';

export {
  awaitsCall,
  awaitsTimer,
  isReserved,
  markPaused,
  noteReconciled,
  noteReservation,
  reservationOf,
  reservedTotals,
  restsOnHuman,
  type BudgetState,
  type FoldState,
  type Outstanding,
  type RunStatus,
} from './foldState.js';
export { foldSnapshot, restoreFold } from './foldSnapshot.js';

/**
 * Applies a transition's actions to what is outstanding, in order, and returns its decisions: a
 * wait entered and abandoned within one transition (a sibling branch failed at once) ends up
 * released.
 */
function track(
  state: FoldState,
  actions: readonly { type: string; params?: unknown }[],
  at: number,
): Decision[] {
  const o = state.outstanding;
  const out: Decision[] = [];
  state.releasedNow = [];
  for (const a of actions) {
    if (a.type === 'release') {
      release(state, a.params as Release);
      continue;
    }
    if (!DECISION_TYPES.has(a.type as Decision['type'])) continue;
    const d = { type: a.type, ...(a.params as object) } as Decision;
    out.push(d);
    if (d.type === 'callAgent') o.calls.set(callKey(d.path, d.attempt), d);
    else if (d.type === 'scheduleTimer')
      o.timers.set(timerKey(d.path, d.timerId), { decision: d, at });
    else if (d.type === 'requestHuman') o.human.set(d.path, d);
    else if (d.type === 'completeRun') state.status = 'completed';
    else if (d.type === 'failRun') state.status = 'failed';
  }
  return out;
}

/** Drops a wait the machine's exit actions released from what is outstanding. */
function release(state: FoldState, r: Release): void {
  const o = state.outstanding;
  const had =
    r.kind === 'call'
      ? o.calls.delete(callKey(r.path, r.attempt))
      : r.kind === 'timer'
        ? o.timers.delete(timerKey(r.path, r.timerId))
        : o.human.delete(r.path);
  if (had) {
    state.released += 1;
    state.releasedNow.push(r);
  }
}

function settle(state: FoldState, fact: LedgerEvent): void {
  const o = state.outstanding;
  switch (fact.type) {
    case 'AgentResponded':
    case 'AgentFailed': {
      const key = callKey(fact.data.path, fact.data.attempt);
      o.calls.delete(key);
      state.budget.reserved.delete(key);
      state.budget.spentMicros += fact.data.costMicros ?? 0;
      state.budget.spentTokens += fact.data.usage
        ? fact.data.usage.input + fact.data.usage.output
        : 0;
      break;
    }
    case 'TimerFired':
      o.timers.delete(timerKey(fact.data.path, fact.data.timerId));
      break;
    case 'HumanInputReceived':
      o.human.delete(fact.data.path);
      break;
    case 'RunCancelled':
      state.status = 'cancelled';
      break;
  }
  if (state.status === 'paused') state.status = 'running';
}

/** Starts the fold from a RunStarted event: the machine's first decisions. */
export function startFold(
  machine: RunMachine,
  started: Extract<LedgerEvent, { type: 'RunStarted' }>,
) {
  const [snapshot, actions] = pureInitial(machine, {
    runId: started.runId,
    input: freezeDeep(started.data.input),
    flags: started.data.engine.flags,
    ...(started.data.context !== undefined
      ? { context: freezeDeep(started.data.context as Record<string, unknown>) }
      : {}),
  });
  const limits = started.data.budget ?? {};
  const state: FoldState = {
    runId: started.runId,
    snapshot,
    outstanding: { calls: new Map(), timers: new Map(), human: new Map() },
    budget: {
      ...(limits.costMicros !== undefined ? { limitMicros: limits.costMicros } : {}),
      ...(limits.tokens !== undefined ? { limitTokens: limits.tokens } : {}),
      spentMicros: 0,
      spentTokens: 0,
      reserved: new Map(),
    },
    status: 'running',
    released: 0,
    releasedNow: [],
  };
  const decisions = track(state, failedCode(snapshot, actions) ?? actions, started.at);
  return { state, decisions };
}

/** Feeds one recorded fact; returns the decisions it causes. */
export function applyFact(machine: RunMachine, state: FoldState, fact: LedgerEvent): Decision[] {
  state.releasedNow = [];
  settle(state, fact);
  const event: RunMachineEvent | null = machineEventOf(fact);
  if (!event || state.status === 'cancelled') return [];
  let next: ReturnType<typeof pureTransition>;
  try {
    next = pureTransition(machine, state.snapshot, event);
  } catch (e) {
    // Some plan code (guards) throws out of the transition instead of setting `error`.
    if (!(e instanceof PlanCodeError)) throw e;
    const decided = (e as { decided?: ExecutableAction[] }).decided ?? [];
    return track(state, codeFailure(e, decided), fact.at);
  }
  const [snapshot, actions] = next;
  state.snapshot = snapshot;
  return track(state, failedCode(snapshot, actions) ?? actions, fact.at);
}

const bytesOf = (e: NewEvent) => encodeCanonical({ type: e.type, data: e.data });

/** A decision the machine makes now that the ledger cannot encode differs from what it holds. */
function sameBytes(want: NewEvent, got: NewEvent): boolean {
  let wanted: Uint8Array;
  try {
    wanted = bytesOf(want);
  } catch (e) {
    if (e instanceof LedgerEncodeError) return false;
    throw e;
  }
  return bytesEqual(wanted, bytesOf(got));
}

/**
 * A RunFailed the runtime records in place of decisions it cannot record (ADR 115) is taken
 * where the decisions made now cannot be recorded either and make that very RunFailed.
 */
function takesNotRecordable(decided: readonly NewEvent[], got: NewEvent): boolean {
  if (got.type !== 'RunFailed' || got.data.error.code !== DECISION_NOT_RECORDABLE) return false;
  const failed = notRecordableFailure(decided);
  return failed !== null && bytesEqual(bytesOf(failed), bytesOf(got));
}

/**
 * Refolds a run's whole stream, checking each recorded decision against the one the machine
 * makes now. Throws NondeterminismError at the first difference.
 */
export function refold(machine: RunMachine, events: readonly LedgerEvent[]): FoldState {
  const first = events[0];
  if (!first || first.type !== 'RunStarted') {
    throw new NondeterminismError(
      first?.runId ?? '?',
      first?.seq ?? 1,
      { type: 'RunStarted' },
      first ?? null,
    );
  }
  const { state, decisions } = startFold(machine, first);
  const expected = decisions.map((d) => decisionEvent(first.runId, d));
  return continueFold(machine, state, expected, events.slice(1));
}

/** Continues a fold restored from a snapshot over the events recorded after it. */
export function refoldFrom(
  machine: RunMachine,
  state: FoldState,
  events: readonly LedgerEvent[],
): FoldState {
  return continueFold(machine, state, [], events);
}

function continueFold(
  machine: RunMachine,
  state: FoldState,
  pending: NewEvent[],
  events: readonly LedgerEvent[],
): FoldState {
  // The decisions of the last fact (or of the start), and how many of them are recorded so far.
  let expected = pending;
  let next = 0;
  for (const e of events) {
    if (MARKERS.has(e.type)) {
      if (e.type === 'RunPaused') markPaused(state);
      if (e.type === 'BudgetReserved')
        noteReservation(state, e.data.path, e.data.attempt, e.data.costMicros, e.data.tokens);
      else if (e.type === 'BudgetReconciled')
        noteReconciled(state, e.data.path, e.data.attempt, e.data.costMicros, e.data.tokens);
      continue;
    }
    if (DRIVING_FACTS.has(e.type)) {
      // A fact and the decisions it caused are one append: none may be left over before it.
      if (next < expected.length)
        throw new NondeterminismError(e.runId, e.seq, expected[next], {
          type: e.type,
          data: e.data,
        });
      expected = applyFact(machine, state, e).map((d) => decisionEvent(e.runId, d));
      next = 0;
      continue;
    }
    const want = expected[next];
    const got: NewEvent = { type: e.type, data: e.data } as NewEvent;
    // In place of the whole batch only: the runtime records none of its decisions (review: a
    // recordable prefix before such a RunFailed was taken as identical).
    if (want && next === 0 && takesNotRecordable(expected, got)) {
      // The decisions could not be recorded; the run ended in their place (ADR 115).
      next = expected.length;
      state.status = 'failed';
      continue;
    }
    if (want) next++;
    if (!want || !sameBytes(want, got)) {
      // A message recorded before ADR 40 may list an object's keys in another order (ADR 93).
      if (!want || !takesRecordedMessage(state, want, got))
        throw new NondeterminismError(e.runId, e.seq, want ?? null, got);
      (state.asRecorded ??= []).push({ seq: e.seq, reason: 'message_key_order' });
    }
  }
  const last = events[events.length - 1];
  if (last && next < expected.length)
    throw new NondeterminismError(last.runId, last.seq + 1, expected[next], null);
  return state;
}
