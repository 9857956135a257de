/**
 * A blueprint named by a path outside the project (`flujo run ../other/x.yaml`) reads files only
 * inside its own folder, as one inside the project reads only inside the project. Before, it was
 * read with no boundary at all: its prompt files and imports could name any file on disk (a
 * prompt file's text goes to the model; an imported file's keys come back as findings). And
 * `validate` told inside from outside by a string prefix, so a blueprint in `/base/p2` was taken
 * for one inside the project `/base/p` and refused as outside it (V-I1), where `run` read it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const base = mkdtempSync(join(tmpdir(), 'flujo-outside-'));
const project = join(base, 'p');
const sibling = join(base, 'p2');
const secret = 'sk-very-secret-line-0123456789';

const blueprint = (importPath: string) => `version: "0.1"
name: outside
imports:
  child: ${importPath}
steps:
  - name: use
    uses: imports.child
`;
const CHILD = `version: "0.1"
name: child
steps:
  - name: carry
    agent: { id: flujo.builtins.stringify }
`;

beforeAll(() => {
  mkdirSync(project);
  mkdirSync(sibling);
  mkdirSync(join(base, 'secrets'));
  writeFileSync(join(project, 'flujo.toml'), '');
  // Not a blueprint: as an import, each of its lines would come back as an unknown key.
  writeFileSync(join(base, 'secrets', 'keys.yaml'), `${secret}: 1\n`);
  writeFileSync(join(sibling, 'child.yaml'), CHILD);
  writeFileSync(join(sibling, 'ok.yaml'), blueprint('./child.yaml'));
  writeFileSync(join(sibling, 'leak.yaml'), blueprint('../secrets/keys.yaml'));
  writeFileSync(join(project, 'm.mjs'), 'export const shout = (x) => `${x}!`;\n');
  writeFileSync(
    join(sibling, 'calls.yaml'),
    'version: "0.1"\nname: calls\nsteps:\n  - name: s\n    uses: ../p/m.mjs#shout\n',
  );
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('a blueprint outside the project', () => {
  it('reads inside its own folder: validate and run agree, also for a folder sharing the project name as a prefix', () => {
    for (const args of [
      ['validate', '../p2/ok.yaml'],
      ['--project', project, 'validate', '../p2/ok.yaml'],
    ]) {
      const v = runCli(args, { cwd: project });
      expect(v.code, v.stderr + v.stdout).toBe(0);
    }
    const r = runCli(['run', '../p2/ok.yaml', '--input', 'hi', '--json'], { cwd: project });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', output: 'hi' });
  });

  it('is refused a file outside its folder, naming the folder, and nothing of the file is shown', () => {
    // validate with no --project takes the blueprint's folder for its project (no flujo.toml
    // above it): the same boundary, said as the project root.
    const own = runCli(['validate', '../p2/leak.yaml'], { cwd: project });
    expect(own.code, own.stderr + own.stdout).toBe(3);
    expect(own.stdout).toContain(`is outside the project root ${sibling}`);
    expect(own.stderr + own.stdout).not.toContain(secret);
    for (const args of [
      ['--project', project, 'validate', '../p2/leak.yaml'],
      ['run', '../p2/leak.yaml', '--input', 'hi'],
    ]) {
      const r = runCli(args, { cwd: project });
      expect(r.code, r.stderr + r.stdout).toBe(3);
      const said = r.stderr + r.stdout;
      expect(said).toContain('V-I1');
      expect(said).toContain(
        `is outside ${sibling}, the folder of a blueprint that is outside the project root ${project}`,
      );
      expect(said).not.toContain(secret);
    }
  });

  it('a project module it calls is refused as outside its folder, and the suggested entry admits it', () => {
    writeFileSync(join(project, 'flujo.toml'), '');
    const r = runCli(['run', '../p2/calls.yaml', '--input', 'hi'], { cwd: project });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(
      `module '../p/m.mjs' is outside ${sibling}, the folder of a blueprint that is outside the project root ${project}`,
    );
    // A path entry (./m.mjs), not a bare name a module never matches (m.mjs, a package name).
    expect(r.stderr).toContain('blueprint_allowed_imports = ["./m.mjs"]');
    writeFileSync(join(project, 'flujo.toml'), 'blueprint_allowed_imports = ["./m.mjs"]\n');
    const ok = runCli(['run', '../p2/calls.yaml', '--input', 'hi', '--json'], { cwd: project });
    writeFileSync(join(project, 'flujo.toml'), '');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'completed', output: 'hi!' });
  });
});
