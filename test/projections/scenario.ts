/**
 * A mix of runs for the projection tests: a model step with costs (a transport retry and a
 * billed failure included), parallel, loop, a retried code step, HITL paused then resumed, a run
 * left paused, a failed run and a cancelled one. Deterministic (fixed clock and ids), so every
 * store records the same events.
 */
import { z } from 'zod';

import {
  agentStep,
  definePipeline,
  hitl,
  loop,
  parallel,
  sequence,
  step,
} from '../../src/dsl/builder.js';
import type { AgentPort, LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';

export const T0 = Date.UTC(2025, 0, 31, 23, 59, 55);

/** A model port with prices: gpt-mini 2 µ$/token; `flaky-model` fails once (billed) then answers. */
export function pricedAgents(): AgentPort {
  const seen = new Map<string, number>();
  return {
    async call(req, _signal, hooks) {
      const n = (seen.get(req.key) ?? 0) + 1;
      seen.set(req.key, n);
      if (req.agent === 'openai:flaky-model' && req.attempt === 1) {
        throw Object.assign(new Error('bad json'), {
          code: 'AGENT_OUTPUT_INVALID',
          retryable: true,
          usage: { input: 7, output: 3 },
          costMicros: 20,
        });
      }
      if (req.agent === 'openai:gpt-mini' && n === 1) {
        hooks?.onRetry?.({
          retry: 1,
          error: { code: 'AGENT_HTTP', message: '503', retryable: true },
          delayMs: 0,
        });
      }
      const text = JSON.stringify(req.input);
      return {
        output: { answer: `re: ${text}`, long: 'x'.repeat(500), nul: 'a\u0000b' },
        usage: { input: text.length, output: 12 },
        costMicros: (text.length + 12) * 2,
        model: req.agent.replace(/^openai:/, ''),
        finishReason: 'stop',
      };
    },
  };
}

export const mixed = () => {
  let flaky = 0;
  return definePipeline(
    'mixed',
    sequence(
      agentStep('draft', 'openai:gpt-mini'),
      parallel('fan', {
        a: step('a', (x: unknown) => ({ a: x })),
        b: agentStep('critic', 'openai:flaky-model', { retries: 1 }),
      }),
      loop(
        'refine',
        step('inc', (x: unknown) => (typeof x === 'number' ? x + 1 : 1)),
        {
          maxLoops: 3,
        },
      ),
      step(
        'flaky',
        (x: number) => {
          if (flaky++ < 1) throw new Error('transient');
          return x;
        },
        { retries: 2 },
      ),
      hitl('approve', {
        message: 'Ship it? \u{1F680}',
        schema: z.object({ ok: z.boolean() }),
      }),
      agentStep('final', 'openai:gpt-mini'),
    ),
  );
};

export const failing = definePipeline(
  'failing',
  sequence(
    agentStep('think', 'openai:gpt-mini'),
    step('explode', () => {
      throw Object.assign(new Error('no way'), { code: 'BOOM', retryable: false });
    }),
  ),
);

export const asking = definePipeline(
  'asking',
  hitl('who', { message: 'Name?', schema: z.object({ name: z.string() }) }),
);

/** Runs the mix on `ledger`; returns the run ids by role. */
export async function runMix(ledger: LedgerStore) {
  let t = T0;
  let n = 0;
  const engine = createEngine({
    ledger,
    agents: pricedAgents(),
    clock: { now: () => (t += 250) },
    newRunId: () => `run-${String(++n).padStart(2, '0')}`,
    worker: 'test',
  });
  const mix = mixed();
  const a = await engine.run(mix.plan, { topic: 'projections' }, { source: 'mixed.ts' });
  const b = await engine.resume(mix.plan, a.runId, {
    humanInput: { ok: true },
    answeredBy: 'alice',
  });
  const f = await engine.run(failing.plan, 'x');
  const p = await engine.run(asking.plan, null);
  const c = await engine.run(asking.plan, 1);
  await engine.cancel(c.runId, 'not needed');
  return { engine, completed: b, failed: f, paused: p, cancelled: c.runId, plans: { mix, asking } };
}
