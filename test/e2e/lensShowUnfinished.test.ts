/**
 * `flujo lens show` and `lens trace` of steps a run did not finish (ADR 78), from the built CLI:
 * a hitl step inside an import with `propagate_hitl: false` that did not ask is `⊘` with
 * `not asked: …` and no `✗ N steps failed` heading on its completed run; a step left unfinished
 * when a sibling branch failed its parallel is `⊘` (cancelled) with `err: STEP_ABANDONED`. The
 * same steps in `--json` and in `run --json`.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-unfinished-'));
mkdirSync(join(dir, 'mods'));
writeFileSync(
  join(dir, 'mods/m.mjs'),
  `export async function boom() {
  await new Promise((r) => setTimeout(r, 50));
  throw Object.assign(new Error('boom'), { code: 'BOOM' });
}
export async function order() {
  return { qty: 2, item: 'pen' };
}\n`,
);
for (const f of ['child.yaml', 'quiet.yaml'])
  copyFileSync(new URL(`../fixtures/blueprints/quiet/${f}`, import.meta.url), join(dir, f));
// A question asked while its sibling branch is failing the parallel: the run fails, the
// question is withdrawn and its step abandoned.
writeFileSync(
  join(dir, 'abandon.yaml'),
  `version: '0.1'
name: abandon
steps:
  - kind: parallel
    name: fan
    branches:
      asks:
        - kind: hitl
          name: approve
          message: 'Go on?'
      fails:
        - name: breaks
          uses: ./mods/m.mjs#boom
`,
);

// A question whose message renders to an object (indented JSON, ADR 77): one run pauses on it,
// in another the sibling branch fails so it is withdrawn.
writeFileSync(
  join(dir, 'ask_order.yaml'),
  `version: '0.1'
name: ask_order
steps:
  - name: order
    uses: ./mods/m.mjs#order
  - kind: hitl
    name: confirm
    message: '{{ previous_step }}'
`,
);
writeFileSync(
  join(dir, 'withdraw_order.yaml'),
  `version: '0.1'
name: withdraw_order
steps:
  - name: order
    uses: ./mods/m.mjs#order
  - kind: parallel
    name: fan
    branches:
      asks:
        - kind: hitl
          name: confirm
          message: '{{ previous_step }}'
      fails:
        - name: breaks
          uses: ./mods/m.mjs#boom
`,
);

const cli = (args: string[]) => runCli(args, { cwd: dir, env: { NO_COLOR: '1' } });

interface StepJson {
  name: string;
  status: string;
  error?: { code: string; message: string } | null;
}

/** The text lines of a step in `lens show`: its row and the line under it. */
function stepLines(text: string, name: string): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => new RegExp(`^ {2}\\S+ \\S+ +${name} `).test(l));
  expect(at, `no row for ${name} in:\n${text}`).toBeGreaterThanOrEqual(0);
  return [lines[at] as string, lines[at + 1] as string, lines[at + 2] as string];
}

const ids = { quiet: '', abandon: '', asks: '', withdrawn: '' };
const runs: Record<string, { status: string; steps: StepJson[] }> = {};

