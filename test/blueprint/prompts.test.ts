/** Agent system prompts that read the run are rendered per call and recorded in the request. */
import { describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import type { AgentPort, AgentRequest } from '../../src/ports.js';
import { harness } from '../support/given.js';
import { load } from './support.js';

function capturingAgents() {
  const requests: AgentRequest[] = [];
  const port: AgentPort = {
    async call(req) {
      requests.push(req);
      const output = req.agent.startsWith('skill:') ? req.input : `${req.agent} ok`;
      return { output, usage: { input: 1, output: 1 }, costMicros: 0, model: req.agent };
    },
  };
  return { port, requests };
}

describe('agent system_prompt templates', () => {
  it('render {{ context.x }}, previous_step and templated from_file variables when the step runs', async () => {
    const result = load('fixtures/step/prompt.yaml');
    expect(result.errors).toEqual([]);
    const plan = await withBlueprintCode(result);
    const agents = capturingAgents();
    const { engine } = harness({ agents: agents.port });
    const run = await engine.run(plan, 'owls', { context: { tone: 'calm', lang: 'fr' } });
    expect(run.status).toBe('completed');
    const system = (agent: string) =>
      (agents.requests.find((r) => r.agent === agent)?.config as { system?: string }).system;
    expect(system('test:writer')).toBe('You write about owls for KIDS. Tone: calm.\n');
    expect(system('test:echo')).toBe('Answer test:writer ok in fr.');
    expect(system('test:fixed')).toBe('Static about cats.\n');
    // The static prompt stays plain config; only the dynamic ones are templates in the IR.
    const steps = (
      plan.ir.root as unknown as {
        steps: { name: string; system?: unknown; config?: { system?: unknown } }[];
      }
    ).steps;
    expect(steps.find((s) => s.name === 'static')).toMatchObject({
      config: { system: 'Static about cats.\n' },
    });
    expect(steps.find((s) => s.name === 'static')?.system).toBeUndefined();
    expect(steps.find((s) => s.name === 'write')?.config?.system).toBeUndefined();

    // Replay renders the same prompt from the recorded run: the request hashes match.
    const replay = await engine.replay(plan, run.runId);
    expect(replay).toMatchObject({ identical: true });
  });

  it('a different context renders a different prompt, so the recorded request hash differs', async () => {
    const result = load('fixtures/step/prompt.yaml');
    const plan = await withBlueprintCode(result);
    const agents = capturingAgents();
    const { engine, ledger } = harness({ agents: agents.port });
    const a = await engine.run(plan, 'owls', { context: { tone: 'calm', lang: 'fr' } });
    const b = await engine.run(plan, 'owls', { context: { tone: 'wild', lang: 'fr' } });
    const { decodeRecord } = await import('../../src/events/envelope.js');
    const hashOf = async (runId: string) =>
      (await ledger.read(runId))
        .map((r) => decodeRecord(r.runId, r.seq, r.body))
        .filter((e) => e.type === 'AgentCallRequested' && e.data.agent === 'test:writer')
        .map((e) => (e.data as { requestHash: string }).requestHash)[0];
    expect(await hashOf(a.runId)).not.toBe(await hashOf(b.runId));
  });

  it('validates the prompt: unknown roots are reported, variable names are not', () => {
    const r = load('fixtures/step/prompt.yaml');
    expect(r.findings.filter((f) => f.rule_id === 'V-T5')).toEqual([]);
  });
});
