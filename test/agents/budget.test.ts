/**
 * Model calls under a run budget, through the real SDKs against the fake server and a SQLite
 * ledger: what is reserved, what is spent, and what is recorded when a call cannot be estimated.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline, sequence, step, type Flow } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { agentsOn } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

async function until(ok: () => boolean): Promise<void> {
  for (let waited = 0; !ok(); waited += 10) {
    if (waited > 5000) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

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

describe('attempts whose usage is unknown, under a budget', () => {
  const one = (opts: { retries: number; timeoutMs?: number }) =>
    definePipeline('u', agentStep('a', 'openai:gpt-4o-mini', opts));
  const estimateOf = (runEvents: readonly { type: string; data: unknown }[]) =>
    runEvents.find((e) => e.type === 'BudgetReserved')?.data as {
      costMicros: number;
      tokens: number;
    };

  it('counts a timed-out attempt as spent at its reservation, so the retry that could overspend is not made', async () => {
    const ledger = sqlite();
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    const p = one({ retries: 1, timeoutMs: 150 });
    // The reservation for this input, learnt from a run that answers at once.
    fake.script({ text: 'ok', usage: { input: 10, output: 5 } });
    const probe = await engine.run(p.plan, 'x', { budget: { costMicros: 1_000_000 } });
    const est = estimateOf(await engine.events(probe.runId));

    fake.script({ drip: { everyMs: 20 } }); // the retry is never sent
    const before = fake.requests.length;
    const r = await engine.run(p.plan, 'x', {
      runId: 'slow-1',
      budget: { costMicros: 2 * est.costMicros - 1 },
    });
    expect(fake.requests.length - before).toBe(1); // the retry was refused, not sent
    expect(r).toMatchObject({
      status: 'failed',
      costMicros: est.costMicros,
      error: { code: 'COST_LIMIT_EXCEEDED' },
    });
    const events = await engine.events('slow-1');
    expect(
      events
        .filter((e) => /^(Agent|Budget)/.test(e.type))
        .map((e) => [e.type, (e.data as { attempt: number }).attempt]),
    ).toEqual([
      ['AgentCallRequested', 1],
      ['BudgetReserved', 1],
      ['AgentFailed', 1],
      ['BudgetReconciled', 1],
      ['AgentCallRequested', 2],
      ['AgentFailed', 2],
    ]);
    expect(events.find((e) => e.type === 'BudgetReconciled')?.data).toEqual({
      path: '.',
      attempt: 1,
      ...est,
    });
    expect(await engine.replay(p.plan, 'slow-1')).toMatchObject({ identical: true });
    await ledger.close();
  });

  it.each(['openai:gpt-4o-mini', 'anthropic:claude-haiku-4-5'])(
    '%s: counts a reply cut off mid-body as spent at its reservation; it is not sent again under it',
    async (agent) => {
      const ledger = sqlite();
      const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
      const p = definePipeline('cut', agentStep('a', agent, { retries: 1 }));
      fake.script({ text: 'ok', usage: { input: 10, output: 5 } });
      const probe = await engine.run(p.plan, 'x', { budget: { costMicros: 1_000_000 } });
      const est = estimateOf(await engine.events(probe.runId));
      const kinds = (events: readonly { type: string; data: unknown }[]) =>
        events
          .filter((e) => /^(Agent|Budget)/.test(e.type))
          .map((e) => [e.type, (e.data as { attempt: number }).attempt]);

      // The provider took the first request and was sending its reply: it may have billed it.
      // A budget of 1.5 reservations cannot cover a second request after it.
      fake.script({ cut: '{"id":"x","cho' }); // then 'ok', were it sent again
      let before = fake.requests.length;
      const r = await engine.run(p.plan, 'x', {
        runId: `cut-1-${agent}`,
        budget: { costMicros: Math.floor(1.5 * est.costMicros) },
      });
      expect(fake.requests.length - before).toBe(1); // the second was refused, not sent
      expect(r).toMatchObject({
        status: 'failed',
        costMicros: est.costMicros,
        error: { code: 'COST_LIMIT_EXCEEDED' },
      });
      let events = await engine.events(r.runId);
      expect(kinds(events)).toEqual([
        ['AgentCallRequested', 1],
        ['BudgetReserved', 1],
        ['AgentFailed', 1],
        ['BudgetReconciled', 1],
        ['AgentCallRequested', 2],
        ['AgentFailed', 2],
      ]);
      expect(events.find((e) => e.type === 'AgentFailed')?.data).toMatchObject({
        error: { code: 'AGENT_CONNECTION', retryable: true },
      });
      expect(await engine.replay(p.plan, r.runId)).toMatchObject({ identical: true });

      // With room for both, the step's retry is reserved and sent: what was spent covers both.
      fake.script({ cut: '{"id":"x","cho' }, { text: 'fine', usage: { input: 10, output: 5 } });
      before = fake.requests.length;
      const ok = await engine.run(p.plan, 'x', {
        runId: `cut-2-${agent}`,
        budget: { costMicros: Math.floor(2.5 * est.costMicros) },
      });
      expect(fake.requests.length - before).toBe(2);
      events = await engine.events(ok.runId);
      expect(kinds(events)).toEqual([
        ['AgentCallRequested', 1],
        ['BudgetReserved', 1],
        ['AgentFailed', 1],
        ['BudgetReconciled', 1],
        ['AgentCallRequested', 2],
        ['BudgetReserved', 2],
        ['AgentResponded', 2],
      ]);
      const reply = (
        events.find((e) => e.type === 'AgentResponded')?.data as { costMicros: number }
      ).costMicros;
      expect(reply).toBeGreaterThan(0);
      expect(ok).toMatchObject({ status: 'completed', output: 'fine' });
      expect(ok.costMicros).toBe(est.costMicros + reply);
      expect(await engine.replay(p.plan, ok.runId)).toMatchObject({ identical: true });
      await ledger.close();
    },
  );

  it('counts the attempt a crash lost as spent when resume re-issues it with the same key', async () => {
    const ledger = sqlite();
    const p = one({ retries: 0 });
    const first = createEngine({ ledger, agents: agentsOn(fake), worker: 'a' });
    fake.script({ drip: { everyMs: 20 } });
    const before = fake.requests.length;
    const running = first.run(p.plan, 'x', { runId: 'lost-1', budget: { costMicros: 1_000_000 } });
    await until(() => fake.requests.length > before);
    await first.detach(); // the process dies with the call in flight: it may have been billed
    await running;
    const est = estimateOf(await first.events('lost-1'));

    fake.script({ text: 'again', usage: { input: 10, output: 5 } });
    const second = createEngine({ ledger, agents: agentsOn(fake), worker: 'b' });
    const r = await second.resume(p.plan, 'lost-1');
    const keys = fake.requests.slice(before).map((q) => q.headers['idempotency-key']);
    expect(keys).toEqual(['lost-1:.:1', 'lost-1:.:1']);
    const reply = Math.ceil(10 * 0.15 + 5 * 0.6);
    expect(r).toMatchObject({ status: 'completed', output: 'again' });
    expect(r.costMicros).toBe(est.costMicros + reply);
    expect(r.steps[0]).toMatchObject({ costMicros: est.costMicros + reply, attempts: 1 });
    const events = await second.events('lost-1');
    expect(events.filter((e) => e.type.startsWith('Budget')).map((e) => e.type)).toEqual([
      'BudgetReserved',
      'BudgetReconciled',
      'BudgetReserved',
    ]);
    expect(await second.replay(p.plan, 'lost-1')).toMatchObject({ identical: true });
    await ledger.close();
  });

  it('does not re-issue a lost call the budget can no longer cover', async () => {
    const ledger = sqlite();
    const p = one({ retries: 0 });
    const first = createEngine({ ledger, agents: agentsOn(fake), worker: 'a' });
    fake.script({ text: 'ok', usage: { input: 10, output: 5 } });
    const probe = await first.run(p.plan, 'x', { budget: { costMicros: 1_000_000 } });
    const est = estimateOf(await first.events(probe.runId));

    fake.script({ drip: { everyMs: 20 } });
    const before = fake.requests.length;
    const budget = { costMicros: 2 * est.costMicros - 1 };
    const running = first.run(p.plan, 'x', { runId: 'lost-2', budget });
    await until(() => fake.requests.length > before);
    await first.detach();
    await running;

    const r = await createEngine({ ledger, agents: agentsOn(fake), worker: 'b' }).resume(
      p.plan,
      'lost-2',
    );
    expect(fake.requests.length - before).toBe(1);
    expect(r).toMatchObject({
      status: 'failed',
      costMicros: est.costMicros,
      error: { code: 'COST_LIMIT_EXCEEDED' },
    });
    await ledger.close();
  });
});

describe('replies that do not say what they used, under a budget', () => {
  /** A chat completion with content and no usage, as some OpenAI-compatible servers answer. */
  const noUsage = (text: string) => ({
    rawBody: JSON.stringify({
      id: 'chatcmpl-x',
      object: 'chat.completion',
      created: 0,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    }),
  });
  const three = definePipeline(
    'nu',
    sequence(
      agentStep('a', 'openai:gpt-4o-mini'),
      agentStep('b', 'openai:gpt-4o-mini'),
      agentStep('c', 'openai:gpt-4o-mini'),
    ),
  );
  const reservationOf = (events: readonly { type: string; data: unknown }[]) =>
    events.find((e) => e.type === 'BudgetReserved')?.data as { costMicros: number; tokens: number };

  it('are charged their reservation (BudgetReconciled), so a third call the budget cannot cover is not made', async () => {
    const ledger = sqlite();
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    fake.script(noUsage('x'), noUsage('x'), noUsage('x'));
    const before = fake.requests.length;
    // The three calls reserve the same (the same input 'x'); learn it from a run's first.
    const probe = await engine.run(three.plan, 'x', { budget: { costMicros: 1_000_000 } });
    expect(probe).toMatchObject({ status: 'completed', output: 'x' });
    const est = reservationOf(await engine.events(probe.runId));
    expect(probe.costMicros).toBe(3 * est.costMicros);
    const run = await engine.events(probe.runId);
    expect(run.filter((e) => /^(AgentResponded|Budget)/.test(e.type)).map((e) => e.type)).toEqual(
      [1, 2, 3].flatMap(() => ['BudgetReserved', 'AgentResponded', 'BudgetReconciled']),
    );
    expect(run.find((e) => e.type === 'AgentResponded')?.data).toMatchObject({
      usage: { input: 0, output: 0 },
      costMicros: 0,
    });

    fake.script(noUsage('x'), noUsage('x')); // the third is never asked for
    const r = await engine.run(three.plan, 'x', {
      runId: 'nu-2',
      budget: { costMicros: 2 * est.costMicros + est.costMicros - 1 },
    });
    expect(fake.requests.length - before).toBe(3 + 2); // the third call was refused, not sent
    expect(r).toMatchObject({
      status: 'failed',
      costMicros: 2 * est.costMicros,
      error: { code: 'COST_LIMIT_EXCEEDED' },
    });
    expect(await engine.replay(three.plan, 'nu-2')).toMatchObject({ identical: true });
    await ledger.close();
  });

  it.each([
    ['openai:gpt-4o-mini', '{"weird":true}', 'chat completion'],
    ['openai:gpt-4o-mini', '{"choices":[]}', 'chat completion'],
    ['openai:gpt-4o-mini', '{"choices":[{"index":0}]}', 'chat completion'],
    ['anthropic:claude-haiku-4-5', '{"weird":true}', 'message'],
    ['anthropic:claude-haiku-4-5', '{"type":"message","content":null}', 'message'],
  ])(
    '%s: a 200 whose body is not a reply (%s) fails at once with AGENT_REPLY_INVALID, charged its reservation',
    async (agent, body, what) => {
      const ledger = sqlite();
      const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
      fake.script({ rawBody: body });
      const before = fake.requests.length;
      const p = definePipeline('bad', agentStep('a', agent, { retries: 2 }));
      const r = await engine.run(p.plan, 'x', { budget: { costMicros: 1_000_000 } });
      expect(fake.requests.length - before).toBe(1);
      const events = await engine.events(r.runId);
      const est = reservationOf(events);
      expect(r).toMatchObject({
        status: 'failed',
        costMicros: est.costMicros,
        error: {
          code: 'AGENT_REPLY_INVALID',
          message: expect.stringContaining(`the provider's reply is not a ${what} (`),
        },
      });
      expect(events.filter((e) => /^(Agent|Budget)/.test(e.type)).map((e) => e.type)).toEqual([
        'AgentCallRequested',
        'BudgetReserved',
        'AgentFailed',
        'BudgetReconciled',
      ]);
      await ledger.close();
    },
  );
});

