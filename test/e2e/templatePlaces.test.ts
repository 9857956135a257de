/**
 * `flujo run` and `flujo resume` name a blueprint template that failed while the run rendered it
 * at its file:line:column (ADR 102). Before, only the place within the template's text was
 * said (`at line 2, column 29`), which is not where an editor opens. The recorded failure is
 * unchanged, so --json says what it said and the run replays identically.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const BLUEPRINT = `version: "0.1"
name: places
steps:
  - name: ask
    kind: hitl
    message: "Go on?"
    updates_context: true
  - name: shout
    input: |
      Hello
        {{ previous_step | join(1, 2) }}
    kind: hitl
    message: "Again?"
`;
const RECORDED =
  "PLAN_CODE_FAILED: pipeline code threw: shout.input: [EXPRESSION_ERROR] filter 'join' takes 0 to 1 argument(s) (2 given) (at line 2, column 20)";

let dir: string;
const cli = (...args: string[]) => runCli(args, { cwd: dir });
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-places-'));
  writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
  writeFileSync(join(dir, 'pipeline.yaml'), BLUEPRINT);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a template that fails while the run renders it', () => {
  it('resume names its file, line and column; --json and the replay are as recorded', () => {
    const run = cli('run', '--input', 'x', '--json');
    expect(run.code, run.stderr).toBe(0);
    const id = (JSON.parse(run.stdout) as { run_id: string }).run_id;
    const resumed = cli('resume', '--input', '"yes"', id);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain(RECORDED);
    // The '|' of the filter: line 11 of the file, 8 spaces in.
    expect(resumed.stderr).toContain(
      `  at pipeline.yaml:11:26, the template of step shout's input\n`,
    );
    // Resumed again, the ended run is reported as it is, with the place under --json.
    const again = cli('resume', id, '--json');
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({
      status: 'failed',
      error: { place: { file: 'pipeline.yaml', line: 11, column: 26, exact: true } },
    });
    const shown = JSON.parse(cli('lens', 'show', id, '--json').stdout) as {
      run: { error: { message: string } };
    };
    expect(`PLAN_CODE_FAILED: ${shown.run.error.message}`).toBe(RECORDED);
    const replay = cli('lens', 'replay', id, '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ identical: true });
  });

  it('run names it too; run --json keeps the recorded message and adds the place', () => {
    writeFileSync(
      join(dir, 'first.yaml'),
      BLUEPRINT.replace(/ {2}- name: ask[\s\S]*?(?= {2}- name: shout)/, ''),
    );
    const run = cli('run', 'first.yaml', '--input', 'x');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("  at first.yaml:7:26, the template of step shout's input\n");
    const json = cli('run', 'first.yaml', '--input', 'x', '--json');
    expect(json.code).toBe(1);
    const { error } = JSON.parse(json.stdout) as { error: { message: string } };
    // The message as recorded; the place beside it, in an added key (ADR 112).
    expect(`PLAN_CODE_FAILED: ${error.message}`).toBe(RECORDED);
    expect(error).toEqual({
      code: 'PLAN_CODE_FAILED',
      message: error.message,
      place: {
        file: 'first.yaml',
        line: 7,
        column: 26,
        step: 'shout',
        label: 'shout.input',
        what: 'template',
        exact: true,
      },
    });
    expect(json.stderr).not.toContain('first.yaml:7:26');
  });
});
