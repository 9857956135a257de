/**
 * The chain verifier. Walks a run's stored rows in storage order and names the first bad seq with
 * a stable reason. It looks one row ahead so it can tell an altered body (the chain continues
 * from the stored hash) from an altered hash column (the chain continues from the true hash).
 */
import { terminalTypes, type EventType } from './catalogue.js';
import { bytesEqual } from './codec.js';
import { genesisHash, linkHash, toHex } from './chain.js';
import { LedgerDecodeError } from '../errors.js';
import { decodeEnvelope, toLedgerEvent, type RawEnvelope } from './envelope.js';

export const VerifyReason = {
  /** The stored body is not canonical CBOR of an envelope. */
  badEncoding: 'bad_encoding',
  /** The body decodes but is not a valid event (unknown type, bad data). */
  badEvent: 'bad_event',
  /** The body's bytes changed after they were hashed. */
  bodyAltered: 'body_altered',
  /** The stored hash column changed; the body is intact. */
  hashAltered: 'hash_altered',
  /** `prev` does not name the previous event's hash (or the run's genesis). */
  linkBroken: 'link_broken',
  /** One or more seqs are missing. */
  gap: 'gap',
  /** An event sits at a position its own body does not claim. */
  reorder: 'reorder',
  /** The same seq appears twice. */
  duplicate: 'duplicate',
  /** The event belongs to another run. */
  wrongRun: 'wrong_run',
  /** Events after the run's terminal event. */
  afterTerminal: 'after_terminal',
  /** The ledger ends before the head the store recorded. */
  truncated: 'truncated',
  /** The store's recorded head disagrees with the chain. */
  headMismatch: 'head_mismatch',
  /** Events whose run has no head row any more: the run was removed from the store's index. */
  orphaned: 'orphaned',
  /** Seq 1 is not `RunStarted`, or the store lists a run it holds no event of. */
  noStart: 'no_start',
  /** `RunStarted` again after seq 1: only the engine's first append records it. */
  secondStart: 'second_start',
  /** The read models list a run the ledger holds neither a head row nor events of. */
  unrecorded: 'unrecorded',
  /** The store cannot read the run's rows: its file is damaged (SQLITE_CORRUPT and the like). */
  unreadable: 'unreadable',
} as const;
export type VerifyReason = (typeof VerifyReason)[keyof typeof VerifyReason];

export interface VerifiableRow {
  readonly runId: string;
  readonly seq: number;
  readonly prev: Uint8Array;
  readonly hash: Uint8Array;
  readonly body: Uint8Array;
}

/** What the store believes the head is (its heads table), when it keeps one. */
export interface RecordedHead {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly terminal: boolean;
}

export interface VerifyFailure {
  readonly runId: string;
  readonly seq: number;
  readonly reason: VerifyReason;
  readonly detail: string;
}

export interface RunVerification {
  readonly runId: string;
  readonly ok: boolean;
  readonly events: number;
  readonly headSeq: number;
  readonly headHash: string;
  readonly failure?: VerifyFailure;
}

export interface RunVerifier {
  /** Feeds the next stored row; returns the verdict as soon as a row fails. */
  push(row: VerifiableRow): RunVerification | null;
  /** After the last row: the verdict, including the comparison with the recorded head. */
  finish(): RunVerification;
}

