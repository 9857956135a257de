/**
 * What a resume reads: the run's first event (its pipeline fingerprint) and, from its latest
 * snapshot on, the rest — or every event of a run that has no snapshot yet.
 */
import { EngineError, ErrorCode, LedgerCorruptError } from '../errors.js';
import { terminalTypes } from '../events/catalogue.js';
import { genesisHash, linkHash } from '../events/chain.js';
import { bytesEqual } from '../events/codec.js';
import { decodeRecord, type LedgerEvent } from '../events/envelope.js';
import { alteredRow } from '../events/verify.js';
import type { LedgerStore, RunHead } from '../ports.js';
import type { StoredRecord } from '../events/envelope.js';
import { foldFromChain, type SnapshotChain } from './snapshot.js';
import { chainDamage, corruptRun, recordedStart } from './verifyLedger.js';

/** What a resume that found damage did: nothing (LedgerCorruptError's default words). */
const NOT_RESUMED = 'the run was not resumed and nothing was recorded';

export interface LoadedRun {
  /** The pipeline fingerprint the run started with (RunStarted), when it has one. */
  readonly fingerprint: string | undefined;
  /**
   * The latest snapshot, if any, with the fold its chain stands for, the summaries of its chain
   * (a key snapshot's, then the deltas on it, oldest first) and where the chain stands for the
   * next one (without its context picture: the engine takes it from the restored fold).
   */
  readonly snapshot?: {
    uptoSeq: number;
    fold: Record<string, unknown>;
    summaries: Record<string, unknown>[];
    chain: SnapshotChain;
  };
  /** With a snapshot: the events after its summary; without: every event. */
  readonly events: LedgerEvent[];
  /** Bytes of the events after the latest snapshot (all of them without one). */
  readonly bytesSinceSnapshot: number;
}

/**
 * How many of the last events are read first, looking for a snapshot: a pause ends with
 * [RunPaused, SnapshotTaken], and that snapshot's summary is as of before RunPaused, so these two
 * rows are all such a resume builds on (each row read costs about 5 µs on SQLite).
 */
const NEAR = 2;

const bytesAfter = (rows: readonly StoredRecord[], seq: number) =>
  rows.reduce((n, r) => (r.seq > seq ? n + r.body.length : n), 0);

/**
 * Snapshots are at most `snapshotEvery` events apart, so the latest one is within the last
 * 2 × snapshotEvery events: that window is read first, and a short run is all in it.
 */
