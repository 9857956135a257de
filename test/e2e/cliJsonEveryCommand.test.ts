/**
 * `--json` on every command (built CLI). `visualize --json` and `init --json` were refused as an
 * unknown option with nothing on stdout: `visualize` prints `{pipeline, path, format, diagram}`,
 * `init` what it wrote. The two long-running commands (`worker`, `lens serve`) take no `--json`,
 * but under it their refusal is one JSON object too, as every other command's is.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

let p: string;
beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-json-every-'));
  writeFileSync(join(p, 'flujo.toml'), '');
  writeFileSync(
    join(p, 'sm.yaml'),
    `name: sm
steps:
  - kind: StateMachine
    name: machine
    start_state: work
    end_states: [done]
    states:
      work: [{ name: w, agent: { id: flujo.builtins.stringify } }]
      done: []
    transitions:
      - { from: work, on: success, to: done, when: "previous_step != ''" }
`,
  );
  writeFileSync(join(p, 'bad.yaml'), 'name: p\nsteps:\n  - kind: bogus\n');
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(args, { cwd: p });

/** The whole of stdout as one JSON value (JSON.parse throws on anything before or after it). */
function json(r: { code: number | null; stdout: string; stderr: string }, code: number) {
  expect(r.code, r.stderr).toBe(code);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('visualize --json', () => {
  it('prints {pipeline, path, format, diagram}, the diagram being what visualize prints', () => {
    for (const format of ['mermaid', 'text']) {
      const v = json(cli('visualize', 'sm.yaml', '--format', format, '--json'), 0);
      const drawn = cli('visualize', 'sm.yaml', '--format', format);
      expect(v).toEqual({
        pipeline: 'sm',
        path: join(p, 'sm.yaml'),
        format,
        diagram: drawn.stdout.replace(/\n$/, ''),
      });
    }
    const v = json(cli('visualize', 'sm.yaml', '--json'), 0);
    expect(v.format).toBe('mermaid');
    expect(v.diagram).toMatch(/^flowchart TD\n/);
  });

  it("an invalid blueprint: validate's JSON (exit 4); a missing file: the refusal (exit 2)", () => {
    expect(json(cli('visualize', 'bad.yaml', '--json'), 4)).toMatchObject({
      is_valid: false,
      errors: expect.arrayContaining([expect.objectContaining({ rule_id: 'V-K2' })]),
    });
    expect(json(cli('visualize', 'missing.yaml', '--json'), 2)).toMatchObject({
      error: { code: 'CONFIG_INVALID' },
    });
    expect(json(cli('visualize', 'sm.yaml', '--format', 'svg', '--json'), 2)).toMatchObject({
      error: {
        code: 'USAGE',
        message: expect.stringContaining('--format must be mermaid or text'),
      },
    });
  });
});

describe('init --json', () => {
  it('prints the project folder, each file it wrote and the next commands; files as without it', () => {
    const dir = join(p, 'proj');
    const r = cli('--project', dir, 'init', '--json');
    const v = json(r, 0);
    expect(v.project).toBe(dir);
    expect(v.written).toBe(true);
    const files = v.files as { path: string; action: string }[];
    expect(files.map((f) => f.path)).toEqual(
      expect.arrayContaining(['flujo.toml', 'pipeline.yaml', 'skills.yaml', '.gitignore']),
    );
    for (const f of files) {
      expect(f.action).toBe('created');
      expect(existsSync(join(dir, f.path)), f.path).toBe(true);
    }
    // With the --project given, so that they work pasted anywhere (ADR 144).
    expect(v.next).toEqual(expect.arrayContaining([`flujo --project '${dir}' run --input "Ada"`]));
    // What it did is said on stderr as without --json.
    expect(r.stderr).toContain('created flujo.toml');
  });

  it('a second init is refused as one object (exit 2); --force says it overwrote', () => {
    const dir = join(p, 'again');
    json(cli('--project', dir, 'init', '--json'), 0);
    writeFileSync(join(dir, 'pipeline.yaml'), 'mine\n');
    const refused = json(cli('--project', dir, 'init', '--json'), 2);
    expect(refused).toMatchObject({
      error: { code: 'CONFIG_INVALID', message: expect.stringContaining('--force') },
    });
    expect(readFileSync(join(dir, 'pipeline.yaml'), 'utf8')).toBe('mine\n');
    const forced = json(cli('--project', dir, 'init', '--force', '--json'), 0);
    expect(forced.files).toContainEqual({ path: 'pipeline.yaml', action: 'overwrote' });
  });
});

/** Every command `flujo --help` leads to that does work (a leaf), as its words. */
function leaves(path: string[] = []): string[][] {
  const r = cli(...path, '--help');
  const block = r.stdout.split('Commands:\n')[1];
  if (!block) return [path];
  const names = block
    .split('\n')
    .filter((l) => /^ {2}\S/.test(l))
    .map((l) => l.trim().split(' ')[0] as string)
    .filter((c) => c !== 'help');
  return names.flatMap((c) => leaves([...path, c]));
}

describe('every command and --json', () => {
  const all = leaves();

  it('the walk finds the commands', () => {
    expect(all.map((c) => c.join(' '))).toEqual(
      expect.arrayContaining([
        'init',
        'visualize',
        'worker',
        'lens serve',
        'fleet dead-letters log',
      ]),
    );
  });

  it('every command takes --json but the two that serve until stopped (worker, lens serve)', () => {
    const without = all.filter((c) => !cli(...c, '--help').stdout.includes('--json'));
    expect(without.map((c) => c.join(' '))).toEqual(['worker', 'lens serve']);
  });

  it('under --json, a bad flag is one USAGE object on stdout for every command (exit 2)', () => {
    for (const c of all) {
      const r = cli(...c, '--bogus', '--json');
      const v = json(r, 2);
      expect(v, c.join(' ')).toEqual({
        error: { code: 'USAGE', message: "unknown option '--bogus'" },
      });
      expect(r.stderr).toContain("error: [USAGE] unknown option '--bogus'");
    }
  });

  it('worker --json and lens serve --json: the refusal of --json is one object', () => {
    for (const c of [['worker'], ['lens', 'serve']])
      expect(json(cli(...c, '--json'), 2), c.join(' ')).toEqual({
        error: { code: 'USAGE', message: "unknown option '--json'" },
      });
    // Without --json, stdout stays empty.
    expect(cli('worker', '--bogus').stdout).toBe('');
  });
});
