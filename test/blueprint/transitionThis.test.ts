/**
 * `this` inside a map body is the current item for a condition, an exit expression and a
 * template, but not for a state machine transition's `when`: a transition's scope is context,
 * output (event, last_output, last_step), previous_step, steps and resume_input (Flujo's `when`
 * sees context and output), inside a map as outside. A `when` reading `this` fails to evaluate
 * and so never matches. `validate` said nothing inside a map (and V-T2's warning outside); it is
 * V-T5's error for a name not in scope, as ADR 131 made it for an expression (ADR 140). The
 * pipeline of a run already recorded takes it with a warning, its plan unchanged (ADR 106).
 */
import { posix } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const load = (main: string, recordedRun = false) =>
  loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: {
      read: (f) => {
        if (posix.normalize(f) !== '/p/main.yaml') throw new Error(`ENOENT: ${f}`);
        return main;
      },
      exists: (f) => posix.normalize(f) === '/p/main.yaml',
    },
    ...(recordedRun ? { recordedRun } : {}),
  });

const said = (
  fs: readonly {
    rule_id: string;
    line: number;
    column: number;
    severity: string;
    message: string;
  }[],
) => fs.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.severity} ${f.message}`);

const S = (name: string, input: string) =>
  `{ name: ${name}, agent: { id: flujo.builtins.stringify }, input: "${input}" }`;

/** A map whose body is a state machine with a `when` reading the item. */
const IN_MAP = `version: "0.1"
name: sm_in_map
steps:
  - kind: map
    name: each
    map:
      iterable_input: items
      body:
        - kind: StateMachine
          name: m
          start_state: a
          end_states: [hit, miss]
          states:
            a: [${S('sa', 'item {{ this }}')}]
            hit: [${S('sy', 'matched')}]
            miss: [${S('sn', 'fell through')}]
          transitions:
            - { from: a, on: success, to: hit, when: "this == 'b'" }
            - { from: a, on: success, to: miss }
`;

/** The fingerprint the loader before this change (c326fd0) gave IN_MAP's plan. */
const IN_MAP_AT_C326FD0 = 'f6b5579839fb3affe883e78d33d5af8fbf9a0e6e4c4d679f360e299eda6c7bc2';

const NOT_BOUND =
  "'this' is not bound in a transition's when (it sees context, output, previous_step, steps, resume_input): an expression fails where it reads it";

/** A condition and an exit expression in a map body: `this` is the item there. */
const VALUE_PLACES = `version: "0.1"
name: value_places
steps:
  - kind: map
    name: each
    map:
      iterable_input: items
      body:
        - kind: conditional
          name: c
          condition_expression: "this == 'b'"
          branches:
            true: [${S('t', 'is b')}]
            false: [${S('f', 'not b')}]
        - kind: loop
          name: l
          loop:
            body: [${S('lb', '{{ this }}')}]
            exit_expression: "iteration >= 2 or this == 'a'"
            max_loops: 5
        - ${S('after', '{{ this }}: {{ steps.c.output }}')}
`;

async function run(plan: Parameters<typeof withBlueprintCode>[0], items: unknown[]) {
  const agents = scriptedAgents(skillScript);
  const { engine } = harness({ agents: agents.port as AgentPort });
  const r = await engine.run(await withBlueprintCode(plan), 'x', { context: { items } });
  return { engine, r, inputs: agents.calls.map((c) => c.input) };
}

describe("'this' in a state machine transition's when", () => {
  beforeAll(initFastHash);

  it('inside a map body is a V-T5 error at the when (was no finding)', () => {
    const r = load(IN_MAP);
    expect(r.plan).toBeUndefined();
    expect(r.exitCode).toBe(4);
    expect(said(r.findings)).toEqual([`V-T5 18:54 error ${NOT_BOUND}`]);
    expect(r.errors[0]?.suggestion).toContain("'previous_step'");
  });

  it('outside a map is the same V-T5 error, not V-T2', () => {
    const r = load(`version: "0.1"
name: sm
steps:
  - kind: StateMachine
    name: m
    start_state: a
    end_states: [z]
    states:
      a: [${S('sa', 'a')}]
    transitions:
      - { from: a, on: success, to: z, when: "output.last_output == this" }
      - { from: a, on: success, to: z }
`);
    expect(said(r.findings)).toEqual([`V-T5 11:46 error ${NOT_BOUND}`]);
  });

  it('a when reading previous_step is no finding, nor this in the steps of a state', () => {
    const r = load(IN_MAP.replace(`when: "this == 'b'"`, `when: "previous_step == 'item b'"`));
    expect(r.findings).toEqual([]);
  });

  it('never matches at run time: a run recorded with it falls through for every item', async () => {
    const recorded = load(IN_MAP, true);
    expect(said(recorded.warnings)).toEqual([
      `V-T5 18:54 warning ${NOT_BOUND} (a new run is refused)`,
    ]);
    expect(planFingerprint(recorded.plan!)).toBe(IN_MAP_AT_C326FD0);
    const { engine, r } = await run(recorded, ['a', 'b']);
    expect(r).toMatchObject({ status: 'completed', output: ['fell through', 'fell through'] });
    expect(await engine.replay(await withBlueprintCode(recorded), r.runId)).toMatchObject({
      identical: true,
    });
  });

  it('what the suggestion says works: the when reads the state output', async () => {
    const fixed = load(IN_MAP.replace(`when: "this == 'b'"`, `when: "previous_step == 'item b'"`));
    const { r } = await run(fixed, ['a', 'b']);
    expect(r).toMatchObject({ status: 'completed', output: ['fell through', 'matched'] });
  });
});

describe("'this' in a condition and an exit expression inside a map body", () => {
  beforeAll(initFastHash);

  it('is the item: no finding, and the run branches and stops on it', async () => {
    const r = load(VALUE_PLACES);
    expect(r.findings).toEqual([]);
    const { r: done, inputs } = await run(r, ['a', 'b']);
    expect(done).toMatchObject({ status: 'completed', output: ['a: not b', 'b: is b'] });
    // The loop body's calls (input: the item): once for a, twice for b (until iteration 2).
    expect(inputs.filter((i) => i === 'a' || i === 'b').sort()).toEqual(['a', 'b', 'b']);
  });
});
