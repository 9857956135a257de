/**
 * skills.yaml reads flujo.toml's `blueprint_allowed_imports` as the blueprint loader does (ADR
 * 152): an entry relative to the project root and a glob allow a module outside the project
 * (both were ignored: only absolute folders counted), on its real path; a refusal names the key
 * and the line to write, a Python-style path too.
 */
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadProjectSkills } from '../../src/skills/project.js';

let tmp = '';
let project = '';

beforeAll(async () => {
  tmp = await realpath(await mkdtemp(path.join(tmpdir(), 'flujo-skill-allow-')));
  project = path.join(tmp, 'project');
  await mkdir(project);
  await mkdir(path.join(tmp, 'shared', '.flujo'), { recursive: true });
  await mkdir(path.join(tmp, 'elsewhere'));
  const mod = 'export function run(x) { return `shared:${x}`; }\n';
  await writeFile(path.join(tmp, 'shared', 'm.mjs'), mod);
  await writeFile(path.join(tmp, 'shared', '.flujo', 'w.mjs'), mod);
  await writeFile(path.join(tmp, 'elsewhere', 'e.mjs'), mod);
  await symlink(path.join(tmp, 'elsewhere', 'e.mjs'), path.join(tmp, 'shared', 'sneaky.mjs'));
  await symlink(path.join(tmp, 'shared', 'm.mjs'), path.join(project, 'link.mjs'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

async function skillsFile(spec: string): Promise<string> {
  const file = path.join(project, 'skills.yaml');
  await writeFile(file, `acme.m:\n  path: ${spec}\n  description: M.\n`);
  return file;
}
const load = async (spec: string, allowedImports?: string[]) =>
  loadProjectSkills(await skillsFile(spec), {
    projectRoot: project,
    ...(allowedImports ? { allowedImports } : {}),
  });

describe('skills.yaml and blueprint_allowed_imports', () => {
  it('loads a module outside the project that a relative entry or a glob allows', async () => {
    for (const entry of ['../shared', '../shared/*.mjs', `${tmp}/shared/*.mjs`, '../**/m.mjs']) {
      const [s] = await load('../shared/m.mjs:run', [entry]);
      expect({ entry, id: s?.id }).toEqual({ entry, id: 'acme.m' });
    }
    // A link in the project to it, by its real path.
    const [l] = await load('./link.mjs:run', ['../shared/*.mjs']);
    expect(l?.id).toBe('acme.m');
  });

  it('refuses one that no entry allows, naming the key and the line to write', async () => {
    await expect(load('../shared/m.mjs:run')).rejects.toMatchObject({
      code: 'SKILLS_CONFIG_INVALID',
      message: expect.stringContaining(
        `skill 'acme.m': module ../shared/m.mjs is outside the project ${project}; move the module into the project, or allow it: add the line blueprint_allowed_imports = ["../shared/m.mjs"] to flujo.toml, above its first [table]`,
      ),
    });
    await expect(load('../shared/m.mjs:run', ['../shared/*.js'])).rejects.toMatchObject({
      message: expect.stringContaining(
        'in flujo.toml, make the line blueprint_allowed_imports = ["../shared/*.js", "../shared/m.mjs"]',
      ),
    });
    // In an allowed folder, but a link to a file elsewhere.
    await expect(load('../shared/sneaky.mjs:run', ['../shared'])).rejects.toMatchObject({
      message: expect.stringContaining('"../elsewhere/e.mjs"'),
    });
    await expect(load('../shared/.flujo/w.mjs:run', ['../shared'])).rejects.toMatchObject({
      message: expect.stringContaining(
        'no blueprint_allowed_imports entry allows a file inside a .flujo folder',
      ),
    });
  });

  it('says how to allow a package, and what a Python-style path would be in JS', async () => {
    await expect(load('mypkg.skills:Factory')).rejects.toMatchObject({
      code: 'SKILLS_CONFIG_INVALID',
      message: expect.stringContaining(
        `package 'mypkg.skills' is not allow-listed; to load it from the project's node_modules, add the line blueprint_allowed_imports = ["mypkg.skills"] to flujo.toml, above its first [table]; or use a ./relative module; if 'mypkg.skills:Factory' is a Python module path, name a JS/TS module instead: ./mypkg/skills.ts:Factory`,
      ),
    });
  });

  it('refuses a bad entry (CONFIG_INVALID) instead of letting it match nothing', async () => {
    await expect(load('../shared/m.mjs:run', ['../a/**/../m.mjs'])).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/has \. or \.\. after a wildcard/),
    });
  });
});