export async function loadForResume(
  ledger: LedgerStore,
  runId: string,
  head: Pick<RunHead, 'seq' | 'hash'> & { readonly terminal?: boolean },
  snapshotEvery: number,
): Promise<LoadedRun> {
  const headSeq = head.seq;
  // A run resumed from a pause usually ends with the snapshot its pause append closed with:
  // look at the last few events first, and at the whole window only when that finds none.
  const nearStart = Math.max(1, headSeq - NEAR + 1);
  const near = snapshotEvery > 0 ? await ledger.read(runId, { fromSeq: nearStart }) : [];
  const nearSnap = near.findLast((r) => r.type === 'SnapshotTaken');
  const windowStart = nearSnap ? nearStart : Math.max(1, headSeq - 2 * snapshotEvery + 1);
  const tail =
    nearSnap || snapshotEvery <= 0 || windowStart === nearStart
      ? near
      : await ledger.read(runId, { fromSeq: windowStart });
  const snapRow = nearSnap ?? tail.findLast((r) => r.type === 'SnapshotTaken');
  if (!snapRow) {
    // A short run fits in the window just read: decode it instead of reading it again.
    const rows = snapshotEvery > 0 && windowStart === 1 ? tail : await ledger.read(runId);
    await headChecked(ledger, runId, NOT_RESUMED, () => checkChain(runId, rows, head));
    const events = rows.map((r) => decodeRecord(runId, r.seq, r.body));
    // The chain check starts at the first row stored: a run must begin with RunStarted at seq 1
    // (ADR 124), or the run is resumed as if its start were whatever came first.
    if (events[0]?.seq !== 1 || events[0].type !== 'RunStarted')
      throw await corruptRun(ledger, runId, NOT_RESUMED);
    return { fingerprint: startedWith(events[0]), events, bytesSinceSnapshot: bytesAfter(rows, 0) };
  }
  // Everything from the snapshot to the head is in `tail` (it ends at the head): checked first.
  await headChecked(ledger, runId, NOT_RESUMED, () => checkChain(runId, tail, head));
  // And seq 1, the run's RunStarted, one more row read when the window does not hold it (ADR 124;
  // the rows between it and the window stay unread, ADR 43).
  const started = await recordedStart(ledger, runId, NOT_RESUMED, {
    hashed: true,
    ...(windowStart === 1 ? { row: tail[0] ?? null } : {}),
  });
  const snap = snapshotState(runId, snapRow);
  const st = snap.state;
  const chain = await summaryChain(ledger, runId, snapRow, st, tail);
  // Snapshots carry the run's fingerprint; older ones do not, and then RunStarted's is taken.
  const fingerprint =
    typeof st.fingerprint === 'string' ? st.fingerprint : started.data.pipeline.fingerprint;
  const from = st.summaryUpto + 1;
  const rows =
    from >= windowStart
      ? tail.filter((r) => r.seq >= from)
      : await ledger.read(runId, { fromSeq: from });
  if (from < windowStart)
    await headChecked(ledger, runId, NOT_RESUMED, () => checkChain(runId, rows, head));
  return {
    fingerprint,
    snapshot: {
      uptoSeq: snap.uptoSeq,
      fold: foldFromChain(runId, chain.folds),
      summaries: chain.summaries,
      chain: chain.chain,
    },
    // The snapshot itself is among them (its summary is as of before its batch): decoded once.
    events: rows.map((r) => (r === snapRow ? snap.event : decodeRecord(runId, r.seq, r.body))),
    bytesSinceSnapshot: bytesAfter(tail, snapRow.seq),
  };
}

/**
 * Runs a check of the rows against the head read before them. A head row that disagrees with
 * them (`head_mismatch`: its seq lowered, its hash or ended flag changed) is damage, never a
 * concurrent writer (an append moves the head and adds its rows at once), but the check sees only
 * the rows up to the head it read and names the head's seq; `lens verify` reads the head again
 * and names the last stored row. On that damage only, the run is verified whole so that both name
 * the same seq and reason (ADR 130, closing ADR 122's "not done"); its first failure stands, the
 * check's own when it finds none (the head moved on meanwhile).
 */
async function headChecked(
  ledger: LedgerStore,
  runId: string,
  outcome: string,
  check: () => void | Promise<void>,
): Promise<void> {
  try {
    await check();
  } catch (e) {
    if (!(e instanceof LedgerCorruptError) || e.reason !== 'head_mismatch') throw e;
    throw (await chainDamage(ledger, runId, outcome)) ?? e;
  }
}

/**
 * The rows a resume builds on are the ledger's own chain: each row's hash is blake3 of its
 * `prev` and body, each `prev` is the row before's hash (the run's genesis for seq 1), the seqs
 * run without a gap, and the last row is the head the store recorded. Only the rows read are
 * checked — a resume reads from its latest snapshot — and `flujo lens verify` walks the whole
 * chain (docs/adr/0043). Throws LedgerCorruptError naming the first bad seq. Not the full
 * verifier (events/verify.ts): it decodes and validates every row to tell the reasons apart,
 * which resume does once already; a row whose bytes do not hash to it is named as lens verify
 * names it (events/verify.ts alteredRow: the body, the hash column, or bytes that are not CBOR;
 * it was always `body_altered` here), decoding only that row.
 */
