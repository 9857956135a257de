import { describe, expect, it } from 'vitest';

import { createSkillAgents, composeAgents } from '../../src/skills/agents.js';
import { contextReadInput } from '../../src/skills/builtins/context.js';
import { ASK_USER_INPUT_SCHEMA } from '../../src/skills/builtins/index.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { isEngineError } from '../../src/errors.js';
import type { AgentPort } from '../../src/ports.js';
import type { Skill } from '../../src/skills/types.js';
import { callSkill, out } from './support.js';

const registry = createSkillRegistry();
const skills = createSkillAgents(registry);
const call = (id: string, input: unknown, params?: Record<string, unknown>) =>
  out(callSkill(skills, id, input, params));
const B = 'flujo.builtins.';

describe('the registry', () => {
  it("holds Flujo's builtins under Flujo's ids with descriptions and side-effect flags", () => {
    const ids = registry.list().map((s) => s.id.replace(B, ''));
    expect(ids.sort()).toEqual(
      [
        'aggregate',
        'ask_user',
        'context_get',
        'context_merge',
        'context_set',
        'flatten',
        'fs_write_file',
        'http_get',
        'passthrough',
        'select_fields',
        'stringify',
        'to_csv',
      ].sort(),
    );
    for (const s of registry.list()) expect(s.description.length).toBeGreaterThan(20);
    expect(registry.get(`${B}fs_write_file`)?.sideEffects).toBe(true);
    expect(registry.get(`${B}context_set`)?.sideEffects).toBe(true);
    expect(registry.get(`${B}to_csv`)?.sideEffects).toBe(false);
  });

  it('answers the loader: has(id) and kind(id), with ask_user a durable hitl step', () => {
    const lookup: { has(id: string): boolean; kind?(id: string): 'skill' | 'hitl' } = registry;
    expect(lookup.has(`${B}stringify`)).toBe(true);
    expect(lookup.has(`${B}nope`)).toBe(false);
    expect(lookup.kind?.(`${B}ask_user`)).toBe('hitl');
    expect(lookup.kind?.(`${B}stringify`)).toBe('skill');
    // {}: any answer, what the loader applies to an ask_user step without a schema (ADR 95).
    expect(registry.get(`${B}ask_user`)?.hitl).toEqual({
      messageParam: 'question',
      inputSchema: {},
    });
    expect(registry.hitl(`${B}ask_user`)).toEqual(registry.get(`${B}ask_user`)?.hitl);
    expect(registry.hitl(`${B}stringify`)).toBeUndefined();
    // The export keeps its value: a DSL pipeline asking with it keeps its plan (ADR 95).
    expect(ASK_USER_INPUT_SCHEMA).toEqual({ type: 'string' });
  });

  it('exports the context contract: context_get reads, context_set and context_merge merge', () => {
    expect(registry.get(`${B}context_get`)?.context).toBe('read');
    expect(registry.get(`${B}context_set`)?.context).toBe('merge');
    expect(registry.get(`${B}context_merge`)?.context).toBe('merge');
    expect(registry.get(`${B}to_csv`)?.context).toBeUndefined();
  });

  it('refuses a second skill with an id already registered', () => {
    const r = createSkillRegistry();
    const twin = { ...(r.get(`${B}passthrough`) as Skill), source: 'skills.yaml:3:1' };
    expect(() => r.register(twin)).toThrow(/SKILLS_CONFIG_INVALID.*declared twice/);
  });
});

