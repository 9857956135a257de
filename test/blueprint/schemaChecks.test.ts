/**
 * JSON Schemas in a blueprint are checked when it loads: a hitl `input_schema` that does not
 * compile used to take the run to a pause no answer could pass (every resume an internal error),
 * and an `output_schema` passed validate only to fail at run time.
 */
import { describe, expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';
import { hitl, definePipeline } from '../../src/dsl/builder.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { createEngine } from '../../src/runtime/engine.js';
import { z } from 'zod';

const loadText = (text: string) =>
  loadBlueprint('/p/t.yaml', { root: '/p', files: { read: () => text, exists: () => true } });

const findings = (text: string) =>
  loadText(text).errors.map((f) => [f.rule_id, f.line, f.column, f.step_name ?? null]);

describe('schemas in a blueprint', () => {
  it('a hitl input_schema that does not compile is V-K4 at the schema', () => {
    const text = `version: "0.1"
name: t
steps:
  - kind: hitl
    name: ask
    message: "ok?"
    input_schema: { type: foo, properties: 5 }
`;
    expect(loadText(text).plan).toBeUndefined();
    expect(findings(text)).toEqual([['V-K4', 7, 19, 'ask']]);
    expect(loadText(text).errors[0]?.message).toMatch(
      /^ask: input_schema is not a valid JSON Schema: /,
    );
    const pattern = text.replace('{ type: foo, properties: 5 }', '{ type: string, pattern: "(" }');
    expect(findings(pattern)).toEqual([['V-K4', 7, 19, 'ask']]);
  });

  it('an output_schema that does not compile is V-K4, on a step and on an agent', () => {
    expect(
      findings(`version: "0.1"
name: t
steps:
  - name: a
    agent: { id: flujo.builtins.stringify }
    output_schema: { type: 12 }
`),
    ).toEqual([['V-K4', 6, 20, 'a']]);
    const agent = loadText(`version: "0.1"
name: t
agents:
  w:
    model: "test:w"
    system_prompt: "x"
    output_schema: { type: object, required: 3 }
steps:
  - { name: a, uses: agents.w }
`);
    expect(agent.errors.map((f) => [f.rule_id, f.line, f.column])).toEqual([['V-K4', 7, 20]]);
  });

  it('valid schemas load as before', () => {
    const r = loadText(`version: "0.1"
name: t
steps:
  - kind: hitl
    name: ask
    message: "ok?"
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
`);
    expect(r.errors).toEqual([]);
    expect(r.plan).toBeDefined();
  });
});

describe('a run recorded with an input schema that does not compile', () => {
  it('refuses answers with RUN_NOT_RESUMABLE saying why and what to do, not an internal error', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const plan = definePipeline('old', hitl('ask', { message: 'ok?', schema: z.object({}) })).plan;
    // As an older build recorded it: the schema goes into HumanInputRequested unchecked.
    const bad = {
      ...plan,
      ir: { ...plan.ir, root: { ...plan.ir.root, inputSchema: { type: 'foo' } } },
    };
    const r = await engine.run(bad as typeof plan, null, { runId: 'old-1' });
    expect(r.status).toBe('paused');
    const head = (await ledger.head('old-1'))?.seq;
    await expect(
      engine.resume(bad as typeof plan, 'old-1', { humanInput: {} }),
    ).rejects.toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      message: expect.stringMatching(
        /recorded input schema is not a valid JSON Schema.*cancel the run/,
      ),
    });
    expect((await ledger.head('old-1'))?.seq).toBe(head);
  });
});

describe('a __proto__ key anywhere in a blueprint', () => {
  it('is a load error at the key (exit 4), not a run that fails to record its input', () => {
    const text = `version: "0.1"
name: t
steps:
  - name: a
    agent: { id: flujo.builtins.stringify }
    input:
      ok: "{{ previous_step }}"
      __proto__: { polluted: "{{ previous_step }}" }
`;
    const r = loadText(text);
    expect(r.plan).toBeUndefined();
    expect(r.errors.map((f) => [f.rule_id, f.line, f.column])).toEqual([['YAML-LOAD', 8, 7]]);
    expect(r.errors[0]?.message).toContain("'__proto__' cannot be a key");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
