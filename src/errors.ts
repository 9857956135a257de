/**
 * One error base for the whole engine. Every error carries a stable code, the process exit code
 * the CLI maps it to (see CONTRACTS.md) and whether retrying the same operation may succeed.
 * Messages start with the code so a log line alone says what happened.
 */
export const ExitCode = {
  ok: 0,
  runtime: 1,
  config: 2,
  import: 3,
  validation: 4,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const ErrorCode = {
  LEDGER_CONFLICT: 'LEDGER_CONFLICT',
  LEDGER_FENCED: 'LEDGER_FENCED',
  LEDGER_DECODE: 'LEDGER_DECODE',
  LEDGER_ENCODE: 'LEDGER_ENCODE',
  LEDGER_STORE: 'LEDGER_STORE',
  LEDGER_UNKNOWN_RUN: 'LEDGER_UNKNOWN_RUN',
  LEDGER_AMBIGUOUS_RUN: 'LEDGER_AMBIGUOUS_RUN',
  LEDGER_CORRUPT: 'LEDGER_CORRUPT',
  LEDGER_BAD_START: 'LEDGER_BAD_START',
  LEDGER_TXID_AHEAD: 'LEDGER_TXID_AHEAD',
  LEDGER_IN_USE: 'LEDGER_IN_USE',
  CONFIG_STATE_URI: 'CONFIG_STATE_URI',
  CONFIG_INVALID: 'CONFIG_INVALID',
  VERIFY_FAILED: 'VERIFY_FAILED',
  USAGE: 'USAGE',
  NONDETERMINISM: 'NONDETERMINISM',
  PLAN_CHANGED: 'PLAN_CHANGED',
  RUN_NOT_FOUND: 'RUN_NOT_FOUND',
  RUN_NOT_RESUMABLE: 'RUN_NOT_RESUMABLE',
  HUMAN_INPUT_REJECTED: 'HUMAN_INPUT_REJECTED',
  // cli
  MODULE_LOAD: 'MODULE_LOAD',
  INTERRUPTED: 'INTERRUPTED',
  // skills
  SKILL_UNKNOWN: 'SKILL_UNKNOWN',
  SKILL_NOT_CALLABLE: 'SKILL_NOT_CALLABLE',
  SKILL_INPUT_INVALID: 'SKILL_INPUT_INVALID',
  SKILL_OUTPUT_INVALID: 'SKILL_OUTPUT_INVALID',
  SKILL_HTTP_HOST_NOT_ALLOWED: 'SKILL_HTTP_HOST_NOT_ALLOWED',
  SKILL_HTTP_TIMEOUT: 'SKILL_HTTP_TIMEOUT',
  SKILL_HTTP_TOO_LARGE: 'SKILL_HTTP_TOO_LARGE',
  SKILL_HTTP_FAILED: 'SKILL_HTTP_FAILED',
  SKILL_FS_OUTSIDE_PROJECT: 'SKILL_FS_OUTSIDE_PROJECT',
  SKILLS_CONFIG_INVALID: 'SKILLS_CONFIG_INVALID',
  SKILL_MODULE_LOAD: 'SKILL_MODULE_LOAD',
  // agents
  CONFIG_MISSING_KEY: 'CONFIG_MISSING_KEY',
  CONFIG_UNKNOWN_MODEL: 'CONFIG_UNKNOWN_MODEL',
  PRICING_NOT_CONFIGURED: 'PRICING_NOT_CONFIGURED',
  AGENT_HTTP: 'AGENT_HTTP',
  AGENT_CONNECTION: 'AGENT_CONNECTION',
  AGENT_DEADLINE: 'AGENT_DEADLINE',
  AGENT_RESPONSE_TOO_LARGE: 'AGENT_RESPONSE_TOO_LARGE',
  AGENT_CANCELLED: 'AGENT_CANCELLED',
  AGENT_OUTPUT_INVALID: 'AGENT_OUTPUT_INVALID',
  AGENT_REFUSED: 'AGENT_REFUSED',
  AGENT_REPLY_INVALID: 'AGENT_REPLY_INVALID',
  AGENT_NOT_RECORDED: 'AGENT_NOT_RECORDED',
  AGENT_REPLAY_MISMATCH: 'AGENT_REPLAY_MISMATCH',
  // blueprint
  BLUEPRINT_INVALID: 'BLUEPRINT_INVALID',
  BLUEPRINT_MODULE: 'BLUEPRINT_MODULE',
  // templates and expressions
  TEMPLATE_SYNTAX: 'TEMPLATE_SYNTAX',
  TEMPLATE_UNDEFINED: 'TEMPLATE_UNDEFINED',
  TEMPLATE_LIMIT: 'TEMPLATE_LIMIT',
  EXPRESSION_ERROR: 'EXPRESSION_ERROR',
  // fleet
  NATS_UNREACHABLE: 'NATS_UNREACHABLE',
  FLEET_NO_RESULT: 'FLEET_NO_RESULT',
  DEAD_LETTER_NOT_FOUND: 'DEAD_LETTER_NOT_FOUND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface EngineErrorOptions extends ErrorOptions {
  exitCode?: ExitCode;
  retryable?: boolean;
  /** Structured facts for `--json` output and logs; never secrets. */
  details?: Record<string, unknown>;
}

/** An error message without the `[CODE] ` the engine's messages start with (for `error.message` in JSON). */
export function withoutCode(message: string): string {
  return message.replace(/^\[[A-Z_]+\] /, '');
}

export class EngineError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: EngineErrorOptions = {}) {
    super(`[${code}] ${message}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'EngineError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.runtime;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** Another writer appended first: the expected seq or head hash is stale. Nothing was written. */
export class LedgerConflictError extends EngineError {
  readonly runId: string;
  readonly expectedSeq: number;
  readonly actualSeq: number | null;
  constructor(runId: string, expectedSeq: number, actualSeq: number | null, cause?: unknown) {
    super(
      ErrorCode.LEDGER_CONFLICT,
      `run ${runId}: append expected head seq ${expectedSeq} but the ledger is at ${actualSeq ?? 'an unknown seq'}; reload the run and decide again`,
      { retryable: true, cause, details: { runId, expectedSeq, actualSeq } },
    );
    this.name = 'LedgerConflictError';
    this.runId = runId;
    this.expectedSeq = expectedSeq;
    this.actualSeq = actualSeq;
  }
}

/** A writer holding an old claim epoch tried to append: it has been fenced off by a newer owner. */
export class LedgerFencedError extends EngineError {
  constructor(
    runId: string,
    epoch: number,
    current: number,
    /** What happened, said for the caller (a driver taken over, ADR 133), and what failed. */
    said?: { message?: string; cause?: unknown },
  ) {
    super(
      ErrorCode.LEDGER_FENCED,
      said?.message ??
        `run ${runId}: writer holds claim epoch ${epoch} but the run is claimed at epoch ${current}`,
      { details: { runId, epoch, current }, cause: said?.cause },
    );
    this.name = 'LedgerFencedError';
  }
}

/** Stored bytes that do not decode to a valid event. Names the run and seq. */
export class LedgerDecodeError extends EngineError {
  readonly runId: string;
  readonly seq: number;
  /** `cbor`: the bytes are not canonical CBOR; `event`: they are, but not a valid event. */
  readonly stage: 'cbor' | 'event';
  /**
   * The message without what to do next, for a report that says that itself (lens verify's
   * detail, lens rebuild's damage): `[LEDGER_DECODE] run R seq N: reason`.
   */
  readonly summary: string;
  constructor(
    runId: string,
    seq: number,
    stage: 'cbor' | 'event',
    reason: string,
    cause?: unknown,
  ) {
    super(
      ErrorCode.LEDGER_DECODE,
      `run ${runId} seq ${seq}: ${reason}. Check it with: flujo lens verify ${runId}`,
      {
        cause,
        details: { runId, seq, stage, reason },
      },
    );
    this.name = 'LedgerDecodeError';
    this.runId = runId;
    this.seq = seq;
    this.stage = stage;
    this.summary = `[${ErrorCode.LEDGER_DECODE}] run ${runId} seq ${seq}: ${reason}`;
  }
}

/** A value that cannot enter the ledger (NaN, a Date, a lone surrogate, `__proto__` ...). */
export class LedgerEncodeError extends EngineError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(ErrorCode.LEDGER_ENCODE, `cannot record value at ${path || '(root)'}: ${reason}`, {
      details: { path, reason },
    });
    this.name = 'LedgerEncodeError';
    this.path = path;
    this.reason = reason;
  }
}

/**
 * An append that would give a run a record `flujo lens verify` refuses (ADR 74, 82): a run's first
 * event is not RunStarted, or a RunStarted at any seq but 1. Names the run, the seq the event
 * would have had and its type; nothing was appended.
 */
export class LedgerStartError extends EngineError {
  readonly runId: string;
  readonly seq: number;
  readonly type: string;
  constructor(runId: string, seq: number, type: string) {
    super(
      ErrorCode.LEDGER_BAD_START,
      seq === 1
        ? `run ${runId}: its first event would be ${type}, but a run's record must begin with RunStarted at seq 1; nothing was appended`
        : `run ${runId}: RunStarted at seq ${seq}, but a run starts once, at seq 1; nothing was appended`,
      { details: { runId, seq, type } },
    );
    this.name = 'LedgerStartError';
    this.runId = runId;
    this.seq = seq;
    this.type = type;
  }
}

