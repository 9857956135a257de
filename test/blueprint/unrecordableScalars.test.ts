/**
 * A blueprint value a run cannot record as written — `.nan`, `.inf`, a lone surrogate escape, an
 * integer beyond 2^53 - 1 — is a YAML-LOAD finding at its place. `validate` used to pass them and
 * `run` failed with LEDGER_ENCODE at `ir.root.steps[0].input.template` (no file, line or column),
 * or ran the integer rounded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';

const root = mkdtempSync(join(tmpdir(), 'flujo-scalars-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const withInput = (input: string) => {
  const file = join(root, 'p.yaml');
  writeFileSync(
    file,
    `version: "0.1"\nname: p\nsteps:\n  - kind: step\n    name: a\n    agent: { id: flujo.builtins.stringify }\n    input: ${input}\n`,
  );
  return loadBlueprint(file, { root, files: nodeBlueprintFiles });
};

describe('scalars a run cannot record as written', () => {
  it.each([
    ['.nan', /^\.nan \(NaN\) is not a number a run can record/],
    ['-.inf', /^-\.inf \(-Infinity\) is not a number a run can record/],
    ['1e400', /^1e400 \(Infinity\)/],
    ['{ n: [1, .Inf] }', /^\.Inf \(Infinity\)/],
    ['"\\ud800 x"', /lone UTF-16 surrogate/],
    ['"x \\udc00"', /lone UTF-16 surrogate/],
    [
      '123456789012345678901234567890',
      /^123456789012345678901234567890 is an integer beyond 2\^53 - 1, which would be run rounded to 1\.2345678901234568e\+29; quote it/,
    ],
    ['-9007199254740993', /^-9007199254740993 is an integer beyond/],
    ['0x20000000000001', /^0x20000000000001 is an integer beyond/],
  ])('refuses %s at its line and column', (input, message) => {
    const r = withInput(input);
    expect(r.plan).toBeUndefined();
    expect(r.exitCode).toBe(4);
    expect(r.errors).toHaveLength(1);
    const [f] = r.errors;
    expect(f).toMatchObject({ rule_id: 'YAML-LOAD', line: 7 });
    expect(f?.column).toBeGreaterThanOrEqual(12);
    expect(f?.message).toMatch(message);
  });

  it.each([
    ['9007199254740991', 9007199254740991],
    ['"123456789012345678901234567890"', '123456789012345678901234567890'],
    ['1e300', 1e300],
    ['12345678901234567890.5', Number('12345678901234567890.5')],
    ['"😀 \\ud83d\\ude00"', '😀 😀'],
    ['".nan"', '.nan'],
  ])('still takes %s', (input, value) => {
    const r = withInput(input);
    expect(r.errors).toEqual([]);
    expect(JSON.stringify(r.plan?.ir)).toContain(JSON.stringify(value));
  });
});
