/**
 * Edge cases of the YAML format found by running blueprints against what the docs promise:
 * each test fails on the code before its fix.
 */
import { describe, expect, it } from 'vitest';

import { parseTemplate, renderTemplate } from '../../src/blueprint/template.js';
import { load, runFixture } from './support.js';

describe('blueprint edge cases', () => {
  it('an undefined variable inside a list is null, not a run failure', async () => {
    const { run } = await runFixture('fixtures/templates/missing_in_lists.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ log: [null, null], last: [null, [null, 1]] });
  });
});

describe('loop context operations', () => {
  it('each operation sees the loop input or the iteration output as previous_step', async () => {
    const { run } = await runFixture('fixtures/loop/state_ops_previous.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ log: ['go+', 'go++'], last: 'go++', input: 'go', out: 'go++' });
  });

  it('merge takes a value that renders to a JSON object (Flujo parses it), or an object', async () => {
    const { run } = await runFixture('fixtures/loop/merge_json.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ start: 'go', r3: 'go+', r4: 'go++', last: 'go++' });
  });
});

describe('parallel keys Flujo documents and this engine does not act on', () => {
  it('context_include_keys, field_mapping and ignore_branch_names are V-K5 warnings', () => {
    const r = load('fixtures/parallel/ignored_keys.yaml');
    expect(r.isValid).toBe(true);
    const k5 = r.findings.filter((f) => f.rule_id === 'V-K5');
    expect(k5.map((f) => [f.severity, f.line, f.column])).toEqual([
      ['warning', 6, 5],
      ['warning', 7, 5],
      ['warning', 8, 5],
    ]);
    expect(k5[1]!.message).toMatch(/field_mapping/);
  });
});

describe('expressions over a context that lacks a dict', () => {
  it("context.scratchpad.get('k') before anything wrote the scratchpad is None, not a failed run", async () => {
    const { run } = await runFixture('fixtures/state_machine/scratchpad_get.yaml', 'adults');
    expect(run.status).toBe('completed');
    expect(run.output).toBe('adults');
  });
});

describe('validation of {{#each}} blocks', () => {
  it('this and @index inside {{#each}} are not reported; this outside it still is', () => {
    const r = load('fixtures/step/each_names.yaml');
    expect(r.findings.map((f) => `${f.rule_id} ${f.line}:${f.column}`)).toEqual(['V-T2 10:14']);
  });
});

describe('state machine when', () => {
  it('a when that fails at run time does not match (Flujo), the next rule is tried', async () => {
    const { run } = await runFixture('fixtures/state_machine/when_error.yaml', { n: 1 });
    expect(run.status).toBe('completed');
    expect(run.output).toBe('ended after {"n": 1}');
    const no = await runFixture('fixtures/state_machine/when_error.yaml', 'no');
    expect(no.run.output).toBe('ended after no');
  });
});

describe('nested maps', () => {
  it('this after an inner map whose name differs only in punctuation is still the outer item', async () => {
    const { run } = await runFixture(
      'fixtures/map/nested_names.yaml',
      null,
      {},
      {
        rows: [1, 2],
        cols: ['x', 'y'],
      },
    );
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(['row=1 cells=xy', 'row=2 cells=xy']);
  });
});

describe('loop mappers', () => {
  it('iteration_input_mapper gets the number of the iteration it maps (1 after the first)', async () => {
    const { run } = await runFixture('fixtures/loop/mappers.yaml', 'go');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ after: 2, seen: { after: 1, seen: 'go' } });
  });
});

describe('filters', () => {
  it('round rounds half away from zero on both sides (Jinja), not toward +infinity', () => {
    const r = (src: string) => renderTemplate(parseTemplate(src), {});
    expect(
      r('{{ 2.5 | round }} {{ -2.5 | round }} {{ -0.125 | round(2) }} {{ -1.4 | round }}'),
    ).toBe('3 -3 -0.13 -1');
  });
});

describe('the iteration variable', () => {
  it('is the number of the iteration just run, in exit_expression and propagation alike', async () => {
    const { run } = await runFixture('fixtures/loop/iteration.yaml', 'x');
    expect(run.status).toBe('completed');
    expect(run.output).toBe('x-1-2-');
  });

  it('is reported where it is not bound (a body step renders it empty)', () => {
    const r = load('fixtures/loop/iteration_unbound.yaml');
    expect(r.findings.map((f) => `${f.rule_id} ${f.line}:${f.column}`)).toEqual(['V-T5 11:18']);
    expect(load('fixtures/loop/iteration.yaml').findings).toEqual([]);
  });
});

describe('conditional branch keys', () => {
  it('a boolean result picks branches written "True" / "False" (Flujo matches case aside)', async () => {
    const yes = await runFixture('fixtures/conditional/python_bool_keys.yaml', 'yes');
    expect([yes.run.status, yes.run.output]).toEqual(['completed', 'accepted']);
    const no = await runFixture('fixtures/conditional/python_bool_keys.yaml', 'no');
    expect([no.run.status, no.run.output]).toEqual(['completed', 'refused']);
  });
});

describe('engine-kept keys are not written by a step output (ADR 60)', () => {
  it('updates_context cannot forge the item of a map (__map_items) or plant cache entries', async () => {
    const { run } = await runFixture('fixtures/map/forged_items.yaml', null, {}, { items: [1, 2] });
    expect(run.status).toBe('completed');
    // No cache was ever written: the mapping's undefined `cache` is left out.
    expect(run.output).toStrictEqual({ items: ['item=1 note=1', 'item=2 note=2'] });
  });
});

describe('sink_to and the engine-kept keys', () => {
  it('a sink_to under __cache or __map_items is a V-K4 error', () => {
    const r = load('fixtures/step/sink_engine_keys.yaml');
    expect(r.errors.map((f) => `${f.rule_id} ${f.line}:${f.column}`)).toEqual([
      'V-K4 6:14',
      'V-K4 9:14',
    ]);
    expect(r.errors[0]!.message).toMatch(/kept by the engine/);
  });
});

describe('conversational loops with state operations', () => {
  it("the assistant turn is the iteration's output, not the state operation's result", async () => {
    let n = 0;
    const { run } = await runFixture('fixtures/conversation/with_state.yaml', 'hi', {
      'test:bot': () => `b${++n}`,
    });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ text: 'user: hi\nassistant: b1\nassistant: b2' });
  });
});

