/**
 * Where a run's input and context come from. Input precedence is Flujo's: --input (`-` reads
 * stdin), then FLUJO_INPUT, then piped stdin, then the empty string.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { ConfigError, EngineError, ErrorCode, ExitCode, LedgerEncodeError } from '../errors.js';
import { encodeCanonical } from '../events/codec.js';
import { inexactInteger } from '../jsonText.js';

export interface InputSource {
  readonly value: string;
  readonly from: '--input' | 'stdin' | 'FLUJO_INPUT' | 'empty';
}

export async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

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
    text = readFileSync(file, 'utf8');
    where = file;
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
  const bad = contextProblem(value, 'context');
  if (bad) throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: ${bad}`);
  try {
    // What the run records (RunStarted): refused here as bad --context, not by the ledger later.
    encodeCanonical(value);
  } catch (e) {
    if (!(e instanceof LedgerEncodeError)) throw e;
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${where}: ${bounded(`context.${e.path}`)} cannot be recorded: ${e.reason}`,
    );
  }
  return value as Record<string, unknown>;
}

// The ledger refuses __proto__ and context merges drop all three (src/actors/data.ts), so a run
// would fail late or silently lose the value; the command line says so before anything starts.
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * How deep a --context may nest. The ledger records 256 levels, and a run's snapshot holds the
 * context some levels down (data.state.fold.context…), so a context near that limit started a run
 * whose first pause could not be recorded.
 */
export const MAX_CONTEXT_DEPTH = 200;

interface Visit {
  readonly value: unknown;
  readonly step: string;
  readonly depth: number;
  readonly parent?: Visit;
}

const bounded = (path: string) => (path.length > 120 ? `…${path.slice(-120)}` : path);

/**
 * What is wrong with parsed --context JSON: a reserved key, or nesting past MAX_CONTEXT_DEPTH,
 * named by its path. A loop with parent links, not recursion with path strings: a context may
 * nest deeper than the stack.
 */
function contextProblem(root: unknown, rootPath: string): string | undefined {
  const pathOf = (v: Visit | undefined): string => {
    const steps: string[] = [];
    for (let at = v; at; at = at.parent) steps.push(at.step);
    return steps.reverse().join('');
  };
  const todo: Visit[] = [{ value: root, step: rootPath, depth: 0 }];
  for (let visit = todo.pop(); visit; visit = todo.pop()) {
    const { value, depth } = visit;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_CONTEXT_DEPTH)
      return `${bounded(pathOf(visit))} nests deeper than ${MAX_CONTEXT_DEPTH} levels; flatten it`;
    const list = Array.isArray(value);
    for (const [k, v] of Object.entries(value)) {
      if (!list && RESERVED.has(k))
        return `${bounded(`${pathOf(visit)}.${k}`)} is not allowed: the keys __proto__, constructor and prototype cannot be used at any depth of the context; rename it`;
      const step = list
        ? `[${k}]`
        : /^[A-Za-z_$][\w$]*$/.test(k)
          ? `.${k}`
          : `[${JSON.stringify(k)}]`;
      todo.push({ value: v, step, depth: depth + 1, parent: visit });
    }
  }
  return undefined;
}

/**
 * A human's answer on the command line: JSON when it parses, else the text itself (so
 * `--input yes` answers a string schema and `--input '{"approved":true}'` an object one).
 */
export function parseAnswer(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return text;
  }
  const big = inexactInteger(text);
  if (big !== undefined)
    throw new EngineError(ErrorCode.USAGE, `--input: ${roundedAway(big)}; nothing was recorded`, {
      exitCode: ExitCode.config,
    });
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
  const bad =
    raw === ''
      ? 'is empty'
      : raw.length > 200
        ? `is ${raw.length} characters long`
        : /[\s\p{Cc}\p{Cf}]/u.test(raw)
          ? 'contains whitespace or control characters'
          : raw.startsWith('-')
            ? 'starts with "-" (it would read as an option)'
            : undefined;
  if (!bad) return raw;
  throw new EngineError(
    ErrorCode.USAGE,
    `--run-id ${bad}: use 1 to 200 characters, none of them whitespace or control characters, not starting with "-" (for example order-1042)`,
    { exitCode: ExitCode.config },
  );
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
    'RUN is empty: give a run id or a unique prefix of one (flujo lens list shows them); nothing was done',
    { exitCode: ExitCode.config },
  );
}

/** A positive number from a flag, or a usage error naming the flag. */
export function numberFlag(
  name: string,
  raw: string | undefined,
  integer = false,
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new EngineError(
      ErrorCode.USAGE,
      `${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`,
      { exitCode: ExitCode.config },
    );
  return n;
}
