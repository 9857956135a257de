/**
 * Every declared import is loaded and checked, whether or not a step uses it: V-I1 (missing or
 * outside the project root), V-I3 (a cycle, a self-import too), V-I4 (the child's errors).
 */
import { describe, expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';

function loadFiles(files: Record<string, string>, main = '/p/main.yaml') {
  return loadBlueprint(main, {
    root: '/p',
    files: {
      read: (p) => {
        const text = files[p];
        if (text === undefined) throw new Error(`ENOENT: ${p}`);
        return text;
      },
      exists: (p) => p in files,
    },
  });
}

const at = (r: ReturnType<typeof loadFiles>) =>
  r.findings.map((f) => [f.rule_id, f.file, f.line, f.column]);

const main = (imports: string, uses = '') => `version: "0.1"
name: main
imports:
${imports}
steps:
  - name: a
    agent: { id: flujo.builtins.stringify }
${uses}`;

describe('an import no step uses', () => {
  it('that is missing is V-I1 at its path (exit 3)', () => {
    const r = loadFiles({ '/p/main.yaml': main('  gone: ./missing.yaml') });
    expect(at(r)).toEqual([['V-I1', '/p/main.yaml', 4, 9]]);
    expect(r.findings[0]?.message).toMatch(/missing\.yaml does not exist/);
    expect(r).toMatchObject({ isValid: false, exitCode: 3 });
  });

  it('of the file itself is V-I3 at its path (exit 3)', () => {
    const r = loadFiles({ '/p/main.yaml': main('  me: ./main.yaml') });
    expect(at(r)).toEqual([['V-I3', '/p/main.yaml', 4, 7]]);
    expect(r.findings[0]?.message).toBe('cyclic import: main.yaml -> main.yaml');
    expect(r).toMatchObject({ isValid: false, exitCode: 3 });
  });

  it('outside the project root is V-I1 (exit 3)', () => {
    const r = loadFiles({
      '/p/main.yaml': main('  out: ../elsewhere/kid.yaml'),
      '/elsewhere/kid.yaml': 'version: "0.1"\nname: kid\nsteps: [{ name: k }]\n',
    });
    expect(at(r)).toEqual([['V-I1', '/p/main.yaml', 4, 8]]);
    expect(r.findings[0]?.message).toMatch(/outside the project root/);
    expect(r.exitCode).toBe(3);
  });

  it('whose blueprint has errors is V-I4 at its path, the child error reported in the child', () => {
    const r = loadFiles({
      '/p/main.yaml': main('  kid: ./kid.yaml'),
      '/p/kid.yaml': 'version: "0.1"\nname: kid\nsteps:\n  - { name: k, kind: paralel }\n',
    });
    // Sorted by file, then place.
    expect(at(r)).toEqual([
      ['V-K2', '/p/kid.yaml', 4, 22],
      ['V-I4', '/p/main.yaml', 4, 8],
    ]);
    expect(r.findings[1]?.message).toMatch(/has 1 error; the first is V-K2 at kid\.yaml:4:22/);
    expect(r).toMatchObject({ isValid: false, exitCode: 4 });
  });

  it('that imports this file back is V-I3 in the child and V-I4 here', () => {
    const r = loadFiles({
      '/p/main.yaml': main('  kid: ./kid.yaml'),
      '/p/kid.yaml':
        'version: "0.1"\nname: kid\nimports: { back: ./main.yaml }\nsteps: [{ name: k, agent: { id: flujo.builtins.stringify } }]\n',
    });
    expect(at(r)).toEqual([
      ['V-I3', '/p/kid.yaml', 3, 18],
      ['V-I4', '/p/main.yaml', 4, 8],
    ]);
    expect(r.findings[0]?.message).toBe('cyclic import: main.yaml -> kid.yaml -> main.yaml');
    expect(r.exitCode).toBe(3);
  });

  it('that is valid leaves the blueprint valid', () => {
    const r = loadFiles({
      '/p/main.yaml': main('  kid: ./kid.yaml'),
      '/p/kid.yaml':
        'version: "0.1"\nname: kid\nsteps: [{ name: k, agent: { id: flujo.builtins.stringify } }]\n',
    });
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ isValid: true, exitCode: 0 });
  });
});

describe('an import a step uses', () => {
  it('is checked once: one V-I4 at the import, the child error once', () => {
    const r = loadFiles({
      '/p/main.yaml': main(
        '  kid: ./kid.yaml',
        '  - name: b\n    uses: imports.kid\n    input: "{{ previous_step }}"\n',
      ),
      '/p/kid.yaml': 'version: "0.1"\nname: kid\nsteps:\n  - { name: k, kind: paralel }\n',
    });
    // Sorted by file, then place.
    expect(at(r)).toEqual([
      ['V-K2', '/p/kid.yaml', 4, 22],
      ['V-I4', '/p/main.yaml', 4, 8],
    ]);
  });
});

describe('checking an import no step uses changes nothing a run sees', () => {
  const files = (declared: boolean): Record<string, string> => ({
    '/p/main.yaml': `version: "0.1"
name: main
imports: { mid: ./mid.yaml }
steps:
  - name: a
    uses: imports.mid
  - kind: map
    name: m
    map:
      iterable_input: items
      body: [{ name: b, agent: { id: flujo.builtins.stringify }, input: "{{ steps.a.output }}" }]
`,
    '/p/mid.yaml': `version: "0.1"
name: mid
${declared ? 'imports: { spare: ./spare.yaml }\n' : ''}steps: [{ name: k, agent: { id: flujo.builtins.stringify } }]
`,
    '/p/spare.yaml': `version: "0.1"
name: spare
steps:
  - kind: map
    name: inner
    map:
      iterable_input: items
      body:
        - { name: b, uses: ./mod.mjs#f }
        - { name: c, uses: ./mod.mjs#f, input: "{{ steps.b.output }}" }
`,
    '/p/mod.mjs': 'export const f = (x) => x;\n',
  });

  it('the same plan and modules as without the import (no hidden name shifted, no module to load)', () => {
    const without = loadFiles(files(false));
    const withSpare = loadFiles(files(true));
    expect(withSpare.findings).toEqual([]);
    expect(withSpare.plan).toEqual(without.plan);
    expect(withSpare.modules).toEqual([]);
  });
});
