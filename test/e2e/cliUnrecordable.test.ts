/**
 * A run whose decisions the ledger cannot record, from the built CLI (ADR 115): a pipeline
 * module's step returns a value 250 levels deep, passed on unchanged into five nested parallels.
 * `flujo run --json` prints the failed run (exit 1) with DECISION_NOT_RECORDABLE; before, the run
 * failed with LEDGER_ENCODE and was left running. `lens show`, `lens replay` and `lens verify`
 * read it as it ended, and `resume` reports it ended.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-unrecordable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => runCli(args, { cwd: dir });

describe('flujo run of decisions the ledger cannot record (built CLI)', () => {
  it('ends the run failed with DECISION_NOT_RECORDABLE; lens and resume read it as ended', () => {
    const builder = pathToFileURL(join(process.cwd(), 'dist/dsl/builder.js')).href;
    writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
    writeFileSync(
      join(dir, 'deep.mjs'),
      `import { definePipeline, parallel, sequence, step } from '${builder}';
const nested = (d) => (d === 0 ? 1 : { a: nested(d - 1) });
const wrap = (n) => (n === 0 ? sequence() : parallel('p' + n, { b: wrap(n - 1) }));
export default definePipeline('deep', sequence(step('make', () => nested(250)), wrap(5))).plan;
`,
    );
    const run = cli('run', 'deep.mjs', '--run-id', 'deep-1', '--input', 'x', '--json');
    expect(run.code, run.stderr).toBe(1);
    const out = JSON.parse(run.stdout) as {
      status: string;
      error: { code: string; message: string };
      steps: { name: string; status: string }[];
    };
    expect(out).toMatchObject({ run_id: 'deep-1', status: 'failed' });
    expect(out.error.code).toBe('DECISION_NOT_RECORDABLE');
    expect(out.error.message).toMatch(
      /^the run's next StepCompleted \(step "p5" at 1\) cannot be recorded: data\.output\.b\.b\.b\.b\.b\.a\.a/,
    );
    expect(out.error.message).toContain('nested deeper than 256 levels');
    expect(out.steps).toContainEqual(expect.objectContaining({ name: 'make', status: 'failed' }));

    const show = cli('lens', 'show', 'deep-1', '--json');
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      status: 'failed',
      run: { error: { code: 'DECISION_NOT_RECORDABLE' } },
    });
    const replay = cli('lens', 'replay', 'deep-1', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ identical: true });
    const verify = cli('lens', 'verify', 'deep-1', '--json');
    expect(verify.code, verify.stderr).toBe(0);

    const resume = cli('resume', 'deep-1', '--pipeline', 'deep.mjs', '--json');
    expect(resume.code).toBe(1);
    expect(JSON.parse(resume.stdout)).toMatchObject({ status: 'failed' });
  });
});
