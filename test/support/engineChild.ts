/**
 * A child process for the engine kill test (test/e2e/engineKill.test.ts).
 *
 * It loads its code, prints `ready` and waits for one stdin line `go {"uri","runId","gen","calls"}`
 * (so the test can start the next child while the current one runs); stdin closing instead makes
 * it exit (`maxCalls` caps the engine's calls in flight). On `go` it opens the ledger at `uri`, prints `started`, runs the kill pipeline as
 * `runId` (engine.run resumes a run that is already in the ledger) and prints
 * `result <RunResult JSON>`; it also prints `claimed` once its claim of the run (the first append
 * of a new run, or RunClaimed + RunResumed on resume) has committed. Its steps log their calls to `calls` under generation `gen`, and its
 * RunClaimed events name it `gen-<gen>`, so the test can tell which process did and recorded what.
 * The test kills it with SIGKILL at a random point after `started`.
 */
import { createInterface } from 'node:readline';

import { openLedger } from '../../src/adapters/ledger/open.js';
import type { LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import { CALLS_ENV, GEN_ENV, KILL_INPUT, killPipeline } from './killPipeline.js';

interface Go {
  readonly uri: string;
  readonly runId: string;
  readonly gen: number;
  readonly calls: string;
  /** The engine's maxCallsInFlight, when capped. */
  readonly maxCalls?: number;
}

process.stdout.write('ready\n');
const rl = createInterface({ input: process.stdin });
const line = await new Promise<string | null>((resolve) => {
  rl.once('line', resolve);
  rl.once('close', () => resolve(null));
});
rl.close();
if (line?.startsWith('go ')) {
  const go = JSON.parse(line.slice('go '.length)) as Go;
  process.env[CALLS_ENV] = go.calls;
  process.env[GEN_ENV] = String(go.gen);
  const ledger = await openLedger(go.uri, { projectRoot: process.cwd() });
  const observed: LedgerStore = {
    ...ledger,
    async append(request) {
      const res = await ledger.append(request);
      if (request.events.some((e) => e.type === 'RunClaimed')) process.stdout.write('claimed\n');
      return res;
    },
  };
  const engine = createEngine({
    ledger: observed,
    worker: `gen-${go.gen}`,
    ...(go.maxCalls ? { maxCallsInFlight: go.maxCalls } : {}),
  });
  process.stdout.write('started\n');
  const result = await engine.run(killPipeline.plan, KILL_INPUT, { runId: go.runId });
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  await ledger.close();
}
