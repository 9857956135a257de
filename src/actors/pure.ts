/**
 * XState's pure `transition()` / `initialTransition()` without their per-call cost. Those helpers
 * build a throwaway actor for every call, and building an actor runs the machine's initial
 * transition: about 200 µs per step on our machines. Here the inert actor scope is built once per
 * machine and reused; only the action collector changes per call. The semantics are XState's own
 * (`machine.transition` / `machine.getInitialSnapshot` are the public ActorLogic methods).
 */
import { createActor, createMachine, type AnyActorScope, type AnyMachineSnapshot } from 'xstate';

import { withEngineFlags } from '../dsl/engineFlags.js';
import { guardFailure, type RunMachine } from './machine.js';
import type { RunMachineContext, RunMachineEvent, RunMachineInput } from './vocabulary.js';

export interface ExecutableAction {
  readonly type: string;
  readonly params?: unknown;
}

const scopes = new WeakMap<RunMachine, AnyActorScope>();

/**
 * The scope's `self` and `system`: an actor of an empty machine. Never one of the run machine
 * itself: building an actor computes its initial state, and the run machine's, started with no
 * input and with its context updates deferred (an unstarted actor runs no actions), need not end
 * — a loop whose body is a map over nothing re-entered itself forever.
 */
const inert = () => createActor(createMachine({}));

function scopeFor(machine: RunMachine): AnyActorScope {
  let scope = scopes.get(machine);
  if (!scope) {
    const self = inert();
    scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: self.system,
      emit: () => {},
      actionExecutor: () => {},
    } as unknown as AnyActorScope;
    scopes.set(machine, scope);
  }
  return scope;
}

/** The machine's context updates (machine.ts): run as they come, never collected. */
const CONTEXT_UPDATES: ReadonlySet<string> = new Set([
  'setInput',
  'setOutput',
  'setAttempt',
  'setIteration',
  'setSelection',
  'setError',
  'setRunContext',
  'closeScopes',
  'openScope',
  'forget',
  'forgetItem',
]);

interface Resolved extends ExecutableAction {
  readonly info?: unknown;
  readonly exec?: (info: unknown, params: unknown) => void;
}

/**
 * Collects the decisions of one transition. XState hands each action over as soon as its params
 * are resolved, in order; a context update runs right then, so the params of the actions after
 * it (and the guards XState evaluates next) see the context as updated, as with `assign`.
 */
function collecting(machine: RunMachine): { scope: AnyActorScope; actions: ExecutableAction[] } {
  const scope = scopeFor(machine);
  const actions: ExecutableAction[] = [];
  (scope as unknown as { actionExecutor: (a: Resolved) => void }).actionExecutor = (a) => {
    if (CONTEXT_UPDATES.has(a.type)) a.exec?.(a.info, a.params);
    else actions.push(a);
  };
  return { scope, actions };
}

export function pureInitial(
  machine: RunMachine,
  input: RunMachineInput,
): [AnyMachineSnapshot, ExecutableAction[]] {
  const { scope, actions } = collecting(machine);
  // Plan code decides as the run was recorded (ADR 84): its flags hold for this transition.
  const snapshot = withEngineFlags(input.flags, () =>
    machine.getInitialSnapshot(scope as never, input),
  );
  return [snapshot as AnyMachineSnapshot, actions];
}

export function pureTransition(
  machine: RunMachine,
  snapshot: AnyMachineSnapshot,
  event: RunMachineEvent,
): [AnyMachineSnapshot, ExecutableAction[]] {
  const { scope, actions } = collecting(machine);
  guardFailure.error = undefined;
  try {
    const flags = (snapshot.context as RunMachineContext).flags;
    const next = withEngineFlags(flags, () =>
      machine.transition(snapshot as never, event, scope as never),
    );
    return [next as AnyMachineSnapshot, actions];
  } catch (e) {
    // Plan code in a guard throws out of the transition, rewrapped by XState: the original error
    // goes on, with what the transition decided before it, so the fold can record the outcomes
    // that were already settled (fold.ts).
    const original = guardFailure.error ?? e;
    guardFailure.error = undefined;
    if (original !== null && typeof original === 'object')
      (original as { decided?: unknown }).decided = actions;
    throw original;
  }
}
