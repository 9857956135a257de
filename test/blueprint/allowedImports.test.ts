/**
 * flujo.toml's `blueprint_allowed_imports` as the blueprint loader reads it (ADR 152): a `uses:`
 * module or an agent `path:` outside the project loads when an entry (absolute, relative to the
 * project root, or a glob) allows its real path; the fix of a refused one names the key and the
 * line to write. A link cannot bring a module in, a wildcard does not match a hidden name, no
 * entry allows a `.flujo` folder, and imported blueprints and prompt files stay inside the root.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles } from '../../src/adapters/fs/blueprintFiles.js';
import {
  allowedBy,
  entryProblem,
  globRegExp,
  resolveEntries,
} from '../../src/blueprint/allowedImports.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'flujo-allow-')));
const root = join(base, 'project');
const shared = join(base, 'shared');
for (const d of [root, join(shared, 'sub'), join(shared, '.hid'), join(shared, '.flujo')])
  mkdirSync(d, { recursive: true });
afterAll(() => rmSync(base, { recursive: true, force: true }));
const mod = 'export const f = (x) => x;\n';
for (const f of ['x.mjs', 'sub/y.mjs', '.hid/z.mjs', '.flujo/w.mjs', 'other.mjs'])
  writeFileSync(join(shared, f), mod);
writeFileSync(
  join(shared, 'child.yaml'),
  'version: "0.1"\nname: child\nsteps:\n  - { name: c, agent: { id: flujo.builtins.stringify } }\n',
);
writeFileSync(join(shared, 'p.md'), 'Be brief.');
// A link in the project to the shared module, and one in the shared folder leading elsewhere.
symlinkSync(join(shared, 'x.mjs'), join(root, 'link.mjs'));
mkdirSync(join(base, 'elsewhere'));
writeFileSync(join(base, 'elsewhere', 'e.mjs'), mod);
symlinkSync(join(base, 'elsewhere', 'e.mjs'), join(shared, 'sneaky.mjs'));

const uses = (ref: string) => `version: "0.1"\nname: t\nsteps:\n  - { name: m, uses: "${ref}" }\n`;
const load = (text: string, allowedImports?: string[]) => {
  writeFileSync(join(root, 'p.yaml'), text);
  return loadBlueprint(join(root, 'p.yaml'), {
    root,
    files: nodeBlueprintFiles,
    ...(allowedImports ? { allowedImports } : {}),
  });
};
const errors = (r: ReturnType<typeof load>) =>
  r.errors.map((f) => [f.rule_id, f.message, f.suggestion]);

describe('blueprint_allowed_imports in the blueprint loader', () => {
  it('refuses a module outside the project with a fix naming the key and the line to add', () => {
    const r = load(uses('../shared/x.mjs#f'));
    expect(r.exitCode).toBe(3);
    expect(errors(r)).toEqual([
      [
        'V-A6',
        `m: module '../shared/x.mjs' is outside the project root ${root}`,
        'move the module into the project, or allow it: add the line blueprint_allowed_imports = ["../shared/x.mjs"] to flujo.toml, above its first [table]',
      ],
    ]);
    // With entries already there, the whole line as it must read.
    const more = load(uses('../shared/x.mjs#f'), ['../shared/sub']);
    expect(more.errors[0]?.suggestion).toBe(
      'move the module into the project, or allow it: in flujo.toml, make the line blueprint_allowed_imports = ["../shared/sub", "../shared/x.mjs"]',
    );
  });

  it('loads it when a path relative to the root, an absolute path or a glob allows it', () => {
    for (const entry of [
      '../shared/x.mjs',
      '../shared',
      shared,
      `${shared}/`,
      '../shared/*.mjs',
      '../shared/?.mjs',
      '../sh*/**',
      `${base}/**/x.mjs`,
    ]) {
      const r = load(uses('../shared/x.mjs#f'), [entry]);
      expect({ entry, errors: errors(r) }).toEqual({ entry, errors: [] });
      expect(r.modules.map((m) => [m.absPath, m.exportName])).toEqual([
        [join(shared, 'x.mjs'), 'f'],
      ]);
    }
    const agentPath = load(
      'version: "0.1"\nname: t\nsteps:\n  - { name: m, agent: { path: ../shared/sub/y.mjs, export: f } }\n',
      ['../shared/**'],
    );
    expect(errors(agentPath)).toEqual([]);
  });

  it('matches a glob segment by segment: * stays in one folder, ** spans folders', () => {
    expect(errors(load(uses('../shared/sub/y.mjs#f'), ['../shared/*.mjs']))).toHaveLength(1);
    expect(errors(load(uses('../shared/sub/y.mjs#f'), ['../shared/*/y.mjs']))).toEqual([]);
    expect(errors(load(uses('../shared/sub/y.mjs#f'), ['../shared/**/y.mjs']))).toEqual([]);
    expect(errors(load(uses('../shared/x.mjs#f'), ['../shared/**/x.mjs']))).toEqual([]);
    expect(errors(load(uses('../shared/x.mjs#f'), ['../shared/*.js']))).toHaveLength(1);
  });

  it('compares real paths: a link into an allowed place loads, a link out of one does not', () => {
    expect(errors(load(uses('./link.mjs#f')))).toEqual([
      [
        'V-A6',
        `m: module './link.mjs' is outside the project root ${root}`,
        `its real path is ${join(shared, 'x.mjs')}; move the module into the project, or allow it: add the line blueprint_allowed_imports = ["../shared/x.mjs"] to flujo.toml, above its first [table]`,
      ],
    ]);
    expect(errors(load(uses('./link.mjs#f'), ['../shared/*.mjs']))).toEqual([]);
    // sneaky.mjs sits in the allowed folder but is a link to ../elsewhere/e.mjs.
    const sneaky = load(uses('../shared/sneaky.mjs#f'), ['../shared', '../shared/*.mjs']);
    expect(sneaky.errors.map((f) => f.rule_id)).toEqual(['V-A6']);
    expect(sneaky.errors[0]?.suggestion).toContain('"../elsewhere/e.mjs"');
  });

  it('never lets a wildcard match a hidden name; naming it does', () => {
    for (const entry of ['../shared/**', '../shared/*/z.mjs', `${base}/**`])
      expect(errors(load(uses('../shared/.hid/z.mjs#f'), [entry]))).toHaveLength(1);
    expect(errors(load(uses('../shared/.hid/z.mjs#f'), ['../shared/.hid/*.mjs']))).toEqual([]);
    expect(errors(load(uses('../shared/.hid/z.mjs#f'), ['../shared']))).toEqual([]);
  });

  it('never allows a module inside a .flujo folder, whatever the entry', () => {
    for (const entry of ['../shared', '../shared/.flujo', '../shared/.flujo/w.mjs', '/**', '/']) {
      const r = load(uses('../shared/.flujo/w.mjs#f'), [entry]);
      expect(errors(r)).toEqual([
        [
          'V-A6',
          `m: module '../shared/.flujo/w.mjs' is outside the project root ${root}`,
          'move the module into the project: no blueprint_allowed_imports entry allows a file inside a .flujo folder (run state)',
        ],
      ]);
    }
  });

  it('widens only code modules: imported blueprints and prompt files stay inside the root', () => {
    const imp = load(
      'version: "0.1"\nname: t\nimports: { c: ../shared/child.yaml }\nsteps:\n  - { name: k, uses: imports.c }\n',
      ['../shared'],
    );
    expect(imp.errors.map((f) => f.rule_id)).toEqual(['V-I1']);
    const prompt = load(
      'version: "0.1"\nname: t\nagents:\n  w: { model: "openai:gpt-4o", system_prompt: { from_file: ../shared/p.md } }\nsteps:\n  - { name: a, uses: agents.w }\n',
      ['../shared'],
    );
    expect(prompt.errors.map((f) => f.message)).toEqual([
      `agent 'w': ../shared/p.md is outside the project root ${root}`,
    ]);
  });

  it('refuses a bad entry instead of letting it match nothing', () => {
    expect(() => load(uses('./x.mjs#f'), ['~/mods'])).toThrow(
      /blueprint_allowed_imports entry "~\/mods" starts with ~/,
    );
  });
});

