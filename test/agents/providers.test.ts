import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { preflightModelAgents } from '../../src/adapters/agents/index.js';
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
  properties: { answer: { type: 'integer' }, note: { type: 'string' } },
  required: ['answer'],
};

describe('model agents against the real SDKs', () => {
  it('openai: Chat Completions carries a strict json_schema and returns the parsed object, usage and cost', async () => {
    fake.script({
      text: '{"answer":4,"note":null}',
      usage: { input: 1000, output: 200 },
      model: 'gpt-4o-2024-08-06',
    });
    const reply = await agentsOn(fake).call(
      request(
        'openai:gpt-4o',
        { q: '2+2', a: 1 },
        { system: 'be brief', outputSchema: answer, settings: { temperature: 0 } },
      ),
      never,
    );
    expect(reply).toMatchObject({
      output: { answer: 4 }, // the strict-mode null for the optional `note` is dropped
      usage: { input: 1000, output: 200 },
      costMicros: 1000 * 2.5 + 200 * 10,
      model: 'gpt-4o-2024-08-06',
      finishReason: 'stop',
    });
    const [seen] = fake.requests;
    expect(seen?.route).toBe('chat');
    expect(seen?.body).toMatchObject({
      model: 'gpt-4o',
      temperature: 0,
      max_tokens: 4096, // a compatible base URL gets max_tokens, not max_completion_tokens
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: '{"a":1,"q":"2+2"}' }, // canonical JSON
      ],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'output',
          strict: true,
          schema: {
            type: 'object',
            required: ['answer', 'note'],
            additionalProperties: false,
            properties: {
              answer: { type: 'integer' },
              note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
            },
          },
        },
      },
    });
  });

  it('openai: the Responses API when the step asks for it, with text.format json_schema', async () => {
    fake.script({ text: '{"answer":5}', usage: { input: 10, output: 3 } });
    const reply = await agentsOn(fake).call(
      request('openai:gpt-4.1-mini', 'q', {
        api: 'responses',
        outputSchema: answer,
        system: 'sys',
      }),
      never,
    );
    expect(reply).toMatchObject({
      output: { answer: 5 },
      usage: { input: 10, output: 3 },
      costMicros: 4 + 5,
    });
    const [seen] = fake.requests;
    expect(seen?.route).toBe('responses');
    expect(seen?.body).toMatchObject({
      instructions: 'sys',
      max_output_tokens: 4096,
      text: { format: { type: 'json_schema', name: 'output', strict: true } },
    });
  });

  it('anthropic: Messages carries output_config.format and returns the parsed object', async () => {
    fake.script({ text: '{"answer":6}', usage: { input: 100, output: 10 } });
    const reply = await agentsOn(fake).call(
      request('anthropic:claude-sonnet-4-20250514', 'six?', {
        outputSchema: answer,
        settings: { max_tokens: 256 },
      }),
      never,
    );
    expect(reply).toMatchObject({
      output: { answer: 6 },
      costMicros: 100 * 3 + 10 * 15,
      model: 'claude-sonnet-4-20250514',
    });
    const [seen] = fake.requests;
    expect(seen?.route).toBe('messages');
    // SDK 1.13 sends the key as a bearer token; the idempotency key rides as a header too.
    expect(seen?.headers.authorization).toBe('Bearer sk-ant-test-ANTHROPIC-secret-9876543210');
    expect(seen?.headers['idempotency-key']).toMatch(/^run-a:\d+:1$/);
    expect(seen?.body).toMatchObject({
      max_tokens: 256,
      messages: [{ role: 'user', content: 'six?' }],
      output_config: { format: { type: 'json_schema', schema: { type: 'object' } } },
    });
  });

  it('wraps a non-object schema as {value} on the wire and unwraps the reply', async () => {
    fake.script({ text: '{"value":"hello"}' }, { text: '{"value":"hi"}' });
    const agents = agentsOn(fake);
    const schema = { type: 'string', minLength: 2 };
    const a = await agents.call(
      request('openai:gpt-4o-mini', 'x', { outputSchema: schema }),
      never,
    );
    const b = await agents.call(
      request('anthropic:claude-haiku-4-5', 'x', { outputSchema: schema }),
      never,
    );
    expect([a.output, b.output]).toEqual(['hello', 'hi']);
    expect(fake.requests[0]?.body).toMatchObject({
      response_format: {
        json_schema: {
          schema: {
            type: 'object',
            properties: { value: { type: 'string' } },
            required: ['value'],
            additionalProperties: false,
          },
        },
      },
    });
  });

  it('without a schema the output is the reply text', async () => {
    fake.script({ text: 'plain words' });
    const r = await agentsOn(fake).call(request('anthropic:claude-haiku-4-5', 'x'), never);
    expect(r).toMatchObject({ output: 'plain words', text: 'plain words' });
    expect(fake.requests[0]?.body).not.toHaveProperty('output_config');
  });

  it('records the raw provider body only when the config asks for it', async () => {
    fake.script({ text: 'a' }, { text: 'b' });
    const agents = agentsOn(fake);
    const off = await agents.call(request('openai:gpt-4o', 'x'), never);
    const on = await agents.call(request('openai:gpt-4o', 'x', { recordRaw: true }), never);
    expect(off.raw).toBeUndefined();
    expect(on.raw).toMatchObject({ id: 'chatcmpl-fake', choices: [{ message: { content: 'b' } }] });
  });

  it('a reply without usage is reported as usage unknown (0 tokens, $0), on every route', async () => {
    const agents = agentsOn(fake);
    fake.script(
      {
        rawBody:
          '{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"a"}}]}',
      },
      {
        rawBody:
          '{"model":"m","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"b"}]}]}',
      },
      {
        rawBody:
          '{"model":"m","type":"message","content":[{"type":"text","text":"c"}],"stop_reason":"end_turn"}',
      },
    );
    const chat = await agents.call(request('openai:gpt-4o', 'x'), never);
    const resp = await agents.call(request('openai:gpt-4o', 'x', { api: 'responses' }), never);
    const msgs = await agents.call(request('anthropic:claude-haiku-4-5', 'x'), never);
    for (const [r, text] of [
      [chat, 'a'],
      [resp, 'b'],
      [msgs, 'c'],
    ] as const)
      expect(r).toMatchObject({
        output: text,
        usage: { input: 0, output: 0 },
        costMicros: 0,
        usageUnknown: true,
      });
    fake.script({ text: 'd', usage: { input: 3, output: 2 } });
    const known = await agents.call(request('openai:gpt-4o', 'x'), never);
    expect(known).toMatchObject({ usage: { input: 3, output: 2 } });
    expect(known).not.toHaveProperty('usageUnknown');
  });

  it('a refusal fails the call without retrying, and says so', async () => {
    fake.script({ text: '', refusal: 'I cannot help with that' });
    await expect(
      agentsOn(fake).call(request('openai:gpt-4o', 'x', { outputSchema: answer }), never),
    ).rejects.toMatchObject({
      code: 'AGENT_REFUSED',
      retryable: false,
      message: expect.stringContaining('I cannot help with that'),
    });
    expect(fake.requests).toHaveLength(1);
  });

  it('refuses n other than 1 (several completions billed against one reservation) before any request, in preflight too (ADR 0125)', async () => {
    const agents = agentsOn(fake);
    const many = request('openai:gpt-4o-mini', 'x', { settings: { max_tokens: 100, n: 10 } });
    const refused = {
      code: 'CONFIG_INVALID',
      exitCode: 2,
      message: expect.stringMatching(/config\.settings\.n: must be 1 .*map or a parallel/),
    };
    await expect(agents.call(many, never)).rejects.toMatchObject(refused);
    expect(() => agents.estimate?.(many)).toThrow(/config\.settings\.n/);
    expect(() =>
      preflightModelAgents({ env: { OPENAI_API_KEY: 'k' } }, [
        { agent: many.agent, config: many.config, path: 's' },
      ]),
    ).toThrow(expect.objectContaining(refused));
    expect(fake.requests).toHaveLength(0);
    // n: 1 is one completion, as without it.
    fake.script({ text: 'one' });
    const one = request('openai:gpt-4o-mini', 'x', { settings: { n: 1 } });
    await expect(agents.call(one, never)).resolves.toMatchObject({ output: 'one' });
    expect(fake.requests[0]?.body).toMatchObject({ n: 1 });
  });

  it('rejects an unknown provider and a bad config before any request', async () => {
    const agents = agentsOn(fake);
    await expect(agents.call(request('gemini:pro', 'x'), never)).rejects.toMatchObject({
      code: 'CONFIG_UNKNOWN_MODEL',
      exitCode: 2,
    });
    await expect(
      agents.call(request('openai:gpt-4o', 'x', { settings: { temperature: 'hot' } }), never),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('config.settings.temperature'),
    });
    expect(fake.requests).toHaveLength(0);
  });
});
