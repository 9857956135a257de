/**
 * How a work message leaves a worker (settle): acked, terminated (refused, or given up and kept
 * as a dead letter) or handed back for another worker, and the outcome published on
 * `<ns>.results.<run>`. A message handed back on its last delivery would never be delivered again
 * (JetStream stops at the consumer's max deliver), so it is published again as a fresh message
 * instead, and the spent one removed.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';

import { resultsSubject, type FleetNames } from '../adapters/nats/work.js';
import { jsonText } from '../jsonText.js';
import type { Retried } from '../runtime/engine.js';
import { dropDeadLetterOf, keepDeadLetter } from './deadLetter.js';
import type { Outcome } from './outcomes.js';
import type { Held } from './spent.js';
import type { WorkerLog } from './types.js';

/** On a message queued again on its last delivery: handlings of it that failed before (ADR 86). */
export const FAILED_BEFORE = 'Flujo-Failed-Before';

/** Handlings that failed on earlier copies of `msg` (0 for a message published once). */
export function failedBefore(msg: JsMsg): number {
  const n = Number(msg.headers?.get(FAILED_BEFORE));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

export interface ReleaseDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: FleetNames;
  readonly log: WorkerLog;
  readonly now: () => number;
  readonly maxDeliver: number;
}

/** Terminates `msg` and removes it from the work stream (a dead letter is stored first). */
export async function terminate(
  deps: ReleaseDeps,
  msg: JsMsg,
  outcome: Outcome & { kind: 'term' },
  report: Record<string, unknown> | undefined,
): Promise<void> {
  // A dead letter is stored before its work message goes; one that cannot be stays there.
  const { dead } = outcome;
  const gone = !dead || (await keepDeadLetter(deps, msg, dead, report));
  msg.term(outcome.reason.slice(0, 500));
  // A terminated message stays in a work-queue stream on NATS 2.9 (later servers drop it):
  // remove it, so the queue (and the reconciler's look at it) holds only live work.
  await deps.nc.flush().catch(() => {});
  if (gone) await deps.jsm.streams.deleteMessage(deps.names.stream, msg.seq, false).catch(() => {});
}

/**
 * Hands `msg` back for another worker after `delayMs`. On its last delivery, publishes a copy
 * (same subject, body and headers, a new message id) and removes the spent one; if the copy
 * cannot be stored, the message is nak'ed as before and the worker says it is stuck.
 */
export async function handBack(
  deps: ReleaseDeps,
  msg: JsMsg,
  delayMs: number,
  how: {
    /** JetStream gave up on this delivery already (ADR 86): queue a copy whatever its count. */
    readonly spent?: boolean;
    /** Handlings of the message that failed so far (carried on a copy as Flujo-Failed-Before). */
    readonly failed?: number;
  } = {},
): Promise<void> {
  if (msg.info.deliveryCount < deps.maxDeliver && !how.spent) {
    msg.nak(delayMs);
    return;
  }
  const h = headers();
  for (const [k, v] of msg.headers ?? [])
    if (k !== 'Nats-Msg-Id' && k !== FAILED_BEFORE) for (const x of v) h.append(k, x);
  h.set('Flujo-Requeued-From', String(msg.seq));
  // The copy's deliveries start again at 1: it carries how many handlings failed before it, so
  // a message that keeps failing still becomes a dead letter after --max-deliver of them.
  const failed = how.failed ?? failedBefore(msg);
  if (failed > 0) h.set(FAILED_BEFORE, String(failed));
  try {
    await deps.js.publish(msg.subject, msg.data, {
      headers: h,
      msgID: `again:${deps.names.stream}:${msg.seq}`,
      timeout: 5_000,
    });
  } catch (e) {
    deps.log.error(
      { subject: msg.subject, delivery: msg.info.deliveryCount, err: (e as Error).message },
      `could not queue the message again on its last delivery; it stays in ${deps.names.stream} undelivered`,
    );
    msg.nak(delayMs);
    return;
  }
  msg.term('handed back on its last delivery: queued again as a new message');
  await deps.nc.flush().catch(() => {});
  await deps.jsm.streams.deleteMessage(deps.names.stream, msg.seq, false).catch(() => {});
}

export interface SettleDeps extends ReleaseDeps {
  /** The worker's counts of messages settled, by outcome. */
  readonly counts: Record<'acked' | 'terminated' | 'retried' | 'left', number>;
}

