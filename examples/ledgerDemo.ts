/**
 * Records a small sample run in the project's ledger (the embedded default, .flujo/state.db, or
 * FLUJO_STATE_URI) so `flujo lens verify` has something to check. Run: npm run demo
 */
import { randomUUID } from 'node:crypto';

import { openLedger } from '../src/adapters/ledger/open.js';
import { resolveStateUri } from '../src/adapters/ledger/stateUri.js';
import { emptyHead } from '../src/events/envelope.js';

const uri = resolveStateUri(undefined);
const store = await openLedger(uri, { projectRoot: process.cwd() });
const runId = randomUUID();
let head = emptyHead(runId);
const at = () => Date.now();
head = (
  await store.append({
    runId,
    expected: head,
    at: at(),
    events: [
      {
        type: 'RunStarted',
        data: {
          pipeline: { name: 'demo', fingerprint: '0'.repeat(64) },
          input: 'hello',
          engine: { version: '0.1.0', flags: [] },
        },
      },
      { type: 'StepScheduled', data: { path: '0', name: 'greet', kind: 'step' } },
    ],
  })
).head;
head = (
  await store.append({
    runId,
    expected: head,
    at: at(),
    events: [
      { type: 'StepCompleted', data: { path: '0', output: 'Hello, world' } },
      { type: 'RunCompleted', data: { output: 'Hello, world' } },
    ],
  })
).head;
await store.close();
process.stderr.write(`recorded run ${runId} (${head.seq} events) in ${uri}\n`);
