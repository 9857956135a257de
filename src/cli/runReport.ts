/**
 * How `flujo run` and `flujo resume` report a run: one JSON object (CONTRACTS.md) with --json,
 * else the output on stdout and a summary with the next commands on stderr.
 */
import { relative } from 'node:path';

import { placeOf, type FailurePlace } from '../blueprint/sourceMap.js';
import type { Plan } from '../dsl/ir.js';
import { EngineError, ExitCode, withoutCode } from '../errors.js';
import type { RunResult } from '../runtime/summary.js';
import { runJson, type ReportStatus } from '../runtime/resultJson.js';
import type { Output } from './output.js';
import { usd } from '../runtime/resultJson.js';
import { flujoCommand, runIdWords, shellWord } from './shell.js';
import { jsonText } from '../jsonText.js';
import { indentedMessage } from '../lens/format.js';

export { indentedMessage };

export { runJson, type ReportStatus } from '../runtime/resultJson.js';

/**
 * `run --json` and `resume --json`: the run as CONTRACTS gives it, and with `plan` at hand the
 * failing template's place as `error.place` (ADR 112: an added key; the message is as recorded).
 */
export function runJsonAt(r: RunResult, status: ReportStatus, plan: Plan): Record<string, unknown> {
  const json = runJson(r, status);
  const at = r.error ? placeOf(plan.ir, r.error) : undefined;
  if (!at) return json;
  return { ...json, error: { ...(json.error as object), place: placeJson(at) } };
}

export function exitCodeOf(r: RunResult): number {
  if (r.status === 'failed') return ExitCode.runtime;
  if (r.status === 'running') return ExitCode.interrupted;
  return ExitCode.ok;
}

/** An answer `schema` takes, as one shell word: the `--input` of every printed resume command. */
export const exampleAnswerWord = (schema: unknown): string =>
  shellWord(JSON.stringify(exampleFor(schema)));

/**
 * An example answer for a schema: good enough to copy, edit and paste, and one the schema takes
 * for the keywords people write by hand (`const`, `default`, `examples`, `enum`, bounds and
 * lengths, `required`, `anyOf`/`oneOf`, a list of types); anything else (a `pattern`, a `format`)
 * gives the placeholder `…` to edit.
 */
export function exampleFor(schema: unknown, depth = 0): unknown {
  if (schema === null || typeof schema !== 'object' || depth > 8) return '…';
  const s = schema as {
    type?: unknown;
    const?: unknown;
    default?: unknown;
    examples?: unknown[];
    properties?: Record<string, unknown>;
    required?: unknown[];
    enum?: unknown[];
    anyOf?: unknown[];
    oneOf?: unknown[];
    items?: unknown;
    minItems?: number;
    minimum?: number;
    exclusiveMinimum?: number;
    maximum?: number;
    exclusiveMaximum?: number;
    minLength?: number;
  };
  if ('const' in s) return s.const;
  if ('default' in s) return s.default;
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const alternatives = s.anyOf ?? s.oneOf;
  if (Array.isArray(alternatives) && alternatives.length > 0)
    return exampleFor(alternatives[0], depth + 1);
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? s.type[0]) : s.type;
  switch (type) {
    case 'object': {
      const props = Object.entries(s.properties ?? {});
      const required = new Set(Array.isArray(s.required) ? s.required : []);
      // Every property the schema names, and a placeholder for a required one it does not.
      const named = props.map(([k, v]) => [k, exampleFor(v, depth + 1)] as const);
      const unnamed = [...required]
        .filter((k): k is string => typeof k === 'string' && !props.some(([p]) => p === k))
        .map((k) => [k, '…'] as const);
      return Object.fromEntries([...named, ...unnamed]);
    }
    case 'boolean':
      return true;
    case 'number':
    case 'integer':
      return numberExample(s, type === 'integer');
    case 'array': {
      const n = typeof s.minItems === 'number' && s.minItems > 0 ? Math.min(s.minItems, 8) : 0;
      return Array.from({ length: n }, () => exampleFor(s.items, depth + 1));
    }
    case 'null':
      return null;
    default: {
      const min = typeof s.minLength === 'number' ? Math.min(s.minLength, 64) : 1;
      return '…'.repeat(Math.max(1, min));
    }
  }
}

