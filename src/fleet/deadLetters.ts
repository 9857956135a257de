/**
 * What an operator does with dead letters (ADR 68, ADR 80): list them, look at one, publish one
 * again as a work message once its cause is fixed (retry), or drop it (purge). Each retry and
 * purge leaves a record beside the dead letters, on `<ns>.dead.log.<action>.<run>` in the same
 * stream (`<NS>_DEAD`), saying which dead letter it was, what was done, by whom and when; the
 * dead letter itself is then removed, so the list holds what still needs a decision.
 *
 * Only NATS is needed: a dead letter is not an event of the ledger (ADR 68), and what becomes of
 * a retried message is decided by the worker that gets it, on its merits (a resume of a run that
 * ended is refused, a start of a recorded run resumes it).
 */
import { createHash } from 'node:crypto';

import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import { headers, type MsgHdrs } from '@nats-io/transport-node';

import {
  parseWorkSubject,
  runOfToken,
  runToken,
  workSubject,
  type FleetNames,
  type WorkKind,
} from '../adapters/nats/work.js';
import { EngineError, ErrorCode, ExitCode } from '../errors.js';
import { spentOf, spentWhy } from './spent.js';

const KINDS: readonly WorkKind[] = ['start', 'resume', 'cancel'];

/** A dead letter as `flujo fleet dead-letters list --json` prints it. */
export interface DeadLetterView {
  /** Its sequence in `<NS>_DEAD`: the id the other commands (and `nats stream get`) take. */
  readonly seq: number;
  readonly subject: string;
  readonly run_id: string;
  readonly kind: WorkKind;
  /** `Flujo-Error-Code`: LEDGER_STORE, RUN_NOT_FOUND, MAX_DELIVERIES, … */
  readonly code: string | null;
  /** `Flujo-Reason`, one line. */
  readonly reason: string | null;
  /** `Flujo-Deliveries`: how many times it was delivered before it was given up. */
  readonly deliveries: number | null;
  /** `Flujo-Dead-At` (when the worker gave it up), else when the stream stored it. */
  readonly dead_at: string;
  readonly work_subject: string | null;
  readonly work_seq: number | null;
  readonly work_msg_id: string | null;
  readonly bytes: number;
  /** Every header, as stored (the Flujo-… ones above, and any an operator's tool added). */
  readonly headers: Record<string, string>;
}

/** What was done with a dead letter: the record kept on `<ns>.dead.log.<action>.<run>`. */
export interface DeadLetterAction {
  readonly action: 'retry' | 'purge';
  /** The dead letter as it was (without its body: `body_sha256` identifies it). */
  readonly dead_letter: Omit<DeadLetterView, 'headers'> & { readonly body_sha256: string };
  /** A retry: the work message it became. */
  readonly work?: {
    readonly subject: string;
    readonly seq: number;
    readonly msg_id: string;
    /** The same retry was published within the work stream's de-duplication window. */
    readonly duplicate: boolean;
  };
  readonly by: string;
  readonly host: string;
  readonly note?: string;
  readonly at: string;
}

export interface DeadLetterDeps {
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly names: FleetNames;
  readonly now?: () => number;
}

/** `<ns>.dead.log.<action>.<run>`: five tokens, so `<ns>.dead.*.*` still names dead letters only. */
export const deadLogSubject = (n: FleetNames, action: 'retry' | 'purge', runId: string) =>
  `${n.namespace}.dead.log.${action}.${runToken(runId)}`;

function headerMap(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [k, v] of h) out[k] = v.join(', ');
  return out;
}

const intOrNull = (s: string | undefined): number | null => {
  const n = Number(s);
  return s !== undefined && s !== '' && Number.isSafeInteger(n) ? n : null;
};

/** The kind and run a dead-letter subject names, or undefined (a log record, a stray). */
function deadOf(n: FleetNames, subject: string): { kind: WorkKind; runId: string } | undefined {
  const parts = subject.split('.');
  const kind = parts[2] as WorkKind;
  if (parts.length !== 4 || parts[0] !== n.namespace || parts[1] !== 'dead') return undefined;
  if (!KINDS.includes(kind) || !parts[3]) return undefined;
  return { kind, runId: runOfToken(parts[3]) };
}

function view(
  n: FleetNames,
  m: { seq: number; subject: string; headers?: MsgHdrs | undefined; data: Uint8Array; time: Date },
): DeadLetterView | undefined {
  const named = deadOf(n, m.subject);
  if (!named) return undefined;
  const h = headerMap(m.headers);
  return {
    seq: m.seq,
    subject: m.subject,
    run_id: named.runId,
    kind: named.kind,
    code: h['Flujo-Error-Code'] ?? null,
    reason: h['Flujo-Reason'] ?? null,
    deliveries: intOrNull(h['Flujo-Deliveries']),
    dead_at: h['Flujo-Dead-At'] ?? m.time.toISOString(),
    work_subject: h['Flujo-Work-Subject'] ?? null,
    work_seq: intOrNull(h['Flujo-Work-Seq']),
    work_msg_id: h['Flujo-Work-Msg-Id'] ?? null,
    bytes: m.data.length,
    headers: h,
  };
}

