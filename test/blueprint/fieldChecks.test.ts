/** max_loops under 1 and sink_to paths that name no context key are load errors with a place. */
import { describe, expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';

const loadText = (text: string) =>
  loadBlueprint('/p/t.yaml', { root: '/p', files: { read: () => text, exists: () => true } });

const findingsAt = (text: string) =>
  loadText(text).errors.map((f) => [f.rule_id, f.line, f.column, f.step_name, f.message]);

describe('max_loops', () => {
  it.each(['0', '0.5'])('max_loops: %s is an error at the value (V-K4)', (value) => {
    const r = loadText(`version: "0.1"
name: t
steps:
  - kind: loop
    name: spin
    loop:
      body: [{ name: a, agent: { id: flujo.builtins.stringify } }]
      max_loops: ${value}
`);
    expect(r.plan).toBeUndefined();
    expect(r.errors.map((f) => [f.rule_id, f.line, f.column, f.step_name])).toEqual([
      ['V-K4', 8, 18, 'spin'],
    ]);
    expect(r.errors[0]?.message).toBe(`spin: max_loops must be at least 1, got ${value}`);
  });

  it('agentic_loop max_loops: 0 is an error at the value', () => {
    const found = findingsAt(`version: "0.1"
name: t
steps:
  - kind: agentic_loop
    name: agent
    planner: agents.p
    registry: {}
    max_loops: 0
agents:
  p: { model: "test:p", system_prompt: "plan" }
`);
    expect(found).toContainEqual([
      'V-K4',
      8,
      16,
      'agent',
      'agent: max_loops must be at least 1, got 0',
    ]);
  });
});

describe('sink_to', () => {
  it.each(['""', '"context."', '"a..b"', '"__proto__.z"'])(
    'sink_to: %s is an error at the value (V-K4)',
    (value) => {
      const found = findingsAt(`version: "0.1"
name: t
steps:
  - name: w
    agent: { id: flujo.builtins.stringify }
    sink_to: ${value}
`);
      expect(found).toHaveLength(1);
      expect(found[0]?.slice(0, 4)).toEqual(['V-K4', 6, 14, 'w']);
      expect(found[0]?.[4]).toMatch(/^w: sink_to /);
    },
  );

  it('accepts context.a.b and constructor', () => {
    for (const value of ['context.a.b', 'constructor']) {
      const r = loadText(`version: "0.1"
name: t
steps:
  - name: w
    agent: { id: flujo.builtins.stringify }
    sink_to: ${value}
`);
      expect(r.errors).toEqual([]);
    }
  });
});
