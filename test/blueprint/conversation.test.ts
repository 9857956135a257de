/**
 * Conversational loops: the history in context.conversation_history, seeded, synced after each
 * iteration, truncated by turns or tokens or summarised by an agent, injected into model steps'
 * system prompts, and replayed from the ledger.
 */
import { describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import type { AgentPort, AgentRequest } from '../../src/ports.js';
import { harness } from '../support/given.js';
import { load } from './support.js';

type Script = Record<string, (input: unknown, n: number) => unknown>;

async function run(file: string, input: unknown, script: Script) {
  const result = load(`fixtures/conversation/${file}`);
  if (!result.plan) throw new Error(JSON.stringify(result.errors, null, 1));
  const plan = await withBlueprintCode(result);
  const requests: AgentRequest[] = [];
  const counts: Record<string, number> = {};
  const port: AgentPort = {
    async call(req) {
      requests.push(req);
      counts[req.agent] = (counts[req.agent] ?? 0) + 1;
      const f = script[req.agent];
      const output = f ? f(req.input, counts[req.agent]!) : req.input;
      return { output, usage: { input: 1, output: 1 }, costMicros: 0, model: req.agent };
    },
  };
  const { engine } = harness({ agents: port });
  const first = await engine.run(plan, input);
  const systems = (agent: string) =>
    requests
      .filter((r) => r.agent === agent)
      .map((r) => (r.config as { system?: string } | undefined)?.system);
  return { first, engine, plan, requests, systems, result };
}

const chat: Script = {
  'test:bot': (_i, n) => `b${n}`,
  'test:user': (_i, n) => ['u1', 'u2', 'bye'][n - 1],
};

describe('conversational loops', () => {
  it('truncate_turns keeps the last max_turns turns; start_with seeds from a step; history reaches the prompt', async () => {
    const { first, systems, engine, plan } = await run('truncate_turns.yaml', 'hello', chat);
    expect(first.status).toBe('completed');
    expect(first.output).toEqual({ text: 'user: u2\nassistant: b3\nuser: bye' });
    const bot = systems('test:bot');
    expect(bot[0]).toBe('You are terse.\n\nConversation so far:\nuser: Goal: hello\n');
    expect(bot[2]).toBe(
      'You are terse.\n\nConversation so far:\nuser: u1\nassistant: b2\nuser: u2\n',
    );
    // use_history: false keeps the simulated user's prompt free of the history.
    expect(systems('test:user')).toEqual([undefined, undefined, undefined]);
    expect(await engine.replay(plan, first.runId)).toMatchObject({ identical: true });
  });

  it('truncate_tokens drops the oldest turns until the estimate (chars / 4) fits max_tokens', async () => {
    const { first } = await run('truncate_tokens.yaml', 'hello', chat);
    expect(first.output).toEqual({
      text: 'assistant: b1\nuser: u1\nassistant: b2\nuser: u2\nassistant: b3\nuser: bye',
    });
  });

  it('summarize folds the older turns through the summarizer agent, recorded like any call', async () => {
    const { first, requests, engine, plan } = await run('summarize.yaml', 'hello', {
      ...chat,
      'test:summ': (_i, n) => `S${n}`,
    });
    expect(first.status).toBe('completed');
    const summ = requests.filter((r) => r.agent === 'test:summ');
    expect(summ.map((r) => r.input)).toEqual([
      'user: hello\nassistant: b1\nuser: u1',
      'system: Summary of the earlier conversation: S1\nassistant: b2\nuser: u2',
    ]);
    expect(first.output).toEqual({
      text: 'system: Summary of the earlier conversation: S2\nassistant: b3\nuser: bye',
    });
    expect(await engine.replay(plan, first.runId)).toMatchObject({ identical: true });
  });

  it('hitl answers are user turns, the last output the assistant turn; stop_when agent_finished; history_template', async () => {
    const { first, engine, plan, systems } = await run('hitl.yaml', 'start', {
      'test:bot': (_i, n) => (n === 1 ? { question: 'why?' } : { action: 'finish' }),
    });
    expect(first.status).toBe('paused');
    expect(first.pause?.message).toBe('start');
    const second = await engine.resume(plan, first.runId, { humanInput: 'hi' });
    expect(second.status).toBe('paused');
    const done = await engine.resume(plan, first.runId, { humanInput: 'more' });
    expect(done.status).toBe('completed');
    expect(done.output).toBe('4 turns');
    const bot = systems('test:bot');
    expect(bot[1]).toBe(
      '\n\n<history><user>start</user><user>hi</user><assistant>why?</assistant><user>more</user></history>\n',
    );
  });

  it('validates: summarize without a summarizer, unknown named steps, keys without conversation', () => {
    const r = load('rules/conversation.yaml');
    const got = r.findings.map((f) => [f.rule_id, f.severity, f.line, f.column, f.message]);
    expect(got).toEqual([
      ['V-K4', 'error', 9, 20, expect.stringMatching(/named_steps names 'nobody'/)],
      ['V-K4', 'error', 11, 27, expect.stringMatching(/summarize needs 'summarizer'/)],
      ['V-K4', 'warning', 19, 7, expect.stringMatching(/no effect without 'conversation: true'/)],
    ]);
  });
});
