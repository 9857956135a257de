/**
 * An attempt charged its reservation because its usage is unknown (a timeout: BudgetReconciled,
 * ADR 55) counts the same everywhere: RunResult, the runs/steps/costs read models (inline and
 * rebuilt), the audit report and the trace. Before, lens showed less spend than the run had.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { agentStep, definePipeline, sequence } from '../../src/dsl/builder.js';
import { readRunEvents } from '../../src/lens/events.js';
import { buildReport } from '../../src/lens/report.js';
import { buildTrace } from '../../src/lens/trace.js';
import type { AgentPort } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-charged-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first attempt never answers (it times out); the second answers at 30 µ$. */
const slowThenFast: AgentPort = {
  estimate: () => ({ costMicros: 100, tokens: 50 }),
  call(req, signal) {
    if (req.attempt === 1)
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    return Promise.resolve({
      output: 'ok',
      usage: { input: 5, output: 5 },
      costMicros: 30,
      model: 'm-2024',
      finishReason: 'stop',
    });
  },
};

it('counts a timed-out attempt charged at its reservation in lens as in the run result', async () => {
  const state = await openState('sqlite:///state.db', { projectRoot: dir });
  try {
    const plan = definePipeline(
      'charged',
      sequence(agentStep('ask', 'openai:m', { retries: 1, timeoutMs: 30 })),
    ).plan;
    const engine = createEngine({ ledger: state.ledger, agents: slowThenFast });
    const r = await engine.run(plan, 'q', { runId: 'ch-1', budget: { costMicros: 10_000 } });
    expect(r).toMatchObject({ status: 'completed', costMicros: 130 });
    const events = await readRunEvents(state.ledger, 'ch-1');
    expect(events.map((e) => e.type)).toContain('BudgetReconciled');

    const check = async () => {
      expect((await state.readModels.getRun('ch-1'))?.costMicros).toBe(130);
      const steps = await state.readModels.steps('ch-1');
      expect(steps.filter((s) => s.path === '0').map((s) => [s.attempt, s.costMicros])).toEqual([
        [1, 100],
        [2, 30],
      ]);
      expect(await state.readModels.costs({ by: 'model' })).toEqual([
        { key: 'openai:m', calls: 2, tokensIn: 5, tokensOut: 5, costMicros: 130 },
      ]);
    };
    await check();
    await state.rebuild();
    await check();

    const report = buildReport(events, await verifyStoredRun(state.ledger, 'ch-1'));
    expect(report.budget.spent_usd).toBe(0.00013);
    expect(report.steps[0]?.cost_usd).toBe(0.00013);
    expect(report.steps[0]?.attempts.map((a) => a.cost_usd)).toEqual([0.0001, 0.00003]);
    expect(buildTrace(events).attributes['flujo.budget.actual_cost_usd']).toBe(0.00013);
  } finally {
    await state.close();
  }
});