describe('entries and globs', () => {
  it('says what is wrong with an entry', () => {
    expect(entryProblem('')).toMatch(/is empty/);
    expect(entryProblem(' ../x')).toMatch(/spaces/);
    expect(entryProblem('~/x')).toMatch(/not expanded/);
    expect(entryProblem('../{a,b}/*.mjs')).toMatch(/only \*, \*\* and \? are/);
    expect(entryProblem('../a**/x.mjs')).toMatch(/whole segments/);
    expect(entryProblem('../a/*/../x.mjs')).toMatch(/after a wildcard/);
    for (const ok of ['../x', '/abs/x.mjs', '../a/**/*.mjs', '/x/?.mjs', 'left-pad', '@s/p'])
      expect(entryProblem(ok)).toBeUndefined();
  });

  it('reads a glob as path segments', () => {
    const re = globRegExp('/a/**/b/*.mjs');
    expect(['/a/b/x.mjs', '/a/q/r/b/x.mjs'].every((p) => re.test(p))).toBe(true);
    expect(
      ['/a/b/c/x.mjs', '/a/.q/b/x.mjs', '/a/b/.x.mjs', '/ab/b/x.mjs'].some((p) => re.test(p)),
    ).toBe(false);
    expect(globRegExp('/a/x+(1).mjs').test('/a/x+(1).mjs')).toBe(true);
    expect(globRegExp('/a/x?.mjs').test('/a/x/.mjs')).toBe(false);
  });

  it('takes package names as they are and never for a path', () => {
    const entries = resolveEntries(['left-pad', '../x'], '/p');
    expect(entries.map((e) => e.kind)).toEqual(['package', 'path']);
    expect(allowedBy(entries, '/p/left-pad')).toBeUndefined();
    expect(allowedBy(entries, '/x/m.mjs')?.raw).toBe('../x');
    expect(allowedBy(entries, '/xy/m.mjs')).toBeUndefined();
  });
});
