/**
 * A child process for the multi-process ledger contracts. Modes:
 *   race  URI RUN N NAME  wait for "go" on stdin, then append N events, re-reading the head on
 *                         every conflict; print {"wins":[seq…],"conflicts":n}.
 *   flood URI RUN         append batches of 1..25 events forever, printing "batch B" after each
 *                         commit, until killed.
 */
import { createInterface } from 'node:readline';

import { LedgerConflictError } from '../../src/errors.js';
import { emptyHead, type Head } from '../../src/events/envelope.js';
import { openLedger } from '../../src/adapters/ledger/open.js';
import type { LedgerStore } from '../../src/ports.js';

const [mode, uri, runId, countArg, name] = process.argv.slice(2);
if (!mode || !uri || !runId) throw new Error('usage: ledgerChild MODE URI RUN …');

const store = await openLedger(uri, { projectRoot: process.cwd() });

async function currentHead(s: LedgerStore, id: string): Promise<Head> {
  const h = await s.head(id);
  return h ? { runId: id, seq: h.seq, hash: h.hash } : emptyHead(id);
}

if (mode === 'race') {
  const n = Number(countArg);
  process.stdout.write('ready\n');
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once('line', () => resolve()));
  rl.close();
  const wins: number[] = [];
  let conflicts = 0;
  let head = await currentHead(store, runId);
  while (wins.length < n) {
    try {
      const res = await store.append({
        runId,
        expected: head,
        at: 1_764_000_000_000 + wins.length,
        events: [{ type: 'StepCompleted', data: { path: String(name), output: wins.length } }],
      });
      wins.push(res.head.seq);
      head = res.head;
    } catch (e) {
      if (!(e instanceof LedgerConflictError)) throw e;
      conflicts += 1;
      head = await currentHead(store, runId);
    }
  }
  process.stdout.write(JSON.stringify({ wins, conflicts }) + '\n');
  await store.close();
} else if (mode === 'flood') {
  let head = await currentHead(store, runId);
  // Continue the batch numbering of an earlier, killed child.
  const last = head.seq > 0 ? (await store.read(runId, { fromSeq: head.seq }))[0] : undefined;
  let batch = 0;
  if (last) {
    const { decodeRecord } = await import('../../src/events/envelope.js');
    const ev = decodeRecord(runId, last.seq, last.body);
    if (ev.type === 'StepCompleted') batch = (ev.data.output as { batch: number }).batch + 1;
  }
  for (;;) {
    const size = (batch % 25) + 1;
    const events = Array.from({ length: size }, (_, i) => ({
      type: 'StepCompleted' as const,
      data: { path: `b${batch}`, output: { batch, i, n: size, pad: 'x'.repeat(200) } },
    }));
    const res = await store.append({
      runId,
      expected: head,
      at: 1_764_000_000_000 + batch,
      events,
    });
    head = res.head;
    process.stdout.write(`batch ${batch} ${head.seq}\n`);
    batch += 1;
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
