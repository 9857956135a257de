/**
 * The engine's options and a run's options, checked before anything is recorded (ADR 117). The
 * command line checks its own flags and flujo.toml the same way; these are for library callers
 * (and fleet start messages), whose values reached the ledger as given: a negative budget failed
 * the run's first call as "over the limit of $-0.000001", a NaN one was refused by the ledger
 * naming no option, a snapshotEvery of NaN snapshotted at every batch, a maxInputBytes of NaN
 * refused every input as "over the limit of NaN bytes", and an empty run id or one holding a
 * newline was recorded.
 */
import { wholeNumberProblem } from '../dsl/checks.js';
import { EngineError, ErrorCode, ExitCode } from '../errors.js';
import type { EngineOptions, RunOptions } from './engineTypes.js';

/** The largest `maxInputBytes` (flujo.toml's max_input_bytes takes the same range). */
export const MAX_INPUT_BYTES_LIMIT = 256 * 1024 * 1024;

const shown = (v: unknown) =>
  typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));

const usage = (message: string) =>
  new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });

/**
 * Why a run id cannot name a new run, or undefined: 1 to 200 characters, none of them whitespace,
 * control or format characters, not dots alone. Every lens command and hint prints it as one
 * shell word, a fleet message carries it in a NATS subject and the web lens in a URL path. `--run-id` also refuses a leading "-" (`option`);
 * the library takes one, which the hints print after `--`.
 */
export function runIdProblem(id: unknown, option = false): string | undefined {
  if (typeof id !== 'string') return `is not a string (${shown(id)})`;
  if (id === '') return 'is empty';
  if (id.length > 200) return `is ${id.length} characters long`;
  if (/[\s\p{Cc}\p{Cf}]/u.test(id)) return 'contains whitespace or control characters';
  // `.` and `..` are the path segments a URL drops (the web lens's /api/runs/ID); any id of dots
  // alone is refused, so no run's address depends on how many dots it has (ADR 154).
  if (/^\.+$/.test(id)) return 'is only dots (a web address drops "." and "..")';
  if (option && id.startsWith('-')) return 'starts with "-" (it would read as an option)';
  return undefined;
}

/**
 * Why a name given for who answers (`flujo resume --by`, the web lens's `by`) cannot be recorded,
 * or undefined: a control character (a newline, a tab, ESC…), a line or paragraph separator, or
 * a bidirectional control. `lens show` printed `by` as recorded, so `--by $'a\nFAKE LINE'` forged a
 * line of its output. A run recorded with one keeps it; the lens prints it escaped.
 */
export function answererProblem(by: string): string | undefined {
  return /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u.test(by)
    ? `holds a control character (${JSON.stringify(by)}): give a name on one line, e.g. ana or "Ana Ruiz"`
    : undefined;
}

/** What `--run-id` takes (runIdProblem with `option`). */
export const RUN_ID_FLAG_RULE =
  'use 1 to 200 characters, none of them whitespace or control characters, not only dots, not starting with "-" (for example order-1042)';

const RUN_ID_RULE =
  'use 1 to 200 characters, none of them whitespace or control characters, not only dots (for example order-1042)';

/** Throws USAGE for an engine option no run could use; called by createEngine. */
export function checkEngineOptions(options: EngineOptions): void {
  const fields: [string, unknown, number, number?][] = [
    ['snapshotEvery', options.snapshotEvery, 0],
    ['maxCallsInFlight', options.maxCallsInFlight, 1],
    ['maxInputBytes', options.maxInputBytes, 1, MAX_INPUT_BYTES_LIMIT],
  ];
  for (const [name, value, min, max] of fields) {
    if (value === undefined) continue;
    const problem = wholeNumberProblem(value, min, max);
    if (problem) throw usage(`${name} ${problem}`);
  }
}

/**
 * Throws USAGE for a new run's id or options that cannot be recorded as meant: its id
 * (runIdProblem), a budget that is not whole micro-dollars or tokens of at least 0, a context
 * that is not a plain object. Nothing has been recorded.
 */
export function checkRunOptions(runId: unknown, opts: RunOptions): void {
  const idProblem = runIdProblem(runId);
  if (idProblem) throw usage(`run id ${idProblem}: ${RUN_ID_RULE}; nothing was recorded`);
  const budget = opts.budget as Record<string, unknown> | undefined;
  if (budget !== undefined) {
    if (budget === null || typeof budget !== 'object' || Array.isArray(budget))
      throw usage(`budget must be an object { costMicros?, tokens? }, got ${shown(budget)}`);
    for (const field of ['costMicros', 'tokens'] as const) {
      if (budget[field] === undefined) continue;
      const problem = wholeNumberProblem(budget[field], 0);
      if (problem)
        throw usage(
          `budget.${field} ${problem}${field === 'costMicros' ? ' (micro-dollars: $0.25 is 250000)' : ''}; nothing was recorded`,
        );
    }
  }
  const ctx = opts.context as unknown;
  // null, as undefined, is no context (review: it always was).
  if (ctx !== undefined && ctx !== null) {
    const proto = ctx !== null && typeof ctx === 'object' ? Object.getPrototypeOf(ctx) : undefined;
    if (proto !== Object.prototype && proto !== null)
      throw usage(
        `context must be a plain object of named values, got ${Array.isArray(ctx) ? 'an array' : ctx === null ? 'null' : typeof ctx === 'object' ? 'an instance of a class' : typeof ctx}; nothing was recorded`,
      );
  }
}
