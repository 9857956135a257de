import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createSqliteLedger, type SqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { EngineError, LedgerFencedError } from '../../../src/errors.js';
import { definePipeline, hitl, parallel, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

/**
 * A question can be asked while other work of the run is still out (a parallel's other branch).
 * Until that work settles and the run rests (RunPaused), an answer from another process would
 * take the run over and send that work again: it is refused, with nothing recorded, and the run
 * goes on where it is driven. Two engines on one SQLite file stand for two processes.
 */
let calls = 0;
let release: () => void = () => {};
const gate = () =>
  new Promise<void>((r) => {
    release = r;
  });
let waiting = gate();

const plan = definePipeline(
  'fan',
  sequence(
    parallel('fan', {
      a: step('slow', async (x: number) => {
        calls++;
        await waiting;
        return x + 1;
      }),
      b: hitl('q', { message: 'q?', schema: z.string() }),
    }),
    step('fin', (o: { a: number; b: string }) => `${o.a}:${o.b}`),
  ),
).plan;

const opened: SqliteLedger[] = [];
function twoProcesses() {
  const path = join(mkdtempSync(join(tmpdir(), 'flujo-answer-running-')), 'state.db');
  const one = createSqliteLedger({ path });
  const two = createSqliteLedger({ path });
  opened.push(one, two);
  let n = 0;
  return {
    one: createEngine({ ledger: one, worker: 'one', newRunId: () => `r${++n}` }),
    two: createEngine({ ledger: two, worker: 'two' }),
    ledger: two,
  };
}

async function asked(engine: ReturnType<typeof createEngine>, runId: string) {
  // Polled, not timed: under load the first commits can take a while.
  for (const end = Date.now() + 30_000; Date.now() < end;) {
    const types = (await engine.events(runId).catch(() => [])).map((e) => e.type);
    if (types.includes('HumanInputRequested')) return types;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the question was never asked');
}

afterEach(async () => {
  release();
  for (const l of opened.splice(0)) await l.close();
  calls = 0;
  waiting = gate();
});

describe('an answer while the run still has work out', () => {
  it('is refused naming the work and what to do, nothing is recorded, and the driving process finishes the run', async () => {
    const { one, two, ledger } = twoProcesses();
    const running = one.run(plan, 1);
    const types = await asked(two, 'r1');
    expect(types).not.toContain('RunPaused');
    const head = (await ledger.head('r1'))?.seq;

    const refused = await two.resume(plan, 'r1', { humanInput: 'early' }).catch((e) => e);
    expect(refused).toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      details: { status: 'running' },
      message: expect.stringMatching(
        /still running: its work at step "slow" \(a call in flight\).*the answer was not recorded/s,
      ),
    });
    expect((await ledger.head('r1'))?.seq).toBe(head);
    // An answer the schema refuses is refused as early, not as if the run were paused.
    await expect(two.resume(plan, 'r1', { humanInput: 42 })).rejects.toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      details: { status: 'running' },
    });

    release();
    expect(await running).toMatchObject({ status: 'paused', pause: { step: 'q' } });
    const done = await two.resume(plan, 'r1', { humanInput: 'late' });
    expect(done).toMatchObject({ status: 'completed', output: '2:late' });
    expect(calls).toBe(1);
  });

  it('of a run whose process died with the work out: refused until a resume takes the run up, which sends the work again once', async () => {
    const { one, two } = twoProcesses();
    void one.run(plan, 1).catch(() => {});
    await asked(two, 'r1');
    // The first process is gone: its ledger is closed under it, so its driver records nothing more.
    await opened[0]?.close();
    await expect(two.resume(plan, 'r1', { humanInput: 'x' })).rejects.toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      message: expect.stringContaining('take the run up first'),
    });
    release();
    const rested = await two.resume(plan, 'r1');
    expect(rested).toMatchObject({ status: 'paused' });
    expect(calls).toBe(2);
    expect(await two.resume(plan, 'r1', { humanInput: 'y' })).toMatchObject({
      status: 'completed',
      output: '2:y',
    });
  });

  it('a resume without an answer takes the run over: the process that drove it stops, told so, not with a bare conflict', async () => {
    const { one, two } = twoProcesses();
    const first = one.run(plan, 1).catch((e: unknown) => e);
    await asked(two, 'r1');
    const second = two.resume(plan, 'r1');
    while (calls < 2) await new Promise((r) => setTimeout(r, 5));
    release();
    expect(await second).toMatchObject({ status: 'paused' });
    const fenced = await first;
    expect(fenced).toBeInstanceOf(LedgerFencedError);
    expect((fenced as Error).cause).toBeInstanceOf(EngineError);
    expect(fenced).toMatchObject({
      code: 'LEDGER_FENCED',
      details: { runId: 'r1', epoch: 1, current: 2 },
      message: expect.stringContaining('was taken up by another process (two)'),
    });
  });
});
