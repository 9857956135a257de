/**
 * The model port composed with skills (what the CLI and server always run) behaves as the model
 * port alone: its HTTP retries are recorded as AgentCallRetried markers (ADR 0011).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { composeAgents, createSkillAgents } from '../../src/skills/agents.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { agentsOn } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

describe('composeAgents', () => {
  it('passes the retry hooks through, so a composed model call records its retries', async () => {
    const ledger = createSqliteLedger({
      path: join(mkdtempSync(join(tmpdir(), 'flujo-compose-')), 'state.db'),
    });
    const agents = composeAgents(createSkillAgents(createSkillRegistry()), agentsOn(fake));
    const engine = createEngine({ ledger, agents, newRunId: () => 'composed-1', worker: 't' });
    fake.script({ status: 503 }, { status: 500 }, { text: 'hello' });
    const before = fake.requests.length;
    const r = await engine.run(definePipeline('h', agentStep('a', 'openai:gpt-4o-mini')).plan, 'x');
    expect(r).toMatchObject({ status: 'completed', output: 'hello' });
    expect(fake.requests.length - before).toBe(3);
    const retried = (await engine.events('composed-1')).filter(
      (e) => e.type === 'AgentCallRetried',
    );
    expect(retried.map((e) => e.data)).toMatchObject([
      { path: '.', attempt: 1, key: 'composed-1:.:1', retry: 1, error: { code: 'AGENT_HTTP' } },
      { path: '.', attempt: 1, key: 'composed-1:.:1', retry: 2, error: { code: 'AGENT_HTTP' } },
    ]);
    await ledger.close();
  });
});