function checkChain(
  runId: string,
  read: readonly StoredRecord[],
  head: Pick<RunHead, 'seq' | 'hash'> & { readonly terminal?: boolean },
): void {
  // Rows past the head were appended after it was read (a concurrent answer, a cancel): they are
  // another writer's, not damage; the append that follows this resume will conflict on them.
  const past = read.findIndex((r) => r.seq > head.seq);
  const rows = past === -1 ? read : read.slice(0, past);
  const first = rows[0];
  if (!first) {
    if (head.seq > 0) throw new LedgerCorruptError(runId, 1, 'truncated', 'no events are stored');
    return;
  }
  let prev: Uint8Array | null = first.seq === 1 ? genesisHash(runId) : null;
  let seq = first.seq;
  for (const [i, r] of rows.entries()) {
    if (r.seq !== seq)
      throw new LedgerCorruptError(runId, seq, 'gap', `the next stored event is seq ${r.seq}`);
    if (prev && !bytesEqual(r.prev, prev))
      throw new LedgerCorruptError(runId, seq, 'link_broken', 'prev is not the hash before it');
    const computed = linkHash(r.prev, r.body);
    if (!bytesEqual(computed, r.hash)) {
      // Named as lens verify names it (a hash changed, the body, or bytes that are not CBOR).
      const onward = rows[i + 1]?.prev ?? (r.seq === head.seq ? head.hash : null);
      const why = alteredRow(runId, r, computed, onward);
      throw new LedgerCorruptError(runId, seq, why.reason, why.detail);
    }
    prev = r.hash;
    seq += 1;
  }
  const last = rows[rows.length - 1] as StoredRecord;
  if (last.seq !== head.seq)
    throw new LedgerCorruptError(
      runId,
      Math.min(last.seq + 1, head.seq),
      last.seq < head.seq ? 'truncated' : 'head_mismatch',
      `the stored events end at seq ${last.seq}, the recorded head is seq ${head.seq}`,
    );
  if (!bytesEqual(last.hash, head.hash))
    throw new LedgerCorruptError(
      runId,
      last.seq,
      'head_mismatch',
      'the recorded head hash differs',
    );
  // A head row that says the run ended over a chain that does not end it: the store would refuse
  // the resume's append as if the run had finished; name the damage instead.
  if (head.terminal && !terminalTypes.has(decodeRecord(runId, last.seq, last.body).type))
    throw new LedgerCorruptError(
      runId,
      last.seq + 1,
      'truncated',
      'the run finished but its terminal event is missing',
    );
}

interface SnapState {
  fold: Record<string, unknown>;
  summary: Record<string, unknown>;
  summaryUpto: number;
  /** Present when `summary` is a delta on the snapshot at this seq. */
  summaryBase?: number;
  fingerprint?: unknown;
}

function snapshotState(
  runId: string,
  row: StoredRecord,
): { uptoSeq: number; state: SnapState; event: LedgerEvent } {
  const e = decodeRecord(runId, row.seq, row.body);
  if (e.type !== 'SnapshotTaken')
    throw new EngineError(ErrorCode.LEDGER_DECODE, `run ${runId} seq ${row.seq} is not a snapshot`);
  return { uptoSeq: e.data.uptoSeq, state: e.data.state as unknown as SnapState, event: e };
}

/**
 * Follows a delta snapshot's `summaryBase` back to its key snapshot (ADR 38, 39): at most a few
 * point reads, since a chain's deltas stay smaller than its key snapshot. A base that is not an
 * earlier snapshot of the run is a corrupt ledger, named by run and seq.
 */
