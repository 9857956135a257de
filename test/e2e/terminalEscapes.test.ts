/**
 * What a run holds is printed, never obeyed: a run input (and so the steps' inputs and outputs)
 * carrying terminal control sequences reaches `flujo run`, `lens show`, `trace`, `watch` and
 * `report` as `\u` escapes. Before, the escape bytes went to the terminal raw: a model reply or a
 * submitted answer could retitle the window, clear it, or hide text from the person reading it.
 * `--json` keeps the exact value.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const DEMO = fileURLToPath(new URL('../../examples/demo', import.meta.url));
const HOSTILE = 'hi\x1b]0;pwned\x07\x1b[2J\x1b[8mhidden\rover';
// One-line previews print the carriage return as a space; the rest is escaped.
const SHOWN = 'hi\\u001b]0;pwned\\u0007\\u001b[2J\\u001b[8mhidden';
// Any control character but line feed and tab (ESC, BEL and CR among them).
// eslint-disable-next-line no-control-regex
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('terminal control sequences in what a run holds', () => {
  let dir: string;
  let runId: string;
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flujo-escapes-'));
    cpSync(DEMO, dir, { recursive: true });
    rmSync(join(dir, '.flujo'), { recursive: true, force: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('flujo run prints them escaped; --json keeps the exact value', () => {
    const run = cli('run', '--input', HOSTILE);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('\\u001b]0;'); // the demo shouts a long input: HI…PWNED
    expect(run.stdout + run.stderr).not.toMatch(RAW);
    const json = cli('run', '--input', HOSTILE, '--json');
    const result = JSON.parse(json.stdout) as { run_id: string; output: string };
    expect(result.output).toContain(HOSTILE.toUpperCase());
    runId = result.run_id;
  });

  it("a colour marker in the text is not the CLI's colour: no ESC with colour off", () => {
    const run = cli('run', '--input', 'marked \ue000\ue031 text', '--json');
    const id = (JSON.parse(run.stdout) as { run_id: string }).run_id;
    const show = cli('lens', 'show', id);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('marked \ue000\ue031 text');
    expect(show.stdout).not.toMatch(RAW); // before: ESC[0m ESC[31m in place of the markers
  });

  it('lens show, trace, watch and report print them escaped', () => {
    for (const args of [
      ['lens', 'show', runId],
      ['lens', 'trace', runId],
      ['lens', 'watch', runId],
      ['lens', 'report', runId],
      ['lens', 'list'],
    ]) {
      const r = cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(RAW);
      if (args[1] !== 'list') expect(r.stdout, args.join(' ')).toContain(SHOWN);
    }
    // A report to a pipe is the bytes -o writes: JSON that parses, the value exact.
    const file = join(dir, 'report.json');
    expect(cli('lens', 'report', runId, '--format', 'json', '-o', file).code).toBe(0);
    const piped = cli('lens', 'report', runId, '--format', 'json');
    expect(piped.stdout).toBe(readFileSync(file, 'utf8'));
    expect(JSON.stringify(JSON.parse(piped.stdout))).toContain('pwned');
    const json = JSON.parse(cli('lens', 'show', runId, '--json').stdout) as {
      run: { input: string };
    };
    expect(json.run.input).toBe(HOSTILE);
  });
});