beforeAll(() => {
  const quiet = cli(['run', 'quiet.yaml', '-i', 'x', '--json']);
  expect(quiet.code, quiet.stderr).toBe(0);
  runs.quiet = JSON.parse(quiet.stdout);
  ids.quiet = JSON.parse(quiet.stdout).run_id;
  const abandon = cli(['run', 'abandon.yaml', '-i', 'x', '--json']);
  expect(abandon.code, abandon.stderr).toBe(1);
  runs.abandon = JSON.parse(abandon.stdout);
  ids.abandon = JSON.parse(abandon.stdout).run_id;
  const asks = cli(['run', 'ask_order.yaml', '-i', 'x', '--json']);
  expect(asks.code, asks.stderr).toBe(0);
  ids.asks = JSON.parse(asks.stdout).run_id;
  const withdrawn = cli(['run', 'withdraw_order.yaml', '-i', 'x', '--json']);
  expect(withdrawn.code, withdrawn.stderr).toBe(1);
  ids.withdrawn = JSON.parse(withdrawn.stdout).run_id;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flujo lens show: a completed run whose quiet import did not ask', () => {
  it('marks the hitl step ⊘ "not asked" with the reason, not ✗ and not as a failure of the run', () => {
    const r = cli(['lens', 'show', ids.quiet]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('\u001b['); // NO_COLOR: no escapes around the marks
    const [row, reason] = stepLines(r.stdout, 'question');
    expect(row).toMatch(/^ {2}⊘ \S+\/asks\S* +question +hitl /);
    expect(reason).toBe(
      '      not asked: question was not asked: its import has propagate_hitl: false, so the import stops here with {}',
    );
    // The run completed: no step is shown as a failure, at the top or in the list.
    expect(r.stdout).not.toMatch(/steps? failed/);
    expect(r.stdout).not.toMatch(/^ {2}✗ /m);
    expect(r.stdout).toMatch(/^status {4}✓ completed$/m);
    expect(r.stdout).toMatch(/^output {4}quiet gave \{\}$/m);
    // Its sibling branch was still running: abandoned, shown cancelled with the reason.
    const [plain, , err] = stepLines(r.stdout, 'plain_step');
    expect(plain).toMatch(/^ {2}⊘ \S+\/plain +plain_step +step /);
    expect(err).toMatch(/^ {6}err: STEP_ABANDONED left unfinished: step \S+ ended while it ran/);
  });

  it('--json keeps the statuses scripts know, with the codes', () => {
    const r = cli(['lens', 'show', ids.quiet, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { status: string; steps: StepJson[]; failures: StepJson[] };
    expect(j.status).toBe('completed');
    expect(j.steps.find((s) => s.name === 'question')).toMatchObject({
      status: 'failed',
      error: { code: 'HITL_NOT_PROPAGATED', message: expect.stringContaining('was not asked') },
    });
    expect(j.steps.find((s) => s.name === 'plain_step')).toMatchObject({
      status: 'cancelled',
      error: { code: 'STEP_ABANDONED' },
    });
    expect(j.steps.filter((s) => s.status === 'running')).toEqual([]);
    // run --json said the same when the run ended.
    expect(runs.quiet?.steps.find((s) => s.name === 'question')?.error?.code).toBe(
      'HITL_NOT_PROPAGATED',
    );
    expect(runs.quiet?.steps.find((s) => s.name === 'plain_step')).toMatchObject({
      status: 'cancelled',
      error: { code: 'STEP_ABANDONED' },
    });
  });
});

describe('flujo lens show: a failed run with an abandoned sibling', () => {
  it('shows the abandoned hitl step ⊘ with STEP_ABANDONED and its question withdrawn', () => {
    const r = cli(['lens', 'show', ids.abandon]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^✗ run failed: BOOM boom$/m);
    const [row, err] = stepLines(r.stdout, 'approve');
    expect(row).toMatch(/^ {2}⊘ 0\/asks +approve +hitl /);
    expect(err).toBe(
      '      err: STEP_ABANDONED left unfinished: step 0 ended while it ran (a sibling branch or item failed it)',
    );
    expect(r.stdout).toMatch(/^⊘ approve \(0\/asks\) withdrawn unanswered: Go on\?$/m);
    // Abandoned is not failed: it is not listed among the failures at the top.
    expect(r.stdout).not.toMatch(/✗ step 0\/asks/);
  });

  it('--json: the step is cancelled with STEP_ABANDONED, the question withdrawn', () => {
    const r = cli(['lens', 'show', ids.abandon, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      status: string;
      steps: StepJson[];
      failures: StepJson[];
      hitl: { step: string; status: string }[];
    };
    expect(j.status).toBe('failed');
    expect(j.steps.find((s) => s.name === 'approve')).toMatchObject({
      status: 'cancelled',
      error: { code: 'STEP_ABANDONED', message: expect.stringContaining('left unfinished') },
    });
    expect(j.failures.map((s) => s.name)).not.toContain('approve');
    expect(j.hitl).toEqual([expect.objectContaining({ step: 'approve', status: 'withdrawn' })]);
    expect(runs.abandon?.steps.find((s) => s.name === 'approve')).toMatchObject({
      status: 'cancelled',
      error: { code: 'STEP_ABANDONED' },
    });
  });
});

describe('flujo lens trace marks the same steps ⊘, its JSON keeps failed', () => {
  it('a completed quiet run: ⊘ not asked, ⊘ left unfinished, no ✗ anywhere', () => {
    const r = cli(['lens', 'trace', ids.quiet]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/⊘ question \[hitl\]/);
    expect(r.stdout).toMatch(
      /⊘ not asked: question was not asked: its import has propagate_hitl: false/,
    );
    expect(r.stdout).toMatch(/⊘ plain_step \[step\]/);
    expect(r.stdout).toMatch(/⊘ left unfinished: step \S+ ended while it ran/);
    expect(r.stdout).not.toContain('✗');
  });

  it('a failed run: the abandoned hitl step ⊘, the failing one ✗', () => {
    const r = cli(['lens', 'trace', ids.abandon]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^✗ run \S+ \(abandon\)/m);
    expect(r.stdout).toMatch(/⊘ approve \[hitl\]/);
    expect(r.stdout).toMatch(/⊘ left unfinished: step 0 ended while it ran/);
    expect(r.stdout).toMatch(/✗ breaks \[step\]/);
    const j = cli(['lens', 'trace', ids.abandon, '--json']);
    const spans: { name: string; status: string; attributes: Record<string, unknown> }[] = [];
    const walk = (s: (typeof spans)[number] & { children: never[] }) => {
      spans.push(s);
      s.children.forEach(walk);
    };
    walk(JSON.parse(j.stdout));
    expect(spans.find((s) => s.name === 'approve')).toMatchObject({
      status: 'failed',
      attributes: { 'flujo.abandoned': '0' },
    });
  });
});

describe("the text views list the steps the user wrote; --all and --json keep the engine's (ADR 88)", () => {
  const ENGINE = /__quiet_child_|quiet_child:child/;

  it('lens show: the quiet run lists its written steps and counts the engine steps', () => {
    const r = cli(['lens', 'show', ids.quiet]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(ENGINE);
    const rows = r.stdout.split('\n').filter((l) => /^ {2}[✓✗⊘…⏸] /.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/)[2])).toEqual([
      'quiet_child',
      'ask_in_parallel',
      'fan',
      'plain_step',
      'question',
      'after',
    ]);
    expect(r.stdout).toMatch(/^steps \(6\)$/m);
    expect(r.stdout).toMatch(/^ {2}\(\+6 engine steps; --all to show them\)$/m);
    // The reasons of the steps it does show are kept.
    expect(stepLines(r.stdout, 'question')[1]).toMatch(/^ {6}not asked: /);
  });

  it('lens show --all lists every step, with no count line', () => {
    const r = cli(['lens', 'show', ids.quiet, '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}✓ 0\/0 +__quiet_child_import\d+ +parallel /m);
    expect(r.stdout).toMatch(/^ {2}⊘ \S+ +quiet_child:child +sequence /m);
    expect(r.stdout).toMatch(/^steps \(12\)$/m);
    expect(r.stdout).not.toContain('engine step');
  });

  it('lens show --json keeps every step, each marked internal or not', () => {
    const j = JSON.parse(cli(['lens', 'show', ids.quiet, '--json']).stdout) as {
      steps: { name: string; internal: boolean }[];
    };
    expect(j.steps).toHaveLength(12);
    const marked = Object.fromEntries(j.steps.map((s) => [s.name, s.internal]));
    expect(marked).toMatchObject({
      quiet_child: false,
      'quiet_child:child': true,
      ask_in_parallel: false,
      fan: false,
      plain_step: false,
      question: false,
      after: false,
    });
    for (const s of j.steps)
      expect(s.internal, s.name).toBe(s.name.startsWith('__') || s.name === 'quiet_child:child');
  });

  it('lens trace: engine spans left out and counted, their children kept in place; --all and --json keep them', () => {
    const r = cli(['lens', 'trace', ids.quiet]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(ENGINE);
    expect(r.stdout).toMatch(/^├─ ✓ quiet_child \[sequence\]/m);
    expect(r.stdout).toMatch(/^│ {2}└─ ⊘ ask_in_parallel \[sequence\]/m);
    expect(r.stdout).toMatch(/^└─ ✓ after \[step\]/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('(+6 engine steps; --all to show them)');
    const all = cli(['lens', 'trace', ids.quiet, '--all']);
    expect(all.stdout).toMatch(/__quiet_child_until_hitl\d+ \[state_machine\] \S+ branch=stopped/);
    expect(all.stdout).not.toContain('engine step');
    const spans: { name: string; attributes: Record<string, unknown> }[] = [];
    const walk = (s: (typeof spans)[number] & { children: never[] }) => {
      spans.push(s);
      s.children.forEach(walk);
    };
    walk(JSON.parse(cli(['lens', 'trace', ids.quiet, '--json']).stdout));
    expect(spans).toHaveLength(13);
    expect(spans.filter((s) => s.attributes['flujo.step.internal'] === true)).toHaveLength(6);
    expect(spans.find((s) => s.name === 'question')?.attributes['flujo.step.internal']).toBe(false);
  });
});

describe('a multi-line hitl message is indented under its line, as flujo run prints it', () => {
  // The message's keys sorted (ADR 126; were the ledger's order: qty, item).
  const indented = ['    {', '      "item": "pen",', '      "qty": 2', '    }'].join('\n');

  it('lens show: the question waiting and the question withdrawn', () => {
    const asks = cli(['lens', 'show', ids.asks]);
    expect(asks.code, asks.stderr).toBe(0);
    expect(asks.stdout).toContain(
      `⏸ waiting at 1 confirm:\n${indented}\n  answer with: flujo resume`,
    );
    const gone = cli(['lens', 'show', ids.withdrawn]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toContain(`⊘ confirm (1/asks) withdrawn unanswered:\n${indented}`);
  });

  it('lens trace: the pause', () => {
    const r = cli(['lens', 'trace', ids.asks]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      [
        '└─ ⏸ confirm [hitl] —',
        '     ⏸ paused:',
        '         {',
        '           "item": "pen",',
        '           "qty": 2',
        '         }',
      ].join('\n'),
    );
  });
});
