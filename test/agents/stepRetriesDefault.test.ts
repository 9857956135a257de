/**
 * How often a model step is tried when nobody says (ADR 129). A code-built `agentStep` keeps
 * `retries: 0`: a reply cut off mid-body (AGENT_CONNECTION, retryable, not sent again by the
 * adapter since aeab0dd) fails it, and the run, unless it sets `retries`. A blueprint step retries
 * once by default (Flujo's `max_retries` 1), three times under a declared agent (its compiler's
 * default), and recovers. What the DSL compiles is kept: a code-built pipeline's plan, and so its
 * recorded runs' fingerprints, do not change.
 */
import { posix } from 'node:path';

import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import type { Plan } from '../../src/dsl/ir.js';
import { allNodes } from '../../src/dsl/nodes.js';
import { createEngine } from '../../src/runtime/engine.js';
import { agentsOn } from '../support/agentFixtures.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
beforeEach(() => void fake.requests.splice(0));

const MODEL = 'openai:gpt-4o';

const blueprint = (text: string): Plan => {
  const r = loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: {
      read: (f) => {
        if (posix.normalize(f) !== '/p/main.yaml') throw new Error(`ENOENT: ${f}`);
        return text;
      },
      exists: (f) => posix.normalize(f) === '/p/main.yaml',
    },
  });
  expect(r.errors).toEqual([]);
  return r.plan!;
};

const BLUEPRINT = `version: "0.1"
name: retried
agents:
  declared: { model: "${MODEL}", system_prompt: "x" }
steps:
  - name: inline
    agent: "${MODEL}"
  - name: viaAgent
    uses: agents.declared
`;

const retriesOf = (p: Plan) =>
  Object.fromEntries(
    [...allNodes(p.ir.root)].flatMap((n) =>
      n.kind === 'step' ? [[n.name, (n as { retries: number }).retries]] : [],
    ),
  );

it('compiles a code-built agentStep with retries 0, a blueprint model step with 1, or 3 under a declared agent', () => {
  expect(retriesOf(definePipeline('code', agentStep('a', MODEL)).plan)).toEqual({ a: 0 });
  expect(retriesOf(blueprint(BLUEPRINT))).toEqual({ inline: 1, viaAgent: 3 });
});

it('a code-built agentStep without retries fails on a reply cut off mid-body; a blueprint step recovers', async () => {
  const engine = createEngine({
    ledger: createMemoryLedger(),
    agents: agentsOn(fake),
    worker: 't',
  });
  fake.script({ cut: '{"id":"x","cho' });
  const code = await engine.run(definePipeline('code', agentStep('a', MODEL)).plan, 'x');
  expect(code).toMatchObject({
    status: 'failed',
    error: { code: 'AGENT_CONNECTION', retryable: true },
  });
  expect(fake.requests).toHaveLength(1);

  fake.requests.splice(0);
  // The first step is cut off and retried; the second answers at once.
  fake.script({ cut: '{"id":"x","cho' }, { text: 'fine' }, { text: 'also fine' });
  const yaml = await engine.run(blueprint(BLUEPRINT), 'x');
  expect(yaml).toMatchObject({ status: 'completed', output: 'also fine' });
  expect(fake.requests.map((q) => q.headers['idempotency-key'])).toEqual([
    `${yaml.runId}:0:1`,
    `${yaml.runId}:0:2`,
    `${yaml.runId}:1:1`,
  ]);
});
