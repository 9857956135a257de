/** A fold state as plain data for a SnapshotTaken event, and back (resume from a snapshot). */
import type { AnyMachineSnapshot } from 'xstate';

import { callKey, timerKey, type FoldState, type RunStatus } from './foldState.js';
import { freezeDeep } from './frozen.js';
import type { RunMachine } from './machine.js';
import type { Decision } from './vocabulary.js';

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