describe('replies that do not say what they used and cannot be recorded, under a budget', () => {
  /** A chat completion without usage whose content is `content`, with this `id`. */
  const noUsage = (content: string, id = 'chatcmpl-x') => ({
    rawBody: JSON.stringify({
      id,
      object: 'chat.completion',
      created: 0,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    }),
  });
  const structured = z.object({ x: z.unknown() });

  it.each<[string, string, Flow<unknown, unknown>, { rawBody: string }]>([
    [
      // `{"x":"\ud83d"}`: the escape of half a surrogate pair, read as a lone surrogate.
      'its structured output holds a lone surrogate',
      'OUTPUT_NOT_RECORDABLE',
      agentStep('a', 'openai:gpt-4o-mini', { output: structured, retries: 2 }),
      noUsage('{"x":"\\ud83d"}'),
    ],
    [
      'its structured output is nested too deep',
      'OUTPUT_NOT_RECORDABLE',
      agentStep('a', 'openai:gpt-4o-mini', { output: structured, retries: 2 }),
      noUsage(`{"x":${'['.repeat(300)}${']'.repeat(300)}}`),
    ],
    [
      'the raw body it records holds a lone surrogate',
      'AGENT_REPLY_INVALID',
      agentStep('a', 'openai:gpt-4o-mini', { config: { recordRaw: true }, retries: 2 }),
      noUsage('fine', '\ud83d'),
    ],
  ])('%s: it fails, charged its reservation, not released at $0', async (_, code, a, body) => {
    const ledger = sqlite();
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    fake.script(body);
    const before = fake.requests.length;
    const p = definePipeline('nr', a);
    const r = await engine.run(p.plan, 'x', { budget: { costMicros: 1_000_000 } });
    expect(fake.requests.length - before).toBe(1);
    const events = await engine.events(r.runId);
    const est = events.find((e) => e.type === 'BudgetReserved')?.data as {
      costMicros: number;
      tokens: number;
    };
    expect(est.costMicros).toBeGreaterThan(0);
    expect(r).toMatchObject({ status: 'failed', costMicros: est.costMicros, error: { code } });
    expect(events.filter((e) => /^(Agent|Budget)/.test(e.type)).map((e) => e.type)).toEqual([
      'AgentCallRequested',
      'BudgetReserved',
      'AgentFailed',
      'BudgetReconciled',
    ]);
    // What it cost is unknown: the failure does not say $0.
    const failed = events.find((e) => e.type === 'AgentFailed')?.data as { costMicros?: number };
    expect(failed.costMicros).toBeUndefined();
    expect(events.find((e) => e.type === 'BudgetReconciled')?.data).toEqual({
      path: '.',
      attempt: 1,
      ...est,
    });
    expect(await engine.replay(p.plan, r.runId)).toMatchObject({ identical: true });
    await ledger.close();
  });
});

