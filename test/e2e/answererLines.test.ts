/**
 * Who answered or cancelled a run, and why, is printed inside its line: a newline in it cannot
 * forge a line of `lens show`, `lens trace` or `lens watch` (QA of abb6e62: `flujo resume --by
 * $'a\nFAKE LINE'` printed `FAKE LINE` as a line of its own). `--by` with a control character is
 * refused (USAGE, exit 2, nothing recorded); a run recorded with one (here through $USER, which
 * `resume` and `cancel` record when --by is absent) keeps it, and the text prints it escaped;
 * `--json` keeps the value as recorded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const FORGED = 'evil\nFAKE LINE\t✓ all good';
const SHOWN = 'evil\\u000aFAKE LINE\\u0009✓ all good';
let p: string;
let answered: string;
let cancelled: string;
const cli = (args: string[], user = 'ana') => runCli(args, { cwd: p, env: { USER: user } });
const start = () =>
  (JSON.parse(cli(['run', '--input', 'Ada', '--json']).stdout) as { run_id: string }).run_id;
/** No line of `text` starts with the forged words: each stays inside the line it belongs to. */
const noForgedLine = (text: string) => {
  expect(text).not.toMatch(/^\s*FAKE LINE/m);
  expect(text).not.toMatch(/^\s*FAKE REASON/m);
};

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-answerer-lines-'));
  expect(cli(['init']).code).toBe(0); // greet, then a HITL approval
  answered = start();
  const r = cli(['resume', answered, '--input', '{"approved":true}'], FORGED);
  expect(r.code, r.stderr).toBe(0);
  cancelled = start();
  const c = cli(['cancel', cancelled, '--reason', 'stop\nFAKE REASON'], FORGED);
  expect(c.code, c.stderr).toBe(0);
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

describe('resume --by', () => {
  it.each([
    ['a newline', 'a\nFAKE LINE'],
    ['a tab', 'a\tb'],
    ['ESC', 'a\u001b[2Jb'],
    ['a bidirectional override', 'a\u202eb'],
  ])('with %s is refused as USAGE, nothing recorded', (_, by) => {
    const run = start();
    const r = cli(['resume', run, '--input', '{"approved":true}', '--by', by]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: [USAGE] --by holds a control character');
    expect(r.stderr).toContain('give a name on one line');
    expect(r.stderr).toContain('nothing was recorded');
    const shown = JSON.parse(cli(['lens', 'show', run, '--json']).stdout) as { status: string };
    expect(shown.status).toBe('paused');
    const json = cli(['resume', run, '--input', '{"approved":true}', '--by', by, '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'USAGE' } });
  });

  it('takes a name with spaces and letters of any script', () => {
    const run = start();
    const r = cli(['resume', run, '--input', '{"approved":true}', '--by', 'Ana Ruiz · 安娜']);
    expect(r.code, r.stderr).toBe(0);
    expect(cli(['lens', 'show', run]).stdout).toContain('answered by Ana Ruiz · 安娜 at ');
  });
});

describe('a run recorded with a control character in who answered or cancelled', () => {
  it('lens show prints it escaped inside its line; --json keeps it', () => {
    const a = cli(['lens', 'show', answered]);
    expect(a.code).toBe(0);
    noForgedLine(a.stdout);
    expect(a.stdout).toContain(`answered by ${SHOWN} at `);
    const json = JSON.parse(cli(['lens', 'show', answered, '--json']).stdout) as {
      hitl: { answered_by: string }[];
    };
    expect(json.hitl[0]?.answered_by).toBe(FORGED);
    const c = cli(['lens', 'show', cancelled]);
    noForgedLine(c.stdout);
    expect(c.stdout).toContain(`⊘ Run cancelled by ${SHOWN} (flujo cancel) at `);
    expect(c.stdout).toContain('“stop\\u000aFAKE REASON”');
  });

  it('lens trace prints it escaped inside its line', () => {
    const a = cli(['lens', 'trace', answered]);
    expect(a.code).toBe(0);
    noForgedLine(a.stdout);
    expect(a.stdout).toContain(`▶ answered by ${SHOWN}: `);
    const c = cli(['lens', 'trace', cancelled]);
    noForgedLine(c.stdout);
    expect(c.stdout).toContain(`⊘ cancelled by ${SHOWN} (flujo cancel): stop\\u000aFAKE REASON`);
  });

  it('lens watch prints it escaped inside its line; --json keeps it', () => {
    const a = cli(['lens', 'watch', answered]);
    expect(a.code).toBe(0);
    noForgedLine(a.stdout);
    expect(a.stdout).toContain(` answered by ${SHOWN}: `);
    const c = cli(['lens', 'watch', cancelled]);
    noForgedLine(c.stdout);
    expect(c.stdout).toContain(`run cancelled by ${SHOWN} (flujo cancel): stop\\u000aFAKE REASON`);
    const lines = cli(['lens', 'watch', cancelled, '--json'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; by?: string; reason?: string });
    expect(lines.find((l) => l.event === 'RunCancelled')).toMatchObject({
      by: `${FORGED} (flujo cancel)`,
      reason: 'stop\nFAKE REASON',
    });
  });
});
