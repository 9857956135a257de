/**
 * Model calls under a run budget, through the real SDKs against the fake server and a SQLite
 * ledger: what is reserved, what is spent, and what is recorded when a call cannot be estimated.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline, sequence, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { agentsOn } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

const sqlite = () =>
  createSqliteLedger({ path: join(mkdtempSync(join(tmpdir(), 'flujo-budget-')), 'state.db') });

describe('a model call that cannot be estimated, under a budget', () => {
  it('is recorded as its failure, not retried, with the reply before it kept; resume and replay make no call', async () => {
    const ledger = sqlite();
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    const p = definePipeline(
      'e',
      sequence(
        agentStep('a', 'openai:gpt-4o-mini'),
        agentStep('b', 'openai:gpt-4o-mini', {
          retries: 2,
          config: { settings: { max_tokens: -5 } },
        }),
      ),
    );
    fake.script({ text: 'first', usage: { input: 10, output: 5 } });
    const before = fake.requests.length;
    const r = await engine.run(p.plan, 'x', { runId: 'est-1', budget: { costMicros: 1_000_000 } });
    expect(r).toMatchObject({
      status: 'failed',
      error: {
        code: 'CONFIG_INVALID',
        message: expect.stringContaining(
          "the call at 1 could not be estimated against the run's budget: ",
        ),
        retryable: false,
      },
    });
    expect(r.error?.message).toContain('max_tokens');
    expect(fake.requests.length - before).toBe(1);
    const events = await engine.events('est-1');
    expect(events.map((e) => e.type)).toEqual([
      'RunStarted',
      'RunClaimed',
      'StepScheduled',
      'StepScheduled',
      'AgentCallRequested',
      'BudgetReserved',
      'AgentResponded',
      'StepCompleted',
      'StepScheduled',
      'AgentCallRequested',
      'AgentFailed',
      'StepFailed',
      'StepFailed',
      'RunFailed',
    ]);
    expect(events.find((e) => e.type === 'AgentResponded')?.data).toMatchObject({
      path: '0',
      output: 'first',
    });
    expect(r.steps.map((s) => [s.path, s.status])).toEqual([
      ['0', 'completed'],
      ['1', 'failed'],
    ]);

    const again = createEngine({ ledger, agents: agentsOn(fake), worker: 't2' });
    expect(await again.resume(p.plan, 'est-1')).toMatchObject({ status: 'failed' });
    expect(await again.replay(p.plan, 'est-1')).toMatchObject({ identical: true });
    expect(fake.requests.length - before).toBe(1);
    await ledger.close();
  });

  it('sends an input holding a bigint as JSON with the number written out', async () => {
    const ledger = sqlite();
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    const p = definePipeline(
      'big',
      sequence(
        step('count', () => ({ s: 'x', n: 12345678901234567890n })),
        agentStep('b', 'openai:gpt-4o-mini'),
      ),
    );
    fake.script({ text: 'big', usage: { input: 10, output: 5 } });
    const r = await engine.run(p.plan, 'x', { budget: { costMicros: 1_000_000 } });
    expect(r).toMatchObject({ status: 'completed', output: 'big' });
    expect(fake.requests.at(-1)?.body.messages).toEqual([
      { role: 'user', content: '{"n":12345678901234567890,"s":"x"}' },
    ]);
    await ledger.close();
  });
});
