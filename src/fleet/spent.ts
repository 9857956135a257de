/**
 * Spent messages (ADR 86): a work message JetStream stopped delivering while a worker handles it.
 * Its handling goes on and settles it by hand (./worker.ts); this file is the rest.
 *
 * - Taking it in hand (adopt): removed from the work queue at once when the ledger has what it
 *   asked, so that if its worker dies the reconciler adopts the run; otherwise kept for the
 *   handling and recorded (below). Another worker that got the MAX_DELIVERIES advisory, or sweeps,
 *   asks on `<ns>.control.handling.<NS>_WORK.<seq>` whether a worker handles it (inHand).
 * - Records ("the bound"): a spent message whose work is not in the ledger yet stays in
 *   `<NS>_WORK` for its handling to settle. If that worker dies or its handling wedges, nothing
 *   else would ever look at it: the consumer does not deliver it again and its ack floor does not
 *   move past it. So the worker records it on `<ns>.dead.spent.<seq>.<run>` in the dead-letter
 *   stream (five tokens: not a dead letter to `<ns>.dead.*.*`, nor a log record), with when it
 *   took it in hand and who it is; the record is purged when the handling settles the message or
 *   takes it out of the queue. Every worker sweeps the records (./sweep.ts): one older than the
 *   bound whose message is still queued and not settled by its run is kept as a dead letter, as
 *   MAX_DELIVERIES ones are (same message id, so workers sweeping at once store it once).
 *   `dead-letters show` of a record's sequence says what it stands for (spentWhy).
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';

import {
  parseWorkMessage,
  runOfToken,
  runToken,
  type FleetNames,
  type WorkKind,
  type WorkMessage,
} from '../adapters/nats/work.js';
import type { ReadModels } from '../projections/readModels.js';
import type { WorkCopy } from './deadLetter.js';
import { answers, settledByRun } from './outcomes.js';
import type { WorkerLog } from './types.js';

export interface SpentRecord {
  /** The work message's stream sequence in `<NS>_WORK`. */
  readonly seq: number;
  readonly runId: string;
  readonly kind: WorkKind;
  /** The worker handling it (its `--name`). */
  readonly worker: string;
  /** When that worker took it in hand after its deliveries ran out (ms since the epoch). */
  readonly since: number;
}

export const spentSubject = (n: FleetNames, seq: number, runId: string) =>
  `${n.namespace}.dead.spent.${seq}.${runToken(runId)}`;

/** The work message and run a spent record's subject names, or undefined (another subject). */
export function spentOf(
  n: FleetNames,
  subject: string,
): { seq: number; runId: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== n.namespace || parts[1] !== 'dead' || parts[2] !== 'spent')
    return undefined;
  const seq = Number(parts[3]);
  if (!Number.isSafeInteger(seq) || !parts[4]) return undefined;
  return { seq, runId: runOfToken(parts[4]) };
}

const spentFilter = (n: FleetNames, seq?: number) => `${n.namespace}.dead.spent.${seq ?? '*'}.*`;

/** Records that `rec.worker` settles message `rec.seq` by hand from `rec.since` on. */
export async function recordSpent(
  js: JetStreamClient,
  n: FleetNames,
  rec: SpentRecord,
): Promise<void> {
  await js.publish(
    spentSubject(n, rec.seq, rec.runId),
    JSON.stringify({
      seq: rec.seq,
      run_id: rec.runId,
      kind: rec.kind,
      worker: rec.worker,
      since: new Date(rec.since).toISOString(),
    }),
    { msgID: `spent:${n.stream}:${rec.seq}`, timeout: 5_000 },
  );
}

/**
 * Why dead-letter sequence `seq`, a spent record (ADR 86, "the bound"), is not a dead letter:
 * which work message it stands for, who holds it since when, whether that message is still queued,
 * and how to look at either.
 */
