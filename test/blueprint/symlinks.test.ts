/**
 * "Files are read only inside the project root" holds for symlinks too: a link in the project to
 * a file outside it (a prompt, an import, a module) is refused as the path itself would be, and
 * a link that stays inside the project still works.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';

const base = mkdtempSync(join(tmpdir(), 'flujo-links-'));
const root = join(base, 'project');
const outside = join(base, 'outside');
mkdirSync(join(root, 'prompts'), { recursive: true });
mkdirSync(outside);
afterAll(() => rmSync(base, { recursive: true, force: true }));

writeFileSync(join(outside, 'secret.md'), 'aws_secret_access_key = hunter2');
writeFileSync(
  join(outside, 'child.yaml'),
  'version: "0.1"\nname: child\nsteps:\n  - { name: c, agent: { id: flujo.builtins.stringify } }\n',
);
writeFileSync(join(outside, 'mod.mjs'), 'export const f = (x) => x;\n');
writeFileSync(join(root, 'prompts', 'real.md'), 'Be brief.');
symlinkSync(join(outside, 'secret.md'), join(root, 'prompts', 'evil.md'));
symlinkSync(join(root, 'prompts', 'real.md'), join(root, 'prompts', 'fine.md'));
symlinkSync(join(outside, 'child.yaml'), join(root, 'kid.yaml'));
symlinkSync(join(outside, 'mod.mjs'), join(root, 'mod.mjs'));

const load = (name: string, text: string) => {
  writeFileSync(join(root, name), text);
  return loadBlueprint(join(root, name), { root, files: nodeBlueprintFiles });
};
const agentWith = (prompt: string) => `version: "0.1"
name: t
agents:
  w:
    model: "test:w"
    system_prompt: { from_file: ${prompt} }
steps:
  - { name: a, uses: agents.w }
`;

describe('symlinks out of the project root', () => {
  it('refuses a prompt file that links outside (V-A6), and reads one that links inside', () => {
    const evil = load('evil.yaml', agentWith('prompts/evil.md'));
    expect(evil.plan).toBeUndefined();
    expect(evil.errors.map((f) => [f.rule_id, f.message])).toEqual([
      ['V-A6', `agent 'w': prompts/evil.md is outside the project root ${root}`],
    ]);
    const fine = load('fine.yaml', agentWith('prompts/fine.md'));
    expect(fine.errors).toEqual([]);
    expect(JSON.stringify(fine.plan?.ir)).toContain('Be brief.');
  });

  it('refuses an import and a module that link outside', () => {
    const imp = load(
      'imp.yaml',
      `version: "0.1"
name: t
imports: { kid: ./kid.yaml }
steps:
  - { kind: step, name: k, uses: imports.kid }
`,
    );
    expect(imp.plan).toBeUndefined();
    expect(imp.errors.map((f) => f.rule_id)).toContain('V-I1');
    expect(imp.errors.map((f) => f.message).join('\n')).toMatch(/outside the project root/);
    const mod = load(
      'mod.yaml',
      `version: "0.1"
name: t
steps:
  - { name: m, uses: ./mod.mjs#f }
`,
    );
    expect(mod.plan).toBeUndefined();
    expect(mod.errors.map((f) => [f.rule_id, f.message])).toEqual([
      ['V-A6', `m: module './mod.mjs' is outside the project root ${root}`],
    ]);
  });
});
