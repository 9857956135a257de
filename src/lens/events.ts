/**
 * Reading a run back for lens: its stored records page by page (exact bytes, for export and
 * verification) and its decoded events (for trace, report and watch).
 */
import { decodeRecord, type LedgerEvent, type StoredRecord } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';

const PAGE = 2000;

/** Every stored record of a run, in seq order. */
export async function readRunRecords(store: LedgerStore, runId: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let from = 1;
  for (;;) {
    const page = await store.read(runId, { fromSeq: from, limit: PAGE });
    out.push(...page);
    const last = page[page.length - 1];
    if (page.length < PAGE || !last) return out;
    from = last.seq + 1;
  }
}

/** Every event of a run, decoded and upcast; a bad record throws naming its run and seq. */
export async function readRunEvents(store: LedgerStore, runId: string): Promise<LedgerEvent[]> {
  const records = await readRunRecords(store, runId);
  return records.map((r) => decodeRecord(r.runId, r.seq, r.body));
}
