/**
 * YAML parallel and router branches at their edges: a branch rescued by its step's fallback,
 * no branches at all, branch names that collide with the compiler's own path segments, branch
 * names that look like integers. Blueprints are inline; agents are scripted.
 */
import { describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents, trace } from '../support/given.js';
import { skillScript } from './support.js';

const loadText = (text: string) =>
  loadBlueprint('/p/t.yaml', { root: '/p', files: { read: () => text, exists: () => true } });

async function runText(
  text: string,
  input: unknown,
  script: Record<string, (input: unknown, attempt: number) => unknown> = {},
) {
  const result = loadText(text);
  if (!result.plan) throw new Error(JSON.stringify(result.errors));
  const plan = await withBlueprintCode(result);
  const agents = scriptedAgents({ ...skillScript, ...script });
  const { engine } = harness({ agents: agents.port as AgentPort });
  const run = await engine.run(plan, input);
  return { run, events: trace(await engine.events(run.runId)) };
}

const down = () => {
  throw Object.assign(new Error('primary down'), { retryable: false });
};

describe('YAML: a branch rescued by its fallback', () => {
  it('is in the parallel output and does not fail the parallel', async () => {
    const { run, events } = await runText(
      `version: "0.1"
name: fb
steps:
  - kind: parallel
    name: fan
    branches:
      a:
        - name: a1
          uses: agents.down
          fallback: { name: a1_fb, agent: { id: flujo.builtins.stringify }, input: "fb-a" }
      b:
        - name: b1
          uses: agents.down
          fallback: { name: b1_fb, agent: { id: flujo.builtins.stringify }, input: "fb-b" }
agents:
  down: { model: "test:down", system_prompt: "x", max_retries: 0 }
`,
      'in',
      { 'test:down': down },
    );
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ a: 'fb-a', b: 'fb-b' });
    expect(events.at(-1)).toBe('RunCompleted');
  });
});

describe('YAML: a parallel with no branches', () => {
  it('completes with {} and the next step runs on it (ADR 48)', async () => {
    const { run, events } = await runText(
      `version: "0.1"
name: empty
steps:
  - kind: parallel
    name: fan
    branches: {}
  - { name: after, agent: { id: flujo.builtins.stringify } }
`,
      'in',
    );
    expect(run.status).toBe('completed');
    expect(run.output).toBe('{}');
    expect(events).toContain('StepCompleted 0');
  });
});

describe("YAML: branch names that look like the compiler's own path segments", () => {
  it('a conditional branch named default is recorded apart from default_branch', async () => {
    const text = `version: "0.1"
name: cond
steps:
  - kind: conditional
    name: route
    condition_expression: "previous_step"
    branches:
      default:
        - { name: named, agent: { id: flujo.builtins.stringify }, input: "NAMED {{ previous_step }}" }
    default_branch:
      - { name: fallback, agent: { id: flujo.builtins.stringify }, input: "DEFAULT {{ previous_step }}" }
`;
    const named = await runText(text, 'default');
    expect(named.run.output).toBe('NAMED default');
    expect(named.events).toContain('StepCompleted 0/%default');
    const other = await runText(text, 'zzz');
    expect(other.run.output).toBe('DEFAULT zzz');
    expect(other.events).toContain('StepCompleted 0/default');
  });

  it('a router branch named router runs apart from the router agent', async () => {
    const text = `version: "0.1"
name: r
steps:
  - kind: dynamic_router
    name: pick
    router:
      router_agent: { id: flujo.builtins.stringify }
      branches:
        router: [{ name: rb, agent: { id: flujo.builtins.stringify }, input: "R" }]
        b: [{ name: bb, agent: { id: flujo.builtins.stringify }, input: "B" }]
`;
    expect((await runText(text, 'b')).run.output).toEqual({ b: 'B' });
    const r = await runText(text, 'router');
    expect(r.run.output).toEqual({ router: 'R' });
    expect(r.events).toEqual(
      expect.arrayContaining(['StepCompleted 0/router', 'StepCompleted 0/%router']),
    );
  });
});

describe('YAML: branch names that look like integers', () => {
  const text = (reduce: string) => `version: "0.1"
name: order
steps:
  - kind: parallel
    name: fan
    reduce: ${reduce}
    branches:
      b: [{ name: b1, agent: { id: flujo.builtins.stringify }, input: "B" }]
      "2": [{ name: two, agent: { id: flujo.builtins.stringify }, input: "TWO" }]
      "1": [{ name: one, agent: { id: flujo.builtins.stringify }, input: "ONE" }]
`;

  it('keep the order they are written in: they run, reduce and are recorded in it', async () => {
    expect((await runText(text('first'), 'x')).run.output).toBe('B');
    const { run, events } = await runText(text('values'), 'x');
    expect(run.output).toEqual(['B', 'TWO', 'ONE']);
    expect(events.filter((e) => e.startsWith('StepScheduled 0/'))).toEqual([
      'StepScheduled 0/b',
      'StepScheduled 0/2',
      'StepScheduled 0/1',
    ]);
    const fan = (loadText(text('first')).plan?.ir.root as unknown as { steps: unknown[] }).steps[0];
    expect(fan).toMatchObject({ branchOrder: ['b', '2', '1'] });
  });

  it('a blueprint whose branches keep their order records none (its fingerprint is unchanged)', () => {
    const plain = text('first').replace('"2"', 'c').replace('"1"', 'd');
    const fan = (loadText(plain).plan?.ir.root as unknown as { steps: unknown[] }).steps[0];
    expect(fan).not.toHaveProperty('branchOrder');
  });
});