/** Settles a message, then tells whoever waits on the run: a reported outcome is settled. */
export async function settle(
  deps: SettleDeps,
  msg: JsMsg,
  runId: string | undefined,
  outcome: Outcome,
  report?: Record<string, unknown>,
  held?: Pick<Held, 'spent' | 'failed' | 'removed' | 'work'>,
): Promise<void> {
  if (outcome.kind === 'ack' && held?.spent) {
    // JetStream gave up on this delivery while it was handled here (ADR 86): the ack is not
    // awaited (the server no longer holds the delivery), and the message is removed if the
    // watcher left it.
    msg.ack();
    await deps.nc.flush().catch(() => {});
    await deps.jsm.streams.deleteMessage(deps.names.stream, msg.seq, false).catch(() => {});
    deps.counts.acked += 1;
    // If the sweep kept it as a dead letter meanwhile (held past the bound, settling as it was
    // swept), that dead letter is for work done: removed. Also when this handling took it out
    // itself (held.removed): a sweep that looked before may have stored one after.
    if (held.work && runId !== undefined) {
      const dropped = await dropDeadLetterOf(deps.jsm, deps.names, held.work, msg).catch(
        () => undefined,
      );
      if (dropped !== undefined)
        deps.log.warn(
          { run_id: runId, kind: held.work.kind, seq: msg.seq, dead_seq: dropped },
          'work message kept as a dead letter while its handling settled it; the dead letter is removed',
        );
    }
  } else if (outcome.kind === 'ack') {
    // Double-acked: once this returns, the queue no longer holds the message.
    await msg
      .ackAck()
      .catch((e: unknown) =>
        deps.log.warn(
          { run_id: runId, err: (e as Error).message },
          'the ack was not confirmed; a redelivery will find the run at rest',
        ),
      );
    deps.counts.acked += 1;
  } else if (outcome.kind === 'term') {
    await terminate(deps, msg, outcome, report);
    deps.counts.terminated += 1;
  } else if (outcome.kind === 'retry') {
    await handBack(deps, msg, outcome.delayMs, {
      spent: held?.spent ?? false,
      ...(held?.failed !== undefined ? { failed: held.failed } : {}),
    });
    deps.counts.retried += 1;
  } else {
    deps.counts.left += 1;
  }
  if (report && runId !== undefined) {
    // Let the settle reach the server before anyone acts on the report.
    if (outcome.kind === 'retry') await deps.nc.flush().catch(() => {});
    // A message tried again has no outcome yet: what it met goes out as a note, under
    // `retrying` (not `message`, which a waiting client takes for the outcome; ADR 133).
    publishResult(
      deps,
      runId,
      outcome.kind === 'retry'
        ? { retrying: msg.seq, retry_in_ms: outcome.delayMs, ...report }
        : { message: msg.seq, ...report },
    );
  }
}

/** Publishes `value` on `<ns>.results.<run>`, without its outputs if it is too big for NATS. */
function publishResult(
  deps: Pick<ReleaseDeps, 'nc' | 'names' | 'log'>,
  runId: string,
  value: Record<string, unknown>,
): void {
  try {
    let text = jsonText(value) ?? 'null';
    if (Buffer.byteLength(text) > maxPayload(deps.nc)) {
      // Too big for one NATS message (a large output): the outcome without outputs; the
      // ledger has them (flujo lens show).
      const { output: _o, steps: _s, ...rest } = value;
      text = jsonText({ ...rest, output_truncated: true }) ?? 'null';
    }
    deps.nc.publish(resultsSubject(deps.names, runId), text);
  } catch (e) {
    deps.log.warn({ run_id: runId, err: (e as Error).message }, 'could not publish the result');
  }
}

/**
 * A work message `flujo fleet dead-letters retry` published (its `Flujo-Retried-From` and
 * `Flujo-Retried-By` headers): recorded on the event it causes (ADR 87).
 */
export function retriedOf(msg: JsMsg): Retried | undefined {
  const from = msg.headers?.get('Flujo-Retried-From');
  if (!from) return undefined;
  const by = msg.headers?.get('Flujo-Retried-By') || 'unknown';
  return { deadLetter: from.slice(0, 200), by: by.slice(0, 200) };
}

/** The server's largest message, less room for headers. */
function maxPayload(nc: NatsConnection): number {
  return (nc.info?.max_payload ?? 1 << 20) - 4096;
}
