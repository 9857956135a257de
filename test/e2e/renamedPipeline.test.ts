/**
 * A blueprint with no `name:` is named after its file, and the name is part of the plan's
 * fingerprint and of recorded decisions (the root sequence's StepScheduled). A run taken up from
 * its recorded pipeline names such a blueprint as the run recorded it (ADR 142), so a run whose
 * file was renamed resumes, replays and is taken up by `run --run-id` (before: PLAN_CHANGED, and
 * with --allow-changed-pipeline NONDETERMINISM at seq 3, `"name":"renamed"` against `"mv1"`).
 * A file whose own `name:` differs is a real change: still PLAN_CHANGED, saying which name to set.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

/** Pauses for a person, then a step reads the answer. No `name:`. */
const ASKS = `version: "0.1"
steps:
  - kind: hitl
    name: ask
    message: 'Approve {{ context.initial_prompt }}?'
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    sink_to: answer
  - name: after
    agent: { id: flujo.builtins.stringify }
    input: 'ok={{ context.answer.ok }}'
`;

let p: string;
const cli = (...args: string[]) => runCli(args, { cwd: p });
const answer = ['--input', '{"ok":true}'];

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-renamed-'));
  writeFileSync(join(p, 'flujo.toml'), '# renamed pipeline files\n');
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

/** A paused run of `file` (written from ASKS), whose file is then renamed to `to`. */
function pausedThenRenamed(file: string, runId: string, to: string): void {
  writeFileSync(join(p, file), ASKS);
  const r = cli('run', file, '--input', 'Ada', '--run-id', runId, '--json');
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ status: 'paused' });
  renameSync(join(p, file), join(p, to));
}

describe('a run whose nameless blueprint was renamed', () => {
  it('resumes with --pipeline naming the new file, under the name it recorded', () => {
    pausedThenRenamed('mv1.yaml', 'mv-1', 'renamed.yaml');
    const r = cli('resume', 'mv-1', ...answer, '--pipeline', 'renamed.yaml', '--json');
    // Before: [PLAN_CHANGED], exit 1.
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      run_id: 'mv-1',
      status: 'completed',
      output: 'ok=true',
    });
    const shown = JSON.parse(cli('lens', 'show', 'mv-1', '--json').stdout) as {
      run: { pipeline: string };
    };
    expect(shown.run.pipeline).toBe('mv1');
    // lens replay under the renamed file is identical (was: diverges at seq 3).
    const replay = cli('lens', 'replay', 'mv-1', '--pipeline', 'renamed.yaml', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ identical: true });
    expect(cli('lens', 'verify', 'mv-1').code).toBe(0);
  });

  it('resumes under --allow-changed-pipeline without a NONDETERMINISM at the name', () => {
    pausedThenRenamed('mv2.yaml', 'mv-2', 'renamed2.yaml');
    const r = cli(
      'resume',
      'mv-2',
      ...answer,
      '--pipeline',
      'renamed2.yaml',
      '--allow-changed-pipeline',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed' });
  });

  it('is taken up by run --run-id with the new file', () => {
    writeFileSync(
      join(p, 'one.yaml'),
      'version: "0.1"\nsteps:\n  - name: s\n    agent: { id: flujo.builtins.stringify }\n',
    );
    expect(cli('run', 'one.yaml', '--input', 'x', '--run-id', 'mv-3').code).toBe(0);
    renameSync(join(p, 'one.yaml'), join(p, 'two.yaml'));
    const r = cli('run', 'two.yaml', '--input', 'x', '--run-id', 'mv-3', '--json');
    // Before: PLAN_CHANGED naming one.yaml, gone.
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ run_id: 'mv-3', status: 'completed' });
    // A new run of the renamed file is named after it, as before.
    const fresh = cli('run', 'two.yaml', '--input', 'x', '--run-id', 'mv-4');
    expect(fresh.code, fresh.stderr).toBe(0);
    const shown = JSON.parse(cli('lens', 'show', 'mv-4', '--json').stdout) as {
      run: { pipeline: string };
    };
    expect(shown.run.pipeline).toBe('two');
  });

  it('a renamed file whose own name: differs is still a changed pipeline, told the name to set', () => {
    pausedThenRenamed('mv5.yaml', 'mv-5', 'named.yaml');
    writeFileSync(
      join(p, 'named.yaml'),
      readFileSync(join(p, 'named.yaml'), 'utf8').replace('steps:', 'name: other\nsteps:'),
    );
    const r = cli('resume', 'mv-5', ...answer, '--pipeline', 'named.yaml', '--json');
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(j.error.code).toBe('PLAN_CHANGED');
    expect(j.error.message).toContain(
      'the pipeline is named "other" where the run recorded "mv5": if that is all that changed, set name: "mv5" in the file',
    );
    const replay = cli('lens', 'replay', 'mv-5', '--pipeline', 'named.yaml');
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('diverges at seq 3');
    expect(replay.stderr).toContain('set name: "mv5" in the file');
    // Set as it says, the run is taken up.
    writeFileSync(
      join(p, 'named.yaml'),
      readFileSync(join(p, 'named.yaml'), 'utf8').replace('name: other', 'name: mv5'),
    );
    const ok = cli('resume', 'mv-5', ...answer, '--pipeline', 'named.yaml', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'completed' });
  });
});
