/**
 * The run machine's named implementations (XState `setup()`): context updates are `assign`s that
 * XState applies itself; decisions are no-op actions whose resolved params the runtime reads from
 * `transition()`'s result, records, and only then executes. Guards compare facts with the state
 * they are for. Nothing here does I/O or reads a clock.
 *
 * Context records (`inp`, `out`, …) are updated in place: the runtime keeps only the current
 * snapshot, and copying a record that grows with the run on every step would make long runs
 * quadratic (docs/adr/0008).
 */
import { setup } from 'xstate';

import { ENGINE_FLAGS } from '../dsl/engineFlags.js';
import type { ErrorInfo } from '../events/catalogue.js';
import { freezeDeep } from './frozen.js';
import { dropBelow, dropEntry, setEntry } from './pathIndex.js';
import type { RunMachineContext, RunMachineEvent, RunMachineInput } from './vocabulary.js';

export type Test = (context: RunMachineContext, event: RunMachineEvent) => boolean;

const noop = () => {};

/**
 * The error plan code threw in a guard during the transition running now. XState rethrows a
 * guard's error as a new plain Error carrying only the message, so the PlanCodeError (and with
 * it the run's PLAN_CODE_FAILED outcome) would be lost; pure.ts takes the original back from here.
 */
export const guardFailure: { error: unknown } = { error: undefined };

function guarded(test: Test, context: RunMachineContext, event: RunMachineEvent): boolean {
  try {
    return test(context, event);
  } catch (e) {
    guardFailure.error = e;
    throw e;
  }
}

export const runMachineSetup = setup({
  types: {
    context: {} as RunMachineContext,
    events: {} as RunMachineEvent,
    input: {} as RunMachineInput,
  },
  actions: {
    // Decisions: recorded by the runtime from their params, in order.
    scheduleStep: noop,
    callAgent: noop,
    scheduleTimer: noop,
    completeStep: noop,
    failStep: noop,
    selectBranch: noop,
    startIteration: noop,
    requestHuman: noop,
    completeRun: noop,
    failRun: noop,
    // Not recorded: the fold drops the wait from what is outstanding (vocabulary.ts `Release`).
    release: noop,
    // Context updates: run by the action collector at once, in order (src/actors/pure.ts), on
    // the context in place. Not `assign`: XState copies the context and clones the snapshot for
    // every assign, about a third of a step's transition time, for records that are updated in
    // place anyway. Every record changes through pathIndex.ts, which keeps its index (ADR 97)
    // and the journal a snapshot's delta is read from (ADR 103).
    setInput: ({ context }, p: { path: string; value: unknown }) => {
      setEntry(context.inp, p.path, freezeDeep(p.value));
    },
    setOutput: ({ context }, p: { path: string; value: unknown }) => {
      setEntry(context.out, p.path, freezeDeep(p.value));
    },
    setAttempt: ({ context }, p: { path: string; attempt: number }) => {
      setEntry(context.att, p.path, p.attempt);
    },
    setIteration: ({ context }, p: { loop: string; iteration: number }) => {
      setEntry(context.it, p.loop, p.iteration);
    },
    setSelection: ({ context }, p: { path: string; branch: string }) => {
      setEntry(context.sel, p.path, p.branch);
    },
    setError: ({ context }, p: { path: string; error: ErrorInfo }) => {
      setEntry(context.err, p.path, freezeDeep(p.error));
    },
    // A run context is replaced, never changed in place (ADR 39): frozen, so no code can.
    setRunContext: ({ context }, p: { scope: string | null; ctx: Record<string, unknown> }) => {
      if (p.scope === null) context.ctx = freezeDeep(p.ctx);
      else setEntry(context.bctx, p.scope, freezeDeep(p.ctx));
    },
    /**
     * A sequence has moved past a child, or a loop past an iteration: what that node and the
     * nodes inside it kept by runtime path is read by nothing any more (runtime paths are never entered twice: loops, maps and
     * state machines put the iteration or visit in the path). Dropping it keeps the context, and
     * so every snapshot, the size of what is running rather than of the run so far (ADR 38).
     * What lies below the path is found by an index, not a scan of the record (ADR 97): every
     * record is changed only through pathIndex.ts, which keeps it.
     */
    forget: ({ context }, p: { path: string; inner: boolean }) => {
      for (const rec of [context.inp, context.out, context.att, context.err, context.sel]) {
        dropEntry(rec, p.path);
        if (p.inner) dropBelow(rec, p.path);
      }
    },
    /**
     * A map item completed (ADR 109): all it kept but its output, which the map gathers when it
     * ends, is read by nothing any more. Only in runs recorded with the flag: the context, and so
     * every snapshot, of a run recorded before keeps it until the map ends, as it did.
     */
    forgetItem: ({ context }, p: { path: string }) => {
      if (!context.flags?.includes(ENGINE_FLAGS.mapItemKeepsOnlyOutput)) return;
      for (const rec of [context.inp, context.att, context.err, context.sel]) {
        dropEntry(rec, p.path);
        dropBelow(rec, p.path);
      }
      dropBelow(context.out, p.path);
    },
    /** A fan-out node is left: its branches' context copies are merged or moot by now. */
    closeScopes: ({ context }, p: { keys: readonly string[] }) => {
      for (const k of p.keys) dropEntry(context.bctx, k);
    },
    openScope: ({ context }, p: { key: string; from: Record<string, unknown> }) => {
      // Frozen all the way down (ADR 40): a branch's context starts as the very same object.
      setEntry(context.bctx, p.key, freezeDeep(p.from));
    },
  },
  guards: {
    /** The fact is for this path (and attempt / timer, when given). */
    isFact: ({ context, event }, p: { test: Test }) => guarded(p.test, context, event),
    /** A child node ended in its `ok` final state. */
    succeeded: ({ event }) =>
      (event as unknown as { output?: { ok?: boolean } }).output?.ok === true,
    /** A condition of the plan over the current context and event. */
    holds: ({ context, event }, p: { test: Test }) => guarded(p.test, context, event),
  },
});

export type RunMachine = ReturnType<typeof runMachineSetup.createMachine>;
