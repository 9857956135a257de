/**
 * A new run's first commit: RunStarted (the pipeline's fingerprint, the run's input, context and
 * budget, the engine's version and flags) and the first claim, with the decisions they cause,
 * appended from the genesis head, so a run id already taken is refused by the append itself.
 */
import { startFold } from '../actors/fold.js';
import type { RunMachine } from '../actors/machine.js';
import { isDeepStrictEqual } from 'node:util';

import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../dsl/engineFlags.js';
import type { Plan } from '../dsl/ir.js';
import { emptyHead } from '../events/envelope.js';
import type { Clock } from '../ports.js';
import { RunDriver, type DriverDeps } from './driver.js';
import type { RunOptions } from './engineTypes.js';
import { RunSummary } from './summary.js';

export const ENGINE_VERSION = '0.1.0';

/** What a start needs of the engine. */
export interface StartDeps {
  readonly clock: Clock;
  /** This process's name in RunClaimed events. */
  readonly worker: string;
  readonly compiledOf: (plan: Plan) => { machine: RunMachine; fingerprint: string };
  /** What a driver of the run needs; `fingerprint` is the run's recorded one. */
  readonly driverDeps: (plan: Plan, fingerprint: string | undefined) => DriverDeps;
}

/** A new run's first commit, from the genesis head: refused if the run id is taken. */
export async function firstCommit(
  deps: StartDeps,
  plan: Plan,
  runId: string,
  input: unknown,
  opts: RunOptions,
  onFirst: () => void,
): Promise<RunDriver> {
  const { clock, worker, compiledOf } = deps;
  const machine = compiledOf(plan).machine;
  const at = clock.now();
  const started = {
    type: 'RunStarted' as const,
    data: {
      pipeline: {
        name: plan.ir.name,
        fingerprint: compiledOf(plan).fingerprint,
        ...(opts.source !== undefined ? { source: opts.source } : {}),
      },
      input,
      ...(opts.context ? { context: contextToRecord(opts.context, input) } : {}),
      ...(opts.budget ? { budget: opts.budget } : {}),
      engine: { version: ENGINE_VERSION, flags: [...CURRENT_ENGINE_FLAGS] },
      ...(opts.retried ? { retried: { ...opts.retried } } : {}),
    },
  };
  const { state, decisions } = startFold(machine, { runId, seq: 1, v: 1, at, ...started });
  const runDeps = deps.driverDeps(plan, compiledOf(plan).fingerprint);
  const driver = new RunDriver(
    {
      ...runDeps,
      onRecorded: (id) => {
        onFirst();
        runDeps.onRecorded?.(id);
      },
    },
    machine,
    state,
    emptyHead(runId),
    1,
    new RunSummary(runId),
  );
  await driver.commit([started, { type: 'RunClaimed', data: { worker, epoch: 1 } }], decisions, at);
  return driver;
}

/**
 * The context `RunStarted` records (ADR 110): without an `initial_prompt` equal to the input, which
 * the run's context takes from `input` (compilePlan's context: `{initial_prompt: input,
 * ...context}`, the same value in the same place), so an 8 MiB input is not recorded twice. The
 * engine applies it to the caller's values before measuring the context (so the limit bounds what
 * is recorded) and firstCommit again to the run's own copies: values equal as given are equal as
 * recorded, and two that only become equal when recorded are stripped there.
 */
export function contextToRecord(
  context: Readonly<Record<string, unknown>>,
  input: unknown,
): Readonly<Record<string, unknown>> {
  if (!CURRENT_ENGINE_FLAGS.includes(ENGINE_FLAGS.runInputRecordedOnce)) return context;
  if (
    !Object.hasOwn(context, 'initial_prompt') ||
    !isDeepStrictEqual(context.initial_prompt, input)
  )
    return context;
  const { initial_prompt: _, ...rest } = context;
  return rest;
}
