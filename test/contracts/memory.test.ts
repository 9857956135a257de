import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import type { StoredRecord } from '../../src/events/envelope.js';
import { describeLedgerContract } from './ledgerContract.js';

describeLedgerContract({
  name: 'memory',
  available: async () => true,
  async fresh() {
    const store = createMemoryLedger();
    const rowsOf = (runId: string) => store.unsafeRows(runId);
    const index = (runId: string, seq: number) => rowsOf(runId).findIndex((r) => r.seq === seq);
    const replace = (runId: string, seq: number, patch: Partial<StoredRecord>) => {
      const rows = rowsOf(runId);
      const i = index(runId, seq);
      rows[i] = { ...(rows[i] as StoredRecord), ...patch };
      rows.sort((a, b) => a.seq - b.seq);
    };
    return {
      store,
      async setColumn(runId, seq, column, value) {
        replace(runId, seq, { [column]: value });
      },
      async setSeq(runId, seq, newSeq) {
        replace(runId, seq, { seq: newSeq });
      },
      async deleteRow(runId, seq) {
        rowsOf(runId).splice(index(runId, seq), 1);
      },
      async cleanup() {},
    };
  },
});
