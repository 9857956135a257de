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

/** `[rule, line, column, message]` of every finding, warnings too. */
const allAt = (text: string) =>
  loadText(text).findings.map((f) => [f.rule_id, f.line, f.column, f.message]);

describe('a step config is checked whatever runs the step', () => {
  const expected = (name: string, line: number) => [
    ['V-K1', line, 15, `${name}: config: unknown key 'bogus'`],
    ['V-A7', line, 38, `${name}: config.max_retries must be a whole number of at least 0, got -1`],
    ['V-K5', line, 42, expect.stringMatching(/^a: config: 'temperature' is accepted but not/)],
  ];
  /**
   * `expected`, with the V-K5 warning of a step that acts on no step key at its `max_retries`
   * (an import, ADR 140; a passthrough, ask_user and every kind but a basic step, ADR 141).
   */
  const notActed = (name: string, line: number, why: string) => {
    const [k1, ...rest] = expected(name, line);
    const msg = `${name}: config: 'max_retries' is accepted but not acted on by this engine: ${why}`;
    return [k1, ['V-K5', line, 25, msg], ...rest];
  };

  it('a step without agent or uses (a passthrough) gets V-K1, V-A7 and V-K5 as one with an agent, and V-K5 at max_retries', () => {
    const found = allAt(`version: "0.1"
name: t
steps:
  - name: a
    config: { bogus: 1, max_retries: -1, temperature: 3 }
`);
    expect(found).toEqual([
      ['V-A1', 4, 5, expect.any(String)],
      ...notActed(
        'a',
        5,
        'a step with no agent or uses passes its input through: there is nothing to retry',
      ),
    ]);
  });

  it('so do an ask_user step and an import step', () => {
    const ask = allAt(`version: "0.1"
name: t
steps:
  - name: a
    agent: { id: flujo.builtins.ask_user }
    config: { bogus: 1, max_retries: -1, temperature: 3 }
`);
    // Neither acts on a step key: max_retries is V-K5 besides (ADR 140, 141).
    expect(ask).toEqual(
      notActed('a', 6, 'a step that asks a person is not retried: it pauses until it is answered'),
    );
    const files: Record<string, string> = {
      '/p/t.yaml': `version: "0.1"
name: t
imports: { kid: ./kid.yaml }
steps:
  - name: a
    uses: imports.kid
    config: { bogus: 1, max_retries: -1, temperature: 3, input_to: both }
`,
      '/p/kid.yaml': `version: "0.1"
name: kid
steps: [{ name: k, agent: { id: flujo.builtins.stringify } }]
`,
    };
    const r = loadBlueprint('/p/t.yaml', {
      root: '/p',
      files: { read: (p) => files[p] ?? '', exists: (p) => p in files },
    });
    expect(r.findings.map((f) => [f.rule_id, f.line, f.column, f.message])).toEqual(
      notActed(
        'a',
        7,
        "an import step does not retry its child; set max_retries on the child's steps",
      ),
    );
  });

  it('and a loop step, which acts on no step key either (ADR 141)', () => {
    const found = allAt(`version: "0.1"
name: t
steps:
  - kind: loop
    name: a
    config: { bogus: 1, max_retries: -1, temperature: 3 }
    loop: { body: [{ name: b, agent: { id: flujo.builtins.stringify } }], max_loops: 2 }
`);
    expect(found).toEqual(
      notActed('a', 6, "a loop step does not retry its body; set max_retries on the body's steps"),
    );
  });
});

describe('counts are whole numbers, at the value', () => {
  const one = (text: string) => {
    const r = loadText(text);
    expect(r.plan).toBeUndefined();
    return r.errors.map((f) => [f.rule_id, f.line, f.column, f.message]);
  };

  it('a loop max_loops of 2.5 (it ran 2) is V-K4', () => {
    expect(
      one(`version: "0.1"
name: t
steps:
  - kind: loop
    name: spin
    loop:
      body: [{ name: a, agent: { id: flujo.builtins.stringify } }]
      max_loops: 2.5
`),
    ).toEqual([['V-K4', 8, 18, 'spin: max_loops must be a whole number of at least 1, got 2.5']]);
  });

  it('an agentic_loop max_loops of 1.5 is V-K4', () => {
    expect(
      findingsAt(`version: "0.1"
name: t
steps:
  - kind: agentic_loop
    name: agent
    planner: agents.p
    registry: {}
    max_loops: 1.5
agents:
  p: { model: "test:p", system_prompt: "plan" }
`),
    ).toContainEqual([
      'V-K4',
      8,
      16,
      'agent',
      'agent: max_loops must be a whole number of at least 1, got 1.5',
    ]);
  });

  it.each([
    ['0', '0'],
    ['0.5', '0.5'],
    ['lots', '"lots"'],
  ])(
    'a state machine max_transitions of %s is V-K4 (0 was the default, 0.5 failed at once)',
    (value, shown) => {
      expect(
        one(`version: "0.1"
name: t
steps:
  - kind: StateMachine
    name: sm
    start_state: a
    end_states: [done]
    max_transitions: ${value}
    states:
      a: [{ name: a1, agent: { id: flujo.builtins.stringify } }]
    transitions:
      - { from: a, on: success, to: done }
`),
      ).toEqual([
        ['V-K4', 8, 22, `sm: max_transitions must be a whole number of at least 1, got ${shown}`],
      ]);
    },
  );

  it('config.max_retries and an agent max_retries of 1.5 are V-A7 (the run took the default)', () => {
    const r = loadText(`version: "0.1"
name: t
agents:
  w: { model: "test:w", system_prompt: "x", max_retries: 1.5 }
steps:
  - name: a
    agent: { id: flujo.builtins.stringify }
    config: { max_retries: 1.5 }
  - name: b
    uses: agents.w
    input: "{{ previous_step }}"
`);
    expect(r.findings.map((f) => [f.rule_id, f.line, f.column, f.message])).toEqual([
      ['V-A7', 4, 58, "agent 'w': max_retries must be a whole number of at least 0, got 1.5"],
      ['V-A7', 8, 28, 'a: config.max_retries must be a whole number of at least 0, got 1.5'],
    ]);
  });

  it('history_management max_turns of 2.5 is V-K4', () => {
    const found = findingsAt(`version: "0.1"
name: t
agents:
  c: { model: "test:c", system_prompt: "x" }
steps:
  - kind: loop
    name: chat
    loop:
      conversation: true
      history_management: { strategy: truncate_turns, max_turns: 2.5 }
      max_loops: 2
      body: [{ name: ask, uses: agents.c }]
`);
    expect(found).toEqual([
      [
        'V-K4',
        10,
        66,
        'chat',
        'chat: history_management.max_turns must be a whole number of at least 0, got 2.5',
      ],
    ]);
  });

  it('map iterable_input: 5 (the run failed MAP_NOT_A_LIST) is V-K4', () => {
    expect(
      one(`version: "0.1"
name: t
steps:
  - kind: map
    name: m
    map:
      iterable_input: 5
      body: [{ name: b, agent: { id: flujo.builtins.stringify } }]
`),
    ).toEqual([
      ['V-K4', 7, 23, 'm: iterable_input must be a context path (items or context.items), got 5'],
    ]);
  });
});
