/**
 * Starting, answering and cancelling runs through the fleet: publishes work messages on the
 * JetStream work queue for `flujo worker` processes, and (when asked) waits for the worker's
 * outcome on `flujo.results.<run>`. Reading runs stays with the ledger (TaskClient, lens).
 *
 * Publishes carry a `Nats-Msg-Id`, so a publish retried within two minutes is one message: a
 * start's id is `start:<run>` (one run id, one start), a cancel's `cancel:<run>`; an answer's is
 * the caller's `messageId`, else a fresh one. A duplicate that waits reports the run as it stands
 * (./duplicate.ts).
 */
import { randomUUID } from 'node:crypto';

import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

import { EngineError, ErrorCode } from '../errors.js';
import {
  ensureWorkQueue,
  eventsSubject,
  fleetNames,
  resultsSubject,
  workSubject,
  type CancelMessage,
  type ResumeMessage,
  type StartMessage,
  type WorkKind,
} from '../adapters/nats/work.js';
import { longTimer, type LongTimer } from '../runtime/longTimer.js';
import { duplicateAwaits } from './duplicate.js';

/** What the worker published once it handled the message: `flujo run --json`'s shape. */
export type FleetResult = Record<string, unknown> & {
  readonly run_id?: string;
  readonly status?: string;
  readonly error?: { readonly code: string; readonly message: string };
};

export interface Published {
  readonly runId: string;
  /** The message's sequence in the work stream. */
  readonly seq: number;
  /**
   * The stream already held a message with this id: nothing new was queued. With `wait`, the
   * result is still the run as it stands (the earlier message's outcome, or a worker's report).
   */
  readonly duplicate: boolean;
  /** The worker's outcome, when `wait` was given. */
  readonly result?: FleetResult;
}

export interface WaitOption {
  /** Wait for the worker's outcome, at most this many ms (true: 60 s). */
  readonly wait?: boolean | number;
}

export interface FleetClient {
  start(
    options: {
      readonly runId?: string;
      readonly pipeline?: string;
      readonly input?: unknown;
      readonly context?: Record<string, unknown>;
      readonly budget?: { readonly costUsd?: number; readonly tokens?: number };
    } & WaitOption,
  ): Promise<Published>;
  resume(
    runId: string,
    options?: {
      readonly input?: unknown;
      readonly answeredBy?: string;
      /** Which open question the answer is for (its path; default the oldest). */
      readonly question?: string;
      readonly allowChangedPipeline?: boolean;
      /**
       * Resume under this file, relative to the workers' project root, instead of the one the run
       * recorded (ADR 149); a worker refuses a path outside its project, as for a start.
       */
      readonly pipeline?: string;
      readonly messageId?: string;
    } & WaitOption,
  ): Promise<Published>;
  cancel(runId: string, options?: { readonly reason?: string } & WaitOption): Promise<Published>;
  /** A run's committed events as the workers publish them (live; the ledger has them all). */
  events(runId: string): Subscription;
}

export interface FleetClientOptions {
  /** The fleet's namespace on the NATS server (default `flujo`; see FleetNames). */
  readonly namespace?: string;
  /**
   * The command the client's messages name for looking at a run (default `flujo lens show RUN`);
   * the CLI gives its own, with the global options it was given (ADR 144).
   */
  readonly showRunCommand?: (runId: string) => string;
}