/** 0, or the nearest number the bounds allow. */
function numberExample(
  s: { minimum?: number; exclusiveMinimum?: number; maximum?: number; exclusiveMaximum?: number },
  integer: boolean,
): number {
  let n = 0;
  if (typeof s.minimum === 'number' && n < s.minimum) n = s.minimum;
  if (typeof s.exclusiveMinimum === 'number' && n <= s.exclusiveMinimum)
    n = integer ? Math.floor(s.exclusiveMinimum) + 1 : s.exclusiveMinimum + 1;
  if (typeof s.maximum === 'number' && n > s.maximum) n = s.maximum;
  if (typeof s.exclusiveMaximum === 'number' && n >= s.exclusiveMaximum)
    n = integer ? Math.ceil(s.exclusiveMaximum) - 1 : s.exclusiveMaximum - 1;
  return integer ? Math.ceil(n) : n;
}

/**
 * `plan`: the pipeline the run ran, when it is at hand; a template or expression of a blueprint
 * that failed is then named at its file:line:column (src/blueprint/sourceMap.ts, ADR 102).
 */
export function printRun(out: Output, r: RunResult, elapsedMs: number, plan?: Plan): void {
  const id = r.runId;
  // The whole id: a prefix that is unique today may not be once more runs are recorded.
  const arg = runIdWords(id); // last on each command line: it may need `--` before it
  if (r.status === 'completed') {
    out.data(typeof r.output === 'string' ? r.output : (jsonText(r.output ?? null, 2) ?? 'null'));
    out.info(`${out.color.ok('✓')} run ${id} completed in ${(elapsedMs / 1000).toFixed(2)} s`);
  } else if (r.status === 'paused' && r.pause) {
    out.info(pausedLine(id, r.pause.step, r.pause.message));
    out.info(`  expected input (JSON Schema): ${JSON.stringify(r.pause.inputSchema)}`);
    out.info(
      `  resume: ${flujoCommand(`resume --input ${exampleAnswerWord(r.pause.inputSchema)} ${arg}`)}`,
    );
    if (r.questions) out.info(questionsHint(r.questions));
  } else if (r.status === 'failed') {
    out.info(
      `${out.color.bad('✗')} run ${id} failed: ${r.error ? `${r.error.code}: ${r.error.message}` : 'unknown error'}`,
    );
    const at = plan && r.error ? placeOf(plan.ir, r.error) : undefined;
    if (at) out.info(`  ${placeLine(at)}`);
  } else if (r.status === 'running') {
    out.info(
      `run ${id} interrupted; nothing is lost. Continue it with: ${flujoCommand(`resume ${arg}`)}`,
    );
  } else {
    out.info(`run ${id} ${r.status}`);
  }
  const steps = r.steps.length;
  out.info(
    out.color.dim(
      `  cost ${summaryUsd(r.costMicros)} · tokens ${r.tokens.input} in / ${r.tokens.output} out · ${steps} step${steps === 1 ? '' : 's'}`,
    ),
  );
  out.info(
    out.color.dim(
      `  inspect: ${flujoCommand(`lens show ${arg}`)}   replay: ${flujoCommand(`lens replay ${arg}`)}`,
    ),
  );
}

/**
 * `at pipeline.yaml:7:31, the template of step shout's input` (the file from the cwd); a label
 * that stands for several places names the others: `at a.yaml:7:31 (or b.yaml:4:12), …`.
 */
export function placeLine(at: FailurePlace): string {
  const dot = at.label.lastIndexOf('.');
  const which = at.exact ? `the ${at.what}` : `one of the ${at.what}s`;
  const of =
    at.role === undefined
      ? at.step === null
        ? at.label
        : `step ${at.step}'s ${at.label.slice(dot + 1)}`
      : at.step === null
        ? `${at.role}, run by step ${at.label.slice(0, dot)}`
        : at.role;
  const or = at.also?.length ? ` (or ${at.also.map(shownPlace).join(', ')})` : '';
  return `at ${shownPlace(at)}${or}, ${which} of ${of}`;
}