export async function spentWhy(
  deps: { readonly jsm: JetStreamManager; readonly names: FleetNames },
  seq: number,
  spent: { seq: number; runId: string },
  data: Uint8Array,
): Promise<string> {
  const { names } = deps;
  let rec: { kind?: unknown; worker?: unknown; since?: unknown } = {};
  try {
    rec = JSON.parse(Buffer.from(data).toString('utf8')) as typeof rec;
  } catch {
    // a record not written by a worker: said from its subject alone
  }
  const kind = typeof rec.kind === 'string' ? `${rec.kind} ` : '';
  const holder = `${typeof rec.worker === 'string' ? `worker ${rec.worker}` : 'a worker'}${typeof rec.since === 'string' ? ` since ${rec.since}` : ''}`;
  const queued = await deps.jsm.streams
    .getMessage(names.stream, { seq: spent.seq })
    .then((m) => m !== null)
    .catch(() => false);
  const now = queued
    ? `it is still in ${names.stream}, for that handling to settle; if it does not within the bound (the larger of --reconcile-after and ten --ack-waits), a worker's sweep keeps it as a dead letter, which dead-letters list then shows`
    : `it is no longer in ${names.stream} (settled, or kept as a dead letter: see dead-letters list --run ${spent.runId}); the record goes at the next sweep`;
  return `message ${seq} is a spent record, not a dead letter: work message ${spent.seq} (${kind}of run ${spent.runId}) is held by ${holder}, after JetStream stopped delivering it (ADR 86); ${now}. Look at the record with: nats stream get ${names.deadStream} ${seq}${queued ? `; at the work message with: nats stream get ${names.stream} ${spent.seq}` : ''}`;
}

/** Removes the record of message `seq` (none is fine). */
export async function clearSpent(jsm: JetStreamManager, n: FleetNames, seq: number): Promise<void> {
  await jsm.streams.purge(n.deadStream, { filter: spentFilter(n, seq) });
}

/** Every spent record, oldest first. */
export async function listSpent(jsm: JetStreamManager, n: FleetNames): Promise<SpentRecord[]> {
  const info = await jsm.streams.info(n.deadStream, { subjects_filter: spentFilter(n) });
  const out: SpentRecord[] = [];
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const stored = await jsm.streams
      .getMessage(n.deadStream, { last_by_subj: subject })
      .catch(() => null);
    if (!stored) continue;
    const parts = subject.split('.');
    try {
      const v = stored.json<{ seq?: unknown; kind?: unknown; worker?: unknown; since?: unknown }>();
      const seq = Number(parts[3]);
      const since = Date.parse(String(v.since));
      if (!Number.isSafeInteger(seq) || !Number.isFinite(since)) continue;
      out.push({
        seq,
        runId: runOfToken(parts[4] ?? ''),
        kind: String(v.kind) as WorkKind,
        worker: typeof v.worker === 'string' ? v.worker : 'unknown',
        since,
      });
    } catch {
      // not a record of ours: leave it
    }
  }
  return out.sort((a, b) => a.since - b.since);
}

/** A message being handled here, through its newest delivery (ADR 81, ADR 86). */
export interface Held {
  msg: JsMsg;
  /** Deliveries after the first that came while it was handled here: none of them failed. */
  absorbed: number;
  /** JetStream gave up on it while it was handled here (MAX_DELIVERIES): settle it by hand. */
  spent: boolean;
  /** Spent, and taken out of the work stream already (its work is in the ledger). */
  removed?: boolean;
  /** The message, once read. */
  work?: WorkMessage;
  /** Handlings that failed, this one included, once it failed. */
  failed?: number;
  /** When it was taken in hand here after its deliveries ran out (ms since the epoch). */
  since?: number;
  /** Its spent record being published (ADR 86, "the bound"): set once. */
  recording?: Promise<void>;
}

/** The sweep kept the message as a dead letter while this handling held it past the bound. */
export class Swept extends Error {}

/** Whether a message out of deliveries is in hand, and whether to take it out of the queue now. */
export type InHand = { reason: string; remove: boolean };

