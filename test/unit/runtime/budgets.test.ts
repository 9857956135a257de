import { describe, expect, it } from 'vitest';

import { agentStep, definePipeline, parallel, sequence } from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { harness, trace } from '../../support/given.js';

/** Every call may cost up to 1,000 µ$ and 300 tokens, and actually costs 800 µ$ and 150 tokens. */
function pricedAgents() {
  const calls: string[] = [];
  const port: AgentPort = {
    estimate: () => ({ costMicros: 1000, tokens: 300 }),
    async call(req) {
      calls.push(req.key);
      await new Promise((r) => setTimeout(r, 2));
      return {
        output: `${req.agent}:${String(req.input)}`,
        usage: { input: 100, output: 50 },
        costMicros: 800,
        model: req.agent,
      };
    },
  };
  return { port, calls };
}

const three = definePipeline(
  'b',
  sequence(agentStep('a', 'm:a'), agentStep('b', 'm:b'), agentStep('c', 'm:c')),
);

describe('budgets', () => {
  it('does not make a call that could exceed the cost limit, and says what was spent', async () => {
    const { port, calls } = pricedAgents();
    const { engine } = harness({ agents: port });
    const r = await engine.run(three.plan, 'x', { budget: { costMicros: 2500 } });
    expect(calls).toHaveLength(2); // 0+1000 ok, 800+1000 ok, 1600+1000 > 2500 refused
    expect(r).toMatchObject({
      status: 'failed',
      costMicros: 1600,
      error: {
        code: 'COST_LIMIT_EXCEEDED',
        message: expect.stringMatching(
          /cost limit \$0\.0025 would be exceeded: the call at 2 may cost up to \$0\.001; spent \$0\.0016, reserved \$0/,
        ),
      },
    });
    const events = await engine.events(r.runId);
    expect(trace(events).filter((t) => t.startsWith('BudgetReserved'))).toEqual([
      'BudgetReserved 0',
      'BudgetReserved 1',
    ]);
    expect(events.filter((e) => e.type === 'AgentCallRequested')).toHaveLength(3); // the third was requested, never made
  });

  it('holds under parallel branches: reservations are recorded in order, so they cannot race past the limit', async () => {
    const { port, calls } = pricedAgents();
    const { engine } = harness({ agents: port });
    const fan = definePipeline(
      'p',
      parallel(
        'fan',
        {
          a: agentStep('a', 'm:a'),
          b: agentStep('b', 'm:b'),
          c: agentStep('c', 'm:c'),
          d: agentStep('d', 'm:d'),
        },
        { onBranchFailure: 'ignore', reduce: 'keys' },
      ),
    );
    const r = await engine.run(fan.plan, 'x', { budget: { costMicros: 2500 } });
    expect(calls).toHaveLength(2);
    expect(r).toMatchObject({ status: 'completed', output: ['a', 'b'], costMicros: 1600 });
    expect(r.costMicros).toBeLessThanOrEqual(2500);
  });

  it('applies a token limit the same way', async () => {
    const { port, calls } = pricedAgents();
    const { engine } = harness({ agents: port });
    const r = await engine.run(three.plan, 'x', { budget: { tokens: 500 } });
    expect(calls).toHaveLength(2); // 0+300 fits; 150+300 = 450 fits; 300+300 = 600 > 500 is refused
    expect(r.error).toMatchObject({
      code: 'TOKEN_LIMIT_EXCEEDED',
      message: expect.stringContaining('token limit 500 would be exceeded'),
    });
  });

  it('replays a budget-stopped run identically and without calls', async () => {
    const live = pricedAgents();
    const { engine, ledger } = harness({ agents: live.port });
    const r = await engine.run(three.plan, 'x', { budget: { costMicros: 2500 } });
    const offline = pricedAgents();
    expect(
      await harness({ ledger, agents: offline.port }).engine.replay(three.plan, r.runId),
    ).toMatchObject({ identical: true });
    expect(offline.calls).toHaveLength(0);
  });
});