async function summaryChain(
  ledger: LedgerStore,
  runId: string,
  latest: StoredRecord,
  state: SnapState,
  read: readonly StoredRecord[],
): Promise<{
  summaries: Record<string, unknown>[];
  folds: { seq: number; fold: Record<string, unknown> }[];
  chain: SnapshotChain;
}> {
  const summaries = [state.summary];
  const folds = [{ seq: latest.seq, fold: state.fold }];
  const events = (state.summary as { events?: number }).events ?? 0;
  let chainBytes = 0;
  let row = latest;
  let cur = state;
  while (cur.summaryBase !== undefined) {
    const base = cur.summaryBase;
    const at = row.seq;
    chainBytes += row.body.length;
    const found =
      Number.isInteger(base) && base >= 1 && base < at
        ? (read.find((r) => r.seq === base) ??
          (await ledger.read(runId, { fromSeq: base, limit: 1 }))[0])
        : undefined;
    if (found?.seq !== base || found.type !== 'SnapshotTaken')
      throw new EngineError(
        ErrorCode.LEDGER_DECODE,
        `run ${runId} seq ${at}: the snapshot's summary builds on seq ${String(base)}, which is not an earlier snapshot of the run`,
      );
    // Read on its own, before the checked window: its bytes must still hash to its hash.
    if (!bytesEqual(linkHash(found.prev, found.body), found.hash))
      throw new LedgerCorruptError(runId, base, 'body_altered', 'its bytes do not hash to it');
    row = found;
    cur = snapshotState(runId, row).state;
    summaries.push(cur.summary);
    folds.push({ seq: row.seq, fold: cur.fold });
  }
  summaries.reverse();
  folds.reverse();
  return {
    summaries,
    folds,
    chain: { seq: latest.seq, events, keyBytes: row.body.length, chainBytes },
  };
}

const startedWith = (e: LedgerEvent | undefined) =>
  e?.type === 'RunStarted' ? e.data.pipeline.fingerprint : undefined;

/**
 * Before a cancel acts on the head row's word: its event must be the one the head names, and it
 * ends the run exactly when the row says the run has ended. The store refuses appends by the row's
 * terminal flag alone, so a flag cleared on an ended run would otherwise let RunCancelled land
 * after its RunCompleted, and a flag set on a paused run would report it ended. Throws
 * LedgerCorruptError naming the seq.
 */
export async function checkHeadEvent(
  ledger: LedgerStore,
  runId: string,
  head: Pick<RunHead, 'seq' | 'hash' | 'terminal'>,
): Promise<void> {
  const outcome = 'the run was not cancelled and nothing was recorded';
  await headChecked(ledger, runId, outcome, () => headEvent(ledger, runId, head, outcome));
}

async function headEvent(
  ledger: LedgerStore,
  runId: string,
  head: Pick<RunHead, 'seq' | 'hash' | 'terminal'>,
  outcome: string,
): Promise<void> {
  if (head.seq === 0) return;
  const [row] = await ledger.read(runId, { fromSeq: head.seq, limit: 1 });
  if (!row || row.seq !== head.seq)
    throw new LedgerCorruptError(
      runId,
      head.seq,
      'truncated',
      'the head event is not stored',
      outcome,
    );
  const computed = linkHash(row.prev, row.body);
  if (!bytesEqual(computed, row.hash)) {
    const why = alteredRow(runId, row, computed, head.hash);
    throw new LedgerCorruptError(runId, row.seq, why.reason, why.detail, outcome);
  }
  if (!bytesEqual(row.hash, head.hash))
    throw new LedgerCorruptError(
      runId,
      row.seq,
      'head_mismatch',
      'the recorded head hash differs',
      outcome,
    );
  const type = decodeRecord(runId, row.seq, row.body).type;
  if (terminalTypes.has(type) && !head.terminal)
    throw new LedgerCorruptError(
      runId,
      row.seq,
      'head_mismatch',
      `the store's head says the run has not ended, but seq ${row.seq} is ${type}`,
      outcome,
    );
  if (!terminalTypes.has(type) && head.terminal)
    throw new LedgerCorruptError(
      runId,
      row.seq + 1,
      'truncated',
      'the run finished but its terminal event is missing',
      outcome,
    );
}