export interface SpentDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: FleetNames;
  readonly readModels: ReadModels;
  readonly log: WorkerLog;
  readonly now: () => number;
  /** This worker's name (its `--name`), as its spent records carry it. */
  readonly name: string;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly reconcileAfterMs?: number | undefined;
  /** How long a handling may hold a spent message before it is kept as a dead letter. */
  readonly spentAfterMs: number;
  /** The messages being handled here, by stream sequence (the worker's own map). */
  readonly handling: ReadonlyMap<number, Held>;
  /** The worker stopping: the sweep ends. */
  readonly signal: AbortSignal;
}

/** Where a worker is asked whether it handles message `seq` of the work stream. */
export const handlingSubject = (n: FleetNames, seq: number | string) =>
  `${n.namespace}.control.handling.${n.stream}.${seq}`;

/** Asks the worker handling message `seq`, if one does: its answer, or undefined (none within the wait). */
export async function askHolder(
  deps: Pick<SpentDeps, 'nc' | 'names' | 'ackWaitMs'>,
  seq: number,
): Promise<{ reason?: string } | undefined> {
  let reply: Msg;
  try {
    reply = await deps.nc.request(handlingSubject(deps.names, seq), '', {
      timeout: Math.min(10_000, Math.max(1_000, deps.ackWaitMs)),
    });
  } catch {
    // Nobody is handling it (or its worker is stalled past the wait).
    return undefined;
  }
  try {
    return reply.json<{ reason?: string }>();
  } catch {
    return {};
  }
}

/**
 * Whether run `runId`'s read models show the work `m` asked for settled (ADR 86): ended, at rest
 * for what it asked, or running with an event within --reconcile-after (and, for an answer, no
 * question open). The reason, or undefined.
 */
export async function settledInReadModels(
  deps: Pick<SpentDeps, 'readModels' | 'now' | 'reconcileAfterMs'>,
  runId: string,
  m: WorkMessage,
): Promise<string | undefined> {
  const run = await deps.readModels.getRun(runId).catch(() => null);
  if (!run) return undefined;
  // An answer to a running run still asking was not taken (ADR 133): its run's driver will not
  // take it. Asking is assumed when the question rows cannot be read.
  const asking =
    answers(m) && run.status === 'running'
      ? await deps.readModels.hitl({ status: 'pending', runId }).then(
          (rows) => rows.length > 0,
          () => true,
        )
      : undefined;
  return settledByRun(
    { kind: m.kind, answer: answers(m) },
    {
      status: run.status,
      idleMs: Math.max(0, deps.now() - run.updatedAt),
      ...(asking !== undefined ? { asks: asking } : {}),
    },
    deps.reconcileAfterMs ? deps.reconcileAfterMs : undefined,
  );
}

/** What a worker does with spent messages (ADR 86); made once per worker by keepSpent. */
export interface SpentKeeper {
  /** Takes `held` in hand after its deliveries ran out (the MAX_DELIVERIES advisory, a heartbeat). */
  adopt(held: Held): Promise<InHand>;
  /** Whether a message out of deliveries is in hand: here, at another worker, or by its run. */
  inHand(spent: WorkCopy & { runId: string }): Promise<InHand | undefined>;
  /** Throws Swept when the sweep kept `held`'s message as a dead letter meanwhile. */
  unlessSwept(held: Held): Promise<void>;
  /** Once `held` is settled (or swept): its spent record, if it has one, goes too. */
  forget(held: Held): Promise<void>;
  /** Stops answering whether a message is handled here. */
  unsubscribe(): void;
}

