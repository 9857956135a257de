/**
 * A rule added after runs could be recorded refuses new runs only (ADR 106): a step name with a
 * control character (V-K4, e5e52bc: `name: |` leaves a trailing newline) and an unquoted integer
 * beyond 2^53 − 1 (YAML-LOAD, ADR 96). A run recorded before either rule, paused, is resumed and
 * replayed from the same file with a warning: before, resume and lens replay refused the file
 * (exit 4), renaming the step gave PLAN_CHANGED, and --allow-changed-pipeline NONDETERMINISM at
 * the renamed step: the run could only be cancelled.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { createEngine } from '../../src/runtime/engine.js';
import { runCli } from './cli.js';

let dir: string;
const cli = (...args: string[]) => runCli(args, { cwd: dir });
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-recorded-rules-'));
  writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Records a run of pipeline.yaml as a release before the rule did, paused at its question. */
async function recordedBefore(runId: string): Promise<void> {
  const file = join(dir, 'pipeline.yaml');
  const strict = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(strict.isValid).toBe(false);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir, recordedRun: true });
  expect(loaded.errors).toEqual([]);
  const plan = await withBlueprintCode(loaded);
  const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
  try {
    const paused = await createEngine({ ledger: state.ledger }).run(plan, 'x', {
      runId,
      source: 'pipeline.yaml',
    });
    expect(paused.status).toBe('paused');
  } finally {
    await state.close();
  }
}

/** The run replays identically, then resumes with `answer` to completion and verifies. */
function replaysAndResumes(runId: string, answer: string) {
  const replay = cli('lens', 'replay', runId, '--json');
  expect(replay.code, replay.stderr).toBe(0);
  expect(JSON.parse(replay.stdout)).toMatchObject({ identical: true });
  const resumed = cli('resume', runId, '--input', answer, '--json');
  expect(resumed.code, resumed.stderr).toBe(0);
  expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'completed', output: answer });
  expect(JSON.parse(cli('lens', 'verify', runId, '--json').stdout).ok).toBe(true);
  return resumed;
}

describe('a blueprint a later rule refuses', () => {
  it('a step named with a trailing newline (name: |): new runs refused, the recorded run resumes and replays', async () => {
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `version: "0.1"
name: names
steps:
  - name: |
      approve
    kind: hitl
    message: "Go on?"
    input_schema: { type: boolean }
  - { name: after, agent: { id: flujo.builtins.stringify } }
`,
    );
    await recordedBefore('old-name');
    const run = cli('run', '--input', 'x');
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/V-K4.*step name "approve\\u000a"/);

    const resumed = replaysAndResumes('old-name', 'true');
    expect(resumed.stderr).toMatch(/warning .*V-K4.*approve\\u000a/);
  });

  it('an unquoted integer beyond 2^53 - 1: new runs refused, the recorded run resumes and replays', async () => {
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `version: "0.1"
name: big
steps:
  - name: amount
    kind: hitl
    message: "How many?"
    input_schema: { type: integer, maximum: 123456789012345678901234567890 }
  - { name: after, agent: { id: flujo.builtins.stringify } }
`,
    );
    await recordedBefore('old-big');
    const run = cli('run', '--input', 'x');
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain('is an integer beyond 2^53 - 1');

    const resumed = replaysAndResumes('old-big', '7');
    expect(resumed.stderr).toMatch(
      /warning YAML-LOAD: .*integer beyond 2\^53 - 1.*a new run is refused/,
    );
  });

  it('a changed pipeline is loaded with every rule: --allow-changed-pipeline cannot record what they refuse', () => {
    const clean = `version: "0.1"
name: changed
steps:
  - name: approve
    kind: hitl
    message: "Go on?"
    input_schema: { type: boolean }
`;
    writeFileSync(join(dir, 'pipeline.yaml'), clean);
    const run = cli('run', '--input', 'x', '--json');
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(run.stdout).run_id as string;
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `${clean}  - name: "after\\u001b[2J"
    agent: { id: flujo.builtins.stringify }
`,
    );
    const resumed = cli('resume', id, '--input', 'true', '--allow-changed-pipeline');
    expect(resumed.code, resumed.stderr).toBe(4);
    expect(resumed.stderr).toContain('V-K4');
    const shown = JSON.parse(cli('lens', 'show', id, '--json').stdout) as {
      run: { status: string };
    };
    expect(shown.run.status).toBe('paused');
  });
});
