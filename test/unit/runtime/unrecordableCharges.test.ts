/**
 * A run ended by decisions the ledger cannot record (ADR 115) charges what it has out as any run
 * end does (ADR 55, 128): a model call still in flight is charged its reservation, recorded
 * (BudgetReconciled) before the RunFailed. Before, those charges were not recorded (the batch's
 * run-end charges were noted into the fold in memory when the batch held a terminal event, and
 * not computed at all otherwise), and the batch's own reservations stayed in the fold in memory:
 * the driver's fold differed from a refold of the ledger. Now both agree.
 */
import { expect, it } from 'vitest';

import { compilePlan } from '../../../src/actors/compile.js';
import { refold } from '../../../src/actors/fold.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, parallel, sequence, step } from '../../../src/dsl/builder.js';
import { planFingerprint } from '../../../src/dsl/fingerprint.js';
import type { Plan } from '../../../src/dsl/ir.js';
import { decodeRecord } from '../../../src/events/envelope.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { withFunctionAgents } from '../../../src/runtime/functionAgents.js';
import { firstCommit } from '../../../src/runtime/startRun.js';

const nested = (d: number): unknown => (d === 0 ? 1 : { a: nested(d - 1) });

/**
 * Branch `slow`'s model call is out while branch `deep` passes a value nested 250 levels into five
 * parallels: gathering it cannot be recorded. The same batch would call `after`, reserving for it.
 */
const plan = definePipeline(
  'charged-at-unrecordable',
  parallel('fan', {
    slow: agentStep('slow', 'm:slow'),
    deep: sequence(
      step('i', () => nested(250)),
      parallel('p1', {
        b: parallel('p2', {
          b: parallel('p3', { b: parallel('p4', { b: parallel('p5', { b: sequence() }) }) }),
        }),
      }),
      agentStep('after', 'm:after'),
    ),
  }),
).plan;

/** Every model call reserves 100 µ$ and 50 tokens; `m:slow` answers only an abort. */
const port: AgentPort = {
  estimate: () => ({ costMicros: 100, tokens: 50 }),
  call(_req, signal) {
    return new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(new Error('aborted'))),
    );
  },
};

const BUDGET = { costMicros: 1_000_000 };

it('records the in-flight call’s charge before the RunFailed; the run replays identically', async () => {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, agents: port, newRunId: () => 'u-1' });
  const r = await engine.run(plan, 'x', { budget: BUDGET });
  expect(r).toMatchObject({ status: 'failed', error: { code: 'DECISION_NOT_RECORDABLE' } });
  expect(r.costMicros).toBe(100); // was 0
  const events = await engine.events('u-1');
  const slowPath = events.find(
    (e) => e.type === 'AgentCallRequested' && (e.data as { agent: string }).agent === 'm:slow',
  )?.data as { path: string };
  expect(events.slice(-2).map((e) => [e.type, e.data])).toEqual([
    ['BudgetReconciled', { path: slowPath.path, attempt: 1, costMicros: 100, tokens: 50 }],
    ['RunFailed', expect.objectContaining({})],
  ]);
  // The `after` call the batch decided is neither recorded nor reserved.
  expect(
    events.filter(
      (e) => e.type === 'AgentCallRequested' && (e.data as { agent: string }).agent === 'm:after',
    ),
  ).toEqual([]);
  expect(await engine.replay(plan, 'u-1')).toMatchObject({ identical: true });
  expect(await engine.resume(plan, 'u-1')).toMatchObject({ status: 'failed', costMicros: 100 });
});

it('leaves the driver’s fold as a refold of the ledger has it', async () => {
  const ledger = createMemoryLedger();
  const compiled = (p: Plan) => ({ machine: compilePlan(p), fingerprint: planFingerprint(p) });
  const clock = { now: () => 1_000 };
  const driver = await firstCommit(
    {
      clock,
      worker: 't',
      compiledOf: compiled,
      driverDeps: (p) => ({ ledger, agents: withFunctionAgents(p, port), clock }),
    },
    plan,
    'u-2',
    'x',
    { budget: BUDGET },
    () => {},
  );
  try {
    await driver.drive();
  } finally {
    driver.stop();
  }
  expect(driver.state.status).toBe('failed');
  const events = (await ledger.read('u-2')).map((row) => decodeRecord('u-2', row.seq, row.body));
  const refolded = refold(compiled(plan).machine, events);
  expect(refolded.status).toBe('failed');
  const budget = (b: typeof refolded.budget) => ({
    spentMicros: b.spentMicros,
    spentTokens: b.spentTokens,
    reserved: [...b.reserved],
  });
  expect(budget(driver.state.budget)).toEqual(budget(refolded.budget));
  // The slow call's charge; nothing held (the `after` call was never reserved in the ledger).
  expect(budget(refolded.budget)).toMatchObject({ spentMicros: 100, spentTokens: 50 });
  expect(refolded.budget.reserved.size).toBe(0);
});
