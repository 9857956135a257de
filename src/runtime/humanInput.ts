/**
 * Checks a human's answer against the schema its request recorded. Compiling a JSON Schema costs
 * far more than the rest of a resume, and the same few schemas recur, so compiled validators are
 * kept (bounded) by the schema's JSON text, for the whole process (src/dsl/jsonSchema.ts, ADR 53):
 * an engine created for one resume finds them compiled by the ones before it.
 */
import { compiledSchema } from '../dsl/jsonSchema.js';
import { EngineError, ErrorCode, LedgerEncodeError } from '../errors.js';
import type { FoldState } from '../actors/fold.js';
import type { NewEvent } from '../events/catalogue.js';
import { decodeCanonical } from '../events/codec.js';
import { inputProblem, InputLimitError, type InputProblem } from './inputLimits.js';

export class AnswerValidator {
  private validatorOf(runId: string, schema: unknown) {
    try {
      return compiledSchema(schema);
    } catch (e) {
      // Loaders check schemas now (V-K4); a run recorded before that can never be answered.
      throw new EngineError(
        ErrorCode.RUN_NOT_RESUMABLE,
        `run ${runId}: the question's recorded input schema is not a valid JSON Schema (${(e as Error).message}), so no answer can be checked against it; cancel the run and start it again with a fixed pipeline`,
        { details: { runId, status: 'paused' } },
      );
    }
  }

  /** Throws HUMAN_INPUT_REJECTED with every reason when the answer does not match. */
  check(runId: string, schema: unknown, value: unknown): void {
    const validate = this.validatorOf(runId, schema);
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

  /** The largest answer taken, as recorded (ADR 100). */
  private readonly maxBytes: number | undefined;
  constructor(maxBytes?: number) {
    this.maxBytes = maxBytes;
  }

  /**
   * The answer as recorded, checked against the schema. One that cannot be recorded (nested too
   * deep, a Date) or is over the limits of ADR 100 is rejected as a human's input is, with the
   * schema's reasons when it breaks the schema too.
   */
  recorded(runId: string, schema: unknown, input: unknown): unknown {
    let checked: ReturnType<typeof inputProblem>;
    try {
      checked = inputProblem(input, 'humanInput', this.maxBytes);
    } catch (e) {
      if (!(e instanceof LedgerEncodeError)) throw e;
      this.check(runId, schema, input);
      throw new EngineError(
        ErrorCode.HUMAN_INPUT_REJECTED,
        `run ${runId}: the input cannot be recorded: ${e.message}`,
        { details: { runId, reasons: [e.message] } },
      );
    }
    if (checked.problem || !checked.bytes) {
      this.check(runId, schema, input);
      throw new InputLimitError('humanInput', checked.problem as InputProblem, runId);
    }
    const answer = decodeCanonical(checked.bytes);
    this.check(runId, schema, answer);
    return answer;
  }

  /**
   * The HumanInputReceived event for an answer to one of the run's open questions — the one
   * `question` names, else the oldest — checked against that question's schema. A run that is
   * not waiting, or a question that is not open, is refused and nothing is recorded.
   */
  answerEvent(
    runId: string,
    state: FoldState,
    ended: boolean,
    opts: { humanInput?: unknown; answeredBy?: string; question?: string },
  ): NewEvent {
    const open = [...state.outstanding.human.values()];
    if (!ended && opts.question !== undefined && !state.outstanding.human.has(opts.question))
      throw new EngineError(
        ErrorCode.RUN_NOT_RESUMABLE,
        `run ${runId} has no open question at ${JSON.stringify(opts.question)}${open.length ? `; open: ${open.map((h) => h.path).join(', ')}` : ''}; the answer was not recorded`,
        { details: { runId, status: state.status, open: open.map((h) => h.path) } },
      );
    const ask = ended
      ? undefined
      : opts.question !== undefined
        ? state.outstanding.human.get(opts.question)
        : open[0];
    if (!ask)
      throw new EngineError(
        ErrorCode.RUN_NOT_RESUMABLE,
        `run ${runId} is ${ended ? state.status : 'not paused'}: it is not waiting for human input, and the answer was not recorded`,
        { details: { runId, status: state.status } },
      );
    const answer = this.recorded(runId, ask.inputSchema, opts.humanInput);
    return {
      type: 'HumanInputReceived',
      data: {
        path: ask.path,
        input: answer,
        ...(opts.answeredBy ? { by: opts.answeredBy } : {}),
      },
    };
  }
}

/**
 * Questions a run waited on before a fact and does not after it, other than the one the fact
 * answered: their branch was left (ADR 45). As markers, recorded with the fact.
 */
export function withdrawnAsks(
  asked: readonly string[],
  stillAsked: ReadonlyMap<string, unknown>,
  fact: NewEvent,
): NewEvent[] {
  if (asked.length === 0) return [];
  const answered = fact.type === 'HumanInputReceived' ? fact.data.path : null;
  return asked
    .filter((path) => path !== answered && !stillAsked.has(path))
    .map((path) => ({ type: 'HumanInputWithdrawn', data: { path } }));
}

/**
 * An answer to a run that is not resting on its questions: other work of it is still out (a
 * call in flight, a retry's timer), and the run pauses only once that settles. Recording the
 * answer means taking the run over, which sends that work again while the process driving it
 * may still be waiting for it (ADR 133): refused, nothing recorded. A run whose process died
 * with work out is taken up by a resume without an answer first; it then rests and is answered.
 */
export function refuseAnswerWhileWorkIsOut(
  runId: string,
  state: FoldState,
  steps: () => readonly { readonly path: string; readonly name: string }[],
): void {
  const o = state.outstanding;
  // A run that asks nothing is refused as not waiting for input (answerEvent), as before.
  if (state.status === 'paused' || o.human.size === 0) return;
  if (o.calls.size === 0 && o.timers.size === 0) return;
  const names = new Map(steps().map((s) => [s.path, s.name]));
  const step = (path: string) => `step "${names.get(path) ?? path}"`;
  const out = [
    ...[...o.calls.values()].map((c) => `${step(c.path)} (a call in flight)`),
    ...[...o.timers.values()].map((t) => `${step(t.decision.path)} (a retry's wait)`),
  ];
  const shown = out.slice(0, 5).join(', ') + (out.length > 5 ? ` and ${out.length - 5} more` : '');
  throw new EngineError(
    ErrorCode.RUN_NOT_RESUMABLE,
    `run ${runId} is still running: its work at ${shown} has not settled, so the run is not waiting for an answer yet, and the answer was not recorded. Answer once the run pauses; if the process that drove it has stopped, take the run up first by resuming it without an answer (it runs until it pauses), then answer`,
    { details: { runId, status: 'running', outstanding: out } },
  );
}
