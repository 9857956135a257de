import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { createModelAgents } from '../../src/adapters/agents/index.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { agentsOn, never, request, retries } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
beforeEach(() => void fake.requests.splice(0));

describe('calls that behave', () => {
  for (const agent of ['openai:gpt-4o', 'anthropic:claude-haiku-4-5']) {
    it(`${agent}: 429 then success is retried after Retry-After, reported, with one idempotency key`, async () => {
      fake.script({ status: 429, headers: { 'retry-after': '0.05' } }, { text: 'fine' });
      const { seen, hooks } = retries();
      const started = Date.now();
      const reply = await agentsOn(fake).call(request(agent, 'x'), never, hooks);
      expect(reply.output).toBe('fine');
      expect(Date.now() - started).toBeGreaterThanOrEqual(45); // waited as the server asked
      expect(seen).toEqual([
        {
          retry: 1,
          delayMs: 50,
          error: expect.objectContaining({ code: 'AGENT_HTTP', retryable: true }),
        },
      ]);
      expect(fake.requests).toHaveLength(2);
      const keys = fake.requests.map((r) => r.headers['idempotency-key']);
      expect(keys[0]).toMatch(/^run-a:\d+:1$/);
      expect(keys[1]).toBe(keys[0]);
      // The SDKs' own retries are off: every retry is ours.
      expect(fake.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '0']);
    });
  }

  for (const agent of ['openai:gpt-4o', 'anthropic:claude-haiku-4-5']) {
    it(`${agent}: a reset connection is retried as a connection error, reported, then succeeds`, async () => {
      fake.script({ reset: true }, { reset: true }, { text: 'fine' });
      const { seen, hooks } = retries();
      const reply = await agentsOn(fake).call(request(agent, 'x'), never, hooks);
      expect(reply.output).toBe('fine');
      expect(fake.requests).toHaveLength(3);
      expect(seen.map((s) => [s.retry, s.error.code, s.error.retryable])).toEqual([
        [1, 'AGENT_CONNECTION', true],
        [2, 'AGENT_CONNECTION', true],
      ]);
    });

    it(`${agent}: a connection reset halfway through the reply's body fails retryable, of unknown usage, not sent again here`, async () => {
      // The provider took the request and may have billed the reply it was sending: a second
      // request under the same reservation could overspend (ADR 0055). The step retries it.
      fake.script({ cut: '{"id":"x","cho' }); // then 'ok', were it sent again
      const { seen, hooks } = retries();
      await expect(agentsOn(fake).call(request(agent, 'x'), never, hooks)).rejects.toMatchObject({
        code: 'AGENT_CONNECTION',
        retryable: true,
        usageUnknown: true,
      });
      expect(fake.requests).toHaveLength(1);
      expect(seen).toEqual([]);
    });

    it(`${agent}: a step retries a reply cut off mid-body as a new attempt, and it succeeds`, async () => {
      fake.script({ cut: '{"id":"x","cho' }, { text: 'fine' });
      const engine = createEngine({
        ledger: createMemoryLedger(),
        agents: agentsOn(fake),
        worker: 't',
      });
      const p = definePipeline('cut', agentStep('a', agent, { retries: 1 }));
      const r = await engine.run(p.plan, 'x');
      expect(r).toMatchObject({ status: 'completed', output: 'fine' });
      expect(fake.requests.map((q) => q.headers['idempotency-key'])).toEqual([
        `${r.runId}:.:1`,
        `${r.runId}:.:2`,
      ]);
    });

    it(`${agent}: a refused connection is retried up to maxRetries, then fails retryable`, async () => {
      // A port that was just free: nothing listens on it.
      const gone = await startFakeLlm();
      await gone.close();
      const { seen, hooks } = retries();
      await expect(agentsOn(gone).call(request(agent, 'x'), never, hooks)).rejects.toMatchObject({
        code: 'AGENT_CONNECTION',
        retryable: true,
      });
      expect(seen.map((s) => s.error.code)).toEqual([
        'AGENT_CONNECTION',
        'AGENT_CONNECTION',
        'AGENT_CONNECTION',
      ]);
    });
  }

  it('500s until it gives up: retries are bounded and the last error is retryable for the step', async () => {
    fake.script({ status: 500 }, { status: 502 }, { status: 503 }, { status: 500 });
    const { seen, hooks } = retries();
    await expect(
      agentsOn(fake).call(request('openai:gpt-4o', 'x'), never, hooks),
    ).rejects.toMatchObject({
      code: 'AGENT_HTTP',
      retryable: true,
      message: expect.stringContaining('500'),
    });
    expect(fake.requests).toHaveLength(4); // 1 + maxRetries (3)
    expect(seen.map((s) => s.retry)).toEqual([1, 2, 3]);
  });

  it('a non-retryable error fails fast with the provider message', async () => {
    fake.script({ status: 401, message: 'Incorrect API key provided' });
    const { seen, hooks } = retries();
    await expect(
      agentsOn(fake).call(request('anthropic:claude-haiku-4-5', 'x'), never, hooks),
    ).rejects.toMatchObject({
      code: 'AGENT_HTTP',
      retryable: false,
      message: expect.stringContaining('Incorrect API key provided'),
    });
    expect(fake.requests).toHaveLength(1);
    expect(seen).toEqual([]);
  });

  it('a server that drips bytes is cut off at the deadline', async () => {
    fake.script({ drip: { everyMs: 20 } });
    const started = Date.now();
    await expect(
      agentsOn(fake).call(request('openai:gpt-4o', 'x', { deadlineMs: 400 }), never),
    ).rejects.toMatchObject({ code: 'AGENT_DEADLINE', retryable: true });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(2000);
    // The socket was closed, not left dripping (the server sees the close when it gets to it).
    await vi.waitFor(() => expect(fake.aborted()).toBeGreaterThanOrEqual(1), { timeout: 5000 });
  });

  it('a deadline longer than one setTimeout keeps (24.8 days) does not end the call at once (ADR 116)', async () => {
    for (const agent of ['openai:gpt-4o', 'anthropic:claude-haiku-4-5']) {
      fake.script({ text: 'late', delayMs: 40 });
      // Before: our deadline timer and the SDK's timeout both fired after 1 ms (AGENT_DEADLINE).
      const reply = await agentsOn(fake).call(request(agent, 'x', { deadlineMs: 2 ** 32 }), never);
      expect(reply.output).toBe('late');
    }
  });

  it('a reply larger than maxResponseBytes is refused', async () => {
    fake.script({ huge: { bytes: 200_000 } });
    await expect(
      agentsOn(fake).call(
        request('anthropic:claude-haiku-4-5', 'x', { maxResponseBytes: 10_000 }),
        never,
      ),
    ).rejects.toMatchObject({ code: 'AGENT_RESPONSE_TOO_LARGE', retryable: false });
  });

  it('cancelling the run aborts the request in flight', async () => {
    fake.script({ drip: { everyMs: 50 } });
    const before = fake.aborted();
    const controller = new AbortController();
    const call = agentsOn(fake).call(request('anthropic:claude-haiku-4-5', 'x'), controller.signal);
    // Cancelled once the server has the request and drips its reply (not after a fixed wait,
    // which on a loaded machine could come before the request was even sent).
    await vi.waitFor(() => expect(fake.requests).toHaveLength(1), { timeout: 5000 });
    controller.abort(new Error('run stopped'));
    await expect(call).rejects.toMatchObject({ code: 'AGENT_CANCELLED', retryable: false });
    await vi.waitFor(() => expect(fake.aborted()).toBe(before + 1), { timeout: 5000 });
  });

  it('a backoff wait is cut short by a cancel', async () => {
    fake.script({ status: 429, headers: { 'retry-after': '30' } });
    const controller = new AbortController();
    const { seen, hooks } = retries();
    const call = agentsOn(fake).call(
      request('openai:gpt-4o', 'x', { deadlineMs: 60_000 }),
      controller.signal,
      hooks,
    );
    // Cancelled while it waits out the 30 s Retry-After: once the retry is scheduled.
    await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 5000 });
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: 'AGENT_CANCELLED' });
    expect(fake.requests).toHaveLength(1);
  });

  it('does not wait for a Retry-After that would outlive the deadline', async () => {
    fake.script({ status: 429, headers: { 'retry-after': '30' } });
    const started = Date.now();
    await expect(
      agentsOn(fake).call(request('openai:gpt-4o', 'x', { deadlineMs: 1000 }), never),
    ).rejects.toMatchObject({ code: 'AGENT_HTTP', retryable: true });
    expect(Date.now() - started).toBeLessThan(900);
    expect(fake.requests).toHaveLength(1);
  });

  it('a missing API key is a ConfigError naming the variable, and no request is made', async () => {
    for (const [agent, variable] of [
      ['openai:gpt-4o', 'OPENAI_API_KEY'],
      ['anthropic:claude-haiku-4-5', 'ANTHROPIC_API_KEY'],
    ] as const) {
      const agents = createModelAgents({
        env: { OPENAI_BASE_URL: fake.openaiUrl, ANTHROPIC_BASE_URL: fake.anthropicUrl },
      });
      const err = await agents.call(request(agent, 'x'), never).catch((e: unknown) => e);
      expect(err).toMatchObject({
        name: 'ConfigError',
        code: 'CONFIG_MISSING_KEY',
        exitCode: 2,
        retryable: false,
      });
      expect((err as Error).message).toContain(`${variable} is not set`);
    }
    expect(fake.requests).toHaveLength(0);
  });
});
