/**
 * A model id the agent port refuses is a V-A6 finding when the loader is told which ids the
 * port takes (`modelProblem`; the CLI passes `flujo run`'s rule), at the step that names it.
 */
import { describe, expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';
import { modelIdProblem } from '../../src/cli/agents.js';

const loadText = (text: string, opts: { recordedRun?: boolean; library?: boolean } = {}) =>
  loadBlueprint('/p/t.yaml', {
    root: '/p',
    files: { read: () => text, exists: () => true },
    ...(opts.library ? {} : { modelProblem: modelIdProblem }),
    ...(opts.recordedRun ? { recordedRun: true } : {}),
  });

const text = `version: "0.1"
name: m
agents:
  w: { model: "mistral:large", system_prompt: "x" }
  ok: { model: "openai:llama3", system_prompt: "x" }
steps:
  - name: a
    agent: "openai:gpt-4o"
  - name: b
    agent: "mistral:large"
  - name: c
    uses: agents.w
  - name: d
    uses: agents.ok
`;

describe('a model id flujo run refuses (CONFIG_UNKNOWN_MODEL)', () => {
  it('is V-A6 at the agent: and at the uses: naming a declared agent with one', () => {
    const r = loadText(text);
    expect(r.findings.map((f) => [f.rule_id, f.severity, f.line, f.column, f.step_name])).toEqual([
      ['V-A6', 'error', 10, 12, 'b'],
      ['V-A6', 'error', 12, 11, 'c'],
    ]);
    expect(r.findings[0]?.message).toBe(
      'b: unknown model id "mistral:large": use openai:<model> (also for OpenAI-compatible servers such as Ollama or vLLM, with a base URL) or anthropic:<model>',
    );
    expect(r.findings[1]?.message).toMatch(/^c: agent 'w': unknown model id "mistral:large"/);
    expect(r.exitCode).toBe(4);
  });

  it('also as a router agent or an agentic loop planner', () => {
    const r = loadText(`version: "0.1"
name: m
steps:
  - kind: dynamic_router
    name: pick
    router:
      router_agent: "groq:llama"
      branches: { a: [{ name: a1, agent: "openai:gpt-4o" }] }
`);
    expect(r.findings.map((f) => [f.rule_id, f.line, f.column])).toEqual([['V-A6', 7, 21]]);
  });

  it('is a warning loading the pipeline of a run already recorded', () => {
    const r = loadText(text, { recordedRun: true });
    expect(r.findings.map((f) => [f.rule_id, f.severity])).toEqual([
      ['V-A6', 'warning'],
      ['V-A6', 'warning'],
    ]);
    expect(r.plan).toBeDefined();
  });

  it('a library caller without modelProblem keeps every provider:model id (its agent port decides)', () => {
    expect(loadText(text, { library: true }).findings).toEqual([]);
  });

  it("modelIdProblem is run's rule: openai: and anthropic: with a model", () => {
    expect(modelIdProblem('openai:gpt-4o')).toBeUndefined();
    expect(modelIdProblem('anthropic:claude-3-5-sonnet')).toBeUndefined();
    expect(modelIdProblem('openai:')).toMatch(/^unknown model id "openai:"/);
    expect(modelIdProblem('test:x')).toMatch(/^unknown model id "test:x"/);
  });
});
