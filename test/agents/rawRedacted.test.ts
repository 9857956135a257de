/**
 * A provider's raw reply body, recorded with `recordRaw: true`, never carries the API key or an
 * auth header into the ledger (agents.md: "API keys and auth headers are never recorded"; ADR
 * 42). QA: a body echoing `"authorization": "Bearer sk-…"` was stored verbatim and came out in
 * `lens export`; and a 401 quoting the key without its `sk-` prefix was not masked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { redactSecrets, registerSecret } from '../../src/redact.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { OPENAI_KEY, agentsOn } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

const echoing = definePipeline(
  'echoing',
  agentStep('ask', 'openai:gpt-4o-mini', { config: { recordRaw: true } }),
);

describe('a raw reply body is recorded without the secrets it echoes', () => {
  it('masks the key, a Bearer header and the key without its prefix, keeping the rest', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, agents: agentsOn(fake), newRunId: () => 'raw-1' });
    const bare = OPENAI_KEY.replace(/^sk-/, '');
    fake.script({
      rawBody: JSON.stringify({
        id: 'chatcmpl-echo',
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' } }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
        debug: {
          headers: { authorization: `Bearer ${OPENAI_KEY}` },
          note: [`key=${bare}`, `the key was ${OPENAI_KEY}`],
        },
      }),
    });
    const result = await engine.run(echoing.plan, 'x');
    expect(result).toMatchObject({ status: 'completed', output: 'hi' });
    const reply = (await engine.events('raw-1')).find((e) => e.type === 'AgentResponded');
    const raw = (reply?.data as { raw: Record<string, unknown> }).raw;
    expect(raw).toMatchObject({ id: 'chatcmpl-echo', debug: { headers: {} } });
    const text = JSON.stringify(raw);
    expect(text).not.toContain(OPENAI_KEY);
    expect(text).not.toContain(bare);
    expect(raw.debug).toEqual({
      headers: { authorization: 'Bearer [redacted]' },
      note: ['key=[redacted]', 'the key was [redacted]'],
    });
  });

  it('masks a registered key quoted without its prefix in any text', () => {
    registerSecret(OPENAI_KEY); // as the adapters register the key they call with
    expect(redactSecrets(`Incorrect API key: ${OPENAI_KEY.slice(3)}`)).toBe(
      'Incorrect API key: [redacted]',
    );
  });
});