describe("a user's rendering of the context hides the engine's __ keys", () => {
  it('tojson, {{ context }}, length, #each and a whole {{ context }} input leave out __map_items; this still reads it', async () => {
    const { run } = await runFixture('fixtures/map/context_view.yaml', null, {}, { items: [1] });
    expect(run.status).toBe('completed');
    const ctx = { initial_prompt: null, items: [1] };
    expect(run.output).toStrictEqual([
      {
        item: 1,
        json: '{"initial_prompt": null, "items": [1]}',
        text: 'ctx={"initial_prompt": null, "items": [1]}',
        keys: 2,
        each: '[][[1]]',
        whole: { items: [1], initial_prompt: null },
      },
    ]);
    expect(Object.keys((run.output as { whole: object }[])[0]!.whole).sort()).toEqual(
      Object.keys(ctx).sort(),
    );
  });
});

describe('a hitl message that renders to an object', () => {
  it('is indented JSON for the person who answers it (ADR 77)', async () => {
    const { run } = await runFixture('fixtures/hitl/object_message.yaml', 'pen');
    expect(run.status).toBe('paused');
    // Its keys sorted since ADR 126 (were the ledger's order: qty, item, tags).
    expect(run.pause?.message).toBe(
      '{\n  "item": "pen",\n  "qty": 2,\n  "tags": [\n    "a",\n    "b"\n  ]\n}',
    );
  });
});

describe('loop propagation: {field, path, prefix}', () => {
  it("keeps each iteration's output as <prefix><n> under <path>.<field>, the context by default", async () => {
    const { run } = await runFixture('fixtures/loop/propagation_store.yaml', 'x');
    expect(run.status).toBe('completed');
    expect(run.output).toStrictEqual({
      results: { drafts: { round_1: 'x+', round_2: 'x++', round_3: 'x+++' } },
      t1: 'x+++!',
      t2: 'x+++!!',
    });
  });

  it('bad values are findings at the key or value', () => {
    // path without context., a template as field, an engine key as field, an unknown key.
    const r = load('fixtures/loop/propagation_bad.yaml');
    expect(r.errors.map((f) => `${f.rule_id} ${f.line}:${f.column}`)).toEqual([
      'V-K4 9:28',
      'V-K4 15:29',
      'V-K4 21:29',
      'V-K1 21:43',
    ]);
  });
});

describe("a step's config keys Flujo has and this engine does not act on", () => {
  it('temperature in a step config is a V-K5 warning pointing at model_settings; other ignored keys warn too', () => {
    const r = load('fixtures/step/config_ignored.yaml');
    expect(r.isValid).toBe(true);
    const k5 = r.findings.filter((f) => f.rule_id === 'V-K5');
    expect(k5.map((f) => [f.severity, f.line, f.column])).toEqual([
      ['warning', 10, 7],
      ['warning', 11, 7],
    ]);
    expect(k5[0]!.message).toMatch(/'temperature' is accepted but not acted on/);
    expect(k5[0]!.suggestion).toMatch(/model_settings/);
    expect(k5[1]!.message).toMatch(/'execution_mode'/);
    const step = r.plan!.ir.root.kind === 'sequence' ? r.plan!.ir.root.steps[0] : undefined;
    expect(step).toMatchObject({ retries: 2, timeoutMs: 30_000 });
  });
});

describe('a loop whose max_loops has the wrong type', () => {
  it('is one V-K4 error at the value, not also V-L1 "no max_loops"', () => {
    const r = load('fixtures/loop/max_loops_type.yaml');
    expect(r.findings.map((f) => `${f.rule_id} ${f.line}:${f.column}`)).toEqual(['V-K4 6:18']);
  });
});
