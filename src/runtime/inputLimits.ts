/**
 * Bounds on a value a person or a caller gives a run: its input, its context, an answer to a
 * question (ADR 100). One check for every way in (the command line, the library, the fleet, the
 * web lens), made before anything is recorded:
 *
 * - no non-finite number (JSON's `1e400` parses to Infinity, which the ledger cannot record);
 * - at most MAX_INPUT_DEPTH levels of nesting: the ledger records 256, and the engine keeps a
 *   value some levels further down than it was given (a pause's snapshot holds an answer at
 *   data.state.fold.contextChanges.fields.ctx.resume_input, seven levels in), so an answer 250
 *   deep was recorded and then broke the next pause's commit;
 * - at most `maxBytes` as recorded (its canonical CBOR), DEFAULT_MAX_INPUT_BYTES unless the
 *   engine is told otherwise (`[settings] max_input_bytes` in flujo.toml).
 */
import { recordedBytes } from '../actors/frozen.js';
import { EngineError, ErrorCode, ExitCode } from '../errors.js';
import { decodeCanonical } from '../events/codec.js';

/** How deep a given value may nest (containers within containers), as --context has (ADR 96). */
export const MAX_INPUT_DEPTH = 200;
/** How large a given value may be as recorded, unless configured (8 MiB). */
export const DEFAULT_MAX_INPUT_BYTES = 8 * 1024 * 1024;

/** What is wrong with a given value: `text` says it, without naming where the value came from. */
export interface InputProblem {
  readonly kind: 'number' | 'depth' | 'size';
  /** Where in the value (`answer.items[3]`), at most about 120 characters. */
  readonly path: string;
  readonly limit?: number;
  /** The depth, the size in bytes, or the number's text. */
  readonly measured: number | string;
  readonly text: string;
  /** What to do about it, when `text` does not say. */
  readonly hint?: string;
}

/** A value met in the walk; its path is built from `key` and the parents only when needed. */
interface Visit {
  readonly value: unknown;
  /** Its key in the parent (the root path for the root); `list`: the parent is an array. */
  readonly key: string;
  readonly list: boolean;
  readonly depth: number;
  readonly parent?: Visit;
}

/** A path of at most about 120 characters: its start says where, its end what. */
export const boundedPath = (path: string) =>
  path.length > 120 ? `${path.slice(0, 40)}…${path.slice(-80)}` : path;

const pathOf = (v: Visit | undefined): string => {
  const steps: string[] = [];
  for (let at = v; at; at = at.parent) steps.push(at.parent ? pathStep(at.key, at.list) : at.key);
  return boundedPath(steps.reverse().join(''));
};

/** A key's step in a path: `[3]` in a list, `.name`, or `["odd key"]`. */
export const pathStep = (k: string, list: boolean) =>
  list ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;

/**
 * How many levels `root` nests (a loop over a list, not recursion: it may be very deep). An
 * object met twice (a cycle, from a library caller) is counted once.
 */
function depthOf(root: unknown): number {
  let deepest = 0;
  const seen = new WeakSet<object>();
  const todo: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  for (let at = todo.pop(); at; at = todo.pop()) {
    const v = at.value;
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || seen.has(v)) continue;
    seen.add(v);
    deepest = Math.max(deepest, at.depth + 1);
    for (const child of Object.values(v)) todo.push({ value: child, depth: at.depth + 1 });
  }
  return deepest;
}

/**
 * The first non-finite number or nesting past MAX_INPUT_DEPTH in `root`, named by its path from
 * `rootPath`. Values that are not plain data (a Date, a function) are left to the ledger's own
 * error, as before.
 */
export function shapeProblem(root: unknown, rootPath: string): InputProblem | undefined {
  const rootVisit: Visit = { value: root, key: rootPath, list: false, depth: 0 };
  const todo: Visit[] = [rootVisit];
  // Only containers and non-finite numbers are visited: a wide value is walked in about the
  // time the ledger takes to encode it.
  for (let visit = todo.pop(); visit; visit = todo.pop()) {
    const { value, depth } = visit;
    if (typeof value === 'number') {
      const bad = nonFinite(visit);
      if (bad) return bad;
      continue;
    }
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) continue;
    if (depth >= MAX_INPUT_DEPTH) {
      const path = pathOf(visit);
      const deep = depthOf(root);
      return {
        kind: 'depth',
        path,
        limit: MAX_INPUT_DEPTH,
        measured: deep,
        text: `it is ${deep} levels deep: ${path} nests deeper than ${MAX_INPUT_DEPTH} levels; flatten it`,
      };
    }
    const next = (v: unknown, key: string, list: boolean) => {
      if (typeof v === 'number' ? !Number.isFinite(v) : typeof v === 'object' && v !== null)
        todo.push({ value: v, key, list, depth: depth + 1, parent: visit });
    };
    // A list by index (for…in over a long list of numbers took 4 times its encoding, review).
    if (Array.isArray(value))
      for (let i = 0; i < value.length; i++) next(value[i], String(i), true);
    else
      for (const k in value)
        if (Object.hasOwn(value, k)) next((value as Record<string, unknown>)[k], k, false);
  }
  return undefined;
}

