/** zod types as the JSON Schema a model or a person is given (agentStep output, hitl answer). */
import { z } from 'zod';

/** The zod output type travels to the model as JSON Schema (config.outputSchema). */
export function withOutputSchema(
  name: string,
  output: z.ZodType | undefined,
  config: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!output || config?.outputSchema !== undefined) return config;
  let schema: Record<string, unknown>;
  try {
    schema = z.toJSONSchema(output) as Record<string, unknown>;
  } catch (e) {
    throw new Error(
      `${name}: the output schema cannot be sent to a model as JSON Schema (${(e as Error).message}); use plain data types`,
      { cause: e },
    );
  }
  return { ...config, outputSchema: schema };
}

export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema) as Record<string, unknown>;
}
