/**
 * `lens watch` and `lens report` from the built CLI leave out the steps the engine made, as
 * `lens show` does (ADR 88): a quiet import (six engine steps) and a loop with `init` operations
 * (its wrapper sequence of the loop's own name and the stash/set/append helpers). `--all` lists
 * them; `watch --json` and `report --format json` keep every step.
 */
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-engine-views-'));
for (const f of ['child.yaml', 'quiet.yaml'])
  copyFileSync(new URL(`../fixtures/blueprints/quiet/${f}`, import.meta.url), join(dir, f));
copyFileSync(
  join(import.meta.dirname, '../blueprint/fixtures/loop/state_ops_previous.yaml'),
  join(dir, 'loop.yaml'),
);
const cli = (...args: string[]) => runCli(args, { cwd: dir });
const countLine = (text: string) => text.trimEnd().split('\n').at(-1)?.trim();

let quietRun: ReturnType<typeof cli>;

beforeAll(() => {
  quietRun = cli('run', 'quiet.yaml', '--input', 'hi', '--run-id', 'quiet');
  expect(quietRun.code).toBe(0);
  expect(cli('run', 'loop.yaml', '--input', 'a', '--run-id', 'loop').code).toBe(0);
}, 60_000);

describe('flujo run progress', () => {
  it("names the user's steps and ends the question that did not ask ⊘, as lens show does", () => {
    expect(quietRun.stderr).toContain('step plain_step started');
    expect(quietRun.stderr).toMatch(/^⊘ question \d+ ms: question was not asked/m);
    expect(quietRun.stderr).not.toMatch(/✗ question/);
    expect(quietRun.stderr).not.toContain('__quiet_child');
  });
});

describe('lens watch', () => {
  it("prints the user's steps and the count lens show gives; --all prints every step", () => {
    const w = cli('lens', 'watch', 'quiet');
    expect(w.code).toBe(0);
    expect(w.stdout).not.toContain('__quiet_child');
    expect(w.stdout).not.toContain('quiet_child:child');
    expect(w.stdout).toMatch(/▶ 0 quiet_child \[sequence\]/);
    expect(w.stdout).toMatch(/▶ 0\/0\/child\/child@1\/2\/0\/asks question \[hitl\]/);
    expect(w.stdout).toMatch(/✓ 1 after/);
    const shown = cli('lens', 'show', 'quiet').stdout;
    expect(countLine(w.stdout)).toBe('(+6 engine steps; --all to show them)');
    expect(countLine(shown.split('\n\noutput')[0] as string)).toBe(countLine(w.stdout));
    const all = cli('lens', 'watch', 'quiet', '--all');
    expect(all.stdout).toContain('▶ 0/0 __quiet_child_import4 [parallel]');
    expect(all.stdout).toContain('quiet_child:child [sequence]');
    expect(all.stdout).not.toContain('engine steps');
  });

  it("leaves out a loop's wrapper of the loop's own name, keeping the loop", () => {
    const w = cli('lens', 'watch', 'loop');
    expect(w.stdout).not.toMatch(/▶ 0 rounds \[sequence\]/);
    expect(w.stdout).not.toMatch(/✓ 0 rounds /);
    expect(w.stdout).toMatch(/▶ 0\/3 rounds \[loop\]/);
    expect(w.stdout).not.toContain('__rounds');
    const hidden = /\(\+(\d+) engine steps/.exec(cli('lens', 'show', 'loop').stdout)?.[1];
    expect(countLine(w.stdout)).toBe(`(+${hidden} engine steps; --all to show them)`);
    expect(cli('lens', 'watch', 'loop', '--all').stdout).toMatch(/▶ 0 rounds \[sequence\]/);
  });

  it('prints a sequence it held in its place: before a line under it and before the run rests', () => {
    // A branch whose only step so far is `__…`-named: its sequence stays undecided (a wrapper or
    // the user's) until the question under it shows and the run pauses.
    writeFileSync(
      join(dir, 'held.yaml'),
      `version: '0.1'
name: held
steps:
  - kind: parallel
    name: fan
    branches:
      asks:
        - kind: hitl
          name: __ask
          message: 'Go on?'
        - name: after
          agent: { id: flujo.builtins.stringify }
`,
    );
    expect(cli('run', 'held.yaml', '--input', 'hi', '--run-id', 'held').code).toBe(0);
    const w = cli('lens', 'watch', 'held');
    expect(w.code).toBe(0);
    const at = (re: RegExp) => w.stdout.split('\n').findIndex((l) => re.test(l));
    const sequence = at(/▶ 0\/asks fan\.asks \[sequence\]/);
    expect(sequence).toBeGreaterThan(at(/▶ 0 fan \[parallel\]/));
    expect(sequence).toBeLessThan(at(/⏸ 0\/asks\/0 __ask asks: Go on\?/));
    expect(sequence).toBeLessThan(at(/run paused at/));
    expect(countLine(w.stdout)).toBe('(+1 engine step; --all to show them)');
  });

  it('--json keeps every step', () => {
    const lines = cli('lens', 'watch', 'quiet', '--json')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step?: string });
    expect(lines.map((l) => l.step)).toContain('__quiet_child_import4');
  });
});

describe('lens report', () => {
  it('md leaves out engine steps and counts them; --all and --format json keep them', () => {
    const md = cli('lens', 'report', 'quiet').stdout;
    expect(md).not.toMatch(/\\_\\_quiet|quiet\\_child:child/);
    expect(md).toContain('(+6 engine steps; --all to show them)');
    expect(cli('lens', 'report', 'quiet', '--all').stdout).toContain('\\_\\_quiet_child_import4');
    const json = JSON.parse(cli('lens', 'report', 'quiet', '--format', 'json').stdout) as {
      steps: { name: string; internal: boolean }[];
    };
    expect(json.steps.filter((s) => s.internal).map((s) => s.name)).toHaveLength(6);
    expect(json.steps.find((s) => s.name === 'after')?.internal).toBe(false);
  });
});