/** An incremental verifier, so a long run can be checked page by page in bounded memory. */
export function createRunVerifier(runId: string, recorded?: RecordedHead): RunVerifier {
  let prevHash = genesisHash(runId);
  let expected = 1;
  let events = 0;
  let lastType: EventType | null = null;
  let pending: VerifiableRow | null = null;

  const result = (failure?: Omit<VerifyFailure, 'runId'>): RunVerification => ({
    runId,
    ok: !failure,
    events,
    headSeq: expected - 1,
    headHash: toHex(prevHash),
    ...(failure ? { failure: { runId, ...failure } } : {}),
  });

  // A row whose link is broken but which is whole in itself (its hash is of its own prev and body)
  // was recorded intact somewhere else: in a SQL ledger, swapped seqs or a row copied from another
  // run look like this, and its body says where it belongs.
  const movedRow = (row: VerifiableRow): Omit<VerifyFailure, 'runId'> | null => {
    if (!bytesEqual(linkHash(row.prev, row.body), row.hash)) return null;
    let env: RawEnvelope;
    try {
      env = decodeEnvelope(runId, row.seq, row.body);
    } catch {
      return null;
    }
    if (env.runId !== runId)
      return { seq: row.seq, reason: 'wrong_run', detail: `body names run ${env.runId}` };
    if (env.seq !== row.seq)
      return {
        seq: row.seq,
        reason: 'reorder',
        detail: `body at seq ${row.seq} claims seq ${env.seq}`,
      };
    return null;
  };

  // Checks `row` given the row after it (or null at the end); returns a failure or advances.
  const check = (
    row: VerifiableRow,
    next: VerifiableRow | null,
  ): Omit<VerifyFailure, 'runId'> | null => {
    if (row.runId !== runId) {
      return { seq: row.seq, reason: 'wrong_run', detail: `row belongs to run ${row.runId}` };
    }
    if (row.seq < expected) {
      return row.seq === expected - 1
        ? { seq: row.seq, reason: 'duplicate', detail: `seq ${row.seq} appears twice` }
        : { seq: row.seq, reason: 'reorder', detail: `seq ${row.seq} follows seq ${expected - 1}` };
    }
    if (row.seq > expected) {
      // The missing seq right behind: not removed, moved (two events swapped).
      if (next?.seq === expected)
        return {
          seq: expected,
          reason: 'reorder',
          detail: `seq ${expected} comes after seq ${row.seq}`,
        };
      const missing = row.seq - 1 === expected ? `${expected}` : `${expected}..${row.seq - 1}`;
      // Streaming, we cannot tell a removed event from one moved further down: say so.
      return {
        seq: expected,
        reason: 'gap',
        detail: `seq ${missing} not found before ${row.seq} (removed, or moved further down)`,
      };
    }
    if (lastType !== null && terminalTypes.has(lastType)) {
      return { seq: row.seq, reason: 'after_terminal', detail: `event after ${lastType}` };
    }
    if (!bytesEqual(row.prev, prevHash)) {
      const moved = movedRow(row);
      if (moved) return moved;
      return {
        seq: row.seq,
        reason: 'link_broken',
        detail:
          expected === 1
            ? 'prev is not the run genesis'
            : `prev is not the hash of seq ${expected - 1}`,
      };
    }
    const computed = linkHash(prevHash, row.body);
    if (!bytesEqual(computed, row.hash)) {
      const onward = next ? next.prev : recorded?.seq === row.seq ? recorded.hash : null;
      return { seq: row.seq, ...alteredRow(runId, row, computed, onward) };
    }
    let env: RawEnvelope;
    try {
      env = decodeEnvelope(runId, row.seq, row.body);
    } catch (e) {
      const stage = e instanceof LedgerDecodeError ? e.stage : 'cbor';
      return {
        seq: row.seq,
        reason: stage === 'cbor' ? 'bad_encoding' : 'bad_event',
        detail: decodeDetail(e),
      };
    }
    if (env.runId !== runId) {
      return { seq: row.seq, reason: 'wrong_run', detail: `body names run ${env.runId}` };
    }
    if (env.seq !== row.seq) {
      return {
        seq: row.seq,
        reason: 'reorder',
        detail: `body at seq ${row.seq} claims seq ${env.seq}`,
      };
    }
    let type: EventType;
    try {
      type = toLedgerEvent(runId, row.seq, env).type;
    } catch (e) {
      return { seq: row.seq, reason: 'bad_event', detail: decodeDetail(e) };
    }
    // A run's record is what its RunStarted began: the pipeline, its fingerprint and the input.
    // Without it (or with a second one) a whole, well-chained stream still says nothing true.
    if (row.seq === 1 && type !== 'RunStarted')
      return { seq: 1, reason: 'no_start', detail: `seq 1 is ${type}, not RunStarted` };
    if (row.seq !== 1 && type === 'RunStarted')
      return {
        seq: row.seq,
        reason: 'second_start',
        detail: 'RunStarted again; the run started at seq 1',
      };
    lastType = type;
    prevHash = computed;
    expected += 1;
    events += 1;
    return null;
  };

  const push = (row: VerifiableRow): RunVerification | null => {
    if (pending) {
      const failure = check(pending, row);
      if (failure) return result(failure);
    }
    pending = row;
    return null;
  };

  const finish = (): RunVerification => {
    if (pending) {
      const failure = check(pending, null);
      pending = null;
      if (failure) return result(failure);
    }
    return compareRecorded();
  };

  const compareRecorded = (): RunVerification => {
    if (recorded) {
      const last = expected - 1;
      // A head row no append wrote: every append records at least one event.
      if (recorded.seq === 0 && last === 0) {
        return result({
          seq: 1,
          reason: 'no_start',
          detail: 'the store lists the run (its head row is at seq 0) but holds no event of it',
        });
      }
      if (recorded.seq > last) {
        return result({
          seq: last + 1,
          reason: 'truncated',
          detail: `ledger ends at seq ${last}; the store's head is seq ${recorded.seq}`,
        });
      }
      if (recorded.seq < last || !bytesEqual(recorded.hash, prevHash)) {
        return result({
          seq: last,
          reason: 'head_mismatch',
          detail: `the store's head (seq ${recorded.seq}) disagrees with the chain`,
        });
      }
      const ended = lastType !== null && terminalTypes.has(lastType);
      if (recorded.terminal && !ended) {
        return result({
          seq: last + 1,
          reason: 'truncated',
          detail: 'the run finished but its terminal event is missing',
        });
      }
      // The store refuses appends to a run by its head's flag: a flag cleared on an ended run
      // would let a cancel or an answer land after the run's terminal event.
      if (!recorded.terminal && ended) {
        return result({
          seq: last,
          reason: 'head_mismatch',
          detail: `the store's head says the run has not ended, but seq ${last} is ${lastType}`,
        });
      }
    }
    return result();
  };

  return { push, finish };
}

