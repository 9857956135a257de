import { describe, expect, it } from 'vitest';

import { z } from 'zod';

import { compilePlan } from '../../../src/actors/compile.js';
import { refold } from '../../../src/actors/fold.js';
import {
  agentStep,
  definePipeline,
  hitl,
  parallel,
  sequence,
  stateMachine,
} from '../../../src/dsl/builder.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import type { AgentPort, LedgerStore } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { usdAmounts } from '../../../src/runtime/budget.js';
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
          /^cost limit \$0\.0025 would be exceeded: the call at 2 may cost up to \$0\.0010; spent \$0\.0016, reserved \$0\.0000$/,
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

describe('estimates that cannot be reserved', () => {
  /** a answers; b's estimate is what `estimate` says (or throws). */
  function port(estimate: () => { costMicros: number; tokens: number }) {
    const calls: string[] = [];
    const agents: AgentPort = {
      estimate: (req) => (req.agent === 'm:b' ? estimate() : { costMicros: 10, tokens: 10 }),
      async call(req) {
        calls.push(req.key);
        return { output: 'ok', usage: { input: 1, output: 1 }, costMicros: 5, model: req.agent };
      },
    };
    return { agents, calls };
  }
  const two = definePipeline('two', sequence(agentStep('a', 'm:a'), agentStep('b', 'm:b')));

  it.each([
    [
      'throws',
      () => {
        throw new TypeError('Do not know how to serialize a BigInt');
      },
      'ESTIMATE_FAILED',
      /could not be estimated against the run's budget: Do not know how to serialize a BigInt/,
    ],
    [
      'is not a whole count',
      () => ({ costMicros: 0.5, tokens: Number.NaN }),
      'ESTIMATE_INVALID',
      /must be whole non-negative numbers, got costMicros 0\.5, tokens NaN/,
    ],
  ] as const)(
    'records the call as failed when its estimate %s, keeping the reply before it',
    async (_, estimate, code, message) => {
      const { agents, calls } = port(estimate);
      const { engine } = harness({ agents });
      const r = await engine.run(two.plan, 'x', { budget: { costMicros: 1000 } });
      expect(r).toMatchObject({
        status: 'failed',
        costMicros: 5,
        error: { code, message: expect.stringMatching(message), retryable: false },
      });
      expect(calls).toHaveLength(1);
      const events = await engine.events(r.runId);
      expect(trace(events).filter((t) => /^(Agent|Budget)/.test(t))).toEqual([
        'AgentCallRequested 0',
        'BudgetReserved 0',
        'AgentResponded 0',
        'AgentCallRequested 1',
        'AgentFailed 1',
      ]);
      expect(await engine.replay(two.plan, r.runId)).toMatchObject({ identical: true });
    },
  );
});

describe('abandoned calls that never started', () => {
  it('are not charged: a call queued behind maxCallsInFlight and then left was never made', async () => {
    const made: string[] = [];
    const agents: AgentPort = {
      estimate: () => ({ costMicros: 1000, tokens: 10 }),
      async call(req) {
        made.push(req.agent);
        throw Object.assign(new Error('bad'), { code: 'BAD', retryable: false });
      },
    };
    const engine = createEngine({ ledger: createMemoryLedger(), agents, maxCallsInFlight: 1 });
    // The failed branch leads on to a question, so the run lives on and records the abort.
    const p = definePipeline(
      'q',
      stateMachine(
        'sm',
        {
          fan: parallel('both', {
            bad: agentStep('bad', 'm:bad'),
            queued: agentStep('q', 'm:queued'),
          }),
          ask: hitl('ask', { message: 'go on?', schema: z.object({ ok: z.boolean() }) }),
        },
        { start: 'fan', end: ['ask'], transitions: [{ from: '*', on: 'failure', to: 'ask' }] },
      ),
    );
    const r = await engine.run(p.plan, 'x', { budget: { costMicros: 5000 } });
    expect(r.status).toBe('paused');
    expect(made).toEqual(['m:bad']);
    const events = await engine.events(r.runId);
    expect(
      events.find((e) => e.type === 'AgentFailed' && e.data.path.endsWith('queued'))?.data,
    ).toMatchObject({ error: { code: 'ABORTED' } });
    expect(events.some((e) => e.type === 'BudgetReconciled')).toBe(false);
    expect(r.costMicros).toBe(0);
  });
});

