/**
 * docs/cli.md (and docs/lens.md for `flujo lens …`) say what the built CLI does: every command the
 * binary knows has a section, every flag its `--help` lists is named in that section, and every
 * default its `--help` prints is stated there too. A flag or command added without its docs fails
 * here, naming it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const root = join(import.meta.dirname, '../..');
const cliMd = readFileSync(join(root, 'docs/cli.md'), 'utf8');
const lensMd = readFileSync(join(root, 'docs/lens.md'), 'utf8');

/** The text of every `## ` / `### ` section, by heading. */
function sections(md: string): { heading: string; body: string }[] {
  const parts = md.split(/^(?=#{2,3} )/m);
  return parts.map((p) => ({ heading: p.split('\n')[0] ?? '', body: p }));
}

interface Help {
  options: { flags: string[]; defaults: string[] }[];
  commands: string[];
}

const helps = new Map<string, Help>();

function help(path: string[]): Help {
  const key = path.join(' ');
  const known = helps.get(key);
  if (known) return known;
  const r = runCli([...path, '--help'], { cwd: root });
  expect(r.code, r.stderr).toBe(0);
  // Commander wraps descriptions; an entry starts at two spaces and a dash or a name.
  const block = (title: string) => {
    const at = r.stdout.indexOf(`${title}:\n`);
    if (at < 0) return [];
    const rest = r.stdout.slice(at + title.length + 2).split(/\n(?=\S)/)[0] ?? '';
    return rest.split(/\n(?= {2}\S)/).map((e) => e.replace(/\s+/g, ' ').trim());
  };
  const options = block('Options')
    .filter((e) => !e.startsWith('-h, --help'))
    .map((e) => ({
      flags: (e.match(/^(-\w, )?--[\w-]+/)?.[0] ?? e).split(', '),
      // Commander's `(default: "50")`, and a number a description gives as its default.
      defaults: [...e.matchAll(/\(default: "([^"]*)"\)|\(default (\d+)[;)]/g)].map(
        (m) => (m[1] ?? m[2]) as string,
      ),
    }));
  const commands = block('Commands')
    .map((e) => e.split(' ')[0] as string)
    .filter((c) => c !== 'help');
  const h = { options, commands };
  helps.set(key, h);
  return h;
}

/** Every command path the binary knows, depth first. */
function commandPaths(path: string[] = []): string[][] {
  const found: string[][] = [path];
  for (const c of help(path).commands) found.push(...commandPaths([...path, c]));
  return found;
}

/** The section documenting a command: its own heading, else its parent command's. */
function sectionOf(path: string[]): { file: string; body: string } | undefined {
  if (path.length === 0) {
    const s = sections(cliMd).find((x) => x.heading === '## Global options');
    return s && { file: 'docs/cli.md', body: s.body };
  }
  for (let n = path.length; n > 0; n--) {
    const name = `flujo ${path.slice(0, n).join(' ')}`;
    const match = (h: string) =>
      new RegExp(`\`${name}(\`| )`).test(h) || h.includes(`, \`${path.slice(0, n).join(' ')}`);
    const docs =
      path[0] === 'lens' && n > 1
        ? [['docs/lens.md', lensMd] as const]
        : [['docs/cli.md', cliMd] as const];
    for (const [file, md] of docs) {
      const s = sections(md).find((x) => match(x.heading));
      if (s) return { file, body: s.body };
    }
  }
  return undefined;
}

const paths = commandPaths();

describe('docs/cli.md and docs/lens.md against the built CLI', () => {
  it('finds the commands (the walk itself works)', () => {
    const names = paths.map((p) => p.join(' '));
    expect(names).toEqual(expect.arrayContaining(['run', 'lens show', 'fleet dead-letters retry']));
  });

  it.each(paths.map((p) => [p.join(' ') || '(global)', p] as const))(
    '%s: a section names each flag and default of --help',
    (_name, path) => {
      const section = sectionOf(path);
      expect(section, `no section for flujo ${path.join(' ')}`).toBeDefined();
      const { file, body } = section!;
      for (const o of help(path).options) {
        for (const flag of o.flags)
          expect(
            body.includes(flag),
            `${file}: flujo ${path.join(' ')} ${flag} is not documented`,
          ).toBe(true);
        for (const d of o.defaults)
          expect(
            body.includes(d),
            `${file}: flujo ${path.join(' ')} ${o.flags.join(', ')} default ${d} is not stated`,
          ).toBe(true);
      }
    },
  );

  it.each([
    [['bogus'], "unknown command 'bogus'", 'flujo --help'],
    [['run', '--bogus'], "unknown option '--bogus'", 'flujo run --help'],
    [['lens', 'show'], "missing required argument 'run'", 'flujo lens show --help'],
    [
      ['fleet', 'dead-letters', 'show'],
      "missing required argument 'seq'",
      'flujo fleet dead-letters show --help',
    ],
  ])(
    "flujo %j: the parser's refusal is error: [USAGE] and exit 2, as docs/cli.md says, and names its help",
    (args, what, help) => {
      const r = runCli(args, { cwd: root });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`error: [USAGE] ${what}\n(see: ${help})\n`);
    },
  );
});
