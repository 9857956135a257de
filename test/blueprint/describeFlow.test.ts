/**
 * `flujo explain` and `flujo visualize` say how a pipeline runs: a map's `concurrency` (a
 * blueprint map runs one item at a time), a parallel of one branch, and a state machine's
 * transitions (from, on, when, to), which were not shown at all.
 */
import { describe, expect, it } from 'vitest';

import { explainPlan, visualizePlan } from '../../src/blueprint/describe.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import {
  definePipeline,
  map,
  parallel,
  sequence,
  stateMachine,
  step,
} from '../../src/dsl/builder.js';
import type { PlanIR } from '../../src/dsl/ir.js';

function load(text: string): PlanIR {
  const r = loadBlueprint('/p/t.yaml', {
    root: '/p',
    files: { read: () => text, exists: () => true },
  });
  expect(r.errors).toEqual([]);
  return r.plan!.ir;
}

const lineOf = (text: string, name: string) =>
  text.split('\n').find((l) => l.trimStart().startsWith(`- ${name}:`));

describe('a map', () => {
  const up = step('up', (x: string) => x.toUpperCase());

  it('with concurrency k runs up to k items at once (was: one at a time)', () => {
    const ir = definePipeline('m', map('each', up, { concurrency: 2 })).plan.ir;
    expect(lineOf(explainPlan(ir), 'each')).toBe('- each: runs once per item, up to 2 at once');
    expect(visualizePlan(ir, 'mermaid')).toContain('[["each (map, up to 2 at once)"]]');
  });

  it('without concurrency, or with 1, one at a time', () => {
    for (const opts of [{}, { concurrency: 1 }]) {
      const ir = definePipeline('m', map('each', up, opts)).plan.ir;
      expect(lineOf(explainPlan(ir), 'each')).toBe('- each: runs once per item, one at a time');
    }
  });

  it('of a blueprint (which has no concurrency) one at a time', () => {
    const ir = load(`name: t
steps:
  - kind: map
    name: each
    map:
      iterable_input: items
      body: [{ name: s, agent: { id: flujo.builtins.stringify } }]
`);
    expect(lineOf(explainPlan(ir), 'each')).toBe('- each: runs once per item, one at a time');
  });
});

it('a parallel of one branch says one branch (was: runs 1 branches at once)', () => {
  const ir = definePipeline('p', parallel('fan', { only: step('a', () => 1) })).plan.ir;
  expect(lineOf(explainPlan(ir), 'fan')).toBe(
    '- fan: runs one branch (only), merging context by context_update',
  );
  const two = definePipeline('p', parallel('fan', { a: step('a', () => 1), b: step('b', () => 2) }))
    .plan.ir;
  expect(lineOf(explainPlan(two), 'fan')).toBe(
    '- fan: runs 2 branches at once (a, b), merging context by context_update',
  );
});

describe('a state machine', () => {
  const yaml = `name: t
steps:
  - kind: StateMachine
    name: machine
    start_state: work
    end_states: [done, failed_end]
    states:
      work: [{ name: w, agent: { id: flujo.builtins.stringify } }]
      check: [{ name: chk, agent: { id: flujo.builtins.stringify } }]
      failed_end: [{ name: fe, agent: { id: flujo.builtins.stringify } }]
      done: []
    transitions:
      - { from: work, on: success, to: work, when: "previous_step == 'again'" }
      - { from: work, on: success, to: check }
      - { from: "*", on: failure, to: failed_end }
      - { from: check, to: done }
`;

  it('explain lists its transitions in order, with from, on, when and to', () => {
    const text = explainPlan(load(yaml));
    const lines = text.split('\n');
    const at = lines.indexOf(
      '  transitions (the first that matches is taken; with none, context.next_state names the next state):',
    );
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 5)).toEqual([
      `    - from work on success when "previous_step == 'again'" to work`,
      '    - from work on success to check',
      '    - from any state on failure to failed_end',
      '    - from check on success to done',
    ]);
  });

  it('explain of one with no transitions says context.next_state picks the next state', () => {
    const ir = definePipeline(
      'sm',
      stateMachine(
        'machine',
        { a: step('a', () => 1) },
        { start: 'a', end: ['a'], transitions: [] },
      ),
    ).plan.ir;
    expect(explainPlan(ir)).toContain(
      '  transitions: none; context.next_state names the next state',
    );
  });

  it('explain names a function condition as one', () => {
    const ir = definePipeline(
      'sm',
      stateMachine(
        'machine',
        { a: step('a', () => 1), b: sequence() },
        {
          start: 'a',
          end: ['b'],
          transitions: [{ from: 'a', on: 'success', to: 'b', when: () => true }],
        },
      ),
    ).plan.ir;
    expect(explainPlan(ir)).toContain('    - from a on success when a function to b');
  });

  it('the Mermaid drawing has an edge per transition, labelled with on and when', () => {
    const mermaid = visualizePlan(load(yaml), 'mermaid');
    const node = (label: string) =>
      new RegExp(`^ {2}(n\\d+)[[({/]+"${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm').exec(
        mermaid,
      )?.[1];
    const [work, check, fe, done, machine] = [
      'w<br/>',
      'chk<br/>',
      'fe<br/>',
      'machine.done',
      'machine (states)',
    ].map((l) => node(l));
    for (const id of [work, check, fe, done, machine]) expect(id, mermaid).toBeDefined();
    const edges = mermaid.split('\n').filter((l) => l.includes('-.->|"'));
    expect(edges).toEqual([
      `  ${work} -.->|"success when previous_step == 'again'"| ${work}`,
      `  ${work} -.->|"success"| ${check}`,
      `  ${machine} -.->|"any state: failure"| ${fe}`,
      `  ${check} -.->|"success"| ${done}`,
    ]);
  });

  it('the text tree lists the transitions under the states', () => {
    const tree = visualizePlan(load(yaml), 'text').split('\n');
    expect(tree.slice(-4)).toEqual([
      `  ⇢ work on success when "previous_step == 'again'" → work`,
      '  ⇢ work on success → check',
      '  ⇢ any state on failure → failed_end',
      '  ⇢ check on success → done',
    ]);
  });

  it('a Mermaid label keeps quotes and angle brackets of a condition as entity codes', () => {
    const ir = load(
      yaml.replace(`"previous_step == 'again'"`, `'previous_step < 3 and previous_step != "x"'`),
    );
    expect(visualizePlan(ir, 'mermaid')).toContain(
      '-.->|"success when previous_step #lt; 3 and previous_step != #quot;x#quot;"|',
    );
  });
});
