/**
 * `flujo lens show` and `lens trace` of steps a run did not finish (ADR 78), from the built CLI:
 * a hitl step inside an import with `propagate_hitl: false` that did not ask is `⊘` with
 * `not asked: …` and no `✗ N steps failed` heading on its completed run; a step left unfinished
 * when a sibling branch failed its parallel is `⊘` (cancelled) with `err: STEP_ABANDONED`. The
 * same steps in `--json` and in `run --json`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
}\n`,
);
// The child asks in one branch of a parallel; the other branch is still running when it stops.
writeFileSync(
  join(dir, 'child.yaml'),
  `version: '0.1'
name: ask_in_parallel
steps:
  - kind: parallel
    name: fan
    branches:
      plain:
        - name: plain_step
          agent: { id: flujo.builtins.stringify }
          input: 'plain {{ previous_step }}'
      asks:
        - kind: hitl
          name: question
          message: 'Go on?'
`,
);
writeFileSync(
  join(dir, 'quiet.yaml'),
  `version: '0.1'
name: quiet
imports:
  child: ./child.yaml
steps:
  - name: quiet_child
    uses: imports.child
    config: { propagate_hitl: false }
  - name: after
    agent: { id: flujo.builtins.stringify }
    input: 'quiet gave {{ previous_step | tojson }}'
`,
);
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

const ids = { quiet: '', abandon: '' };
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
