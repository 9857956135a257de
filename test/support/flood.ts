/**
 * The flood writers of the kill tests (ledgerChild.ts, checkpointChild.ts): batch B holds
 * (B % 25) + 1 StepCompleted events of about 250 bytes, numbered so a reader can tell a missing or
 * partial batch; batch 0 begins with the run's RunStarted.
 */
import type { NewEvent } from '../../src/events/catalogue.js';
import { decodeRecord, emptyHead, type Head } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';
import { started } from './events.js';

export async function currentHead(store: LedgerStore, runId: string): Promise<Head> {
  const h = await store.head(runId);
  return h ? { runId, seq: h.seq, hash: h.hash } : emptyHead(runId);
}

export const floodBatch = (batch: number): NewEvent[] => {
  const size = (batch % 25) + 1;
  const steps = Array.from({ length: size }, (_, i) => ({
    type: 'StepCompleted' as const,
    data: { path: `b${batch}`, output: { batch, i, n: size, pad: 'x'.repeat(200) } },
  }));
  // A run's record begins with RunStarted (lens verify's no_start otherwise).
  return batch === 0 ? [started('flood'), ...steps] : steps;
};

/** The run's head and the number of the batch to write next (an earlier child may have been killed). */
export async function floodResume(store: LedgerStore, runId: string) {
  const head = await currentHead(store, runId);
  if (head.seq === 0) return { head, batch: 0 };
  const [last] = await store.read(runId, { fromSeq: head.seq });
  const ev = decodeRecord(runId, last!.seq, last!.body);
  const batch = ev.type === 'StepCompleted' ? (ev.data.output as { batch: number }).batch + 1 : 0;
  return { head, batch };
}