/** Whether the dead-letter stream exists (no worker or client of the namespace has run yet). */
async function hasStream(deps: DeadLetterDeps): Promise<boolean> {
  try {
    await deps.jsm.streams.info(deps.names.deadStream);
    return true;
  } catch (e) {
    if (/not found/i.test((e as Error).message)) return false;
    throw e;
  }
}

/**
 * Every stored message on `filter`, oldest first (an ordered consumer: nothing is acked or
 * removed). Reads what was there when it started; messages stored meanwhile may be left out.
 */
async function readAll(
  deps: DeadLetterDeps,
  filter: string,
): Promise<{ seq: number; subject: string; headers?: MsgHdrs; data: Uint8Array; time: Date }[]> {
  const { jsm, js, names } = deps;
  const info = await jsm.streams.info(names.deadStream, { subjects_filter: filter });
  let count = 0;
  for (const c of Object.values(info.state.subjects ?? {})) count += c;
  if (count === 0) return [];
  const consumer = await js.consumers.get(names.deadStream, { filter_subjects: filter });
  const out: { seq: number; subject: string; headers?: MsgHdrs; data: Uint8Array; time: Date }[] =
    [];
  try {
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 256, expires: 2_000 });
      let got = 0;
      let last = false;
      for await (const m of batch) {
        got += 1;
        out.push({
          seq: m.seq,
          subject: m.subject,
          ...(m.headers ? { headers: m.headers } : {}),
          data: m.data,
          time: new Date(m.timestamp),
        });
        if (m.info.pending === 0) {
          last = true;
          break;
        }
      }
      if (last || got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => {});
  }
  return out;
}

export interface ListFilter {
  readonly runId?: string;
  readonly kind?: WorkKind;
}

/** The dead letters kept, oldest first; [] when the namespace has no dead-letter stream yet. */
export async function listDeadLetters(
  deps: DeadLetterDeps,
  filter: ListFilter = {},
): Promise<DeadLetterView[]> {
  if (!(await hasStream(deps))) return [];
  const { namespace } = deps.names;
  const subject = `${namespace}.dead.${filter.kind ?? '*'}.${filter.runId !== undefined ? runToken(filter.runId) : '*'}`;
  const all = await readAll(deps, subject);
  return all.map((m) => view(deps.names, m)).filter((v): v is DeadLetterView => v !== undefined);
}

/** The records of what was done with dead letters (retries and purges), oldest first. */
export async function deadLetterLog(
  deps: DeadLetterDeps,
  filter: { readonly runId?: string } = {},
): Promise<(DeadLetterAction & { readonly seq: number })[]> {
  if (!(await hasStream(deps))) return [];
  const subject = `${deps.names.namespace}.dead.log.*.${filter.runId !== undefined ? runToken(filter.runId) : '*'}`;
  const out: (DeadLetterAction & { seq: number })[] = [];
  for (const m of await readAll(deps, subject)) {
    try {
      out.push({
        seq: m.seq,
        ...(JSON.parse(Buffer.from(m.data).toString('utf8')) as object),
      } as DeadLetterAction & { seq: number });
    } catch {
      // Not ours (published by hand): left out.
    }
  }
  return out;
}

function notFound(names: FleetNames, seq: number, why: string): EngineError {
  return new EngineError(
    ErrorCode.DEAD_LETTER_NOT_FOUND,
    `no dead letter ${seq} in ${names.deadStream}: ${why}; list them with: flujo fleet dead-letters list --namespace ${names.namespace}`,
    { exitCode: ExitCode.runtime, details: { seq } },
  );
}

/** One dead letter with its body, or DEAD_LETTER_NOT_FOUND (exit 1) saying why. */
export async function getDeadLetter(
  deps: DeadLetterDeps,
  seq: number,
): Promise<{ view: DeadLetterView; data: Uint8Array }> {
  const { names } = deps;
  if (!(await hasStream(deps)))
    throw notFound(
      names,
      seq,
      `the stream does not exist (no worker of namespace ${names.namespace} has run)`,
    );
  let stored: StoredMsg | null;
  try {
    stored = await deps.jsm.streams.getMessage(names.deadStream, { seq });
  } catch (e) {
    if (!/not found/i.test((e as Error).message)) throw e;
    stored = null;
  }
  if (!stored) throw notFound(names, seq, 'it was retried, purged or expired, or never existed');
  const v = view(names, {
    seq: stored.seq,
    subject: stored.subject,
    headers: stored.header,
    data: stored.data,
    time: stored.time,
  });
  if (!v) {
    const spent = spentOf(names, stored.subject);
    if (spent) throw notFound(names, seq, await spentWhy(deps, seq, spent, stored.data));
    throw notFound(
      names,
      seq,
      `message ${seq} is on ${stored.subject}, not <ns>.dead.<kind>.<run> (a record of what was done with one, or not Flujo's)`,
    );
  }
  return { view: v, data: stored.data };
}

