/**
 * Checks a human's answer against the schema its request recorded. Compiling a JSON Schema costs
 * far more than the rest of a resume, and the same few schemas recur, so compiled validators are
 * kept (bounded) by the schema's JSON text.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';

import { EngineError, ErrorCode } from '../errors.js';

const MAX_CACHED = 256;

export class AnswerValidator {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false });
  private readonly compiled = new Map<string, ReturnType<Ajv2020['compile']>>();

  private validatorOf(schema: unknown) {
    const key = JSON.stringify(schema);
    let v = this.compiled.get(key);
    if (!v) {
      if (this.compiled.size >= MAX_CACHED) this.compiled.clear();
      v = this.ajv.compile(schema as object);
      this.compiled.set(key, v);
    }
    return v;
  }

  /** Throws HUMAN_INPUT_REJECTED with every reason when the answer does not match. */
  check(runId: string, schema: unknown, value: unknown): void {
    const validate = this.validatorOf(schema);
    if (validate(value)) return;
    const reasons = (validate.errors ?? []).map(
      (e) => `${e.instancePath || '(input)'} ${e.message ?? 'is invalid'}`,
    );
    throw new EngineError(
      ErrorCode.HUMAN_INPUT_REJECTED,
      `run ${runId}: the input does not match the requested schema: ${reasons.join('; ')}`,
      { details: { runId, reasons } },
    );
  }
}
