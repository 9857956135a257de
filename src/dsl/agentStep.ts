/**
 * `agentStep`: a model step, typed by its agent id and `output` schema (ADR 90). Split out of
 * ./builder.ts, which re-exports it.
 */
import type { z } from 'zod';

import {
  type Flow,
  type InputFrom,
  type StepOptions,
  type Takes,
  flowOf,
  stepNode,
} from './builder.js';
import { withOutputSchema } from './outputSchema.js';

/** Agent ids served by the model agents (createModelAgents): their reply without `output` is text. */
export type ModelAgentId = `${'openai' | 'anthropic'}:${string}`;

/**
 * What an `agentStep` without `output` gives (ADR 90): a model's reply text, a `string`; for any
 * other id (`skill:<id>`, a port of your own, an id only known at run time) `unknown`, until a
 * step or an `output` schema says what it is.
 */
export type AgentStepOutput<A extends string> = A extends ModelAgentId ? string : unknown;

export interface AgentStepOptions<
  I,
  O,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
> extends StepOptions<I, O, M> {
  readonly config?: Readonly<Record<string, unknown>>;
}

/**
 * A model step: `agent` is a model id such as `openai:gpt-4o-mini`. With `output` (a zod schema)
 * the reply is requested as JSON, validated and typed as the schema; without it the step's output
 * is the reply text (`AgentStepOutput`). A type argument is the output type only beside `output`:
 * `agentStep<{ a: number }>('x', 'openai:m')` alone does not compile, as the run would give text.
 * With an `input` function the step takes anything, as `step` does: its request comes from that.
 */
export function agentStep<
  O,
  I = unknown,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
>(
  name: string,
  agent: string,
  opts: AgentStepOptions<I, O, M> & { readonly output: z.ZodType<O> },
): Flow<Takes<I, M>, O>;
/** `config.outputSchema` (a JSON Schema) without `output`: the reply is JSON, of no known type. */
export function agentStep<
  I = unknown,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
>(
  name: string,
  agent: string,
  opts: AgentStepOptions<I, unknown, M> & {
    readonly output?: undefined;
    readonly config: Readonly<Record<string, unknown>> & {
      readonly outputSchema: Readonly<Record<string, unknown>>;
    };
  },
): Flow<Takes<I, M>, unknown>;
export function agentStep<
  const A extends string,
  I = unknown,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
>(
  name: string,
  agent: A,
  opts?: AgentStepOptions<I, AgentStepOutput<A>, M> & {
    readonly output?: undefined;
    readonly config?: Readonly<Record<string, unknown>> & { readonly outputSchema?: undefined };
  },
): Flow<Takes<I, M>, AgentStepOutput<A>>;
export function agentStep(
  name: string,
  agent: string,
  opts?: AgentStepOptions<unknown, unknown> & { readonly output?: z.ZodType },
): Flow<unknown, unknown> {
  const config = withOutputSchema(name, opts?.output, opts?.config);
  return flowOf((path, fns) => stepNode(path, fns, name, agent, opts, config));
}