describe('pure builtins', () => {
  it('passthrough returns its input; stringify makes text', async () => {
    expect(await call(`${B}passthrough`, { a: [1, 2] })).toEqual({ a: [1, 2] });
    expect(await call(`${B}stringify`, 'hi')).toBe('hi');
    expect(await call(`${B}stringify`, 42)).toBe('42');
    expect(await call(`${B}stringify`, { a: 1 })).toBe('{"a":1}');
    expect(await call(`${B}stringify`, null)).toBe('null');
  });

  it('to_csv writes rows with sorted headers by default, or the given headers, quoting as Python does', async () => {
    const rows = [
      { name: 'Ann', city: 'Lima, PE' },
      { name: 'Bo "B"', age: 3 },
    ];
    expect(await call(`${B}to_csv`, rows)).toBe(
      'age,city,name\r\n,"Lima, PE",Ann\r\n3,,"Bo ""B"""\r\n',
    );
    expect(await call(`${B}to_csv`, rows, { headers: ['name'] })).toBe(
      'name\r\nAnn\r\n"Bo ""B"""\r\n',
    );
    expect(await call(`${B}to_csv`, { rows: [{ a: 1 }] })).toBe('a\r\n1\r\n');
  });

  it('aggregate sums, averages and counts a field', async () => {
    const data = [{ n: 2 }, { n: 4 }, { m: 1 }, { n: null }];
    expect(await call(`${B}aggregate`, data, { operation: 'sum', field: 'n' })).toBe(6);
    expect(await call(`${B}aggregate`, data, { operation: 'AVG', field: 'n' })).toBe(3);
    expect(await call(`${B}aggregate`, data, { operation: 'count', field: 'n' })).toBe(2);
    expect(await call(`${B}aggregate`, data, { operation: 'count' })).toBe(4);
    expect(await call(`${B}aggregate`, [], { operation: 'avg', field: 'n' })).toBe(0);
  });

  it('select_fields projects with include and renames with rename', async () => {
    const rows = [
      { id: 1, name: 'a', secret: 'x' },
      { id: 2, name: 'b' },
    ];
    expect(
      await call(`${B}select_fields`, rows, { include: ['id', 'name'], rename: { name: 'label' } }),
    ).toEqual([
      { id: 1, label: 'a' },
      { id: 2, label: 'b' },
    ]);
    expect(await call(`${B}select_fields`, { a: 1, b: 2 }, { rename: { a: 'z' } })).toEqual({
      z: 1,
      b: 2,
    });
  });

  it('flatten removes one level of nesting', async () => {
    expect(await call(`${B}flatten`, [[1, 2], 3, [[4]]])).toEqual([1, 2, 3, [4]]);
    expect(await call(`${B}flatten`, { items: [[1], [2]] })).toEqual([1, 2]);
  });

  it('binds params over the input object, as Flujo normalises builtin params', async () => {
    // The input supplies `rows` and `headers`; a param overrides `headers`.
    expect(
      await call(`${B}to_csv`, { rows: [{ a: 1, b: 2 }], headers: ['a'] }, { headers: ['b'] }),
    ).toBe('b\r\n2\r\n');
  });
});

describe('context builtins', () => {
  it('context_set and context_merge return the patch the loader merges into the context', async () => {
    expect(await call(`${B}context_set`, 'Alice', { path: 'user.name' })).toEqual({
      user: { name: 'Alice' },
    });
    expect(await call(`${B}context_set`, { path: 'counter', value: 0 })).toEqual({ counter: 0 });
    expect(await call(`${B}context_merge`, { theme: 'dark' }, { path: 'settings' })).toEqual({
      settings: { theme: 'dark' },
    });
  });

  it('context_get reads a dotted path from the { input, context } request, with a default', async () => {
    const ctx = { user: { prefs: { theme: 'dark' } } };
    expect(
      await call(`${B}context_get`, contextReadInput(null, ctx), { path: 'user.prefs.theme' }),
    ).toBe('dark');
    expect(
      await call(`${B}context_get`, contextReadInput(null, ctx), {
        path: 'user.missing',
        default: 'light',
      }),
    ).toBe('light');
    expect(await call(`${B}context_get`, contextReadInput({ path: 'user' }, ctx))).toEqual(
      ctx.user,
    );
  });

  it('refuses context_get without a context, and paths through __proto__', async () => {
    await expect(call(`${B}context_get`, 'x', { path: 'a' })).rejects.toThrow(
      /SKILL_INPUT_INVALID.*\{ input, context \}/,
    );
    await expect(call(`${B}context_set`, 1, { path: 'a.__proto__.b' })).rejects.toThrow(
      /'__proto__' is not allowed/,
    );
  });
});

