/**
 * Dead letters (ADR 68): a work message the worker gave up on after its last delivery — one that
 * might have succeeded (the ledger was down, its run's start never came) but has no delivery left
 * — is published as it was, body unchanged, on `<ns>.dead.<kind>.<run>` (stream `<NS>_DEAD`),
 * with headers saying why, so an operator can look at it and publish it again; so is one that
 * JetStream stopped delivering with no worker giving it up (watchMaxDeliveries). Messages refused
 * on their merits (bad JSON, an answer the schema rejects, an ended run) are not dead letters:
 * their publisher was told on `<ns>.results.<run>`.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import {
  headers,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

import {
  deadSubject,
  parseWorkSubject,
  runToken,
  type FleetNames,
  type WorkKind,
} from '../adapters/nats/work.js';
import type { WorkerLog } from './types.js';

/** Header values are one line of text: newlines become spaces, and long reasons are cut. */
const oneLine = (s: string, max = 2000) => s.replace(/[\r\n]+/g, ' ').slice(0, max);

/** The work message a dead letter copies: one being handled, or one read back from the stream. */
export interface WorkCopy {
  readonly subject: string;
  readonly seq: number;
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
  readonly deliveries: number;
}

const copyOf = (msg: JsMsg): WorkCopy => ({
  subject: msg.subject,
  seq: msg.seq,
  data: msg.data,
  headers: msg.headers,
  deliveries: msg.info.deliveryCount,
});

export interface DeadLetter {
  readonly kind: WorkKind;
  readonly runId: string;
  readonly reason: string;
  readonly code: string;
}

/**
 * Publishes `msg` as a dead letter and resolves with its subject once JetStream has stored it;
 * rejects if it could not be stored (the caller then keeps the message in the work stream).
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  names: FleetNames,
  msg: WorkCopy,
  dead: DeadLetter,
  now: () => number,
): Promise<string> {
  const h = headers();
  h.set('Flujo-Reason', oneLine(dead.reason));
  h.set('Flujo-Error-Code', oneLine(dead.code, 100));
  // As in subjects: the run id itself, or `~` and its base64url when it is not a plain token.
  h.set('Flujo-Run-Id', runToken(dead.runId));
  h.set('Flujo-Kind', dead.kind);
  h.set('Flujo-Deliveries', String(msg.deliveries));
  h.set('Flujo-Work-Subject', msg.subject);
  h.set('Flujo-Work-Seq', String(msg.seq));
  const id = msg.headers?.get('Nats-Msg-Id');
  if (id) h.set('Flujo-Work-Msg-Id', oneLine(id, 500));
  h.set('Flujo-Dead-At', new Date(now()).toISOString());
  const subject = deadSubject(names, dead.kind, dead.runId);
  // One dead letter per work message, even if this publish is retried.
  await js.publish(subject, msg.data, {
    headers: h,
    msgID: `dead:${names.stream}:${msg.seq}`,
    timeout: 5_000,
  });
  return subject;
}

/**
 * Removes the dead letter kept for work message `work` (its `Flujo-Work-Subject` and
 * `Flujo-Work-Seq`), when it is the newest on its kind and run's subject: its work turned out to
 * be done (ADR 86, a handling that settled while the sweep kept it). Resolves with its sequence in
 * the dead-letter stream, or undefined when there is none.
 */
export async function dropDeadLetterOf(
  jsm: JetStreamManager,
  names: FleetNames,
  dead: { readonly kind: WorkKind; readonly runId: string },
  work: { readonly subject: string; readonly seq: number },
): Promise<number | undefined> {
  const stored = await jsm.streams
    .getMessage(names.deadStream, { last_by_subj: deadSubject(names, dead.kind, dead.runId) })
    .catch(() => null);
  const h = stored?.header;
  if (!stored || h?.get('Flujo-Work-Seq') !== String(work.seq)) return undefined;
  if (h.get('Flujo-Work-Subject') !== work.subject) return undefined;
  await jsm.streams.deleteMessage(names.deadStream, stored.seq, false);
  return stored.seq;
}

