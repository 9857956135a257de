/**
 * A child process for the background checkpoint tests: appends batches of 1..25 events to RUN in
 * the SQLite ledger at PATH (synchronous=NORMAL, the background checkpointer started after 8
 * commits and resetting the WAL every 100 frames), printing "batch B SEQ BACKGROUND ONWRITER"
 * after each commit, until killed.
 *   usage: checkpointChild PATH RUN
 */
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../src/events/chain.js';
import { floodBatch, floodResume } from './flood.js';

const [path, runId] = process.argv.slice(2);
if (!path || !runId) throw new Error('usage: checkpointChild PATH RUN');
await initFastHash();
const store = createSqliteLedger({
  path,
  synchronous: 'NORMAL',
  checkpoint: { startAfter: 8, every: 4, resetFrames: 100 },
});
let { head, batch } = await floodResume(store, runId);
for (;;) {
  head = (
    await store.append({
      runId,
      expected: head,
      at: 1_764_000_000_000 + batch,
      events: floodBatch(batch),
    })
  ).head;
  const s = store.checkpoints();
  process.stdout.write(`batch ${batch} ${head.seq} ${s?.background ?? 0} ${s?.onWriter ?? 0}\n`);
  batch += 1;
}