describe('schema validation', () => {
  it('rejects bad arguments with every failing field, not retryable', async () => {
    const err = await call(`${B}aggregate`, 'not data', { field: 3 }).catch((e: unknown) => e);
    expect(isEngineError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'SKILL_INPUT_INVALID', retryable: false });
    const msg = (err as Error).message;
    expect(msg).toMatch(/flujo\.builtins\.aggregate at step \d+/);
    expect(msg).toMatch(/must have required property 'operation'/);
    expect(msg).toMatch(/\/data must be array,object/);
    expect(msg).toMatch(/\/field must be string/);
  });

  it('names a misspelt param and the params the skill takes', async () => {
    await expect(call(`${B}to_csv`, [], { header: ['a'] })).rejects.toThrow(
      /to_csv does not take param 'header'; it takes 'rows', 'headers'/,
    );
  });

  it('checks input, params and output of a skill against its declared schemas', async () => {
    const r = createSkillRegistry({ builtins: false });
    r.register({
      id: 'demo.double',
      description: 'Doubles a number.',
      kind: 'skill',
      sideEffects: false,
      inputSchema: { type: 'number' },
      paramsSchema: { type: 'object', properties: { bad: { type: 'boolean' } } },
      outputSchema: { type: 'integer' },
      run: (x, p) => (p.bad ? 'oops' : (x as number) * 2),
    });
    const port = createSkillAgents(r);
    expect(await out(callSkill(port, 'demo.double', 21))).toBe(42);
    await expect(callSkill(port, 'demo.double', 'x')).rejects.toThrow(
      /SKILL_INPUT_INVALID.*the input does not match its schema: \(input\) must be number/,
    );
    await expect(callSkill(port, 'demo.double', 1, { bad: 'yes' })).rejects.toThrow(
      /the params does not match its schema: \/bad must be boolean/,
    );
    await expect(callSkill(port, 'demo.double', 1, { bad: true })).rejects.toMatchObject({
      code: 'SKILL_OUTPUT_INVALID',
      retryable: false,
    });
  });

  it('refuses an unknown skill and never calls ask_user', async () => {
    await expect(call('acme.nothing', 1)).rejects.toThrow(/SKILL_UNKNOWN.*acme\.nothing/);
    await expect(call(`${B}ask_user`, 'q')).rejects.toThrow(/SKILL_NOT_CALLABLE.*kind: hitl/);
  });

  it('replies with zero usage and cost, under the model name skill:<id>', async () => {
    expect(await callSkill(skills, `${B}passthrough`, 1)).toEqual({
      output: 1,
      usage: { input: 0, output: 0 },
      costMicros: 0,
      model: `skill:${B}passthrough`,
    });
  });
});

describe('composeAgents', () => {
  it('sends skill:<id> to the skills and everything else to the model port', async () => {
    const seen: string[] = [];
    const models: AgentPort = {
      estimate: () => ({ costMicros: 7, tokens: 3 }),
      async call(req) {
        seen.push(req.agent);
        return { output: 'model', usage: { input: 1, output: 1 }, costMicros: 7, model: req.agent };
      },
    };
    const agents = composeAgents(skills, models);
    expect(await out(callSkill(agents, `${B}stringify`, 5))).toBe('5');
    const reply = await agents.call(
      { runId: 'r', path: '0', attempt: 1, key: 'k', agent: 'openai:gpt-4o', input: 'hi' },
      new AbortController().signal,
    );
    expect(reply.output).toBe('model');
    expect(seen).toEqual(['openai:gpt-4o']);
    const req = { runId: 'r', path: '0', attempt: 1, key: 'k', input: null };
    expect(agents.estimate?.({ ...req, agent: `skill:${B}passthrough` })).toEqual({
      costMicros: 0,
      tokens: 0,
    });
    expect(agents.estimate?.({ ...req, agent: 'openai:gpt-4o' })).toEqual({
      costMicros: 7,
      tokens: 3,
    });
  });

  it('fails a call no port serves with a configuration error', async () => {
    const agents = composeAgents(skills);
    await expect(
      agents.call(
        { runId: 'r', path: '0', attempt: 1, key: 'k', agent: 'openai:gpt-4o', input: 'hi' },
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
  });
});
