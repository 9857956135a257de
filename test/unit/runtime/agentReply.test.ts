/**
 * What an agent port returns, and what a failed call says it cost, is checked before it is
 * recorded (ADR 118). Before, a port (a library user's, or a function step's thrown error) that
 * returned a cost of NaN, a usage of NaN, a raw body holding a Date or text with a lone surrogate
 * failed the commit of its reply: LEDGER_ENCODE thrown out of engine.run, the run left running,
 * every resume failing the same way; a reply of null left the run waiting forever. Each now fails
 * its attempt with AGENT_REPLY_INVALID, recorded, and the run goes on to its fallback or fails.
 */
import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, step } from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';

/** A repair with a field its schema does not have, which the ledger cannot record. */
const datedRepair = {
  reason: 'r',
  errors: [],
  usage: { input: 0, output: 0 },
  costMicros: 0,
  when: new Date(0),
};
const good = { output: 'x', usage: { input: 1, output: 2 }, costMicros: 30, model: 'm' };
const port = (reply: unknown): AgentPort => ({ call: async () => reply as never });
const asks = definePipeline('asks', agentStep('s', 'openai:gpt-4o')).plan;

/** Runs `plan` to its end within 3 s (a hang fails the test) and reads what it recorded. */
async function ran(plan: typeof asks, agents?: AgentPort) {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, ...(agents ? { agents } : {}) });
  const r = await Promise.race([
    engine.run(plan, 'in'),
    new Promise<never>((_, no) => setTimeout(() => no(new Error('the run hung')), 3000)),
  ]);
  return { r, events: await engine.events(r.runId), replay: await engine.replay(plan, r.runId) };
}

describe("an agent port's reply", () => {
  it.each([
    ['null', null, /the agent port returned null, not a reply/],
    [
      'a cost of NaN',
      { ...good, costMicros: Number.NaN },
      /costMicros must be a whole number of at least 0, got NaN/,
    ],
    ['a negative cost', { ...good, costMicros: -1 }, /costMicros must be .* got -1/],
    [
      'a usage of NaN',
      { ...good, usage: { input: Number.NaN, output: 1 } },
      /usage\.input and usage\.output must be whole numbers/,
    ],
    ['no usage', { ...good, usage: undefined }, /usage must be \{ input, output \}, got undefined/],
    ['a model that is a number', { ...good, model: 5 }, /model must be text, got 5/],
    ['a finishReason that is a number', { ...good, finishReason: 5 }, /finishReason must be text/],
    [
      'a raw body holding a Date',
      { ...good, raw: { at: new Date(0) } },
      /raw\.at: Date is not plain data/,
    ],
    [
      'a repair holding a Date',
      {
        ...good,
        repair: datedRepair,
      },
      null,
    ],
  ])('with %s fails its attempt as AGENT_REPLY_INVALID, recorded', async (_, reply, says) => {
    const { r, events, replay } = await ran(asks, port(reply));
    if (says === null) {
      // A repair's unknown fields are not recorded: the reply is taken with the fields it has.
      expect(r.status).toBe('completed');
      expect(events.find((e) => e.type === 'AgentResponded')?.data).toMatchObject({
        repair: { reason: 'r', errors: [], usage: { input: 0, output: 0 }, costMicros: 0 },
      });
      expect(
        (events.find((e) => e.type === 'AgentResponded')?.data as { repair: object }).repair,
      ).not.toHaveProperty('when');
    } else {
      expect(r).toMatchObject({ status: 'failed', error: { code: 'AGENT_REPLY_INVALID' } });
      expect(r.error?.message).toMatch(says);
      expect(events.map((e) => e.type)).toContain('AgentFailed');
    }
    expect(replay).toMatchObject({ identical: true });
  });

  it('with text holding a lone surrogate is taken, the text made well-formed', async () => {
    const { r, events } = await ran(asks, port({ ...good, text: 'a\uD800b' }));
    expect(r.status).toBe('completed');
    expect(events.find((e) => e.type === 'AgentResponded')?.data).toMatchObject({
      text: 'a\uFFFDb',
    });
  });

  it('that throws when read fails its attempt, recorded', async () => {
    const reply = { ...good };
    Object.defineProperty(reply, 'costMicros', {
      get: () => {
        throw new Error('no cost');
      },
      enumerable: true,
    });
    const { r } = await ran(asks, port(reply));
    expect(r).toMatchObject({ status: 'failed', error: { code: 'AGENT_REPLY_INVALID' } });
    expect(r.error?.message).toContain('no cost');
  });
});

describe('a bad reply under a budget', () => {
  it.each([
    ['a cost of NaN', { ...good, costMicros: Number.NaN }],
    ['a usage of NaN', { ...good, usage: { input: Number.NaN, output: 0 } }],
    ['null', null],
  ])('with %s is counted at its reservation, not as free (review)', async (_, reply) => {
    const agents: AgentPort = { ...port(reply), estimate: () => ({ costMicros: 100, tokens: 50 }) };
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, agents });
    const r = await engine.run(asks, 'in', { budget: { costMicros: 1000, tokens: 1000 } });
    expect(r).toMatchObject({ status: 'failed', error: { code: 'AGENT_REPLY_INVALID' } });
    const types = (await engine.events(r.runId)).map((e) => e.type);
    expect(types.slice(types.indexOf('AgentFailed'))).toContain('BudgetReconciled');
    expect(r.costMicros).toBe(100);
    expect(await engine.replay(asks, r.runId)).toMatchObject({ identical: true });
  });

  it('with a whole cost and usage but a bad model is counted at what it says', async () => {
    const agents: AgentPort = {
      ...port({ ...good, model: 5 }),
      estimate: () => ({ costMicros: 100, tokens: 50 }),
    };
    const engine = createEngine({ ledger: createMemoryLedger(), agents });
    const r = await engine.run(asks, 'in', { budget: { costMicros: 1000 } });
    expect(r).toMatchObject({ status: 'failed', costMicros: 30 });
  });
});

describe('what a failed call says it cost', () => {
  const throwing = (extra: Record<string, unknown>) =>
    definePipeline(
      'throws',
      step('s', () => {
        throw Object.assign(new Error('boom'), { code: 'BOOM', retryable: false, ...extra });
      }),
    ).plan;

  it.each([
    ['a cost of NaN', { costMicros: Number.NaN }],
    ['a negative cost', { costMicros: -5 }],
    [
      'a repair holding a Date',
      {
        costMicros: 0,
        repair: datedRepair,
      },
    ],
    ['a usage of NaN', { costMicros: 3, usage: { input: Number.NaN, output: 0 } }],
  ])('with %s is recorded without what cannot be', async (_, extra) => {
    const { r, events, replay } = await ran(throwing(extra));
    expect(r).toMatchObject({ status: 'failed', error: { code: 'BOOM' } });
    const failed = events.find((e) => e.type === 'AgentFailed')!.data as Record<string, unknown>;
    expect(failed.usage).toBeUndefined();
    if ('repair' in extra) expect(failed.repair).not.toHaveProperty('when');
    else expect(failed).not.toHaveProperty('repair');
    expect(replay).toMatchObject({ identical: true });
  });

  it('a whole cost and usage are recorded as said', async () => {
    const { events } = await ran(throwing({ costMicros: 7, usage: { input: 1, output: 2 } }));
    expect(events.find((e) => e.type === 'AgentFailed')?.data).toMatchObject({
      costMicros: 7,
      usage: { input: 1, output: 2 },
    });
  });
});