export function keepSpent(deps: SpentDeps): SpentKeeper {
  const { nc, js, jsm, names, log, now, name, handling } = deps;
  /**
   * A message JetStream stopped delivering while this worker handles it (ADR 86): its handling
   * goes on and settles it. It is taken out of the work stream now when what it asked is in the
   * ledger already (a start whose run is recorded, a resume of a run that is not waiting for
   * this answer), so that if this worker dies the reconciler adopts the run; otherwise it stays
   * for the handling to settle, and is looked at again at each heartbeat.
   */
  async function adopt(held: Held): Promise<InHand> {
    held.spent = true;
    held.since ??= now();
    const m = held.work;
    const run = m ? await deps.readModels.getRun(m.runId).catch(() => null) : null;
    const recorded =
      m && run
        ? settledByRun(
            { kind: m.kind, answer: answers(m) },
            { status: run.status, idleMs: 0 },
            Number.POSITIVE_INFINITY,
          )
        : undefined;
    if (!recorded || !run) {
      // Kept for this handling: recorded where every worker looks, so that if this worker dies
      // or the handling wedges, the sweep keeps it as a dead letter after the bound.
      held.recording ??= recordSpent(js, names, {
        seq: held.msg.seq,
        runId: m?.runId ?? runOfSubject(held.msg.subject),
        kind: m?.kind ?? 'start',
        worker: name,
        since: held.since,
      }).catch((e: unknown) =>
        log.warn(
          { seq: held.msg.seq, err: (e as Error).message },
          `could not record a spent message in ${names.deadStream}; if this worker dies before settling it, it stays in ${names.stream}`,
        ),
      );
      await held.recording;
      return {
        reason: `a worker is still handling it (${name}, since ${new Date(held.since).toISOString()}): the handling settles it`,
        remove: false,
      };
    }
    if (!held.removed) {
      await jsm.streams.deleteMessage(names.stream, held.msg.seq, false).catch(() => {});
      held.removed = true;
      if (held.recording) {
        await held.recording;
        await clearSpent(jsm, names, held.msg.seq).catch(() => {});
      }
    }
    return {
      reason: `a worker is still handling it, and the ledger has what it asked (run ${run.status}): removed from the work queue, the handling settles the run`,
      remove: true,
    };
  }

  async function inHand(spent: WorkCopy & { runId: string }): Promise<InHand | undefined> {
    const mine = handling.get(spent.seq);
    if (mine) return adopt(mine);
    // The worker handling it, if one is, answers (and takes it in hand as above).
    const r = await askHolder(deps, spent.seq);
    if (r) return { reason: r.reason ?? 'a worker is still handling it', remove: false };
    // Nobody is handling it (or its worker is stalled past the wait): ask the ledger.
    let m: WorkMessage;
    try {
      m = parseWorkMessage(names, spent.subject, spent.data);
    } catch {
      return undefined;
    }
    const why = await settledInReadModels(deps, spent.runId, m);
    return why ? { reason: why, remove: true } : undefined;
  }

  // Another worker asks whether a message out of deliveries is being handled here.
  const asked = nc.subscribe(handlingSubject(names, '*'), {
    callback: (_err, msg) => {
      const seq = Number(msg.subject.split('.').at(-1));
      const held = handling.get(seq);
      if (!held) return;
      void adopt(held)
        .then((r) => msg.respond(JSON.stringify({ reason: r.reason })))
        .catch((e: unknown) =>
          log.warn(
            { err: (e as Error).message },
            'could not answer whether a message is handled here',
          ),
        );
    },
  });

  /**
   * Throws Swept when the message `held` settles was taken in hand after its deliveries ran out
   * and is no longer in the work stream though this handling did not remove it: the sweep kept
   * it as a dead letter (the handling held it past the bound).
   */
  async function unlessSwept(held: Held): Promise<void> {
    if (!held.spent || held.removed) return;
    const stored = await jsm.streams
      .getMessage(names.stream, { seq: held.msg.seq })
      .catch(() => null);
    if (!stored) throw new Swept();
  }

  async function forget(held: Held): Promise<void> {
    if (!held.recording) return;
    await held.recording;
    await clearSpent(jsm, names, held.msg.seq).catch((e: unknown) =>
      log.warn(
        { seq: held.msg.seq, err: (e as Error).message },
        'could not remove a spent record; the sweep drops it once its message is gone',
      ),
    );
  }

  return { adopt, inHand, unlessSwept, forget, unsubscribe: () => asked.unsubscribe() };
}

/** The run a work subject names (for a message not read yet). */
function runOfSubject(subject: string): string {
  return runOfToken(subject.split('.')[3] ?? '');
}
