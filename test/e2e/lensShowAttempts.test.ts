/**
 * `flujo lens show` of a step that failed and was tried again, and of a step its fallback
 * rescued, from the built CLI: the earlier attempt is `↻ … (attempt 1; tried again)`, the rescued
 * step `✓` naming its fallback, and neither is a failure of the run (no `✗ N steps failed`
 * heading, not in `failures[]`); a step whose last attempt failed still is. A failed parallel,
 * which records no input of its own, is listed with no `input: null` line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-attempts-'));
mkdirSync(join(dir, 'mods'));
writeFileSync(
  join(dir, 'mods/m.mjs'),
  `let n = 0;
export async function flaky(x) { if (n++ === 0) throw new Error('flaky once'); return x; }
export async function boom() { throw Object.assign(new Error('boom'), { code: 'BOOM' }); }
export async function rescue() { return 'rescued'; }\n`,
);
writeFileSync(
  join(dir, 'rescued.yaml'),
  `version: '0.1'
name: rescued
steps:
  - name: flaky
    uses: ./mods/m.mjs#flaky
    config: { max_retries: 1 }
  - name: risky
    uses: ./mods/m.mjs#boom
    config: { max_retries: 1 }
    fallback:
      name: fb
      uses: ./mods/m.mjs#rescue
`,
);
writeFileSync(
  join(dir, 'fails.yaml'),
  `version: '0.1'
name: fails
steps:
  - kind: parallel
    name: fan
    branches:
      a:
        - name: breaks
          uses: ./mods/m.mjs#boom
          config: { max_retries: 1 }
      b:
        - name: fine
          uses: ./mods/m.mjs#rescue
`,
);

const cli = (args: string[]) => runCli(args, { cwd: dir, env: { NO_COLOR: '1' } });

interface StepJson {
  path: string;
  attempt: number;
  status: string;
  final_attempt: boolean;
  rescued_by?: string;
  error?: { code: string; message: string };
}
const ids = { rescued: '', fails: '' };

beforeAll(() => {
  const rescued = cli(['run', 'rescued.yaml', '-i', 'x', '--json']);
  expect(rescued.code, rescued.stderr).toBe(0);
  ids.rescued = JSON.parse(rescued.stdout).run_id;
  const fails = cli(['run', 'fails.yaml', '-i', 'x', '--json']);
  expect(fails.code, fails.stderr).toBe(1);
  ids.fails = JSON.parse(fails.stdout).run_id;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flujo lens show: attempts tried again and a fallback that took over', () => {
  it('does not call a completed run with a retried or rescued step failed', () => {
    const r = cli(['lens', 'show', ids.rescued]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/steps? failed/);
    expect(r.stdout).not.toMatch(/^ {2}✗ /m);
    const lines = r.stdout.split('\n');
    const rows = (path: string) =>
      lines.flatMap((l, i) =>
        l.startsWith(`  `) && l.slice(4).startsWith(`${path} `) ? [[l, lines[i + 2]]] : [],
      );
    const [flaky1, flaky2] = rows('0');
    expect(flaky1?.[0]).toMatch(/^ {2}↻ 0 +flaky /);
    expect(flaky1?.[1]).toBe('      err: STEP_ERROR flaky once (attempt 1; tried again)');
    expect(flaky2?.[0]).toMatch(/^ {2}✓ 0 +flaky /);
    expect(flaky2?.[1]).toBe('      out: x');
    const [risky1, risky2] = rows('1');
    expect(risky1?.[0]).toMatch(/^ {2}↻ 1 +risky /);
    expect(risky2?.[0]).toMatch(/^ {2}✓ 1 +risky /);
    expect(risky2?.[1]).toBe('      err: BOOM boom (its fallback 1/fallback took over)');
    expect(r.stdout).toMatch(/^output {4}rescued$/m);
  });

  it('says the same in --json: final_attempt on every step, rescued_by, no failures', () => {
    const r = cli(['lens', 'show', ids.rescued, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { failures: StepJson[]; steps: StepJson[] };
    expect(j.failures).toEqual([]);
    expect(
      j.steps.map((s) => [s.path, s.attempt, s.status, s.final_attempt, s.rescued_by ?? null]),
    ).toEqual([
      ['0', 1, 'failed', false, null],
      ['0', 2, 'completed', true, null],
      ['1', 1, 'failed', false, null],
      ['1', 2, 'completed', true, '1/fallback'],
      ['1/fallback', 1, 'completed', true, null],
    ]);
  });

  it('still names a step whose last attempt failed, and a failed parallel without input: null', () => {
    const r = cli(['lens', 'show', ids.fails]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^✗ run failed: /m);
    expect(r.stdout).toMatch(/^ {2}✗ step 0\/a breaks: BOOM boom\n {4}input: {2}x$/m);
    expect(r.stdout).toMatch(/^ {2}✗ step 0 fan: /m);
    expect(r.stdout).not.toContain('input:  null');
    const j = JSON.parse(cli(['lens', 'show', ids.fails, '--json']).stdout) as {
      failures: StepJson[];
    };
    expect(j.failures.map((f) => [f.path, f.attempt])).toEqual(
      expect.arrayContaining([
        ['0/a', 2],
        ['0', 1],
      ]),
    );
    expect(j.failures.some((f) => f.path === '0/a' && f.attempt === 1)).toBe(false);
  });
});
