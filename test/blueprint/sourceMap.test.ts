/**
 * A blueprint's template or expression that fails while a run renders it is placed at its
 * file:line:column, from a map the loader keeps beside the plan (ADR 102): the run records the
 * same failure as before (its message names the place within the template's text) and the
 * plan, so every fingerprint, is unchanged.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { placeOf } from '../../src/blueprint/sourceMap.js';
import { definePipeline, step } from '../../src/dsl/builder.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import type { Plan } from '../../src/dsl/ir.js';
import { initFastHash } from '../../src/events/chain.js';
import { createEngine } from '../../src/runtime/engine.js';

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-source-map-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function planOf(text: string): Promise<{ plan: Plan; file: string }> {
  const file = join(dir, `b${(n += 1)}.yaml`);
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  return { plan: await withBlueprintCode(loaded), file };
}
async function failure(plan: Plan, input = 'hi') {
  const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, input);
  expect(r.status).toBe('failed');
  return r.error!;
}

const BLOCK = `version: "0.1"
name: tpl
steps:
  - name: shout
    input: |
      Hello
        {{ context.initial_prompt | join(1, 2) }}
    kind: hitl
    message: "Go on?"
`;

describe('a template that fails at run time is placed in the blueprint', () => {
  it('a block scalar input: the line and column of the failing filter in the file', async () => {
    const { plan, file } = await planOf(BLOCK);
    const error = await failure(plan);
    // Recorded as before: the label and the place within the template's text.
    expect(error).toEqual({
      code: 'PLAN_CODE_FAILED',
      message:
        "pipeline code threw: shout.input: [EXPRESSION_ERROR] filter 'join' takes 0 to 1 argument(s) (2 given) (at line 2, column 29)",
      retryable: false,
    });
    expect(placeOf(plan.ir, error)).toEqual({
      file,
      line: 7,
      column: 35,
      step: 'shout',
      label: 'shout.input',
      what: 'template',
      exact: true,
    });
  });

  it('a quoted hitl message, an ask_user question and a condition expression', async () => {
    const { plan, file } = await planOf(`version: "0.1"
name: tpl
steps:
  - name: ask
    kind: hitl
    message: "Say {{ previous_step | join(1, 2) }}"
`);
    expect(placeOf(plan.ir, await failure(plan))).toMatchObject({
      file,
      line: 6,
      column: 36, // the '|' of the filter that failed
      label: 'ask.message',
    });
    const asked = await planOf(`version: "0.1"
name: tpl
steps:
  - name: ask
    agent: { id: flujo.builtins.ask_user, params: { question: "{{ previous_step | join(1, 2) }}" } }
`);
    expect(placeOf(asked.plan.ir, await failure(asked.plan))).toMatchObject({
      line: 5,
      column: 81, // the filter's |
      label: 'ask.message',
      what: 'template',
    });
    const cond = await planOf(`version: "0.1"
name: tpl
steps:
  - name: pick
    kind: conditional
    condition_expression: "previous_step.upper(1)"
    branches:
      a:
        - name: a1
          kind: hitl
          message: "a"
`);
    expect(placeOf(cond.plan.ir, await failure(cond.plan))).toMatchObject({
      file: cond.file,
      line: 6,
      label: 'pick.condition',
      what: 'expression',
      exact: true,
    });
  });

  it('a mapping with two templates points at the mapping; a limit at its template', async () => {
    const { plan } = await planOf(`version: "0.1"
name: tpl
steps:
  - name: two
    input:
      a: "{{ previous_step }}"
      b: "{{ previous_step | join(1, 2) }}"
    kind: hitl
    message: "Go on?"
`);
    expect(placeOf(plan.ir, await failure(plan))).toMatchObject({
      line: 6,
      column: 7,
      label: 'two.input',
      exact: false,
    });
    const limit = await planOf(`version: "0.1"
name: tpl
steps:
  - name: big
    input: "{{ previous_step * 100000000 }}"
    kind: hitl
    message: "Go on?"
`);
    const error = await failure(limit.plan);
    expect(error.message).toContain('[TEMPLATE_LIMIT]');
    expect(placeOf(limit.plan.ir, error)).toMatchObject({ line: 5, column: 12, exact: true });
  });

  it('leaves the plan as it was: same fingerprint, no positions in the IR', async () => {
    const { plan } = await planOf(BLOCK);
    // As 0ebf8e4 computed it, before the loader kept the map.
    expect(planFingerprint(plan)).toBe(FINGERPRINT_BEFORE);
    expect(JSON.stringify(plan.ir)).not.toMatch(/"(line|column|pos)"/);
  });

  it('names nothing for a DSL pipeline or another failure', async () => {
    const boom = step('boom', (x: string) => x, {
      input: () => {
        throw new Error('no');
      },
    });
    const plan = definePipeline('dsl', boom).plan;
    const error = await failure(plan);
    expect(error.code).toBe('PLAN_CODE_FAILED');
    expect(placeOf(plan.ir, error)).toBeUndefined();
    const { plan: yaml } = await planOf(BLOCK);
    expect(placeOf(yaml.ir, { code: 'STEP_FAILED', message: 'shout.input: x' })).toBeUndefined();
  });
});

const FINGERPRINT_BEFORE = '227c4a11f97c607be41ee6168a89670329ce74177c40da82ce935025feca7a1b';
