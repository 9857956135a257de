/**
 * What `validate` says to write for a template or expression. V-T5's fix for an unknown name
 * lists the roots bound where it is read (QA D12: a plain step's input was told "use one of
 * context, previous_step, output, steps, resume_input, this, iteration", and `thsi` outside a map
 * "use 'this'", which V-T2 then flags): `this` only in a map body and not in a transition's
 * `when`, `iteration` only in a loop's exit_expression and propagation. A `{% %}` block no longer
 * hides an unknown filter beside it (QA D14: TEMPLATE-001 alone until the `{%` was removed).
 */
import { posix } from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';

const load = (main: string) =>
  loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: {
      read: (f) => {
        if (posix.normalize(f) !== '/p/main.yaml') throw new Error(`ENOENT: ${f}`);
        return main;
      },
      exists: (f) => posix.normalize(f) === '/p/main.yaml',
    },
  });

const said = (text: string, rules: readonly string[] = ['V-T5']) =>
  load(text)
    .findings.filter((f) => rules.includes(f.rule_id))
    .map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.severity} ${f.message} | ${f.suggestion}`);

const S = (name: string, input: string) =>
  `{ name: ${name}, agent: { id: flujo.builtins.stringify }, input: "${input}" }`;

const EVERYWHERE = 'context, previous_step, output, steps, resume_input';

describe("V-T5's fix names only what is bound there", () => {
  it('a plain step: not this, not iteration', () => {
    expect(
      said(`version: "0.1"
name: plain
steps:
  - ${S('a', '{{ bogus }}')}
  - ${S('b', '{{ iteraton }} {{ previous_step }}')}
  - ${S('c', '{{ thsi }} {{ previous_step }}')}
`),
    ).toEqual([
      `V-T5 4:64 warning unknown template variable 'bogus' | use one of ${EVERYWHERE}`,
      `V-T5 5:64 warning unknown template variable 'iteraton' | 'iteration' is bound only in a loop's exit_expression and propagation template; use one of ${EVERYWHERE}`,
      `V-T5 6:64 warning unknown template variable 'thsi' | 'this' is bound only in a map body; use one of ${EVERYWHERE}`,
    ]);
  });

  it("a map body adds this; a loop's exit_expression iteration", () => {
    expect(
      said(`version: "0.1"
name: bound
steps:
  - kind: map
    name: each
    map:
      iterable_input: items
      body:
        - ${S('a', '{{ thsi }}')}
        - ${S('b', '{{ bogus }} {{ previous_step }}')}
  - kind: loop
    name: lp
    loop:
      max_loops: 2
      exit_expression: "iteraton > 1"
      body: [${S('c', '{{ previous_step }}')}]
`),
    ).toEqual([
      `V-T5 9:70 warning unknown template variable 'thsi' | use 'this'`,
      `V-T5 10:70 warning unknown template variable 'bogus' | use one of ${EVERYWHERE}, this`,
      `V-T5 15:24 error unknown name 'iteraton': an expression fails where it reads it | use 'iteration'`,
    ]);
  });

  it("a transition's when, in a map body too: no this", () => {
    expect(
      said(`version: "0.1"
name: sm
steps:
  - kind: map
    name: each
    map:
      iterable_input: items
      body:
        - kind: StateMachine
          name: m
          start_state: a
          end_states: [hit]
          states:
            a: [${S('sa', '{{ this }}')}]
            hit: [${S('sy', 'matched')}]
          transitions:
            - { from: a, on: success, to: hit, when: "thsi == 'b'" }
`),
    ).toEqual([
      `V-T5 17:54 error unknown name 'thsi': an expression fails where it reads it | 'this' is not bound in a transition's when; use one of ${EVERYWHERE}`,
    ]);
  });
});

describe('a {% %} block and the tags beside it', () => {
  it("an unknown filter beside a '{%' is V-T3 at the filter, with TEMPLATE-001 at the '{%'", () => {
    expect(
      said(
        `version: "0.1"
name: both
steps:
  - ${S('a', '{{ x | to_json }} {% if x %}y{% endif %}')}
`,
        ['V-T3', 'TEMPLATE-001', 'V-T5'],
      ),
    ).toEqual([
      `V-T3 4:72 error unknown template filter 'to_json' | use 'tojson'`,
      `TEMPLATE-001 4:83 error '{% %}' blocks are not supported; use {{ expr }} and {{#if}} / {{#each}} | null`,
    ]);
  });

  it("the names a '{% for %}' binds are not V-T5", () => {
    expect(
      said(
        `version: "0.1"
name: loopvar
steps:
  - ${S('a', '{% for i in context.xs %}{{ i }}{% endfor %}')}
`,
        ['V-T3', 'TEMPLATE-001', 'V-T5'],
      ),
    ).toEqual([
      `TEMPLATE-001 4:65 error '{% %}' blocks are not supported; use {{ expr }} and {{#if}} / {{#each}} | null`,
    ]);
  });
});
