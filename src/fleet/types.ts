/** The fleet worker's ports and handle (./worker.ts). */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

import type { FleetNames, WorkMessage } from '../adapters/nats/work.js';
import type { Plan } from '../dsl/ir.js';
import type { ReadModels } from '../projections/readModels.js';
import type { Engine, RunOptions } from '../runtime/engine.js';
import type { GoneFile } from './goneFile.js';

/** The logging the worker needs (pino's Logger fits). */
export interface WorkerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LoadedRunPipeline {
  readonly plan: Plan;
  /** The file relative to the project root, recorded in RunStarted. */
  readonly source: string;
  readonly engine: Engine;
}

export interface RecordedPipeline {
  readonly name: string;
  readonly source?: string;
  readonly gone?: GoneFile;
}

export interface WorkerOptions {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly readModels: ReadModels;
  readonly names: FleetNames;
  /**
   * Loads a pipeline (a file relative to the project root; undefined: the default one);
   * `recordedRun` for a run already recorded (a resume, ADR 106); `recordedName`, the name such a
   * run recorded, which a blueprint with no `name:` of its own takes (ADR 142).
   */
  loadPipeline(
    file: string | undefined,
    recordedRun?: boolean,
    recordedName?: string,
  ): Promise<LoadedRunPipeline>;
  /**
   * Whether the run is in the ledger (its head): a start of a run already recorded loads the
   * pipeline as a resume does (ADR 106, 107).
   */
  runExists(runId: string): Promise<boolean>;
  /**
   * The pipeline a run recorded: its name, and its file when that is still there, or `gone` when
   * it is not (a resume of the run is refused, not given pipeline.yaml: ADR 146).
   */
  recordedPipeline(runId: string): Promise<RecordedPipeline>;
  /** An engine that needs no pipeline: cancels. */
  readonly engine: Engine;
  /** A start message's context and budget (with the project's budgets) as run options. */
  runOptions(
    plan: Plan,
    message: WorkMessage & { kind: 'start' },
  ): Omit<RunOptions, 'runId' | 'source'>;
  readonly log: WorkerLog;
  /** Messages handled at once (default 4). */
  readonly concurrency?: number;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  /** Re-enqueue a running run after this long without an event (ms; 0: never). */
  readonly reconcileAfterMs?: number;
  /** How often the reconciler looks (ms, default a quarter of reconcileAfterMs, at most 30 s). */
  readonly reconcileEveryMs?: number;
  /** This worker's name, as its log lines and spent records carry it (default `worker-<pid>`). */
  readonly name?: string;
  /**
   * How long a message JetStream stopped delivering may be held by the handling that took it in
   * hand before it is kept as a dead letter (ms; default the larger of reconcileAfterMs and ten
   * ack waits; ADR 86, "the bound").
   */
  readonly spentAfterMs?: number;
  readonly now?: () => number;
}

export interface Worker {
  /** Resolves once the worker has stopped (after stop()). */
  readonly stopped: Promise<void>;
  /** Stops pulling; runs being driven are detached and their messages redelivered at once. */
  stop(): Promise<void>;
  /** Messages handled so far, by outcome. */
  readonly counts: Readonly<Record<'acked' | 'terminated' | 'retried' | 'left', number>>;
}
