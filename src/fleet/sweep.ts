/**
 * The sweep of spent records (ADR 86, "the bound"), on every worker, every quarter of the bound
 * (at most 30 s): a message held past the bound whose message is still queued is asked about once
 * more, settled by its run when its holder does not answer and the ledger says so, and otherwise
 * kept as a dead letter naming its holder. Every worker sweeps; the dead letter's message id
 * (`dead:<NS>_WORK:<seq>`, as the MAX_DELIVERIES advisory's) makes it one.
 */
import { parseWorkMessage, type WorkMessage } from '../adapters/nats/work.js';
import { dropDeadLetterOf, publishDeadLetter } from './deadLetter.js';
import { answers, settledByRun } from './outcomes.js';
import { pause } from './reconciler.js';
import {
  askHolder,
  clearSpent,
  listSpent,
  settledInReadModels,
  type InHand,
  type Held,
  type SpentDeps,
  type SpentRecord,
} from './spent.js';

export interface SweepDeps extends SpentDeps {
  /** Takes a message handled here in hand (SpentKeeper.adopt). */
  adopt(held: Held): Promise<InHand>;
}

/** Sweeps the spent records until the worker stops. */
export async function sweepLoop(deps: SweepDeps): Promise<void> {
  const every = Math.min(30_000, Math.max(200, Math.floor(deps.spentAfterMs / 4)));
  while (!deps.signal.aborted) {
    await pause(every, deps.signal);
    if (deps.signal.aborted) return;
    await sweep(deps).catch((e: unknown) =>
      deps.log.warn({ err: (e as Error).message }, 'could not read the spent records'),
    );
  }
}

/**
 * One look at the spent records (ADR 86, "the bound"): a message held past the bound whose
 * message is still queued is settled by its run when the ledger says so, else kept as a dead
 * letter naming its holder. Every worker sweeps; the dead letter's message id makes it one.
 */
export async function sweep(deps: SweepDeps): Promise<void> {
  const { jsm, names, log, now, spentAfterMs } = deps;
  const records = await listSpent(jsm, names);
  for (const rec of records) {
    if (deps.signal.aborted) return;
    if (now() - rec.since < spentAfterMs) continue;
    await sweepOne(deps, rec).catch((e: unknown) =>
      log.warn(
        { seq: rec.seq, run_id: rec.runId, err: (e as Error).message },
        'could not sweep a spent message; trying again at the next sweep',
      ),
    );
  }
}

async function sweepOne(deps: SweepDeps, rec: SpentRecord): Promise<void> {
  const { js, jsm, names, log, now, spentAfterMs } = deps;
  const stored = await jsm.streams.getMessage(names.stream, { seq: rec.seq }).catch(() => null);
  if (!stored) {
    // Settled or removed already; its record outlived it.
    await clearSpent(jsm, names, rec.seq);
    return;
  }
  let m: WorkMessage;
  try {
    m = parseWorkMessage(names, stored.subject, stored.data);
  } catch {
    return;
  }
  // Its holder: this worker, another that answers (still handling it, wedged), or none.
  const mine = deps.handling.get(rec.seq);
  let holder: 'here' | 'answered' | 'silent' = mine ? 'here' : 'silent';
  if (mine) {
    if ((await deps.adopt(mine)).remove) return;
  } else {
    // Nobody answering: its worker died (or is stalled past the wait).
    if (await askHolder(deps, rec.seq)) holder = 'answered';
  }
  const still = await jsm.streams.getMessage(names.stream, { seq: rec.seq }).catch(() => null);
  if (!still) {
    await clearSpent(jsm, names, rec.seq);
    return;
  }
  const at = { run_id: m.runId, kind: m.kind, seq: rec.seq, held_by: rec.worker };
  if (holder === 'silent') {
    // As for an advisory nobody answers: the run may have what it asked (the worker died
    // after its run's first commit, before a heartbeat took the message out).
    const why = await settledInReadModels(deps, m.runId, m);
    if (why) {
      await jsm.streams.deleteMessage(names.stream, rec.seq, false).catch(() => {});
      await clearSpent(jsm, names, rec.seq);
      log.warn(
        { ...at, reason: why },
        'work message held past the bound by a worker that does not answer, but its run is in hand; removed, not a dead letter',
      );
      return;
    }
  }
  const since = new Date(rec.since).toISOString();
  const reason = `held by worker ${rec.worker} since ${since}; its handling did not settle within ${Math.round(spentAfterMs / 1000)} s (${holder === 'silent' ? 'that worker does not answer: it died or is stalled' : 'that worker still handles it: the handling is wedged'}); JetStream had stopped delivering it; publish it again (flujo fleet dead-letters retry) if its run still needs it`;
  const dead = { kind: m.kind, runId: m.runId, reason, code: 'MAX_DELIVERIES' };
  const copy = {
    subject: stored.subject,
    seq: stored.seq,
    data: stored.data,
    headers: stored.header,
    deliveries: deps.maxDeliver,
  };
  const to = await publishDeadLetter(js, names, copy, dead, now);
  const taken = await jsm.streams
    .deleteMessage(names.stream, rec.seq, false)
    .then(() => true)
    .catch((e: unknown) => !/no message found/i.test((e as Error).message));
  await clearSpent(jsm, names, rec.seq);
  // Gone before this sweep removed it: since the look above, its handling settled it (acked it,
  // or took it out once its run was recorded) — or another sweeper kept it too. When the ledger
  // has what it asked, the dead letter just stored is for work done (ADR 86): removed. A holder
  // that answered (or this worker) takes it out once its run is recorded (adopt): the ledger as
  // adopt reads it. Nobody answered: another sweeper removed it (or a stalled holder, whose own
  // settle removes the dead letter): the ledger as the look above read it, which kept it.
  const why = taken
    ? undefined
    : holder === 'silent'
      ? await settledInReadModels(deps, m.runId, m)
      : await recordedInLedger(deps, m);
  const dropped = why
    ? await dropDeadLetterOf(jsm, names, m, copy).catch(() => undefined)
    : undefined;
  if (dropped !== undefined) {
    log.warn(
      { ...at, reason: why, dead_letter: to, dead_seq: dropped },
      'work message held past the bound was settled by its handling while it was kept as a dead letter; the dead letter is removed',
    );
    return;
  }
  log.error(
    { ...at, dead_letter: to, reason },
    'work message held past the bound after its deliveries ran out; kept as a dead letter',
  );
}

/** Why run `m.runId`'s read models show what `m` asked recorded (as adopt decides), or undefined. */
async function recordedInLedger(deps: SweepDeps, m: WorkMessage): Promise<string | undefined> {
  const run = await deps.readModels.getRun(m.runId).catch(() => null);
  return run
    ? settledByRun(
        { kind: m.kind, answer: answers(m) },
        { status: run.status, idleMs: 0 },
        Number.POSITIVE_INFINITY,
      )
    : undefined;
}
