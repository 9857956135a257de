/**
 * The typed front door: `const flujo = createFlujo({ ledger })`, then
 * `const r = await flujo.run(pipeline, input)` where `r.output` has the pipeline's output type.
 */
import type { Pipeline } from '../dsl/builder.js';
import {
  createEngine,
  type EngineOptions,
  type ReplayResult,
  type ResumeOptions,
  type RunOptions,
} from './engine.js';
import type { RunResult } from './summary.js';

export type TypedRunResult<O> = Omit<RunResult, 'output'> & { readonly output?: O };

export function createFlujo(options: EngineOptions) {
  const engine = createEngine(options);
  return {
    engine,
    run<I, O>(pipeline: Pipeline<I, O>, input: I, opts?: RunOptions): Promise<TypedRunResult<O>> {
      return engine.run(pipeline.plan, input, opts) as Promise<TypedRunResult<O>>;
    },
    resume<I, O>(
      pipeline: Pipeline<I, O>,
      runId: string,
      opts?: ResumeOptions,
    ): Promise<TypedRunResult<O>> {
      return engine.resume(pipeline.plan, runId, opts) as Promise<TypedRunResult<O>>;
    },
    replay<I, O>(pipeline: Pipeline<I, O>, runId: string): Promise<ReplayResult> {
      return engine.replay(pipeline.plan, runId);
    },
    cancel: engine.cancel,
    events: engine.events,
    watch: engine.watch,
  };
}
