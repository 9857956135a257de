/**
 * `flujo lens show` of runs that ended with something unfinished or failed inside: a run
 * cancelled while it waited for a person shows the question withdrawn (not "answered by
 * unknown", not "waiting … answer with") and the paused step cancelled (ADR 46); a run that
 * completed around a failed step (an ignored branch) is not headed "run failed".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { definePipeline, parallel, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { runCli } from './cli.js';

const p = mkdtempSync(join(tmpdir(), 'flujo-lens-ended-'));
afterAll(() => rmSync(p, { recursive: true, force: true }));

it('shows the question of a cancelled run as withdrawn and its waiting step cancelled', async () => {
  expect(runCli(['init'], { cwd: p }).code).toBe(0);
  const run = runCli(['run', '--input', 'Ada', '--json'], { cwd: p });
  const id = (JSON.parse(run.stdout) as { run_id: string }).run_id;
  const state = await openState('sqlite:///.flujo/state.db', { projectRoot: p });
  try {
    await createEngine({ ledger: state.ledger }).cancel(id, 'not needed');
  } finally {
    await state.close();
  }
  const show = runCli(['lens', 'show', id], { cwd: p });
  expect(show.code).toBe(0);
  expect(show.stdout).toMatch(/⊘ approve \(1\) withdrawn unanswered: Publish this greeting\?/);
  expect(show.stdout).not.toContain('answer with');
  expect(show.stdout).not.toContain('answered by');
  const json = JSON.parse(runCli(['lens', 'show', id, '--json'], { cwd: p }).stdout) as {
    status: string;
    steps: { name: string; status: string }[];
    hitl: { status: string }[];
  };
  expect(json.status).toBe('cancelled');
  expect(json.steps.find((s) => s.name === 'approve')?.status).toBe('cancelled');
  expect(json.hitl.map((h) => h.status)).toEqual(['withdrawn']);
});

it('heads a completed run with an ignored failed branch by its failed step, not "run failed"', async () => {
  const plan = definePipeline(
    'ignoring',
    parallel(
      'both',
      {
        bad: step('bad', () => {
          throw Object.assign(new Error('no luck'), { code: 'BAD', retryable: false });
        }),
        good: step('good', () => 'fine'),
      },
      { onBranchFailure: 'ignore' },
    ),
  ).plan;
  const state = await openState('sqlite:///.flujo/state.db', { projectRoot: p });
  try {
    const r = await createEngine({ ledger: state.ledger }).run(plan, 1, { runId: 'ignored-1' });
    expect(r.status).toBe('completed');
  } finally {
    await state.close();
  }
  const show = runCli(['lens', 'show', 'ignored-1'], { cwd: p });
  expect(show.code).toBe(0);
  expect(show.stdout).not.toContain('run failed');
  expect(show.stdout.split('\n')[0]).toBe('✗ 1 step failed; the run is completed');
  expect(show.stdout).toMatch(/✗ step bad bad: BAD no luck/);
  expect(show.stdout).toMatch(/status {4}✓ completed/);
});
