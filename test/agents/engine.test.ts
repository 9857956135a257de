import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createRecordedAgents } from '../../src/adapters/agents/index.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline, sequence } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { verifyRun } from '../../src/events/verify.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { ANTHROPIC_KEY, OPENAI_KEY, agentsOn } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

const triage = definePipeline(
  'triage',
  sequence(
    agentStep('classify', 'openai:gpt-4o-mini', {
      output: z.object({ label: z.enum(['spam', 'ham']), score: z.number() }),
      config: { system: 'Classify the message.', recordRaw: true },
    }),
    agentStep('explain', 'anthropic:claude-haiku-4-5', {
      config: { system: 'Explain the label.' },
    }),
  ),
);

describe('model agents inside the engine (SQLite ledger)', () => {
  it('records replies with usage, cost and model, retries as markers, and never the API key; replay makes no request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-agents-'));
    const ledger = createSqliteLedger({ path: join(dir, 'state.db') });
    const engine = createEngine({
      ledger,
      agents: agentsOn(fake),
      newRunId: () => 'run-1',
      worker: 'test',
    });
    fake.script(
      { status: 429, headers: { 'retry-after': '0' }, message: 'slow down' },
      {
        text: '{"label":"spam","score":0.9}',
        usage: { input: 1200, output: 30 },
        model: 'gpt-4o-mini-2024-07-18',
      },
      { status: 503 },
      {
        text: 'It sells pills.',
        usage: { input: 400, output: 20 },
        model: 'claude-haiku-4-5-20251001',
      },
    );
    const result = await engine.run(triage.plan, 'BUY PILLS NOW', {
      budget: { costMicros: 1_000_000 },
    });
    expect(result).toMatchObject({ status: 'completed', output: 'It sells pills.' });
    expect(fake.requests).toHaveLength(4);
    expect(fake.requests[2]?.body.messages).toEqual([
      { role: 'user', content: '{"label":"spam","score":0.9}' },
    ]);

    const events = await engine.events('run-1');
    const replies = events.filter((e) => e.type === 'AgentResponded').map((e) => e.data);
    expect(replies).toMatchObject([
      {
        output: { label: 'spam', score: 0.9 },
        usage: { input: 1200, output: 30 },
        costMicros: Math.ceil(1200 * 0.15 + 30 * 0.6),
        model: 'gpt-4o-mini-2024-07-18',
        finishReason: 'stop',
        raw: { id: 'chatcmpl-fake' },
      },
      {
        output: 'It sells pills.',
        costMicros: 400 * 1 + 20 * 5,
        model: 'claude-haiku-4-5-20251001',
      },
    ]);
    expect(result.costMicros).toBe(replies.reduce((s, r) => s + r.costMicros, 0));
    const retried = events.filter((e) => e.type === 'AgentCallRetried').map((e) => e.data);
    expect(retried).toMatchObject([
      {
        retry: 1,
        delayMs: 0,
        error: {
          code: 'AGENT_HTTP',
          retryable: true,
          message: expect.stringContaining('slow down'),
        },
      },
      { retry: 1, error: { code: 'AGENT_HTTP', message: expect.stringContaining('503') } },
    ]);
    // Each retry marker sits between its call's request and its reply.
    const order = events.map((e) => e.type).filter((t) => t.startsWith('Agent'));
    expect(order).toEqual([
      'AgentCallRequested',
      'AgentCallRetried',
      'AgentResponded',
      'AgentCallRequested',
      'AgentCallRetried',
      'AgentResponded',
    ]);

    const rows = await ledger.read('run-1');
    for (const row of rows) {
      const bytes = Buffer.from(row.body);
      expect(bytes.includes(OPENAI_KEY)).toBe(false);
      expect(bytes.includes(ANTHROPIC_KEY)).toBe(false);
      expect(bytes.includes('Bearer')).toBe(false);
    }
    expect(verifyRun('run-1', rows).ok).toBe(true);

    const before = fake.requests.length;
    const replay = await engine.replay(triage.plan, 'run-1');
    expect(replay).toMatchObject({ identical: true, output: 'It sells pills.' });
    expect(fake.requests).toHaveLength(before);

    // The recorded client serves the same run again from the ledger, with zero requests.
    const again = createEngine({
      ledger: createMemoryLedger(),
      agents: createRecordedAgents(events),
      newRunId: () => 'copy',
    });
    const copy = await again.run(triage.plan, 'BUY PILLS NOW', {
      budget: { costMicros: 1_000_000 },
    });
    expect(copy).toMatchObject({
      status: 'completed',
      output: 'It sells pills.',
      costMicros: result.costMicros,
    });
    expect(fake.requests).toHaveLength(before);

    // A request that differs from the recording fails loudly, naming the step.
    const changed = await again.run(triage.plan, 'different input', { runId: 'changed' });
    expect(changed).toMatchObject({ status: 'failed', error: { code: 'AGENT_REPLAY_MISMATCH' } });
    expect(changed.error?.message).toMatch(
      /step \S+ attempt 1: the request differs from the recorded one/,
    );
    expect(fake.requests).toHaveLength(before);
    await ledger.close();
  });

  it('a step that fails validation after its repair records the errors, the repair and what it cost', async () => {
    const engine = createEngine({
      ledger: createMemoryLedger(),
      agents: agentsOn(fake),
      newRunId: () => 'run-2',
    });
    fake.script(
      { text: 'nope', usage: { input: 10, output: 1 } },
      { text: '{"label":"eggs"}', usage: { input: 20, output: 2 } },
    );
    const one = definePipeline(
      'one',
      agentStep('classify', 'openai:gpt-4o-mini', {
        output: z.object({ label: z.enum(['spam', 'ham']) }),
      }),
    );
    const result = await engine.run(one.plan, 'x');
    expect(result).toMatchObject({ status: 'failed' });
    const failed = (await engine.events('run-2')).find((e) => e.type === 'AgentFailed');
    expect(failed?.data).toMatchObject({
      error: {
        code: 'AGENT_OUTPUT_INVALID',
        retryable: true,
        message: expect.stringContaining('/label must be equal to one of the allowed values'),
      },
      usage: { input: 30, output: 3 },
      costMicros: Math.ceil(30 * 0.15 + 3 * 0.6),
      repair: { reason: 'invalid_json', text: 'nope' },
    });
    expect(result.costMicros).toBe(Math.ceil(30 * 0.15 + 3 * 0.6));
  });
});