/**
 * Stored rows a resume, cancel or replay would build on are not the chain the ledger recorded: a
 * body or hash altered, a link broken, a seq missing, or the rows end short of the recorded head.
 * Names the run, the seq and the reason (as `flujo lens verify` names them); nothing is appended.
 */
export class LedgerCorruptError extends EngineError {
  readonly runId: string;
  readonly seq: number;
  readonly reason: string;
  constructor(
    runId: string,
    seq: number,
    reason: string,
    detail: string,
    outcome = 'the run was not resumed and nothing was recorded',
  ) {
    super(
      ErrorCode.LEDGER_CORRUPT,
      `run ${runId} seq ${seq}: ${reason} (${detail}); ${outcome}. Check it with: flujo lens verify ${runId}`,
      { details: { runId, seq, reason }, retryable: false },
    );
    this.name = 'LedgerCorruptError';
    this.runId = runId;
    this.seq = seq;
    this.reason = reason;
  }
}

/** The store itself failed (I/O, connection, disk full). The run stops where it stands. */
export class LedgerStoreError extends EngineError {
  constructor(message: string, cause?: unknown, retryable = true) {
    super(ErrorCode.LEDGER_STORE, message, { cause, retryable });
    this.name = 'LedgerStoreError';
  }
}

/**
 * Refolding a run's events produced a different decision than the ledger recorded: the code or
 * the plan changed behaviour. Names the first divergent seq and both versions.
 */
