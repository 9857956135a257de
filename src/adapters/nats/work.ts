/**
 * The fleet's NATS vocabulary: the JetStream work queue that carries start, resume and cancel
 * messages to `flujo worker` processes, the subjects a run's events and outcomes are published
 * on, and the schemas a message must pass. NATS is only the doorbell (DESIGN, "Scale"): a
 * message says "look at this run", the ledger says what the run is.
 *
 * Subjects name the run: `flujo.work.<kind>.<run>`, `flujo.events.<run>`, `flujo.results.<run>`,
 * `flujo.dead.<kind>.<run>` (`flujo` is the default namespace; see FleetNames).
 * A run id that is not a plain subject token (letters, digits, `_`, `-`) is written as `~` and
 * its base64url, so any id the engine takes has a subject, and one subject names one run.
 */
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { z } from 'zod';

import { EngineError, ErrorCode, ExitCode } from '../../errors.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_NAMESPACE = 'flujo';

export type WorkKind = 'start' | 'resume' | 'cancel';
const KINDS: readonly WorkKind[] = ['start', 'resume', 'cancel'];

const PLAIN = /^[A-Za-z0-9_-]+$/;

/**
 * Where one fleet's messages live. Fleets sharing a NATS server (staging and production, test
 * suites) keep apart by namespace: subjects `<ns>.work.…`, `<ns>.events.…`, `<ns>.results.…`,
 * the stream `<NS>_WORK` and the consumer `<ns>-workers`. The default namespace is `flujo`.
 */
export interface FleetNames {
  readonly namespace: string;
  readonly stream: string;
  readonly consumer: string;
  /** `<NS>_DEAD`: work messages given up after their last delivery, kept for operators. */
  readonly deadStream: string;
}

export function fleetNames(namespace: string = DEFAULT_NAMESPACE): FleetNames {
  if (!PLAIN.test(namespace) || namespace.length > 64)
    throw new EngineError(
      ErrorCode.USAGE,
      `NATS namespace ${JSON.stringify(namespace)} must be 1 to 64 letters, digits, "_" or "-"`,
      { exitCode: ExitCode.config },
    );
  return {
    namespace,
    stream: `${namespace.toUpperCase()}_WORK`,
    consumer: `${namespace}-workers`,
    deadStream: `${namespace.toUpperCase()}_DEAD`,
  };
}

/** A run id as one subject token (reversible; see the module comment). */
export function runToken(runId: string): string {
  return PLAIN.test(runId) ? runId : `~${Buffer.from(runId, 'utf8').toString('base64url')}`;
}

export function runOfToken(token: string): string {
  return token.startsWith('~') ? Buffer.from(token.slice(1), 'base64url').toString('utf8') : token;
}

export const workSubject = (n: FleetNames, kind: WorkKind, runId: string) =>
  `${n.namespace}.work.${kind}.${runToken(runId)}`;
export const eventsSubject = (n: FleetNames, runId: string) =>
  `${n.namespace}.events.${runToken(runId)}`;
export const resultsSubject = (n: FleetNames, runId: string) =>
  `${n.namespace}.results.${runToken(runId)}`;
/** A work message given up after its last delivery, as it was published (stream `<NS>_DEAD`). */
export const deadSubject = (n: FleetNames, kind: WorkKind, runId: string) =>
  `${n.namespace}.dead.${kind}.${runToken(runId)}`;
/** Workers tell each other that a run was cancelled, so the one driving it stops at once. */
export const cancelledSubject = (n: FleetNames, runId: string) =>
  `${n.namespace}.control.cancelled.${runToken(runId)}`;

/** The kind and run a work subject names, or a reason it names none. */
export function parseWorkSubject(
  n: FleetNames,
  subject: string,
): { kind: WorkKind; runId: string } | { problem: string } {
  const parts = subject.split('.');
  const kind = parts[2] as WorkKind;
  if (
    parts.length !== 4 ||
    parts[0] !== n.namespace ||
    parts[1] !== 'work' ||
    !KINDS.includes(kind)
  )
    return {
      problem: `subject ${subject} is not ${n.namespace}.work.<start|resume|cancel>.<run id>`,
    };
  const runId = runOfToken(parts[3] ?? '');
  if (runId === '') return { problem: `subject ${subject} names no run` };
  return { kind, runId };
}

const json = z.unknown();
const budget = z
  .object({
    // At least one micro-dollar: money is recorded in whole micro-dollars.
    cost_usd: z.number().finite().min(0.000001).optional(),
    tokens: z.number().int().positive().optional(),
  })
  .strict();

/** A pipeline file, relative to the worker's project root; the worker refuses one outside it. */
const pipeline = z.string().min(1).max(1000);

/** `flujo.work.start.<run>`: start the run (a redelivered start of a recorded run resumes it). */
export const StartMessage = z
  .object({
    /** The pipeline file (default: the worker's pipeline.yaml). */
    pipeline: pipeline.optional(),
    /** The run's input: context.initial_prompt, as `flujo run --input` gives it. */
    input: json.optional(),
    context: z.record(z.string(), json).optional(),
    budget: budget.optional(),
  })
  .strict();

/** `flujo.work.resume.<run>`: answer a paused run (`input`), or continue an interrupted one. */
export const ResumeMessage = z
  .object({
    input: json.optional(),
    answered_by: z.string().min(1).max(200).optional(),
    /** Which open question the answer is for (its path; default the oldest). */
    question: z.string().min(1).max(2000).optional(),
    allow_changed_pipeline: z.boolean().optional(),
    /**
     * The pipeline file to resume the run under instead of the one it recorded, as a start names
     * one (ADR 149); its plan must match the recorded one unless allow_changed_pipeline.
     */
    pipeline: pipeline.optional(),
  })
  .strict();

