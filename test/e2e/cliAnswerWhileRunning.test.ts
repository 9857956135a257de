/**
 * A question shown while other work of the run is still out (ADR 133), as a user meets it: one
 * shell runs the pipeline, another answers the question it printed. The answer is refused with
 * the command to use, nothing is sent twice, and the first `flujo run` ends as it should.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, spawnCli } from './cli.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-answer-running-'));
  writeFileSync(join(dir, 'flujo.toml'), '# test\n');
  // `slow` logs each call, then waits until the test opens the gate.
  writeFileSync(
    join(dir, 'm.mjs'),
    `import { appendFileSync, existsSync } from 'node:fs';
export async function slow(x) {
  appendFileSync(${JSON.stringify(join(dir, 'calls.log'))}, 'slow\\n');
  await new Promise((r) => { const t = setInterval(() => { if (existsSync(${JSON.stringify(join(dir, 'gate'))})) { clearInterval(t); r(); } }, 10); });
  return Number(x) + 1;
}
`,
  );
  writeFileSync(
    join(dir, 'ph.yaml'),
    `name: ph
steps:
  - kind: parallel
    name: fan
    branches:
      a: [{ name: slow1, uses: ./m.mjs#slow }]
      b: [{ kind: hitl, name: q, message: "q?", input_schema: { type: string } }]
  - { name: fin, agent: { id: flujo.builtins.stringify }, input: '{{ previous_step }}' }
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('answering a question while the run still has work out', () => {
  it('is refused with what to do; the call is made once and the first process rests the run', async () => {
    let asked!: () => void;
    const shown = new Promise<void>((r) => (asked = r));
    const first = spawnCli(['run', 'ph.yaml', '--run-id', 'ph', '--input', '1'], {
      cwd: dir,
      onStderr: (text) => {
        if (text.includes('waits for input')) asked();
      },
    });
    await shown;

    const early = runCli(['resume', 'ph', '--input', '"early"', '--json'], { cwd: dir });
    expect(early.code).toBe(1);
    expect(JSON.parse(early.stdout)).toMatchObject({
      run_id: 'ph',
      status: 'running',
      error: {
        code: 'RUN_NOT_RESUMABLE',
        message: expect.stringMatching(
          /still running: its work at step "slow1" \(a call in flight\).*the answer was not recorded.*flujo resume ph \(without --input; it runs until it pauses\), then answer/s,
        ),
      },
    });

    writeFileSync(join(dir, 'gate'), '');
    const rested = await first;
    expect(rested.code).toBe(0);
    expect(rested.stderr).toContain('paused at step "q"');
    const late = runCli(['resume', 'ph', '--input', '"late"', '--json'], { cwd: dir });
    expect(late.code).toBe(0);
    expect(JSON.parse(late.stdout)).toMatchObject({ status: 'completed' });
    expect(readFileSync(join(dir, 'calls.log'), 'utf8')).toBe('slow\n');
    expect(
      JSON.parse(runCli(['lens', 'verify', 'ph', '--json'], { cwd: dir }).stdout),
    ).toMatchObject({ ok: true });
  });
});
