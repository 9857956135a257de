/**
 * What a rebuild meets in a damaged ledger and cannot fold (ADR 74): a run whose first event is
 * not RunStarted at seq 1 has no row in `runs`, a second RunStarted is not folded, and an event
 * that does not decode is left out. A head row with no event under it (every event removed) has
 * nothing to fold at all, so the store names those after the fold (`withoutEvents`). Each run is
 * named once, by its first such event, so that `flujo lens rebuild` reports it instead of leaving
 * it out of the read models without a word.
 */
import { decodeRecord, type LedgerEvent, type SealedRecord } from '../events/envelope.js';
import { decodeDetail } from '../events/verify.js';

export interface DamagedRun {
  readonly runId: string;
  readonly seq: number;
  readonly reason: 'no_start' | 'second_start' | 'bad_event' | 'truncated';
  readonly detail: string;
}

export class RebuildDamage {
  private readonly seen = new Set<string>();
  private readonly found = new Map<string, DamagedRun>();

  /** The record's event, or null when it must stay out of the read models. */
  take(r: SealedRecord): LedgerEvent | null {
    const first = !this.seen.has(r.runId);
    if (first) this.seen.add(r.runId);
    let e: LedgerEvent;
    try {
      e = decodeRecord(r.runId, r.seq, r.body);
    } catch (err) {
      this.note(r, 'bad_event', decodeDetail(err));
      return null;
    }
    if (e.type === 'RunStarted' && r.seq !== 1) {
      this.note(r, 'second_start', 'RunStarted again after seq 1; not folded');
      return null;
    }
    if (first && (r.seq !== 1 || e.type !== 'RunStarted'))
      this.note(r, 'no_start', `the run's first event is seq ${r.seq} ${e.type}, not RunStarted`);
    return e;
  }

  /**
   * A head row the store holds no event under: at seq 0 no append wrote it (`no_start`, as
   * `flujo lens verify` says), above it the run's events were removed (`truncated` at seq 1).
   */
  withoutEvents(runId: string, headSeq: number): void {
    if (this.found.has(runId)) return;
    this.found.set(
      runId,
      headSeq > 0
        ? {
            runId,
            seq: 1,
            reason: 'truncated',
            detail: `no event of the run is stored; the store's head is seq ${headSeq}`,
          }
        : {
            runId,
            seq: 1,
            reason: 'no_start',
            detail: 'the store lists the run (its head row is at seq 0) but holds no event of it',
          },
    );
  }

  list(): DamagedRun[] {
    return [...this.found.values()];
  }

  private note(r: SealedRecord, reason: DamagedRun['reason'], detail: string): void {
    if (!this.found.has(r.runId))
      this.found.set(r.runId, { runId: r.runId, seq: r.seq, reason, detail });
  }
}
