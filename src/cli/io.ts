/**
 * Where a run's input and context come from. Input precedence is Flujo's: --input (`-` reads
 * stdin), then FLUJO_INPUT, then piped stdin, then the empty string.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { utf8TextOf } from '../adapters/fs/utf8Text.js';
import { ConfigError, EngineError, ErrorCode, ExitCode, LedgerEncodeError } from '../errors.js';
import { encodeCanonical } from '../events/codec.js';
import { inexactInteger } from '../jsonText.js';
import {
  boundedPath,
  DEFAULT_MAX_INPUT_BYTES,
  inputProblem,
  MAX_INPUT_DEPTH,
  pathStep,
  sentence,
  shapeProblem,
  type InputProblem,
} from '../runtime/inputLimits.js';
import { answererProblem, RUN_ID_FLAG_RULE, runIdProblem } from '../runtime/options.js';
import { flujoCommand } from './shell.js';

export interface InputSource {
  readonly value: string;
  readonly from: '--input' | 'stdin' | 'FLUJO_INPUT' | 'empty';
}

export async function readStdin(
  stdin: NodeJS.ReadableStream,
  /** What bytes that are not UTF-8 make: a run's input is a usage error, an answer is refused. */
  refuse: (message: string) => Error = (message) =>
    new EngineError(ErrorCode.USAGE, message, {
      exitCode: ExitCode.config,
      details: { where: 'stdin', kind: 'encoding' },
    }),
): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  // Not decoded leniently: each bad byte became U+FFFD, recorded as if the person had sent it.
  return utf8TextOf(
    Buffer.concat(chunks),
    'stdin',
    refuse,
    'send UTF-8 text (iconv -t UTF-8 converts it); nothing was recorded',
  ).replace(/\r?\n$/, '');
}

/** An answer on stdin that is not UTF-8: refused as an answer the run cannot take (exit 1). */
export const answerNotUtf8 = (message: string): Error =>
  new EngineError(ErrorCode.HUMAN_INPUT_REJECTED, message, {
    exitCode: ExitCode.runtime,
    details: { where: '--input', kind: 'encoding', reasons: [message] },
  });

export async function readInput(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  stdin: NodeJS.ReadStream,
): Promise<InputSource> {
  if (flag === '-') return { value: await readStdin(stdin), from: 'stdin' };
  if (flag !== undefined) return { value: flag, from: '--input' };
  if (env.FLUJO_INPUT !== undefined) return { value: env.FLUJO_INPUT, from: 'FLUJO_INPUT' };
  if (!stdin.isTTY) return { value: await readStdin(stdin), from: 'stdin' };
  return { value: '', from: 'empty' };
}

/** `--context '{"a":1}'` or `--context @file.json`: a JSON object merged into the run context. */
export function parseContextFlag(flag: string, cwd: string): Record<string, unknown> {
  let text = flag;
  let where = '--context';
  if (flag.startsWith('@')) {
    const file = resolve(cwd, flag.slice(1));
    if (!existsSync(file))
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `--context: ${file} does not exist`);
    where = file;
    text = utf8TextOf(
      readFileSync(file),
      file,
      (message) => new ConfigError(ErrorCode.CONFIG_INVALID, `--context: ${message}`),
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${where}: not valid JSON (${(e as Error).message}); pass an object such as '{"user": "ada"}'`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: the context must be a JSON object`);
  const big = inexactInteger(text);
  if (big !== undefined)
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: ${roundedAway(big)}`);
  const reserved = reservedKey(value, 'context');
  if (reserved) throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: ${reserved}`);
  const shape = shapeProblem(value, 'context');
  if (shape) throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: ${shape.text}`);
  try {
    // What the run records (RunStarted): refused here as bad --context, not by the ledger later.
    encodeCanonical(value);
  } catch (e) {
    if (!(e instanceof LedgerEncodeError)) throw e;
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${where}: ${boundedPath(`context.${e.path}`)} cannot be recorded: ${e.reason}`,
    );
  }
  return value as Record<string, unknown>;
}

// The ledger refuses __proto__ and context merges drop all three (src/actors/data.ts), so a run
// would fail late or silently lose the value; the command line says so before anything starts.
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** How deep a --context may nest: as deep as any value given to a run (ADR 96, ADR 100). */
export const MAX_CONTEXT_DEPTH = MAX_INPUT_DEPTH;

interface Visit {
  readonly value: unknown;
  readonly step: string;
  readonly depth: number;
  readonly parent?: Visit;
}

/**
 * A reserved key in parsed --context JSON, named by its path, down to the depth limit (deeper,
 * the depth is refused instead). A loop with parent links, not recursion with path strings: a
 * context may nest deeper than the stack.
 */
function reservedKey(root: unknown, rootPath: string): string | undefined {
  const pathOf = (v: Visit | undefined): string => {
    const steps: string[] = [];
    for (let at = v; at; at = at.parent) steps.push(at.step);
    return steps.reverse().join('');
  };
  const todo: Visit[] = [{ value: root, step: rootPath, depth: 0 }];
  for (let visit = todo.pop(); visit; visit = todo.pop()) {
    const { value, depth } = visit;
    if (typeof value !== 'object' || value === null || depth >= MAX_CONTEXT_DEPTH) continue;
    const list = Array.isArray(value);
    for (const [k, v] of Object.entries(value)) {
      if (!list && RESERVED.has(k))
        return `${boundedPath(`${pathOf(visit)}.${k}`)} is not allowed: the keys __proto__, constructor and prototype cannot be used at any depth of the context; rename it`;
      todo.push({ value: v, step: pathStep(k, list), depth: depth + 1, parent: visit });
    }
  }
  return undefined;
}

