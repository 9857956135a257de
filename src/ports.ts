/**
 * The ports the core needs from the outside world. Adapters implement them; the composition
 * roots (CLI, server, worker, tests) wire them in. Nothing in the pure core imports an adapter.
 */
import type { NewEvent } from './events/catalogue.js';
import type { Head, SealedRecord, StoredRecord } from './events/envelope.js';

export interface AppendRequest {
  readonly runId: string;
  /** The head this batch was decided against: `emptyHead(runId)` for a new run. */
  readonly expected: Head;
  /** One decision's events; written atomically or not at all. */
  readonly events: readonly NewEvent[];
  /** Epoch milliseconds from the Clock port, stamped on every event of the batch. */
  readonly at: number;
  /** The writer's claim epoch; a stale one fails with LedgerFencedError. */
  readonly epoch?: number;
}

export interface AppendResult {
  readonly records: readonly SealedRecord[];
  readonly head: Head;
}

/** The store's own bookkeeping for a run, kept in the same transaction as its events. */
export interface RunHead {
  readonly runId: string;
  readonly seq: number;
  readonly hash: Uint8Array;
  /** Highest claim epoch recorded by a RunClaimed event; 0 when never claimed. */
  readonly epoch: number;
  /** The run has a RunCompleted, RunFailed or RunCancelled event; no more appends. */
  readonly terminal: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ReadOptions {
  /** First seq to return (default 1). */
  readonly fromSeq?: number;
  readonly limit?: number;
}

export interface ListRunsOptions {
  /** Only runs whose id starts with this. */
  readonly prefix?: string;
  /** Keyset paging: runs with an id after this one. */
  readonly afterRunId?: string;
  readonly limit?: number;
}

export interface SubscribeOptions {
  /** Resume after this position (exclusive); omitted means from the beginning. */
  readonly after?: string;
  readonly signal?: AbortSignal;
  /** How often to look for other processes' commits (ms). */
  readonly pollMs?: number;
}

/**
 * The event ledger. Appends are optimistic on (runId, seq) and on the previous hash: a stale
 * writer gets LedgerConflictError and nothing is written. Reads return the exact stored bytes.
 */
export interface LedgerStore {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  append(request: AppendRequest): Promise<AppendResult>;
  head(runId: string): Promise<RunHead | null>;
  /** A run's records in seq order. */
  read(runId: string, options?: ReadOptions): Promise<StoredRecord[]>;
  listRuns(options?: ListRunsOptions): Promise<RunHead[]>;
  /** Records of all runs in commit order, after `after` (exclusive). */
  readAll(after?: string, limit?: number): Promise<StoredRecord[]>;
  /** Tails `readAll`: yields every record committed after `after`, in commit order, until aborted. */
  subscribe(options?: SubscribeOptions): AsyncIterable<StoredRecord>;
  /**
   * Stored events whose run has no head row (the row was deleted outside Flujo): invisible to
   * `read`, `listRuns`, `readAll` and `subscribe`, found only here, so that resume, the read
   * models and the fleet never act on a run the ledger does not list, and `lens verify` still
   * names them (ADR 130). Reads every event: not for a hot path. Per orphaned run: how many
   * events, its lowest seq and that event's body (which names the run). Stores that keep runs
   * whole (memory) have none and may leave it out. With `runIdPrefix` (`lens verify RUN` for a
   * RUN the store does not list), without reading every event: the runs whose id starts with it,
   * by an index range over the events' run ids. Events in a SQLite v2 file hold a run number,
   * not the id, so there it is every orphaned run, found from the run numbers no head row holds;
   * callers name each from its body, as without a prefix (ADR 139).
   */
  orphans?(runIdPrefix?: string): Promise<OrphanedEvents[]>;
  /**
   * Runs the read models (the `runs` projection) list that the ledger holds no head row of: the
   * run was removed from the ledger, or the row was never derived from it. Stores without
   * projection tables beside the ledger (memory) have none and may leave it out.
   */
  unrecordedRuns?(): Promise<string[]>;
  close(): Promise<void>;
}

export interface OrphanedEvents {
  readonly events: number;
  readonly firstSeq: number;
  readonly firstBody: Uint8Array;
}

export interface Clock {
  now(): number;
}

/** One attempt of one agent call, as the runtime asks the agent port to make it. */
export interface AgentRequest {
  readonly runId: string;
  readonly path: string;
  readonly attempt: number;
  /** Deterministic idempotency key (run, path, attempt): send it to providers that accept one. */
  readonly key: string;
  /** A model id (`openai:gpt-4o`) or another agent id the port knows. */
  readonly agent: string;
  readonly input: unknown;
  readonly config?: unknown;
}

/** A normalised agent reply. Money is integer micro-dollars. */
export interface AgentReply {
  readonly output: unknown;
  readonly text?: string;
  readonly usage: { readonly input: number; readonly output: number };
  readonly costMicros: number;
  /**
   * The provider did not say what the call used (a reply without `usage`): `usage` and
   * `costMicros` are then 0, and under a budget the attempt counts as spent at its reservation
   * (a `BudgetReconciled` after its `AgentResponded`, ADR 0055).
   */
  readonly usageUnknown?: boolean;
  readonly model: string;
  readonly finishReason?: string;
  /** The first reply failed validation; this is what was wrong with it (the reply is the repair). */
  readonly repair?: AgentRepair;
  /** The provider's raw response body, only when the step's config asks for it. */
  readonly raw?: unknown;
}

/** A structured reply rejected once: why, and what the rejected request used. */
export interface AgentRepair {
  readonly reason: string;
  readonly errors: readonly string[];
  readonly text?: string;
  readonly usage: { readonly input: number; readonly output: number };
  readonly costMicros: number;
}

/** One failed HTTP attempt inside a call, about to be retried. */
export interface AgentRetryInfo {
  /** 1 for the first retry. */
  readonly retry: number;
  readonly error: { readonly code: string; readonly message: string; readonly retryable: boolean };
  readonly delayMs: number;
}

/** Callbacks from inside a call; the runtime records them (retries become AgentCallRetried). */
export interface AgentCallHooks {
  onRetry?(info: AgentRetryInfo): void;
}

/**
 * Makes agent calls. A failed call throws; an error with `retryable: false` (an EngineError, or
 * any error carrying that field) is not retried, anything else may be.
 */
export interface AgentPort {
  call(request: AgentRequest, signal: AbortSignal, hooks?: AgentCallHooks): Promise<AgentReply>;
  /**
   * An upper bound on what the call can cost (prompt tokens counted plus max_tokens, priced).
   * Reserved against the run's budget before the call; absent means free (function steps).
   */
  estimate?(request: AgentRequest): { readonly costMicros: number; readonly tokens: number };
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
