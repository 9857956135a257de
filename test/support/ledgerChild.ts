/**
 * A child process for the multi-process ledger contracts. Modes:
 *   race  URI RUN N NAME  wait for "go" on stdin, then append N events, re-reading the head on
 *                         every conflict; print {"wins":[seq…],"conflicts":n}.
 *   flood URI RUN         append batches of 1..25 events forever, printing "batch B" after each
 *                         commit, until killed.
 */
import { createInterface } from 'node:readline';

import { LedgerConflictError } from '../../src/errors.js';
import { openLedger } from '../../src/adapters/ledger/open.js';
import { currentHead, floodBatch, floodResume } from './flood.js';

const [mode, uri, runId, countArg, name] = process.argv.slice(2);
if (!mode || !uri || !runId) throw new Error('usage: ledgerChild MODE URI RUN …');

const store = await openLedger(uri, { projectRoot: process.cwd() });

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
  let { head, batch } = await floodResume(store, runId);
  for (;;) {
    const res = await store.append({
      runId,
      expected: head,
      at: 1_764_000_000_000 + batch,
      events: floodBatch(batch),
    });
    head = res.head;
    process.stdout.write(`batch ${batch} ${head.seq}\n`);
    batch += 1;
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