describe('budget messages', () => {
  it('print the amounts of one message with the same decimals, zero included', () => {
    expect(usdAmounts(2500, 1000, 1600, 0)).toEqual(['$0.0025', '$0.0010', '$0.0016', '$0.0000']);
    expect(usdAmounts(1_500_000, 0, 250_000)).toEqual(['$1.50', '$0.00', '$0.25']);
    expect(usdAmounts(1_000_000, 123)).toEqual(['$1.000000', '$0.000123']);
  });
});

describe('budgets across interruptions', () => {
  it('decides a refused call again on resume when its refusal was never recorded, and does not make it', async () => {
    const { port, calls } = pricedAgents();
    const { ledger } = harness();
    // The process dies just as it records the refusal: the call is requested, not answered.
    const dying: LedgerStore = {
      ...ledger,
      append: (req) =>
        req.events.some(
          (e) => e.type === 'AgentFailed' && e.data.error.code === 'COST_LIMIT_EXCEEDED',
        )
          ? Promise.reject(new Error('power cut'))
          : ledger.append(req),
    };
    const first = harness({ agents: port, ledger: dying }).engine;
    await expect(
      first.run(three.plan, 'x', { runId: 'cut-1', budget: { costMicros: 2500 } }),
    ).rejects.toThrow();
    expect(calls).toHaveLength(2);
    const r = await harness({ agents: port, ledger }).engine.resume(three.plan, 'cut-1');
    expect(calls).toHaveLength(2); // the refused call was not made on resume
    expect(r).toMatchObject({ status: 'failed', error: { code: 'COST_LIMIT_EXCEEDED' } });
  });

  it("frees an abandoned call's reservation before the run rests on a person", async () => {
    const aborted: string[] = [];
    const port: AgentPort = {
      estimate: () => ({ costMicros: 1000, tokens: 10 }),
      async call(req, signal) {
        if (req.agent === 'm:bad')
          throw Object.assign(new Error('bad'), { code: 'BAD', retryable: false });
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, 5000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            aborted.push(req.key);
            reject(new Error('aborted'));
          });
        });
        return { output: 'slow', usage: { input: 1, output: 1 }, costMicros: 0, model: req.agent };
      },
    };
    const p = definePipeline(
      'free',
      stateMachine(
        'sm',
        {
          fan: parallel('both', {
            slow: agentStep('slow', 'm:slow'),
            bad: agentStep('bad', 'm:bad'),
          }),
          ask: hitl('ask', { message: 'go on?', schema: z.object({ ok: z.boolean() }) }),
        },
        { start: 'fan', end: ['ask'], transitions: [{ from: '*', on: 'failure', to: 'ask' }] },
      ),
    );
    const { engine } = harness({ agents: port });
    const r = await engine.run(p.plan, 'x', { budget: { costMicros: 5000 } });
    expect(r.status).toBe('paused');
    expect(aborted).toHaveLength(1);
    const events = await engine.events(r.runId);
    const t = trace(events);
    const abortRecorded = t.findIndex((x) => /^AgentFailed \S*slow$/.test(x));
    expect(abortRecorded).toBeGreaterThan(-1);
    expect(abortRecorded).toBeLessThan(t.findIndex((x) => x.startsWith('RunPaused')));
    const budget = refold(compilePlan(p.plan), events).budget;
    expect(budget.reserved.size).toBe(0);
    // It was running when aborted: what it used is unknown, so it counts at its reservation.
    expect(budget.spentMicros).toBe(1000);
    expect(t.slice(t.indexOf('AgentFailed fan@1/slow'))).toEqual([
      'AgentFailed fan@1/slow',
      'BudgetReconciled fan@1/slow',
      'RunPaused ask@2',
      'SnapshotTaken',
    ]);
  });
});
