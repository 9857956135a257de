import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { agentsOn, never, request } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
beforeEach(() => void fake.requests.splice(0));

const answer = {
  type: 'object',
  properties: { answer: { type: 'integer', minimum: 0 } },
  required: ['answer'],
};

describe('structured output: one repair, then fail with the errors', () => {
  it('invalid JSON gets one repair request showing the error; the repair is recorded and both are billed', async () => {
    fake.script(
      { text: 'Sure! {"answer": 4', usage: { input: 100, output: 10 } },
      { text: '{"answer":4}', usage: { input: 150, output: 5 } },
    );
    const reply = await agentsOn(fake).call(
      request('openai:gpt-4o-mini', 'q', { outputSchema: answer }),
      never,
    );
    expect(reply).toMatchObject({
      output: { answer: 4 },
      usage: { input: 250, output: 15 },
      costMicros: Math.ceil(250 * 0.15 + 15 * 0.6),
      repair: {
        reason: 'invalid_json',
        errors: [expect.stringContaining('not valid JSON')],
        text: 'Sure! {"answer": 4',
        usage: { input: 100, output: 10 },
        costMicros: Math.ceil(100 * 0.15 + 10 * 0.6),
      },
    });
    expect(fake.requests).toHaveLength(2);
    const messages = fake.requests[1]?.body.messages as { role: string; content: string }[];
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(messages[1]?.content).toBe('Sure! {"answer": 4');
    expect(messages[2]?.content).toContain('not valid JSON');
  });

  it('a schema mismatch twice fails the call with the validation errors, billed, repair recorded', async () => {
    fake.script(
      { text: '{"answer":-1}', usage: { input: 10, output: 2 } },
      { text: '{"answer":"four"}', usage: { input: 20, output: 3 } },
    );
    const err = await agentsOn(fake)
      .call(request('anthropic:claude-haiku-4-5', 'q', { outputSchema: answer }), never)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'AGENT_OUTPUT_INVALID',
      retryable: true,
      message: expect.stringContaining('/answer must be integer'),
      usage: { input: 30, output: 5 },
      costMicros: 30 * 1 + 5 * 5,
      repair: { reason: 'schema_mismatch', errors: ['/answer must be >= 0'] },
    });
    const repairAsk = (fake.requests[1]?.body.messages as { content: string }[])[2]?.content;
    expect(repairAsk).toContain('/answer must be >= 0');
  });

  it('a server that rejects response_format falls back to prompt + validation, and remembers', async () => {
    fake.script(
      {
        status: 400,
        message: "Invalid parameter: 'response_format' of type 'json_schema' is not supported",
      },
      { text: '```json\n{"answer":7}\n```' },
      { text: '{"answer":8}' },
    );
    const agents = agentsOn(fake);
    const first = await agents.call(
      request('openai:llama3.1', 'q', { outputSchema: answer }),
      never,
    );
    const second = await agents.call(
      request('openai:llama3.1', 'q', { outputSchema: answer }),
      never,
    );
    expect([first.output, second.output]).toEqual([{ answer: 7 }, { answer: 8 }]);
    expect(fake.requests.map((r) => 'response_format' in r.body)).toEqual([true, false, false]);
    const system = (fake.requests[1]?.body.messages as { role: string; content: string }[])[0];
    expect(system?.role).toBe('system');
    expect(system?.content).toContain('matches this JSON Schema');
  });

  it('schemaSupport: prompt never sends the native format', async () => {
    fake.script({ text: '{"answer":1}' });
    const r = await agentsOn(fake).call(
      request('anthropic:claude-haiku-4-5', 'q', {
        outputSchema: answer,
        schemaSupport: 'prompt',
        system: 'S',
      }),
      never,
    );
    expect(r.output).toEqual({ answer: 1 });
    expect(fake.requests[0]?.body).not.toHaveProperty('output_config');
    expect(fake.requests[0]?.body.system).toMatch(/^S\n\nReply with only a JSON value/);
  });

  it('refuses a reply carrying a __proto__ key', async () => {
    fake.script({ text: '{"answer":1,"__proto__":{"polluted":1}}' }, { text: '{"answer":2}' });
    const r = await agentsOn(fake).call(
      request('openai:gpt-4o', 'q', {
        outputSchema: { type: 'object', properties: { answer: { type: 'integer' } } },
      }),
      never,
    );
    expect(r).toMatchObject({
      output: { answer: 2 },
      repair: { errors: [expect.stringContaining('__proto__')] },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a reply cut off at max_tokens says so in the repair errors', async () => {
    fake.script({ text: '{"answer":', finish: 'length' }, { text: '{"answer":3}' });
    const r = await agentsOn(fake).call(
      request('openai:gpt-4o', 'q', { outputSchema: answer }),
      never,
    );
    expect(r.repair?.errors).toContain(
      'the reply was cut off at max_tokens (raise settings.max_tokens)',
    );
  });
});

describe('a repair that could exceed the estimate is not sent, and the message names the bound', () => {
  const M = 50;
  const req = () =>
    request('openai:gpt-4o-mini', 'hello', { outputSchema: answer, settings: { max_tokens: M } });
  /** The prompt's token bound: the estimate is 2 prompts + the repair allowance + 3 max_tokens. */
  const promptOf = (tokens: number) => (tokens - 3 * M - (M + 8 + 512 + 8)) / 2;

  it.each([
    // More prompt tokens than the bound, few (cheap) reply tokens: the tokens are over, not the cost.
    [
      'tokens',
      { input: 650, output: 3 },
      /could use up to (\d+) tokens, more than its estimate of (\d+) tokens, the most a run's budget reserves for it \(its cost, up to \$(\d\.\d{6}), is within the estimate's \$(\d\.\d{6})\)$/,
    ],
    // More (dear) reply tokens than max_tokens: the cost is over, not the tokens.
    [
      'cost',
      { input: 0, output: M + 150 },
      /could cost up to \$(\d\.\d{6}), more than its estimate of \$(\d\.\d{6}), the most a run's budget reserves for it \(its (\d+) tokens are within the estimate's (\d+)\)$/,
    ],
  ] as const)('only the %s over', async (_, extra, shape) => {
    const agents = agentsOn(fake);
    const est = agents.estimate?.(req()) as { tokens: number; costMicros: number };
    const p = promptOf(est.tokens);
    fake.script({ text: 'not json', usage: { input: p + extra.input, output: extra.output } });
    const err = await agents.call(req(), never).then(
      () => null,
      (e: Error) => e,
    );
    expect(fake.requests).toHaveLength(1);
    expect(err).toMatchObject({ code: 'AGENT_OUTPUT_INVALID' });
    const m = err?.message.match(shape);
    expect(m, err?.message).not.toBeNull();
    const [over, bound, within, limit] = (m ?? []).slice(1).map(Number) as number[];
    expect(over).toBeGreaterThan(bound as number);
    expect(within).toBeLessThanOrEqual(limit as number);
  });
});