/** `flujo.work.cancel.<run>`. */
export const CancelMessage = z.object({ reason: z.string().max(1000).optional() }).strict();

export type StartMessage = z.infer<typeof StartMessage>;
export type ResumeMessage = z.infer<typeof ResumeMessage>;
export type CancelMessage = z.infer<typeof CancelMessage>;
export type WorkMessage =
  | { kind: 'start'; runId: string; body: StartMessage }
  | { kind: 'resume'; runId: string; body: ResumeMessage }
  | { kind: 'cancel'; runId: string; body: CancelMessage };

const MAX_MESSAGE_BYTES = 1 << 20;

/** Reads a work message: its subject, then its JSON body against the kind's schema. */
export function parseWorkMessage(n: FleetNames, subject: string, data: Uint8Array): WorkMessage {
  const named = parseWorkSubject(n, subject);
  if ('problem' in named) throw badMessage(named.problem);
  if (data.length > MAX_MESSAGE_BYTES)
    throw badMessage(`${subject}: the body is ${data.length} bytes; at most ${MAX_MESSAGE_BYTES}`);
  let raw: unknown = {};
  if (data.length > 0) {
    try {
      raw = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch (e) {
      throw badMessage(`${subject}: the body is not JSON (${(e as Error).message})`);
    }
  }
  const forbidden = forbiddenKey(raw);
  if (forbidden)
    throw badMessage(
      `${subject}: the key ${JSON.stringify(forbidden.key)} at ${forbidden.at} is not allowed (it would reach JavaScript internals); rename it`,
    );
  const schema =
    named.kind === 'start' ? StartMessage : named.kind === 'resume' ? ResumeMessage : CancelMessage;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues
      .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
      .join('; ');
    throw badMessage(`${subject}: ${why}`);
  }
  return { kind: named.kind, runId: named.runId, body: parsed.data } as WorkMessage;
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** The first `__proto__`, `constructor` or `prototype` key in parsed JSON, as `flujo run --context` refuses them. */
function forbiddenKey(v: unknown, at = 'body', depth = 0): { key: string; at: string } | undefined {
  if (depth > 64 || typeof v !== 'object' || v === null) return undefined;
  for (const [k, child] of Object.entries(v)) {
    if (FORBIDDEN.has(k)) return { key: k, at };
    const found = forbiddenKey(child, `${at}.${k}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function badMessage(message: string): EngineError {
  return new EngineError(ErrorCode.USAGE, message, { details: { bad_message: true } });
}

export interface WorkQueueOptions {
  /** How long a delivered message may go without an ack or a heartbeat before redelivery. */
  readonly ackWaitMs: number;
  /** Deliveries of one message before JetStream stops redelivering it. */
  readonly maxDeliver: number;
}

export const DEFAULT_WORK_QUEUE: WorkQueueOptions = { ackWaitMs: 30_000, maxDeliver: 20 };

/** How long the dead-letter stream keeps a message unless an operator changes it (ADR 68). */
export const DEAD_LETTER_DAYS = 30;

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig>): Promise<void> {
  const name = config.name as string;
  try {
    await jsm.streams.info(name);
  } catch {
    try {
      await jsm.streams.add({ ...config, name });
    } catch (e) {
      // Another process created it between our look and our add.
      await jsm.streams.info(name).catch(() => {
        throw e;
      });
    }
  }
}

/**
 * Creates the work stream, the dead-letter stream and the workers' durable pull consumer when
 * they are missing; a worker also brings an existing consumer's ack wait and delivery limit to
 * its own (the last worker started wins, and every worker heartbeats at a third of the ack wait
 * the server has). An existing dead-letter stream is left as the operator set it.
 */
export async function ensureWorkQueue(
  jsm: JetStreamManager,
  n: FleetNames,
  options: WorkQueueOptions = DEFAULT_WORK_QUEUE,
  /** Bring an existing consumer to `options` (workers); a client only creates what is missing. */
  update = true,
): Promise<void> {
  await ensureStream(jsm, {
    name: n.stream,
    subjects: [`${n.namespace}.work.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    // Nats-Msg-Id de-duplication: a client's retried publish is one message.
    duplicate_window: nanos(120_000),
  });
  await ensureStream(jsm, {
    name: n.deadStream,
    subjects: [`${n.namespace}.dead.>`],
    // Kept for reading (limits, not a work queue): an operator looks, then re-publishes or drops.
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(DEAD_LETTER_DAYS * 86_400_000),
    duplicate_window: nanos(120_000),
  });
  const config = {
    durable_name: n.consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(options.ackWaitMs),
    max_deliver: options.maxDeliver,
  };
  try {
    const info = await jsm.consumers.info(n.stream, n.consumer);
    // A client (update false) never changes an existing consumer: its options are defaults, and
    // bringing max_deliver to them would undo a worker's --max-deliver (ADR 57, "Settings belong
    // to workers").
    if (
      update &&
      (info.config.ack_wait !== config.ack_wait || info.config.max_deliver !== config.max_deliver)
    )
      await jsm.consumers.update(n.stream, n.consumer, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
      });
  } catch {
    await jsm.consumers.add(n.stream, config).catch(async (e: unknown) => {
      await jsm.consumers.info(n.stream, n.consumer).catch(() => {
        throw e;
      });
    });
  }
}

/** How many work messages for this run are in the queue (delivered but not acked count too). */
export async function queuedFor(
  jsm: JetStreamManager,
  n: FleetNames,
  runId: string,
): Promise<number> {
  const info = await jsm.streams.info(n.stream, {
    subjects_filter: `${n.namespace}.work.*.${runToken(runId)}`,
  });
  let queued = 0;
  for (const count of Object.values(info.state.subjects ?? {})) queued += count;
  return queued;
}
