/** zod types as the JSON Schema a model or a person is given (agentStep output, hitl answer). */
import { z } from 'zod';

import { PlanBuildError } from './checks.js';

/**
 * `schema` as JSON Schema, for the step `name`'s `output` (sent to a model) or `answer` (shown to
 * a person and checked on resume). A zod type with no JSON Schema form (a transform, a date) is a
 * PlanBuildError naming the step, as the builder's other refusals (it was a plain Error).
 */
export function schemaOf(
  name: string,
  what: 'output' | 'answer',
  schema: z.ZodType,
): Record<string, unknown> {
  try {
    return z.toJSONSchema(schema) as Record<string, unknown>;
  } catch (e) {
    const to = what === 'output' ? 'sent to a model' : 'given to a person';
    throw new PlanBuildError(
      `${name}: the ${what} schema cannot be ${to} as JSON Schema (${(e as Error).message}); use plain data types`,
      { cause: e },
    );
  }
}

/** The zod output type travels to the model as JSON Schema (config.outputSchema). */
export function withOutputSchema(
  name: string,
  output: z.ZodType | undefined,
  config: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!output || config?.outputSchema !== undefined) return config;
  return { ...config, outputSchema: schemaOf(name, 'output', output) };
}