describe('a structured-output repair under a budget', () => {
  const M = 50;
  const structured = definePipeline(
    'rep',
    agentStep('x', 'openai:gpt-4o-mini', {
      output: z.object({ n: z.number() }),
      config: { settings: { max_tokens: M } },
    }),
  );
  /** Learns the reservation of the structured call from a run whose first reply is valid. */
  async function reservation() {
    const engine = createEngine({ ledger: sqlite(), agents: agentsOn(fake), worker: 't' });
    fake.script({ text: '{"n":1}', usage: { input: 60, output: 5 } });
    const r = await engine.run(structured.plan, 'hello', { budget: { costMicros: 1_000_000 } });
    const reserved = (await engine.events(r.runId)).find((e) => e.type === 'BudgetReserved');
    return reserved?.data as { costMicros: number; tokens: number };
  }
  const spentOf = (events: readonly { type: string; data: unknown }[]) => {
    const d = events.find((e) => e.type === 'AgentResponded')?.data as {
      usage: { input: number; output: number };
      costMicros: number;
      repair?: unknown;
    };
    return {
      tokens: d.usage.input + d.usage.output,
      costMicros: d.costMicros,
      repaired: !!d.repair,
    };
  };

  it.each(['tokens', 'costMicros'] as const)(
    'is covered by the reservation: with the %s limit equal to the estimate, the repair is made and the spend stays within it',
    async (limit) => {
      const est = await reservation();
      const ledger = sqlite();
      const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
      // A first reply at max_tokens that is not JSON, then a valid one; the repair's prompt
      // holds the first prompt, the rejected reply and the repair message.
      fake.script(
        { text: 'not json '.repeat(5), usage: { input: 60, output: M } },
        { text: '{"n":1}', usage: { input: 60 + M + 40, output: 5 } },
      );
      const before = fake.requests.length;
      const r = await engine.run(structured.plan, 'hello', { budget: { [limit]: est[limit] } });
      expect(r).toMatchObject({ status: 'completed', output: { n: 1 } });
      expect(fake.requests.length - before).toBe(2);
      const spent = spentOf(await engine.events(r.runId));
      expect(spent).toMatchObject({ repaired: true, tokens: 60 + M + 60 + M + 40 + 5 });
      expect(spent[limit]).toBeLessThanOrEqual(est[limit]);
      await ledger.close();
    },
  );

  it('is not sent when it could take the call past its estimate, and the call fails saying so', async () => {
    const est = await reservation();
    const ledger = sqlite();
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    // The provider counts far more prompt tokens than the estimate allowed for.
    fake.script({ text: 'not json', usage: { input: est.tokens, output: 3 } });
    const before = fake.requests.length;
    const r = await engine.run(structured.plan, 'hello', { budget: { costMicros: 1_000_000 } });
    expect(fake.requests.length - before).toBe(1);
    expect(r).toMatchObject({
      status: 'failed',
      costMicros: Math.ceil(est.tokens * 0.15 + 3 * 0.6),
      error: {
        code: 'AGENT_OUTPUT_INVALID',
        message: expect.stringMatching(
          /not valid JSON.*; no repair was sent: with it the call could use up to \d+ tokens costing up to \$0\.\d{6}, above its estimate \(\d+ tokens, \$0\.\d{6}\), the most a run's budget reserves for it/,
        ),
      },
    });
    const failed = (await engine.events(r.runId)).find((e) => e.type === 'AgentFailed');
    expect(failed?.data).toMatchObject({
      usage: { input: est.tokens, output: 3 },
      repair: { reason: 'invalid_json', text: 'not json' },
    });
    await ledger.close();
  });

  it('shows at most as many errors as fit the repair message the estimate allows for', async () => {
    const many = definePipeline(
      'many',
      agentStep('x', 'openai:gpt-4o-mini', {
        output: z.object(
          Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`field_${i}`, z.number()])),
        ),
        config: { settings: { max_tokens: M } },
      }),
    );
    const engine = createEngine({ ledger: sqlite(), agents: agentsOn(fake), worker: 't' });
    fake.script(
      { text: '{}', usage: { input: 60, output: 2 } },
      { text: '{}', usage: { input: 90, output: 2 } },
    );
    const before = fake.requests.length;
    const r = await engine.run(many.plan, 'hello');
    expect(r.status).toBe('failed');
    const sent = fake.requests[before + 1]?.body.messages as { content: string }[];
    const ask = sent.at(-1)?.content ?? '';
    expect(Buffer.byteLength(ask, 'utf8')).toBeLessThanOrEqual(512);
    expect(ask).toMatch(/field_0/);
    expect(ask).toMatch(/\n- …and \d+ more\n/);
  });
});
