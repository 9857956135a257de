/**
 * Where validate and run place a template's problems: a syntax error or unknown filter in a
 * `from_file` prompt in the prompt file, line for line (was the blueprint's `from_file:` value);
 * an unsupported `{% %}` block at the `{%` (was the value's opening quote); a template whose value
 * no run can record (`{{ 1e400 }}`, a `__proto__` key) at its literal when validated, and at the
 * template when a run fails on one (was no place: `[LEDGER_ENCODE]` with no `at file:line:col`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { placeOf } from '../../src/blueprint/sourceMap.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-finding-places-'));
  mkdirSync(join(dir, 'prompts'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function loaded(text: string, name = `b${(n += 1)}.yaml`) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return { result: loadBlueprint(file, { files: nodeBlueprintFiles, root: dir }), file };
}
const said = (r: ReturnType<typeof loaded>['result']) =>
  r.findings
    .filter((f) => f.severity === 'error')
    .map((f) => `${f.rule_id} ${f.file.slice(dir.length + 1)}:${f.line}:${f.column} ${f.message}`);

const AGENT = (prompt: string) => `version: "0.1"
name: a
agents:
  writer:
    model: "openai:gpt-4o"
    system_prompt: { from_file: prompts/${prompt}, variables: { audience: kids } }
steps:
  - name: s1
    uses: agents.writer
`;

describe('a from_file prompt is checked in its own file', () => {
  it('an unknown filter is V-T3 at its line and column in the prompt file', () => {
    writeFileSync(
      join(dir, 'prompts/w.md'),
      'You write about {{ context.topic }}\nfor {{ audience | uper }}.\n',
    );
    const { result } = loaded(AGENT('w.md'));
    expect(said(result)).toEqual(["V-T3 prompts/w.md:2:19 unknown template filter 'uper'"]);
  });

  it('a syntax error is TEMPLATE-001 there, and a {% %} block at its {%', () => {
    writeFileSync(join(dir, 'prompts/w2.md'), 'About {{ context.topic }}\nfor {{ 1 +* 2 }}.\n');
    writeFileSync(join(dir, 'prompts/w3.md'), 'About {{ context.topic }}\nfor {% if x %}.\n');
    expect(said(loaded(AGENT('w2.md')).result)).toEqual([
      "TEMPLATE-001 prompts/w2.md:2:11 template error: unexpected '*'",
    ]);
    expect(said(loaded(AGENT('w3.md')).result)).toEqual([
      "TEMPLATE-001 prompts/w3.md:2:5 '{% %}' blocks are not supported; use {{ expr }} and {{#if}} / {{#each}}",
    ]);
  });
});

describe('a {% %} block in the blueprint', () => {
  it('is reported at the {%, not at the opening quote', () => {
    const { result } = loaded(
      `version: "0.1"
name: t4
steps:
  - name: s2
    input: "abc {% if x %}"
`,
      't4.yaml',
    );
    expect(said(result)).toEqual([
      "TEMPLATE-001 t4.yaml:5:17 '{% %}' blocks are not supported; use {{ expr }} and {{#if}} / {{#each}}",
    ]);
  });
});

describe('a template whose value no run can record', () => {
  it('is TEMPLATE-001 at the literal when validated; in a longer text it prints, and is not', () => {
    const { result } = loaded(
      `version: "0.1"
name: inf
steps:
  - name: a
    input: "{{ [1, 1e400] }}"
  - name: b
    input: "{{ {'__proto__': 1} }}"
  - name: c
    input: "x {{ 1e400 }} {{ 1e400 > 1 }}"
`,
      'inf.yaml',
    );
    expect(said(result)).toEqual([
      'TEMPLATE-001 inf.yaml:5:20 template error: a number beyond the float range (it would be Infinity) makes a value no run can record',
      "TEMPLATE-001 inf.yaml:7:17 template error: the key '__proto__' makes a value no run can record",
    ]);
  });

  it('one the run builds fails it at the template: the failure has a place', async () => {
    const { result } = loaded(`version: "0.1"
name: big
steps:
  - name: s
    agent: { id: flujo.builtins.passthrough }
    input: "{{ {'__pro' + 'to__': 1} }}"
`);
    expect(result.errors).toEqual([]);
    const plan = await withBlueprintCode(result);
    const { engine } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
    const run = await engine.run(plan, 'x');
    expect(run.status).toBe('failed');
    // The recorded message is as before; only the place beside it is new. (`{{ 1e308 * 10 }}`
    // was the example until ADR 131 made it an EXPRESSION_ERROR at its operator.)
    expect(run.error?.message).toBe(
      'pipeline code threw: s.input returned a value the ledger cannot record: [LEDGER_ENCODE] cannot record value at returned value.__proto__: key __proto__ is refused',
    );
    expect(placeOf(plan.ir, run.error!)).toMatchObject({
      line: 6,
      column: 12,
      label: 's.input',
      what: 'template',
    });
  });
});