/**
 * Keeps a message given up after its last delivery: true once it is a dead letter (the work
 * stream may drop it; `report`, the outcome published on results, names it), false if it could
 * not be stored (the message is left in the work stream, where `nats stream view` still shows it).
 */
export async function keepDeadLetter(
  deps: { js: JetStreamClient; names: FleetNames; log: WorkerLog; now: () => number },
  msg: JsMsg,
  dead: DeadLetter,
  report: Record<string, unknown> | undefined,
): Promise<boolean> {
  const at = { run_id: dead.runId, kind: dead.kind, delivery: msg.info.deliveryCount };
  try {
    const subject = await publishDeadLetter(deps.js, deps.names, copyOf(msg), dead, deps.now);
    if (report) report.dead_letter = { subject, stream: deps.names.deadStream };
    deps.log.error(
      { ...at, dead_letter: subject, reason: dead.reason },
      'work message given up after its last delivery; kept as a dead letter',
    );
    return true;
  } catch (e) {
    deps.log.error(
      { ...at, err: (e as Error).message, reason: dead.reason },
      `could not store the dead letter in ${deps.names.deadStream}; the message stays in ${deps.names.stream}`,
    );
    return false;
  }
}

/**
 * Messages JetStream stopped delivering with no worker giving them up: each delivery's worker
 * died, stalled past the ack wait or was stopped. The server says so on its MAX_DELIVERIES
 * advisory; one worker of the fleet (a queue group) reads the message back from the work stream,
 * keeps it as a dead letter and removes it. If that fails it stays in the work stream, as before.
 */
export function watchMaxDeliveries(deps: {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: FleetNames;
  log: WorkerLog;
  now: () => number;
  /**
   * Whether the message's work is in hand though its deliveries ran out (ADR 86): a worker still
   * handling it, or its run as the ledger has it. `remove`: take it out of the work stream now
   * (what it asked is in the ledger); else the worker handling it settles it.
   */
  inHand?: (
    spent: WorkCopy & { kind: WorkKind; runId: string },
  ) => Promise<{ reason: string; remove: boolean } | undefined>;
}): Subscription {
  const { names, log } = deps;
  const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.stream}.${names.consumer}`;
  return deps.nc.subscribe(subject, {
    queue: names.consumer,
    callback: (_err, m) => {
      void (async () => {
        const { stream_seq: seq, deliveries } = m.json<{
          stream_seq: number;
          deliveries: number;
        }>();
        const stored = await deps.jsm.streams.getMessage(names.stream, { seq }).catch(() => null);
        // Gone already: acked late, or settled by its worker.
        if (!stored) return;
        const named = parseWorkSubject(names, stored.subject);
        if ('problem' in named) return;
        const reason = `JetStream stopped delivering it after ${deliveries} deliveries: each worker that had it died, stalled past the ack wait or stopped before settling it; publish it again with a new message id if its run still needs it`;
        const copy = {
          subject: stored.subject,
          seq: stored.seq,
          data: stored.data,
          headers: stored.header,
          deliveries,
        };
        const at = { run_id: named.runId, kind: named.kind, delivery: deliveries };
        const held = await deps.inHand?.({ ...copy, ...named });
        if (held) {
          if (held.remove)
            await deps.jsm.streams.deleteMessage(names.stream, seq, false).catch(() => {});
          log.warn(
            { ...at, seq, reason: held.reason, removed: held.remove },
            'work message out of deliveries while its work is in hand; not a dead letter',
          );
          return;
        }
        try {
          const dead = { ...named, reason, code: 'MAX_DELIVERIES' };
          const to = await publishDeadLetter(deps.js, names, copy, dead, deps.now);
          // Said once it is kept, before the work message goes.
          log.error(
            { ...at, dead_letter: to, reason },
            'work message out of deliveries; kept as a dead letter',
          );
          await deps.jsm.streams.deleteMessage(names.stream, seq, false).catch(() => {});
        } catch (e) {
          log.error(
            { ...at, err: (e as Error).message },
            `could not store the dead letter in ${names.deadStream}; the message stays in ${names.stream}`,
          );
        }
      })().catch((e: unknown) =>
        log.warn({ err: (e as Error).message }, 'could not read a max-deliveries advisory'),
      );
    },
  });
}
