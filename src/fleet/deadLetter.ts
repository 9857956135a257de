/**
 * Dead letters (ADR 68): a work message the worker gave up on after its last delivery — one that
 * might have succeeded (the ledger was down, its run's start never came) but has no delivery left
 * — is published as it was, body unchanged, on `<ns>.dead.<kind>.<run>` (stream `<NS>_DEAD`),
 * with headers saying why, so an operator can look at it and publish it again. Messages refused
 * on their merits (bad JSON, an answer the schema rejects, an ended run) are not dead letters:
 * their publisher was told on `<ns>.results.<run>`.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';

import { deadSubject, runToken, type FleetNames, type WorkKind } from '../adapters/nats/work.js';
import type { WorkerLog } from './types.js';

/** Header values are one line of text: newlines become spaces, and long reasons are cut. */
const oneLine = (s: string, max = 2000) => s.replace(/[\r\n]+/g, ' ').slice(0, max);

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
  msg: JsMsg,
  dead: DeadLetter,
  now: () => number,
): Promise<string> {
  const h = headers();
  h.set('Flujo-Reason', oneLine(dead.reason));
  h.set('Flujo-Error-Code', oneLine(dead.code, 100));
  // As in subjects: the run id itself, or `~` and its base64url when it is not a plain token.
  h.set('Flujo-Run-Id', runToken(dead.runId));
  h.set('Flujo-Kind', dead.kind);
  h.set('Flujo-Deliveries', String(msg.info.deliveryCount));
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
    const subject = await publishDeadLetter(deps.js, deps.names, msg, dead, deps.now);
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
