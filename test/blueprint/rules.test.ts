/** Each rule's negative fixture: the rule id, severity and the 1-based line and column. */
import { describe, expect, it } from 'vitest';

import { load } from './support.js';

const cases: [file: string, rule: string, line: number, column: number, suggestion?: RegExp][] = [
  ['V-K1', 'V-K1', 5, 5, /input/],
  ['V-K2', 'V-K2', 4, 11, /parallel/],
  ['V-K3', 'V-K3', 1, 10],
  ['V-K5', 'V-K5', 4, 11],
  ['V-K7', 'V-K7', 5, 11, /\.\/skills\/helpers\.ts#clean/],
  ['V-A5', 'V-A5', 8, 12, /previous_step/],
  ['V-A6', 'V-A6', 7, 11, /agents\.writer/],
  ['V-T1', 'V-T1', 6, 12],
  ['V-T3', 'V-T3', 6, 35, /tojson/],
  ['V-T4', 'V-T4', 6, 12, /steps\.later/],
  ['TEMPLATE-001', 'TEMPLATE-001', 6, 13], // at the {% (was the opening quote)
  ['V-I1', 'V-I1', 4, 10],
  ['V-I3', 'V-I3', 4, 9],
  ['V-I6', 'V-I6', 8, 60],
  ['V-I4', 'V-I4', 4, 11, /V-K2 at rules\/V-I4-child\.yaml:4:11/],
  ['V-P1', 'V-P1', 14, 20, /overwrite/],
  ['V-L1', 'V-L1', 7, 7],
  ['V-CF1', 'V-CF1', 9, 24],
  ['V-SM1', 'V-SM1', 10, 37, /done/],
  ['HITL-NESTED-001', 'HITL-NESTED-001', 14, 17],
  ['YAML-LOAD', 'YAML-LOAD', 4, 3],
];

describe('validation rules point at the offending key or value', () => {
  for (const [file, rule, line, column, suggestion] of cases) {
    it(`${rule} (${file}.yaml:${line}:${column})`, () => {
      const r = load(`rules/${file}.yaml`);
      // Findings come sorted by place, so a file with two of the rule is looked up at the place.
      const ofRule = r.findings.filter((x) => x.rule_id === rule);
      const f = ofRule.find((x) => x.line === line && x.column === column) ?? ofRule[0];
      expect(f, JSON.stringify(r.findings, null, 1)).toBeDefined();
      expect([f!.line, f!.column]).toEqual([line, column]);
      if (suggestion) expect(`${f!.message} ${f!.suggestion}`).toMatch(suggestion);
    });
  }

  it('errors make the blueprint invalid (exit 4); an unresolved import exits 3', () => {
    expect(load('rules/V-K1.yaml')).toMatchObject({ isValid: false, exitCode: 4 });
    expect(load('rules/V-I1.yaml')).toMatchObject({ isValid: false, exitCode: 3 });
    expect(load('rules/V-L1.yaml')).toMatchObject({ isValid: true, exitCode: 0 });
  });

  it('V-I4 counts the imported errors in words: "has 1 error", not "1 error(s)"', () => {
    const i4 = load('rules/V-I4.yaml').findings.find((f) => f.rule_id === 'V-I4');
    expect(i4?.message).toMatch(/has 1 error; the first is V-K2 at /);
  });

  it('V-A5 only where the output is really lost; V-P1 only when branches share a key', () => {
    const a5 = load('rules/V-A5.yaml').findings.filter((f) => f.rule_id === 'V-A5');
    expect(a5.map((f) => f.step_name)).toEqual(['fresh']);
    const fan = load('fixtures/parallel/fan.yaml').findings.filter((f) => f.rule_id === 'V-P1');
    expect(fan).toEqual([]);
  });

  it('# flujo: ignore on the step line, or the line before it, suppresses matching rules', () => {
    const r = load('rules/suppressed.yaml');
    expect(r.findings.map((f) => f.rule_id)).toEqual([]);
  });

  it('template errors point into block scalars, escapes and folded lines where the text sits', async () => {
    const { loadBlueprint } = await import('../../src/blueprint/loader.js');
    const at = (input: string) => {
      const text = `version: "0.1"\nname: t\nsteps:\n  - name: a\n    agent: { id: flujo.builtins.stringify }\n    input: ${input}\n`;
      const r = loadBlueprint('/p/t.yaml', {
        root: '/p',
        files: { read: () => text, exists: () => true },
      });
      const f = r.errors.find((e) => e.rule_id === 'V-T3' || e.rule_id === 'TEMPLATE-001');
      expect(f, JSON.stringify(r.errors)).toBeDefined();
      return [f!.rule_id, f!.line, f!.column];
    };
    // Block literal: the filter on the value's second line, indented 6 in the file.
    expect(at('|\n      line one\n      line two {{ context.x | to_json }}')).toEqual([
      'V-T3',
      8,
      31,
    ]);
    // Escapes before the template take more columns in the file than in the value.
    expect(at('"\\t\\t\\t\\t{{ context.x | to_json }}"')).toEqual(['V-T3', 6, 36]);
    // A folded double-quoted string: the second 'bad' on the continuation line.
    expect(at('"first \\\n      second {{ bad bad }}"')).toEqual(['TEMPLATE-001', 7, 21]);
    // Unchanged: a one-line plain value.
    expect(at('"{{ context.x | to_json }}"')).toEqual(['V-T3', 6, 28]);
  });

  it('refuses alias bombs and deep nesting', async () => {
    const { loadBlueprint } = await import('../../src/blueprint/loader.js');
    const bomb = ['version: "0.1"', 'a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${'b' + i}: &${'b' + i} [${Array(10)
          .fill(i ? '*b' + (i - 1) : '*a')
          .join(', ')}]`,
      );
    bomb.push('steps: [ { name: s } ]');
    const files = (text: string) => ({ read: () => text, exists: () => true });
    const r1 = loadBlueprint('/p/x.yaml', { root: '/p', files: files(bomb.join('\n')) });
    expect(r1.errors[0]).toMatchObject({ rule_id: 'YAML-LOAD' });
    expect(r1.errors[0]!.message).toMatch(/alias/);
    const deep = `version: "0.1"\nname: d\nsteps: [ { name: s, input: ${'['.repeat(200)}${']'.repeat(200)} } ]`;
    const r2 = loadBlueprint('/p/x.yaml', { root: '/p', files: files(deep) });
    expect(r2.errors[0]).toMatchObject({ rule_id: 'YAML-LOAD' });
    expect(r2.errors[0]!.message).toMatch(/nesting/);
  });

  it('reports every duplicate key, each naming the key and where it first is, up to 20', async () => {
    const { loadBlueprint, MAX_YAML_ERRORS } = {
      ...(await import('../../src/blueprint/loader.js')),
      ...(await import('../../src/blueprint/yamlTree.js')),
    };
    const files = (text: string) => ({ read: () => text, exists: () => true });
    const text = [
      'version: "0.1"',
      'name: dup',
      'name: again',
      'steps:',
      '  - kind: step',
      '    name: a',
      '    "name": b',
      '    agent: { id: flujo.builtins.stringify, id: x }',
    ].join('\n');
    const r = loadBlueprint('/p/x.yaml', { root: '/p', files: files(text) });
    expect(r.plan).toBeUndefined();
    expect(r.errors.map((e) => [e.rule_id, e.line, e.column, e.message])).toEqual([
      [
        'YAML-LOAD',
        3,
        1,
        'DUPLICATE_KEY: "name" is given twice in one mapping (first at line 2); keep one',
      ],
      [
        'YAML-LOAD',
        7,
        5,
        'DUPLICATE_KEY: "name" is given twice in one mapping (first at line 6); keep one',
      ],
      [
        'YAML-LOAD',
        8,
        44,
        'DUPLICATE_KEY: "id" is given twice in one mapping (first at line 8); keep one',
      ],
    ]);
    // A file made of them: the first 20, and a count of the rest.
    const many = ['version: "0.1"', 'name: d', 'steps: []', ...Array(25).fill('k: 1')].join('\n');
    const m = loadBlueprint('/p/x.yaml', { root: '/p', files: files(many) });
    expect(m.errors).toHaveLength(MAX_YAML_ERRORS + 1);
    expect(m.errors.at(-1)!.message).toBe('and 4 more YAML errors');
  });

  it('never reads files outside the project root', async () => {
    const { loadBlueprint } = await import('../../src/blueprint/loader.js');
    const read: string[] = [];
    const files = {
      read: (p: string) => {
        read.push(p);
        return 'version: "0.1"\nname: x\nimports: { up: ../../etc/child.yaml }\nsteps: [ { name: s, uses: imports.up } ]';
      },
      exists: () => true,
    };
    const r = loadBlueprint('/p/x.yaml', { root: '/p', files });
    expect(read).toEqual(['/p/x.yaml']);
    expect(r.errors[0]).toMatchObject({ rule_id: 'V-I1', line: 3, column: 16 });
  });
});

describe('Flujo-style example blueprints validate unchanged', () => {
  for (const name of ['hitl_sink_demo', 'transitions_example', 'template_and_loop']) {
    it(name, () => {
      const r = load(`examples/${name}.yaml`);
      expect(r.errors).toEqual([]);
      expect(r.plan).toBeDefined();
    });
  }
});
