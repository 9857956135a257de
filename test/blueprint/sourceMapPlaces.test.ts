/**
 * The places ADR 102 left out (ADR 112): an agent's system prompt (in the blueprint or in its
 * prompt file), a loop's or map's `init` / `state` operation, and a label that stands for several
 * places across imports. The recorded failure is as before; only the place beside it is new.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { placeOf } from '../../src/blueprint/sourceMap.js';
import { placeLine } from '../../src/cli/runReport.js';
import type { Plan } from '../../src/dsl/ir.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-source-places-'));
  mkdirSync(join(dir, 'prompts'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function planOf(text: string, name = `b${(n += 1)}.yaml`) {
  const file = join(dir, name);
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  return { plan: await withBlueprintCode(loaded), file };
}
async function failure(plan: Plan, input = 'hi', context?: Record<string, unknown>) {
  const { engine } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
  const r = await engine.run(plan, input, context ? { context } : {});
  expect(r.status).toBe('failed');
  expect(r.error?.code).toBe('PLAN_CODE_FAILED');
  return r.error!;
}
const JOIN = "[EXPRESSION_ERROR] filter 'join' takes 0 to 1 argument(s) (2 given)";

describe('an agent system prompt that fails while a call is made', () => {
  it('written in the blueprint: placed at its filter, said as the agent prompt of the step', async () => {
    const { plan, file } = await planOf(`version: "0.1"
name: sys
agents:
  writer:
    model: "openai:gpt-4o"
    system_prompt: "You write for {{ context.initial_prompt | join(1, 2) }}"
steps:
  - name: write
    uses: agents.writer
`);
    const error = await failure(plan);
    expect(error.message).toBe(`pipeline code threw: write.system: ${JOIN} (at line 1, column 41)`);
    const at = placeOf(plan.ir, error);
    expect(at).toMatchObject({ file, line: 6, column: 61, label: 'write.system', exact: true });
    expect(placeLine(at!)).toMatch(
      /^at .*:6:61, the template of agent writer's system prompt, run by step write$/,
    );
  });

  it('read from a prompt file: placed in that file, line for line', async () => {
    writeFileSync(
      join(dir, 'prompts', 'writer.md'),
      'You write.\nFor {{ audience }} in {{ context.initial_prompt | join(1, 2) }}.\n',
    );
    const { plan } = await planOf(`version: "0.1"
name: sysfile
agents:
  writer:
    model: "openai:gpt-4o"
    system_prompt:
      from_file: prompts/writer.md
      variables: { audience: everyone }
steps:
  - name: write
    uses: agents.writer
`);
    const error = await failure(plan);
    expect(error.message).toContain('write.system: [EXPRESSION_ERROR]');
    expect(placeOf(plan.ir, error)).toMatchObject({
      file: join(dir, 'prompts', 'writer.md'),
      line: 2,
      column: 49,
      exact: true,
      role: "agent writer's system prompt",
    });
  });
});

describe('a loop or map context operation that fails', () => {
  it("a loop's init operation, the second of two (it reads the stash)", async () => {
    const { plan, file } = await planOf(`version: "0.1"
name: ops
steps:
  - kind: loop
    name: rounds
    loop:
      max_loops: 1
      init:
        - { set: context.log, value: [] }
        - { set: context.seen, value: "{{ previous_step | join(1, 2) }}" }
      body:
        - name: work
          kind: hitl
          message: "Go on?"
`);
    const error = await failure(plan);
    expect(error.message).toMatch(
      /^pipeline code threw: __rounds_set\d+\.input: \[EXPRESSION_ERROR\]/,
    );
    const at = placeOf(plan.ir, error);
    expect(at).toMatchObject({ file, line: 10, column: 57, step: 'rounds', exact: true });
    expect(placeLine(at!)).toMatch(
      /:10:57, the template of step rounds's init \(set context\.seen\)$/,
    );
  });

  it("a loop's state operation, after the first iteration", async () => {
    const { plan } = await planOf(`version: "0.1"
name: state
steps:
  - kind: loop
    name: rounds
    loop:
      max_loops: 2
      body:
        - name: work
          agent: { id: flujo.builtins.passthrough }
      state:
        append: [{ target: context.log, value: "{{ previous_step | join(1, 2) }}" }]
`);
    const at = placeOf(plan.ir, await failure(plan));
    expect(at).toMatchObject({ line: 12, column: 66, exact: true, step: 'rounds' });
    expect(at?.role).toBe("step rounds's state (append context.log)");
  });

  it("a map's init operation", async () => {
    const { plan } = await planOf(`version: "0.1"
name: mapinit
steps:
  - kind: map
    name: each
    map:
      iterable_input: items
      init:
        - { set: context.seen, value: "{{ previous_step | join(1, 2) }}" }
      body:
        - name: one
          agent: { id: flujo.builtins.passthrough }
`);
    expect(placeOf(plan.ir, await failure(plan, 'hi', { items: [1, 2] }))).toMatchObject({
      line: 9,
      column: 57,
      role: "step each's init (set context.seen)",
    });
  });
});

describe('a label that stands for several places across imports', () => {
  it('a child step named as a parent step: the one whose text holds the position', async () => {
    await planOf(
      `version: "0.1"
name: child
steps:
  - name: shout
    input: |
      Hello
        {{ previous_step | join(1, 2) }}
    kind: hitl
    message: "Child?"
`,
      'child.yaml',
    );
    const { plan, file } = await planOf(`version: "0.1"
name: parent
imports:
  kid: child.yaml
steps:
  - name: shout
    input: "{{ previous_step }}!"
  - name: go
    uses: imports.kid
`);
    const error = await failure(plan);
    expect(error.message).toBe(`pipeline code threw: shout.input: ${JOIN} (at line 2, column 20)`);
    expect(placeOf(plan.ir, error)).toEqual({
      file: join(dir, 'child.yaml'),
      line: 7,
      column: 26,
      step: 'shout',
      label: 'shout.input',
      what: 'template',
      exact: true,
    });
    expect(file).not.toBe(join(dir, 'child.yaml'));
  });

  it('one blueprint imported twice is one place; two texts that both fit are both said', async () => {
    await planOf(
      `version: "0.1"
name: twice
steps:
  - name: shout
    input: "{{ previous_step | join(1, 2) }}"
    kind: hitl
    message: "Child?"
`,
      'twice.yaml',
    );
    const once = await planOf(`version: "0.1"
name: parent
imports:
  kid: twice.yaml
steps:
  - name: a
    uses: imports.kid
  - name: b
    uses: imports.kid
`);
    expect(placeOf(once.plan.ir, await failure(once.plan))).toEqual({
      file: join(dir, 'twice.yaml'),
      line: 5,
      column: 30,
      step: 'shout',
      label: 'shout.input',
      what: 'template',
      exact: true,
    });
    const both = await planOf(`version: "0.1"
name: parent
imports:
  kid: twice.yaml
steps:
  - name: go
    uses: imports.kid
  - name: shout
    input: "{{ previous_step | join(1, 2) }}"
    kind: hitl
    message: "Parent?"
`);
    const at = placeOf(both.plan.ir, await failure(both.plan));
    expect(at).toMatchObject({ file: join(dir, 'twice.yaml'), line: 5, column: 30 });
    expect(at?.also).toEqual([{ file: both.file, line: 9, column: 30 }]);
    expect(placeLine(at!)).toMatch(
      /^at .*twice\.yaml:5:30 \(or .*:9:30\), the template of step shout's input$/,
    );
  });
});
