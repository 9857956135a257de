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

describe('schemas/blueprint.schema.json', () => {
  for (const file of [...yamlFiles(FIXTURES), ...yamlFiles(join(HERE, 'examples'))]) {
    it(`accepts ${file.slice(HERE.length + 1)}`, () => {
      const ok = validate(parse(readFileSync(file, 'utf8')));
      expect(validate.errors ?? [], file).toEqual([]);
      expect(ok).toBe(true);
    });
  }

  it('rejects an unknown step key, as the loader does', () => {
    const doc = parse(readFileSync(join(HERE, 'rules/V-K1.yaml'), 'utf8'));
    expect(validate(doc)).toBe(false);
    expect(validate.errors?.some((e) => e.keyword === 'additionalProperties')).toBe(true);
  });
});
