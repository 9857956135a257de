/**
 * Whether a JSON Schema a plan carries compiles, with the options the runtime compiles it with
 * (answers and structured output both use Ajv's 2020-12 dialect, not strict): the blueprint
 * loader reports one that does not (V-K4) and the model adapter refuses it before any request,
 * so it is never a run that fails later or a pause no answer can pass.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';

const ajv = new Ajv2020({ allErrors: true, strict: false });

/** Why `schema` does not compile, or null when it does. */
export function schemaProblem(schema: unknown): string | null {
  try {
    ajv.compile(schema as object);
    ajv.removeSchema(); // each schema is checked once; keep nothing
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