/**
 * Refuses a value given on the command line (`where`: the flag or the source) that is over the
 * run's limits (ADR 100), as `code` with exit 2, before anything is recorded. `root` names the
 * value in the path of a problem inside it.
 */
export function checkGiven(
  value: unknown,
  where: string,
  root: string,
  maxBytes: number = DEFAULT_MAX_INPUT_BYTES,
  code:
    | typeof ErrorCode.USAGE
    | typeof ErrorCode.CONFIG_INVALID
    | typeof ErrorCode.HUMAN_INPUT_REJECTED = ErrorCode.USAGE,
): void {
  let problem: InputProblem | undefined;
  try {
    problem = inputProblem(value, root, maxBytes).problem;
  } catch (e) {
    // Not recordable otherwise (a __proto__ key in an answer): refused where it is recorded.
    if (!(e instanceof LedgerEncodeError)) throw e;
  }
  if (!problem) return;
  const message = `${where}: ${sentence(problem)}${code !== ErrorCode.CONFIG_INVALID ? '; nothing was recorded' : ''}`;
  const details = { where, kind: problem.kind, measured: problem.measured, limit: problem.limit };
  if (code === ErrorCode.CONFIG_INVALID) throw new ConfigError(code, message, details);
  // A resume answer the run cannot take exits 1, as CONTRACTS says of a rejected resume input.
  throw code === ErrorCode.HUMAN_INPUT_REJECTED
    ? new EngineError(code, message, {
        exitCode: ExitCode.runtime,
        details: { ...details, reasons: [sentence(problem)] },
      })
    : new EngineError(code, message, { exitCode: ExitCode.config, details });
}

/**
 * A human's answer on the command line: JSON when it parses, else the text itself (so
 * `--input yes` answers a string schema and `--input '{"approved":true}'` an object one). One the
 * run could not record as given is a rejected resume input: HUMAN_INPUT_REJECTED, exit 1, with
 * its `reasons`, as an answer that breaks the question's schema (CONTRACTS; ADR 105).
 */
export function parseAnswer(text: string, maxBytes?: number): unknown {
  const rejected = ErrorCode.HUMAN_INPUT_REJECTED;
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    checkGiven(text, '--input', 'answer', maxBytes, rejected);
    return text;
  }
  const big = inexactInteger(text);
  if (big !== undefined)
    throw new EngineError(rejected, `--input: ${roundedAway(big)}; nothing was recorded`, {
      exitCode: ExitCode.runtime,
      details: { where: '--input', kind: 'integer', reasons: [roundedAway(big)] },
    });
  checkGiven(value, '--input', 'answer', maxBytes, rejected);
  return value;
}

/** Why an integer beyond 2^53 − 1 is refused rather than recorded as the double JSON.parse makes. */
const roundedAway = (n: string) =>
  `${n} is an integer beyond 2^53 - 1, which a JSON number does not keep exactly (it would be recorded as ${String(Number(n))}); send it as a string ("${n}")`;

/**
 * `--run-id`: any id a person can type back as one shell word, quoted or not. The hints print it
 * whole, and the lens commands find a run by its whole id before trying it as a prefix.
 */
export function runIdFlag(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  // The engine refuses the same ids for a new run (ADR 117).
  const bad = runIdProblem(raw, true);
  if (!bad) return raw;
  throw new EngineError(ErrorCode.USAGE, `--run-id ${bad}: ${RUN_ID_FLAG_RULE}`, {
    exitCode: ExitCode.config,
  });
}

/** `resume --by`: who answers, as recorded; one line of text (answererProblem). */
export function byFlag(raw: string | undefined): string | undefined {
  const bad = raw === undefined ? undefined : answererProblem(raw);
  if (!bad) return raw;
  throw new EngineError(ErrorCode.USAGE, `--by ${bad}; nothing was recorded`, {
    exitCode: ExitCode.config,
  });
}

/**
 * RUN of `resume`, `cancel` and the lens commands: an id or a unique prefix. An empty one (an
 * unset shell variable, `flujo cancel "$RUN"`) is a prefix of every id, so it would act on a
 * ledger's only run (`lens costs ""`: on every run).
 */
export function runArgument(raw: string): string {
  if (raw.trim() !== '') return raw;
  throw new EngineError(
    ErrorCode.USAGE,
    `RUN is empty: give a run id or a unique prefix of one (${flujoCommand('lens list')} shows them); nothing was done`,
    { exitCode: ExitCode.config },
  );
}

/** A positive number from a flag, or a usage error naming the flag. */
/** A number written in decimal: `12`, `0.5`, `.5`, `1e3`. */
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

export function numberFlag(
  name: string,
  raw: string | undefined,
  integer = false,
): number | undefined {
  if (raw === undefined) return undefined;
  // Decimal notation only: Number() also reads '0x10' as 16, '0b11' as 3 and '' as 0, so
  // `--budget-usd 0x10` was a $16 budget and `--budget-usd ""` a budget of nothing.
  const n = DECIMAL.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isSafeInteger(n)))
    throw new EngineError(
      ErrorCode.USAGE,
      `${name} must be a non-negative ${integer ? 'whole number (at most 2^53 - 1)' : 'decimal number'}, got ${JSON.stringify(raw)}`,
      { exitCode: ExitCode.config },
    );
  return n;
}
