/**
 * What every ledger store does the same way: seal a batch before its transaction, judge an
 * append against the current head, and tail the commit order by polling plus a local nudge.
 */
import {
  EngineError,
  ErrorCode,
  LedgerConflictError,
  LedgerFencedError,
  LedgerStartError,
} from '../../errors.js';
import { terminalTypes } from '../../events/catalogue.js';
import { genesisHash } from '../../events/chain.js';
import { bytesEqual } from '../../events/codec.js';
import {
  headAfter,
  sealBatch,
  type Head,
  type SealedRecord,
  type StoredRecord,
} from '../../events/envelope.js';
import type { AppendRequest, RunHead, SubscribeOptions } from '../../ports.js';

export interface PreparedAppend {
  readonly records: SealedRecord[];
  readonly head: Head;
  /** The epoch a RunClaimed in this batch sets, else null. */
  readonly claimEpoch: number | null;
  readonly terminal: boolean;
}

/** Encodes and chains the batch outside any lock; throws on malformed requests. */
export function prepareAppend(req: AppendRequest): PreparedAppend {
  if (req.expected.runId !== req.runId) {
    throw new EngineError(
      ErrorCode.USAGE,
      `append to ${req.runId} names the head of ${req.expected.runId}`,
    );
  }
  if (req.expected.seq === 0 && !bytesEqual(req.expected.hash, genesisHash(req.runId))) {
    throw new EngineError(
      ErrorCode.USAGE,
      `a new run ${req.runId} must start from its genesis hash (emptyHead)`,
    );
  }
  if (req.events.length === 0)
    throw new EngineError(ErrorCode.USAGE, `append to ${req.runId} has no events`);
  if (!Number.isSafeInteger(req.at) || req.at < 0) {
    throw new EngineError(ErrorCode.USAGE, `append to ${req.runId}: at must be epoch milliseconds`);
  }
  let claimEpoch: number | null = null;
  let terminal = false;
  let seq = req.expected.seq;
  for (const e of req.events) {
    seq++;
    // A run's record is what its RunStarted began: refused here, before any store writes, so
    // that no store can hold a run `flujo lens verify` calls no_start or second_start (ADR 82).
    if ((seq === 1) !== (e.type === 'RunStarted'))
      throw new LedgerStartError(req.runId, seq, e.type);
    if (terminal) {
      throw new EngineError(
        ErrorCode.USAGE,
        `append to ${req.runId}: ${e.type} after a terminal event`,
      );
    }
    if (e.type === 'RunClaimed') claimEpoch = e.data.epoch;
    if (terminalTypes.has(e.type)) terminal = true;
  }
  const records = sealBatch(req.expected, req.events, req.at);
  return { records, head: headAfter(req.expected, records), claimEpoch, terminal };
}

/** Decides whether an append may go on top of `current`. Throws the typed refusal otherwise. */
export function assertAppendable(
  req: AppendRequest,
  prepared: PreparedAppend,
  current: RunHead | null,
): void {
  const seq = current?.seq ?? 0;
  if (seq !== req.expected.seq || (current && !bytesEqual(current.hash, req.expected.hash))) {
    throw new LedgerConflictError(req.runId, req.expected.seq, seq);
  }
  if (current?.terminal) {
    throw new EngineError(
      ErrorCode.LEDGER_CONFLICT,
      `run ${req.runId} has finished; it takes no more events`,
      {
        details: { runId: req.runId, seq },
      },
    );
  }
  const epoch = current?.epoch ?? 0;
  if (req.epoch !== undefined && req.epoch !== epoch)
    throw new LedgerFencedError(req.runId, req.epoch, epoch);
  if (prepared.claimEpoch !== null && prepared.claimEpoch <= epoch) {
    throw new LedgerFencedError(req.runId, prepared.claimEpoch, epoch);
  }
}

/** The head row to store after a successful append. */
export function nextRunHead(
  current: RunHead | null,
  prepared: PreparedAppend,
  at: number,
): RunHead {
  return {
    runId: prepared.head.runId,
    seq: prepared.head.seq,
    hash: prepared.head.hash,
    epoch: prepared.claimEpoch ?? current?.epoch ?? 0,
    terminal: prepared.terminal,
    createdAt: current?.createdAt ?? at,
    updatedAt: at,
  };
}

/**
 * The least string past every string that starts with `prefix`, in code-point order (UTF-8 byte
 * order: SQLite's BINARY and Postgres' "C" collation): `>= prefix AND < prefixEnd(prefix)` is an
 * index range holding exactly the ids that start with `prefix`. Its last code point moved one up
 * (past the surrogates); undefined when every code point is the last there is.
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = (points.pop() as number) + 1;
    if (last > 0x10ffff) continue;
    points.push(last === 0xd800 ? 0xe000 : last);
    return String.fromCodePoint(...points);
  }
  return undefined;
}

/** A wake-up signal for subscribers in this process; other processes are found by polling. */
export class Nudge {
  private waiters: Array<() => void> = [];
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }
}

export async function* pollSubscribe(
  readAll: (after: string | undefined, limit: number) => Promise<StoredRecord[]>,
  nudge: Nudge,
  options: SubscribeOptions = {},
): AsyncGenerator<StoredRecord> {
  let after = options.after;
  const pollMs = options.pollMs ?? 100;
  while (!options.signal?.aborted) {
    const batch = await readAll(after, 500);
    for (const rec of batch) {
      if (options.signal?.aborted) return;
      yield rec;
      after = rec.pos;
    }
    if (batch.length < 500) await nudge.wait(pollMs, options.signal);
  }
}