function nonFinite(visit: Visit): InputProblem | undefined {
  const value = visit.value as number;
  if (Number.isFinite(value)) return undefined;
  const path = pathOf(visit);
  return {
    kind: 'number',
    path,
    measured: String(value),
    text: `${path} cannot be recorded: non-finite number ${value}`,
    hint: 'a JSON number beyond ±1.7976931348623157e308 reads as Infinity: send it as a string',
  };
}

/** `8 MiB (8388608 bytes)`, `4.9 KiB (5002 bytes)`, `500 bytes`. */
function sizeText(n: number): string {
  const [unit, size] = n >= 1 << 20 ? ['MiB', 1 << 20] : n >= 1024 ? ['KiB', 1024] : ['', 1];
  if (!unit) return `${n} bytes`;
  const x = n / (size as number);
  return `${Number.isInteger(x) ? x : x.toFixed(1)} ${unit} (${n} bytes)`;
}

/** The size problem of a value `bytes` long as recorded, if it is over `maxBytes`. */
export function sizeProblem(
  bytes: number,
  maxBytes: number,
  rootPath: string,
): InputProblem | undefined {
  if (bytes <= maxBytes) return undefined;
  return {
    kind: 'size',
    path: rootPath,
    limit: maxBytes,
    measured: bytes,
    text: `it is ${sizeText(bytes)} as recorded, over the limit of ${sizeText(maxBytes)}: max_input_bytes in flujo.toml's [settings], the engine's maxInputBytes; pass a smaller value, such as a file path or URL the pipeline reads, or raise the limit`,
  };
}

/** The problem as one sentence with what to do about it. */
export const sentence = (p: InputProblem) => (p.hint ? `${p.text} (${p.hint})` : p.text);

/**
 * A given value the engine refuses (ADR 100); nothing was recorded. A run's input or context is
 * USAGE (exit 2); an answer is HUMAN_INPUT_REJECTED with `reasons`, as any answer the run cannot
 * take (`runId` given).
 */
export class InputLimitError extends EngineError {
  readonly problem: InputProblem;
  constructor(where: string, problem: InputProblem, runId?: string) {
    const why = sentence(problem);
    const facts = {
      where,
      kind: problem.kind,
      path: problem.path,
      measured: problem.measured,
      ...(problem.limit !== undefined ? { limit: problem.limit } : {}),
    };
    if (runId === undefined)
      super(ErrorCode.USAGE, `${where}: ${why}; nothing was recorded`, {
        exitCode: ExitCode.config,
        details: facts,
      });
    else
      super(ErrorCode.HUMAN_INPUT_REJECTED, `run ${runId}: the input cannot be recorded: ${why}`, {
        details: { runId, reasons: [why], ...facts },
      });
    this.name = 'InputLimitError';
    this.problem = problem;
  }
}

/**
 * What is wrong with `value` given as `where` (`input`, `context`, `humanInput`), or undefined;
 * with its recorded bytes when it was encoded. Throws LedgerEncodeError for what the ledger
 * refuses otherwise (a Date, a `__proto__` key), as recording it would.
 */
export function inputProblem(
  value: unknown,
  where: string,
  maxBytes: number = DEFAULT_MAX_INPUT_BYTES,
): { problem?: InputProblem; bytes?: Uint8Array } {
  const shape = shapeProblem(value, where);
  if (shape) return { problem: shape };
  const bytes = recordedBytes(value, where);
  const size = sizeProblem(bytes.length, maxBytes, where);
  return size ? { problem: size } : { bytes };
}

/**
 * `value` as the ledger records it (asRecorded), once it passes the limits; else
 * InputLimitError naming `where`.
 */
export function recordedInput(value: unknown, where: string, maxBytes?: number): unknown {
  const { problem, bytes } = inputProblem(value, where, maxBytes);
  if (problem || !bytes) throw new InputLimitError(where, problem as InputProblem);
  return decodeCanonical(bytes);
}
