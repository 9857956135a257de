import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { describeLedgerContract } from './ledgerContract.js';

for (const synchronous of ['FULL', 'NORMAL'] as const) {
  describeLedgerContract({
    name: `sqlite (synchronous=${synchronous})`,
    available: async () => true,
    async fresh() {
      const dir = mkdtempSync(join(tmpdir(), 'flujo-ledger-'));
      const path = join(dir, 'state.db');
      const store = createSqliteLedger({ path, synchronous });
      const run = (sql: string, ...params: unknown[]) => store.db.prepare(sql).run(...params);
      return {
        store,
        uri: `sqlite:///${path}`,
        reopen: async () => createSqliteLedger({ path, synchronous }),
        async setColumn(runId, seq, column, value) {
          run(`UPDATE events SET ${column} = ? WHERE run_id = ? AND seq = ?`, value, runId, seq);
        },
        async setSeq(runId, seq, newSeq) {
          run('UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?', newSeq, runId, seq);
        },
        async deleteRow(runId, seq) {
          run('DELETE FROM events WHERE run_id = ? AND seq = ?', runId, seq);
        },
        async deleteHead(runId) {
          run('DELETE FROM run_heads WHERE run_id = ?', runId);
        },
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  });
}