export async function createFleetClient(
  nc: NatsConnection,
  options: FleetClientOptions = {},
): Promise<FleetClient> {
  const names = fleetNames(options.namespace);
  const jsm = await jetstreamManager(nc);
  // Creates the queue if no worker has yet; never changes the workers' settings.
  await ensureWorkQueue(jsm, names, undefined, false);
  const js: JetStreamClient = jetstream(nc);
  const showRun = options.showRunCommand ?? ((runId: string) => `flujo lens show ${runId}`);

  async function publish(
    kind: WorkKind,
    runId: string,
    body: StartMessage | ResumeMessage | CancelMessage,
    msgID: string,
    wait: boolean | number | undefined,
  ): Promise<Published> {
    if (runId === '' || runId.length > 200)
      throw new EngineError(ErrorCode.USAGE, 'a run id has 1 to 200 characters');
    const timeoutMs = wait === true ? 60_000 : typeof wait === 'number' ? wait : 0;
    // Subscribed before publishing, so a fast worker's outcome is not missed.
    const sub = timeoutMs > 0 ? nc.subscribe(resultsSubject(names, runId)) : undefined;
    try {
      const ack = await js.publish(workSubject(names, kind, runId), JSON.stringify(body), {
        msgID,
      });
      const published = { runId, seq: ack.seq, duplicate: ack.duplicate };
      if (!sub) return published;
      let awaited: number | 'any' = ack.seq;
      if (ack.duplicate) {
        // Queued (and maybe handled) before, as ack.seq: the run as it stands is that message's
        // outcome, another of the run's messages', or what a worker reports when asked again.
        const again = await duplicateAwaits(jsm, names, kind, runId, ack.seq);
        if (again === 'nothing') return published;
        if (again === 'ask') {
          const asked = await js.publish(workSubject(names, kind, runId), JSON.stringify(body), {
            msgID: `${msgID}:again:${randomUUID()}`,
          });
          awaited = asked.seq;
        } else awaited = again;
      }
      const result = await firstResult(sub, awaited, timeoutMs, runId, showRun);
      return { ...published, result };
    } finally {
      sub?.unsubscribe();
    }
  }

  return {
    start(o) {
      const runId = o.runId ?? randomUUID();
      const body: StartMessage = {
        ...(o.pipeline !== undefined ? { pipeline: o.pipeline } : {}),
        ...(o.input !== undefined ? { input: o.input } : {}),
        ...(o.context !== undefined ? { context: o.context } : {}),
        ...(o.budget
          ? {
              budget: {
                ...(o.budget.costUsd !== undefined ? { cost_usd: o.budget.costUsd } : {}),
                ...(o.budget.tokens !== undefined ? { tokens: o.budget.tokens } : {}),
              },
            }
          : {}),
      };
      return publish('start', runId, body, `start:${runId}`, o.wait);
    },
    resume(runId, o = {}) {
      const body: ResumeMessage = {
        ...('input' in o ? { input: o.input ?? null } : {}),
        ...(o.answeredBy !== undefined ? { answered_by: o.answeredBy } : {}),
        ...(o.question !== undefined ? { question: o.question } : {}),
        ...(o.allowChangedPipeline ? { allow_changed_pipeline: true } : {}),
        ...(o.pipeline !== undefined ? { pipeline: o.pipeline } : {}),
      };
      return publish(
        'resume',
        runId,
        body,
        o.messageId ?? `resume:${runId}:${randomUUID()}`,
        o.wait,
      );
    },
    cancel(runId, o = {}) {
      const body: CancelMessage = o.reason !== undefined ? { reason: o.reason } : {};
      return publish('cancel', runId, body, `cancel:${runId}`, o.wait);
    },
    events: (runId) => nc.subscribe(eventsSubject(names, runId)),
  };
}

/** The outcome the workers publish for the message at stream seq `seq` (any message of the run). */
async function firstResult(
  sub: Subscription,
  seq: number | 'any',
  timeoutMs: number,
  runId: string,
  showRun: (runId: string) => string,
): Promise<FleetResult> {
  let timer: LongTimer | undefined;
  /** The last note a worker published on the message while trying it again (ADR 133). */
  let note: FleetResult | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // `--wait` may be longer than one setTimeout keeps (24.8 days; ADR 116).
    timer = longTimer(
      () =>
        reject(
          note?.error
            ? new EngineError(
                ErrorCode.FLEET_NO_RESULT,
                `no outcome on run ${runId} within ${timeoutMs} ms: ${note.error.message}; the message stays queued for that (look at the run with: ${showRun(runId)})`,
                {
                  details: {
                    runId,
                    ...(note.status ? { status: note.status } : {}),
                    retrying: { code: note.error.code, message: note.error.message },
                  },
                },
              )
            : new EngineError(
                ErrorCode.FLEET_NO_RESULT,
                `no worker reported on run ${runId} within ${timeoutMs} ms: the message is queued or being worked on (is a \`flujo worker\` running against this NATS server and namespace?); look at the run with: ${showRun(runId)}`,
              ),
        ),
      timeoutMs,
    );
  });
  const read = (async () => {
    for await (const m of sub) {
      const r = m.json<FleetResult & { message?: number; retrying?: number }>();
      if (seq === 'any' ? r.message !== undefined : r.message === seq) return r;
      if (seq === 'any' ? r.retrying !== undefined : r.retrying === seq) note = r;
    }
    throw new EngineError(ErrorCode.FLEET_NO_RESULT, `the subscription for run ${runId} closed`);
  })();
  try {
    return await Promise.race([read, timeout]);
  } finally {
    timer?.cancel();
  }
}
