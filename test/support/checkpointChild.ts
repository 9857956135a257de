/**
 * A child process for the background checkpoint tests: appends batches of 1..25 events to RUN in
 * the SQLite ledger at PATH (synchronous=NORMAL, the background checkpointer started after 8
 * commits and resetting the WAL every 100 frames), printing "batch B SEQ BACKGROUND ONWRITER"
 * after each commit, until killed.
 *   usage: checkpointChild PATH RUN
 */
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, emptyHead, type Head } from '../../src/events/envelope.js';

const [path, runId] = process.argv.slice(2);
if (!path || !runId) throw new Error('usage: checkpointChild PATH RUN');
await initFastHash();
const store = createSqliteLedger({
  path,
  synchronous: 'NORMAL',
  checkpoint: { startAfter: 8, every: 4, resetFrames: 100 },
});
const h = await store.head(runId);
let head: Head = h ? { runId, seq: h.seq, hash: h.hash } : emptyHead(runId);
let batch = 0;
if (head.seq > 0) {
  const [last] = await store.read(runId, { fromSeq: head.seq });
  const ev = decodeRecord(runId, last!.seq, last!.body);
  if (ev.type === 'StepCompleted') batch = (ev.data.output as { batch: number }).batch + 1;
}
for (;;) {
  const size = (batch % 25) + 1;
  const events = Array.from({ length: size }, (_, i) => ({
    type: 'StepCompleted' as const,
    data: { path: `b${batch}`, output: { batch, i, n: size, pad: 'x'.repeat(200) } },
  }));
  head = (await store.append({ runId, expected: head, at: 1_764_000_000_000 + batch, events }))
    .head;
  const s = store.checkpoints();
  process.stdout.write(`batch ${batch} ${head.seq} ${s?.background ?? 0} ${s?.onWriter ?? 0}\n`);
  batch += 1;
}
