/**
 * `agentStep`: a model step, typed by its agent id and `output` schema (ADR 90). Split out of
 * ./builder.ts, which re-exports it.
 */
import type { z } from 'zod';

import { type Flow, type StepOptions, flowOf, stepNode } from './builder.js';
import { withOutputSchema } from './outputSchema.js';

/** Agent ids served by the model agents (createModelAgents): their reply without `output` is text. */
export type ModelAgentId = `${'openai' | 'anthropic'}:${string}`;

/**
 * What an `agentStep` without `output` gives (ADR 90): a model's reply text, a `string`; for any
 * other id (`skill:<id>`, a port of your own, an id only known at run time) `unknown`, until a
 * step or an `output` schema says what it is.
 */
export type AgentStepOutput<A extends string> = A extends ModelAgentId ? string : unknown;

export interface AgentStepOptions<I, O> extends StepOptions<I, O> {
  readonly config?: Readonly<Record<string, unknown>>;
}

/**
 * A model step: `agent` is a model id such as `openai:gpt-4o-mini`. With `output` (a zod schema)
 * the reply is requested as JSON, validated and typed as the schema; without it the step's output
 * is the reply text (`AgentStepOutput`). A type argument is the output type only beside `output`:
 * `agentStep<{ a: number }>('x', 'openai:m')` alone does not compile, as the run would give text.
 */
export function agentStep<O, I = unknown>(
  name: string,
  agent: string,
  opts: AgentStepOptions<I, O> & { readonly output: z.ZodType<O> },
): Flow<I, O>;
/** `config.outputSchema` (a JSON Schema) without `output`: the reply is JSON, of no known type. */
export function agentStep<I = unknown>(
  name: string,
  agent: string,
  opts: AgentStepOptions<I, unknown> & {
    readonly output?: undefined;
    readonly config: Readonly<Record<string, unknown>> & {
      readonly outputSchema: Readonly<Record<string, unknown>>;
    };
  },
): Flow<I, unknown>;
export function agentStep<const A extends string, I = unknown>(
  name: string,
  agent: A,
  opts?: AgentStepOptions<I, AgentStepOutput<A>> & {
    readonly output?: undefined;
    readonly config?: Readonly<Record<string, unknown>> & { readonly outputSchema?: undefined };
  },
): Flow<I, AgentStepOutput<A>>;
export function agentStep(
  name: string,
  agent: string,
  opts?: AgentStepOptions<unknown, unknown> & { readonly output?: z.ZodType },
): Flow<unknown, unknown> {
  const config = withOutputSchema(name, opts?.output, opts?.config);
  return flowOf((path, fns) => stepNode(path, fns, name, agent, opts, config));
}