export interface ActOptions {
  /** Who did it (recorded). */
  readonly by: string;
  readonly host: string;
  readonly note?: string;
}

function record(
  deps: DeadLetterDeps,
  action: 'retry' | 'purge',
  dead: { view: DeadLetterView; data: Uint8Array },
  opts: ActOptions,
  work?: DeadLetterAction['work'],
): DeadLetterAction {
  const { headers: _h, ...rest } = dead.view;
  return {
    action,
    dead_letter: {
      ...rest,
      body_sha256: createHash('sha256').update(dead.data).digest('hex'),
    },
    ...(work ? { work } : {}),
    by: opts.by,
    host: opts.host,
    ...(opts.note !== undefined ? { note: opts.note } : {}),
    at: new Date((deps.now ?? Date.now)()).toISOString(),
  };
}

/**
 * Stores the record of `action`, then removes the dead letter. The record's message id makes a
 * repeated command (after a crash between the two) keep one record. Resolves with the record's
 * sequence in the dead-letter stream.
 */
async function keepRecord(
  deps: DeadLetterDeps,
  rec: DeadLetterAction,
  seq: number,
): Promise<number> {
  const { names } = deps;
  const h = headers();
  h.set('Flujo-Action', rec.action);
  h.set('Flujo-Dead-Seq', String(seq));
  h.set('Flujo-Run-Id', runToken(rec.dead_letter.run_id));
  h.set('Flujo-By', rec.by.replace(/[\r\n]+/g, ' ').slice(0, 200));
  const ack = await deps.js.publish(
    deadLogSubject(names, rec.action, rec.dead_letter.run_id),
    JSON.stringify(rec),
    { headers: h, msgID: `${rec.action}:${names.deadStream}:${seq}`, timeout: 5_000 },
  );
  await deps.jsm.streams.deleteMessage(names.deadStream, seq, false).catch((e: unknown) => {
    // Gone already (a concurrent purge or retry of the same one): the record still stands.
    if (!/not found|no message/i.test((e as Error).message)) throw e;
  });
  return ack.seq;
}

/**
 * Publishes dead letter `seq` again, body unchanged, on the work subject it came from (the
 * worker decides on its merits, as for any message), with `Flujo-Retried-From`; then keeps the
 * record and removes the dead letter. The work message's id `retry:<NS>_DEAD:<seq>` makes a
 * retry repeated within two minutes one message.
 */
export async function retryDeadLetter(
  deps: DeadLetterDeps,
  seq: number,
  opts: ActOptions,
): Promise<DeadLetterAction & { readonly log_seq: number }> {
  const { names } = deps;
  const dead = await getDeadLetter(deps, seq);
  const { kind, run_id: runId } = dead.view;
  // The subject it was published on when that is a work subject of this fleet naming the same
  // run and kind; otherwise the one its kind and run give (the same, unless headers were edited).
  const recorded = dead.view.work_subject;
  const named = recorded ? parseWorkSubject(names, recorded) : undefined;
  const subject =
    recorded && named && !('problem' in named) && named.kind === kind && named.runId === runId
      ? recorded
      : workSubject(names, kind, runId);
  const h = headers();
  h.set('Flujo-Retried-From', `${names.deadStream}:${seq}`);
  h.set('Flujo-Retried-By', opts.by.replace(/[\r\n]+/g, ' ').slice(0, 200));
  const msgId = `retry:${names.deadStream}:${seq}`;
  const ack = await deps.js.publish(subject, dead.data, {
    headers: h,
    msgID: msgId,
    timeout: 5_000,
  });
  const rec = record(deps, 'retry', dead, opts, {
    subject,
    seq: ack.seq,
    msg_id: msgId,
    duplicate: ack.duplicate,
  });
  return { ...rec, log_seq: await keepRecord(deps, rec, seq) };
}

/** Removes dead letter `seq` for good, keeping the record (its body's digest, not the body). */
export async function purgeDeadLetter(
  deps: DeadLetterDeps,
  seq: number,
  opts: ActOptions,
): Promise<DeadLetterAction & { readonly log_seq: number }> {
  const dead = await getDeadLetter(deps, seq);
  const rec = record(deps, 'purge', dead, opts);
  return { ...rec, log_seq: await keepRecord(deps, rec, seq) };
}
