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
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import type { Plan } from '../../src/dsl/ir.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createSkillAgents } from '../../src/skills/agents.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { runCli } from './cli.js';

let dir: string;
const cli = (...args: string[]) => runCli(args, { cwd: dir });
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-recorded-rules-'));
  writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Records a run of pipeline.yaml as a release before the rule did, paused at its question. */
async function recordedBefore(runId: string, input = 'x', status = 'paused'): Promise<void> {
  const file = join(dir, 'pipeline.yaml');
  const strict = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(strict.isValid).toBe(false);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir, recordedRun: true });
  expect(loaded.errors).toEqual([]);
  const plan = await withBlueprintCode(loaded);
  const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
  try {
    const recorded = await createEngine({
      ledger: state.ledger,
      agents: createSkillAgents(createSkillRegistry()),
    }).run(plan, input, {
      runId,
      source: 'pipeline.yaml',
    });
    expect(recorded.status).toBe(status);
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

    // run --run-id takes the recorded run up (ADR 107): paused, it wants an answer (was exit 4).
    const takenUp = cli('run', '--run-id', 'old-name', '--input', 'x', '--json');
    expect(takenUp.code, takenUp.stderr).toBe(1);
    expect(JSON.parse(takenUp.stdout)).toMatchObject({
      run_id: 'old-name',
      error: { code: 'RUN_NOT_RESUMABLE' },
    });
    expect(takenUp.stderr).toMatch(/warning .*V-K4.*approve\\u000a/);

    const resumed = replaysAndResumes('old-name', 'true');
    expect(resumed.stderr).toMatch(/warning .*V-K4.*approve\\u000a/);
  });

  it('run --run-id of a recorded run takes it up as resume loads it, whatever its input measures (ADR 107)', async () => {
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `version: "0.1"
name: taken
steps:
  - name: "echo\\u001b[2J"
    agent: { id: flujo.builtins.stringify }
`,
    );
    const big = 'y'.repeat(2000);
    await recordedBefore('old-done', big, 'completed');
    // A lower limit than the run was recorded under: it bounds new runs only.
    writeFileSync(join(dir, 'flujo.toml'), '[settings]\nmax_input_bytes = 1024\n');
    try {
      const takenUp = cli('run', '--run-id', 'old-done', '--input', big, '--json');
      expect(takenUp.code, takenUp.stderr).toBe(0);
      expect(JSON.parse(takenUp.stdout)).toMatchObject({
        run_id: 'old-done',
        status: 'completed',
        output: big,
      });
      expect(takenUp.stderr).toMatch(/warning .*V-K4.*echo\\u001b\[2J/);
      // A new run id is still refused the blueprint, and so is the input.
      const fresh = cli('run', '--run-id', 'new-done', '--input', big);
      expect(fresh.code, fresh.stderr).toBe(4);
      expect(fresh.stderr).toContain('V-K4');
      writeFileSync(
        join(dir, 'pipeline.yaml'),
        'version: "0.1"\nname: t\nsteps:\n  - { name: e, agent: { id: flujo.builtins.stringify } }\n',
      );
      const over = cli('run', '--run-id', 'new-done', '--input', big);
      expect(over.code, over.stderr).toBe(2);
      expect(over.stderr).toContain('over the limit of 1 KiB');
    } finally {
      writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
    }
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

  it('a pipeline module with such names: run refuses it (MODULE_LOAD), a recorded run is taken up and replayed with a warning (ADR 108)', async () => {
    const builder = pathToFileURL(join(process.cwd(), 'dist/dsl/builder.js')).href;
    writeFileSync(
      join(dir, 'names.mjs'),
      `import { definePipeline, parallel, step } from '${builder}';
export default definePipeline(
  'mod\\u001b[2J',
  parallel('fan', { 'a\\n': step('a', (x) => x + '!') }),
).plan;
`,
    );
    const { default: plan } = (await import(pathToFileURL(join(dir, 'names.mjs')).href)) as {
      default: Plan;
    };
    const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
    try {
      const done = await createEngine({ ledger: state.ledger }).run(plan, 'x', {
        runId: 'old-mod',
        source: 'names.mjs',
      });
      expect(done).toMatchObject({ status: 'completed', output: { 'a\n': 'x!' } });
    } finally {
      await state.close();
    }
    const run = cli('run', 'names.mjs', '--input', 'x');
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain('[MODULE_LOAD]');
    expect(run.stderr).toContain('pipeline name "mod\\u001b[2J" holds the control character');
    expect(run.stderr).toContain('fan: branch name "a\\u000a" holds the control character');

    const takenUp = cli('run', 'names.mjs', '--run-id', 'old-mod', '--input', 'x', '--json');
    expect(takenUp.code, takenUp.stderr).toBe(0);
    expect(JSON.parse(takenUp.stdout)).toMatchObject({ status: 'completed' });
    expect(takenUp.stderr).toMatch(/warning: names\.mjs: fan: branch name "a\\u000a".*ADR 108/);
    const replay = cli('lens', 'replay', 'old-mod', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ identical: true });
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
