/**
 * State is a fold. A run's state comes from its events alone: start the machine with the
 * recorded input, feed it each recorded fact, and check that every decision it makes is the one
 * the ledger recorded next, byte for byte. Resume and replay are both this fold; they differ only
 * in what happens after it (continue the run, or stop and report).
 *
 * Over 400 lines by a few: the fold and its check of each recorded decision read best together;
 * the per-decision checks are what moves out when it grows.
 */
import type { AnyMachineSnapshot } from 'xstate';

import { NondeterminismError } from '../errors.js';
import type { NewEvent } from '../events/catalogue.js';
import { bytesEqual, encodeCanonical } from '../events/codec.js';
import type { LedgerEvent } from '../events/envelope.js';
import { DRIVING_FACTS, MARKERS, decisionEvent, machineEventOf } from './decisions.js';
import { PlanCodeError } from './compileShared.js';
import { freezeDeep } from './frozen.js';
import type { RunMachine } from './machine.js';
import { pureInitial, pureTransition, type ExecutableAction } from './pure.js';
import { codeFailure, failedCode } from './codeFailure.js';
import { DECISION_TYPES, type Decision, type Release, type RunMachineEvent } from './vocabulary.js';

export type RunStatus = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

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

const callKey = (path: string, attempt: number) => `${path}#${attempt}`;
const timerKey = (path: string, timerId: string) => `${path}#${timerId}`;

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

const bytesOf = (e: NewEvent) => encodeCanonical({ type: e.type, data: e.data });

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
  let expected = pending;
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
      if (expected.length > 0)
        throw new NondeterminismError(e.runId, e.seq, expected[0], { type: e.type, data: e.data });
      expected = applyFact(machine, state, e).map((d) => decisionEvent(e.runId, d));
      continue;
    }
    const want = expected.shift();
    const got: NewEvent = { type: e.type, data: e.data } as NewEvent;
    if (!want || !bytesEqual(bytesOf(want), bytesOf(got)))
      throw new NondeterminismError(e.runId, e.seq, want ?? null, got);
  }
  const last = events[events.length - 1];
  if (last && expected.length > 0)
    throw new NondeterminismError(last.runId, last.seq + 1, expected[0], null);
  return state;
}

/** A fold state as plain data, for a SnapshotTaken event. */
export function foldSnapshot(state: FoldState): Record<string, unknown> {
  const b = state.budget;
  return {
    value: state.snapshot.value,
    context: state.snapshot.context,
    status: state.status,
    calls: [...state.outstanding.calls.values()],
    timers: [...state.outstanding.timers.values()],
    human: [...state.outstanding.human.values()],
    budget: {
      ...(b.limitMicros !== undefined ? { limitMicros: b.limitMicros } : {}),
      ...(b.limitTokens !== undefined ? { limitTokens: b.limitTokens } : {}),
      spentMicros: b.spentMicros,
      spentTokens: b.spentTokens,
      reserved: [...b.reserved.entries()],
    },
  };
}

/** The context's records whose entries hold run values (machine.ts freezes them as it sets them). */
const FROZEN_RECORDS = ['inp', 'out', 'bctx', 'err'] as const;

/** Rebuilds a fold state from `foldSnapshot`'s data. */
export function restoreFold(
  machine: RunMachine,
  runId: string,
  data: Record<string, unknown>,
): FoldState {
  const d = data as {
    value: unknown;
    context: unknown;
    status: RunStatus;
    calls: Extract<Decision, { type: 'callAgent' }>[];
    timers: { decision: Extract<Decision, { type: 'scheduleTimer' }>; at: number }[];
    human: Extract<Decision, { type: 'requestHuman' }>[];
    budget: {
      limitMicros?: number;
      limitTokens?: number;
      spentMicros: number;
      spentTokens: number;
      reserved: [string, { costMicros: number; tokens: number }][];
    };
  };
  const snapshot = machine.resolveState({
    value: d.value,
    context: d.context,
  } as never) as AnyMachineSnapshot;
  // Values frozen as the machine freezes them (ADR 40); its records stay updatable in place.
  const c = snapshot.context as Partial<Record<string, unknown>>;
  c.ctx = freezeDeep(c.ctx);
  for (const k of FROZEN_RECORDS) {
    const rec = c[k];
    if (rec && typeof rec === 'object') for (const v of Object.values(rec)) freezeDeep(v);
  }
  return {
    runId,
    snapshot,
    outstanding: {
      calls: new Map(d.calls.map((c) => [callKey(c.path, c.attempt), c])),
      timers: new Map(d.timers.map((t) => [timerKey(t.decision.path, t.decision.timerId), t])),
      human: new Map(d.human.map((h) => [h.path, h])),
    },
    budget: {
      ...(d.budget.limitMicros !== undefined ? { limitMicros: d.budget.limitMicros } : {}),
      ...(d.budget.limitTokens !== undefined ? { limitTokens: d.budget.limitTokens } : {}),
      spentMicros: d.budget.spentMicros,
      spentTokens: d.budget.spentTokens,
      reserved: new Map(d.budget.reserved),
    },
    status: d.status,
    released: 0,
    releasedNow: [],
  };
}
