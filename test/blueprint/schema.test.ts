/** The shipped JSON Schema (for yaml-language-server) agrees with the loader on the fixtures. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { FIXTURES, HERE } from './support.js';

const schema = JSON.parse(readFileSync(join(HERE, '../../schemas/blueprint.schema.json'), 'utf8'));
const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? yamlFiles(join(dir, e.name))
      : e.name.endsWith('.yaml')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Fixtures of a loader error the schema can tell too (`max_loops: many`, V-K4). */
const LOADER_REJECTS = ['fixtures/loop/max_loops_type.yaml'];

describe('schemas/blueprint.schema.json', () => {
  for (const file of [...yamlFiles(FIXTURES), ...yamlFiles(join(HERE, 'examples'))]) {
    if (LOADER_REJECTS.includes(file.slice(HERE.length + 1))) {
      it(`rejects ${file.slice(HERE.length + 1)}, as the loader does`, () => {
        expect(validate(parse(readFileSync(file, 'utf8')))).toBe(false);
      });
      continue;
    }
    it(`accepts ${file.slice(HERE.length + 1)}`, () => {
      const ok = validate(parse(readFileSync(file, 'utf8')));
      expect(validate.errors ?? [], file).toEqual([]);
      expect(ok).toBe(true);
    });
  }

  it.each([
    ['loop max_loops: 2.5', { kind: 'loop', name: 'l', loop: { body: [], max_loops: 2.5 } }],
    ['loop max_loops: 0', { kind: 'loop', name: 'l', loop: { body: [], max_loops: 0 } }],
    ['agentic_loop max_loops: "0"', { kind: 'agentic_loop', name: 'a', max_loops: '0' }],
    [
      'max_transitions: 0',
      { kind: 'StateMachine', name: 's', states: {}, transitions: [], max_transitions: 0 },
    ],
    [
      'max_transitions: 0.5',
      { kind: 'StateMachine', name: 's', states: {}, transitions: [], max_transitions: 0.5 },
    ],
    ['config.max_retries: 1.5', { name: 's', config: { max_retries: 1.5 } }],
    ['config.max_retries: -1', { name: 's', config: { max_retries: -1 } }],
    ['config.max_retries: "many"', { name: 's', config: { max_retries: 'many' } }],
    ['map iterable_input: 5', { kind: 'map', name: 'm', map: { body: [], iterable_input: 5 } }],
  ])('rejects %s, as the loader does', (_what, step) => {
    expect(validate({ version: '0.1', name: 'p', steps: [step] })).toBe(false);
    expect(validate({ version: '0.1', name: 'p', steps: [{ name: 'ok' }] })).toBe(true);
  });

  it('rejects an agent max_retries of 1.5, as the loader does', () => {
    const agents = (max_retries: unknown) => ({
      version: '0.1',
      name: 'p',
      agents: { w: { model: 'openai:gpt-4o', max_retries } },
      steps: [{ name: 's', uses: 'agents.w' }],
    });
    expect(validate(agents(1.5))).toBe(false);
    expect(validate(agents(2))).toBe(true);
    expect(validate(agents('2'))).toBe(true);
  });

  it('rejects an unknown step key, as the loader does', () => {
    const doc = parse(readFileSync(join(HERE, 'rules/V-K1.yaml'), 'utf8'));
    expect(validate(doc)).toBe(false);
    expect(validate.errors?.some((e) => e.keyword === 'additionalProperties')).toBe(true);
  });
});