export class NondeterminismError extends EngineError {
  readonly runId: string;
  readonly seq: number;
  readonly expected: unknown;
  readonly recorded: unknown;
  constructor(runId: string, seq: number, expected: unknown, recorded: unknown) {
    super(
      ErrorCode.NONDETERMINISM,
      `run ${runId} seq ${seq}: refolding decided ${describe(expected)} but the ledger recorded ${describe(recorded)}`,
      {
        details: { runId, seq, expected, recorded },
      },
    );
    this.name = 'NondeterminismError';
    this.runId = runId;
    this.seq = seq;
    this.expected = expected;
    this.recorded = recorded;
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  const { type, data } = v as { type?: unknown; data?: unknown };
  if (typeof type !== 'string') return 'a different event';
  let shown = '';
  try {
    const sorted = (x: unknown): unknown =>
      x && typeof x === 'object' && !Array.isArray(x)
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sorted((x as Record<string, unknown>)[k])]),
          )
        : x;
    shown =
      JSON.stringify(sorted(data), (_k, x: unknown) =>
        typeof x === 'bigint' ? x.toString() : x,
      ) ?? '';
  } catch {
    shown = '';
  }
  return shown ? `${type} ${shown.length > 160 ? shown.slice(0, 157) + '...' : shown}` : type;
}

export class ConfigError extends EngineError {
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { exitCode: ExitCode.config, details });
    this.name = 'ConfigError';
  }
}

export function isEngineError(e: unknown, code?: ErrorCode): e is EngineError {
  return e instanceof EngineError && (code === undefined || e.code === code);
}

/**
 * `FILE cannot be read (why); make it a readable KIND file or remove it`: a folder of that name,
 * or a file this user may not read, named as a bad key in it would be (flujo.toml, skills.yaml).
 */
export function unreadableFile(file: string, kind: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return `${file} cannot be read (${code === 'EISDIR' ? 'EISDIR: it is a folder' : code}); make it a readable ${kind} file or remove it`;
}