/** Verifies a whole run held in memory (or any iterable of its rows in storage order). */
export function verifyRun(
  runId: string,
  rows: Iterable<VerifiableRow>,
  recorded?: RecordedHead,
): RunVerification {
  const verifier = createRunVerifier(runId, recorded);
  for (const row of rows) {
    const failed = verifier.push(row);
    if (failed) return failed;
  }
  return verifier.finish();
}

/**
 * Why a row whose bytes do not hash to its stored hash is damaged, as `lens verify` names it, for
 * every reader that finds one (resume, cancel, replay): `bad_encoding` when the body is not
 * canonical CBOR, `hash_altered` when the body still matches the chain (the hash after it, the
 * next row's `prev` or the run's head, is the body's), else `body_altered`. `computed` is the
 * hash the body links to; `onward`, the hash that follows it, when known.
 */
export function alteredRow(
  runId: string,
  row: { readonly seq: number; readonly body: Uint8Array },
  computed: Uint8Array,
  onward: Uint8Array | null,
): { reason: 'bad_encoding' | 'hash_altered' | 'body_altered'; detail: string } {
  try {
    decodeEnvelope(runId, row.seq, row.body);
  } catch (e) {
    if (!(e instanceof LedgerDecodeError) || e.stage === 'cbor')
      return {
        reason: 'bad_encoding',
        detail: 'body is not canonical CBOR and does not match its hash',
      };
  }
  if (onward && bytesEqual(onward, computed))
    return { reason: 'hash_altered', detail: 'stored hash differs; body matches the chain' };
  return { reason: 'body_altered', detail: 'body does not match its hash' };
}

/** A decode failure as a verification detail: the verifier says what to do next itself. */
export const decodeDetail = (e: unknown): string =>
  e instanceof LedgerDecodeError ? e.summary : (e as Error).message;
