/**
 * Appends recorded events to a ledger commit by commit (one `at` each), as the engine that
 * recorded them did, so every stored byte and hash is that engine's. Returns the new head.
 */
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead, type Head, type LedgerEvent } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';

export async function appendAsRecorded(
  ledger: LedgerStore,
  runId: string,
  events: readonly LedgerEvent[],
): Promise<Head> {
  let head: Head = emptyHead(runId);
  for (let i = 0; i < events.length;) {
    const at = events[i]!.at;
    const batch: NewEvent[] = [];
    for (; i < events.length && events[i]!.at === at; i++)
      batch.push({ type: events[i]!.type, data: events[i]!.data } as NewEvent);
    head = (await ledger.append({ runId, expected: head, events: batch, at })).head;
  }
  return head;
}

/** A memory ledger holding `events` as recorded (see appendAsRecorded). */
export async function memoryLedgerOf(runId: string, events: readonly LedgerEvent[]) {
  const ledger = createMemoryLedger();
  await appendAsRecorded(ledger, runId, events);
  return ledger;
}