const shownPlace = (p: { file: string; line: number; column: number }) =>
  `${relative(process.cwd(), p.file) || p.file}:${p.line}:${p.column}`;

/**
 * The place as `--json` gives it beside the recorded error (ADR 112): the file as `flujo
 * validate` gives it (from the cwd), and what the text line says.
 */
export function placeJson(at: FailurePlace): Record<string, unknown> {
  const file = (p: { file: string }) => relative(process.cwd(), p.file) || p.file;
  return {
    file: file(at),
    line: at.line,
    column: at.column,
    step: at.step,
    label: at.label,
    what: at.what,
    exact: at.exact,
    ...(at.role !== undefined ? { role: at.role } : {}),
    ...(at.also?.length ? { also: at.also.map((p) => ({ ...p, file: file(p) })) } : {}),
  };
}

/** Four decimals, as the live line shows; a cost too small for them keeps its digits ($0.000006). */
export function summaryUsd(micros: number): string {
  const d = usd(micros);
  return micros > 0 && d < 0.00005 ? `$${d.toFixed(6).replace(/0+$/, '')}` : `$${d.toFixed(4)}`;
}

/**
 * Under --json a refusal is still one JSON object on stdout (CONTRACTS): the run, its status when
 * the error names one, and the error. Prints nothing for other errors.
 */
export function printRefusal(out: Output, runId: string | undefined, e: unknown): void {
  if (runId === undefined || !(e instanceof EngineError)) return;
  const status = (e.details as { status?: unknown } | undefined)?.status;
  out.json({
    run_id: runId,
    ...(typeof status === 'string' ? { status } : {}),
    error: { code: e.code, message: withoutCode(e.message) },
  });
}

/** `e` saying `message` instead: its code, exit code and details kept, `e` as the cause. */
export function resaid(e: EngineError, message: string): EngineError {
  return new EngineError(e.code, message, {
    exitCode: e.exitCode,
    details: e.details,
    cause: e,
  });
}

/**
 * A PLAN_CHANGED refusal with the library's way on ("resume with the original pipeline or allow
 * the change explicitly", which names no flag) replaced by the command's own `next`.
 */
export function planChangedSaying(e: EngineError, next: string): EngineError {
  return resaid(e, `${withoutCode(e.message).replace(/; resume with .*$/, '')}; ${next}`);
}

/** `flujo resume RUN` without --input on a run waiting for a person: the question and the command. */
export function pausedWithoutAnswer(
  e: EngineError,
  runId: string,
  pause: { step: string; message: string; inputSchema?: unknown },
  /** Said to `resume --fleet`: the answer goes the same way. */
  fleet = false,
): EngineError {
  const answer = exampleAnswerWord(pause.inputSchema);
  return new EngineError(
    e.code,
    `run ${runId} is paused for human input at step "${pause.step}": ${firstLine(pause.message)}; answer it: ${flujoCommand(`resume${fleet ? ' --fleet' : ''} --input ${answer} ${runIdWords(runId)}`)} (expected input, JSON Schema: ${JSON.stringify(pause.inputSchema ?? {})})`,
    { exitCode: e.exitCode, details: { status: 'paused' }, cause: e },
  );
}

/** The line that lists a paused run's open questions when there are several. */
export function questionsHint(questions: readonly { path: string; message: string }[]): string {
  return `  ${questions.length} questions are open (the oldest is answered first); answer one with --question PATH: ${questions.map((q) => `${q.path} ("${firstLine(q.message)}")`).join(', ')}`;
}

/** A multi-line message (an object a hitl step shows as indented JSON) in one listing. */
function firstLine(message: string): string {
  const i = message.indexOf('\n');
  return i < 0 ? message : `${message.slice(0, i)} …`;
}

/**
 * "paused at step" with the question: on the same line when it is one line, else below it,
 * indented, so an indented JSON message (ADR 77) reads as it was rendered.
 */
export function pausedLine(runId: string, step: string, message: string): string {
  return indentedMessage(`⏸ run ${runId} paused at step "${step}"`, message);
}
