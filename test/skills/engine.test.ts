import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger, type SqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline, sequence } from '../../src/dsl/builder.js';
import type { AgentPort } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import { composeAgents, createSkillAgents } from '../../src/skills/agents.js';
import { contextReadInput } from '../../src/skills/builtins/context.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { trace } from '../support/given.js';

let dir = '';
let ledger: SqliteLedger;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flujo-skills-engine-'));
  ledger = createSqliteLedger({ path: path.join(dir, 'state.db') });
});
afterAll(async () => {
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
});

/** The skills port, counting every time a skill actually runs. */
function countingSkills() {
  const ran: string[] = [];
  const inner = createSkillAgents(createSkillRegistry());
  const port: AgentPort & { handles(agent: string): boolean } = {
    handles: (a) => a.startsWith('skill:'),
    call: (req, signal) => {
      ran.push(req.agent);
      return inner.call(req, signal);
    },
  };
  return { port, ran };
}

const models: AgentPort = {
  async call(req) {
    return {
      output: `model saw ${String(req.input)}`,
      usage: { input: 3, output: 2 },
      costMicros: 9,
      model: req.agent,
    };
  },
};

describe('skills inside the engine', () => {
  it('records a skill call before it runs, and replay does not run it again', async () => {
    const { port, ran } = countingSkills();
    const engine = createEngine({ ledger, agents: composeAgents(port, models), worker: 't' });
    const p = definePipeline(
      'skills',
      sequence(
        agentStep<string>('text', 'skill:flujo.builtins.stringify'),
        agentStep<string>('ask', 'openai:gpt-4o'),
      ),
    );
    const r = await engine.run(p.plan, { n: 1 });
    expect(r).toMatchObject({ status: 'completed', output: 'model saw {"n":1}' });
    expect(ran).toEqual(['skill:flujo.builtins.stringify']);

    const events = await engine.events(r.runId);
    const calls = trace(events).filter((t) => /^Agent/.test(t));
    expect(calls).toEqual([
      'AgentCallRequested 0',
      'AgentResponded 0',
      'AgentCallRequested 1',
      'AgentResponded 1',
    ]);
    const requested = events.find((e) => e.type === 'AgentCallRequested');
    const responded = events.find((e) => e.type === 'AgentResponded');
    expect(requested?.seq).toBeLessThan(responded?.seq ?? 0);
    expect(requested?.data).toMatchObject({
      agent: 'skill:flujo.builtins.stringify',
      input: { n: 1 },
    });
    expect(responded?.data).toMatchObject({
      output: '{"n":1}',
      model: 'skill:flujo.builtins.stringify',
      costMicros: 0,
    });

    const replay = await engine.replay(p.plan, r.runId);
    expect(replay).toMatchObject({ identical: true, output: 'model saw {"n":1}' });
    const again = await engine.resume(p.plan, r.runId);
    expect(again.status).toBe('completed');
    // A second engine on the same ledger (a fresh process) does not run it either.
    const other = createEngine({ ledger, agents: composeAgents(port, models), worker: 't2' });
    expect((await other.replay(p.plan, r.runId)).identical).toBe(true);
    expect(ran).toEqual(['skill:flujo.builtins.stringify']);
  });

  it('wires context skills as the loader will: read gets { input, context }, merge updates the context', async () => {
    const { port } = countingSkills();
    const engine = createEngine({ ledger, agents: port, worker: 't' });
    const p = definePipeline(
      'ctx',
      sequence(
        agentStep('set', 'skill:flujo.builtins.context_set', {
          updatesContext: true,
          config: { params: { path: 'user.name' } },
        }),
        agentStep('merge', 'skill:flujo.builtins.context_merge', {
          updatesContext: true,
          input: () => ({ theme: 'dark' }),
          config: { params: { path: 'user.prefs' } },
        }),
        agentStep('get', 'skill:flujo.builtins.context_get', {
          input: (prev, ctx) => contextReadInput(prev, ctx),
          config: { params: { path: 'user' } },
        }),
      ),
    );
    const r = await engine.run(p.plan, 'Ann', { context: { user: { id: 7 } } });
    expect(r).toMatchObject({
      status: 'completed',
      output: { id: 7, name: 'Ann', prefs: { theme: 'dark' } },
    });
  });

  it('hands a skill a copy of its input, so skill code cannot change the run context', async () => {
    const registry = createSkillRegistry();
    registry.register({
      id: 'acme.vandal',
      description: 'Tries to overwrite the context it was given to read.',
      kind: 'skill',
      sideEffects: false,
      context: 'read',
      run: (_input, _params, ctx) => {
        (ctx.context as { user: unknown }).user = 'hacked';
        return 'done';
      },
    });
    const engine = createEngine({ ledger, agents: createSkillAgents(registry), worker: 't' });
    const p = definePipeline(
      'vandal',
      sequence(
        agentStep('vandal', 'skill:acme.vandal', {
          input: (prev, ctx) => contextReadInput(prev, ctx),
        }),
        agentStep('get', 'skill:flujo.builtins.context_get', {
          input: (prev, ctx) => contextReadInput(prev, ctx),
          config: { params: { path: 'user' } },
        }),
      ),
    );
    const r = await engine.run(p.plan, null, { context: { user: { id: 7 } } });
    expect(r).toMatchObject({ status: 'completed', output: { id: 7 } });
  });

  it('fails the step, without retrying, when a skill gets arguments it does not take', async () => {
    const { port, ran } = countingSkills();
    const engine = createEngine({ ledger, agents: port, worker: 't' });
    const p = definePipeline(
      'bad',
      agentStep('csv', 'skill:flujo.builtins.to_csv', {
        retries: 3,
        config: { params: { header: ['a'] } },
      }),
    );
    const r = await engine.run(p.plan, [{ a: 1 }]);
    expect(r).toMatchObject({
      status: 'failed',
      error: { code: 'SKILL_INPUT_INVALID', message: expect.stringMatching(/'header'/) },
    });
    expect(ran).toHaveLength(1);
  });
});
