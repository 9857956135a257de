/**
 * Why a driver's append was refused by another process's write (LedgerConflictError or
 * LedgerFencedError): a cancel recorded there (the run's outcome, not an error of this call), or
 * a resume there that took the run up (ADR 133), said as such rather than as a conflict of seqs.
 * Null when it was neither (a true conflict stands). One head read; the run's events are read
 * only to name who took it over.
 */
import { LedgerFencedError } from '../errors.js';
import { decodeRecord } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';

export async function otherWriter(
  ledger: LedgerStore,
  runId: string,
  /** The claim epoch the refused driver held. */
  epoch: number,
  cause: unknown,
): Promise<'cancelled' | LedgerFencedError | null> {
  const head = await ledger.head(runId);
  if (head?.terminal) {
    const [last] = await ledger.read(runId, { fromSeq: head.seq, limit: 1 });
    if (last?.type === 'RunCancelled') return 'cancelled';
  }
  if (!head || head.epoch <= epoch) return null;
  const rows = await ledger.read(runId).catch(() => []);
  const claim = rows.findLast((r) => r.type === 'RunClaimed');
  const e = claim ? decodeRecord(runId, claim.seq, claim.body) : undefined;
  const by = e?.type === 'RunClaimed' ? ` (${e.data.worker})` : '';
  return new LedgerFencedError(runId, epoch, head.epoch, {
    message: `run ${runId} was taken up by another process${by} while this one drove it: this one stopped and acts no further, and what it recorded stands; the run goes on there`,
    cause,
  });
}
