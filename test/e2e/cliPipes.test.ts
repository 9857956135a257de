/**
 * A reader that closes early (`flujo lens show RUN --json | head -1`): the CLI drops the rest of
 * its output quietly and keeps its own exit code, with no stack trace; a closed stderr does not
 * stop a run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLI, runCli, type CliResult } from './cli.js';

let p: string;

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-pipes-'));
  // 600 steps: every read command prints far more than a pipe buffer holds (64 KiB).
  const steps = Array.from({ length: 600 }, (_, i) => ({
    kind: 'step',
    name: `s${i}`,
    agent: 'fn:s',
    retries: 0,
    backoffMs: 0,
  }));
  const ir = { version: 1, name: 'many', root: { kind: 'sequence', name: 'pipeline', steps } };
  writeFileSync(join(p, 'flujo.toml'), '# test\n');
  writeFileSync(
    join(p, 'many.mjs'),
    `export default { ir: ${JSON.stringify(ir)}, functions: { s: (x) => x } };\n`,
  );
  const r = runCli(['run', 'many.mjs', '--input', 'abc', '--run-id', 'many-1', '--json'], {
    cwd: p,
  });
  expect(r.code).toBe(0);
}, 60_000);
afterAll(() => rmSync(p, { recursive: true, force: true }));

/** Spawns the built CLI and closes its stdout (or stderr) after the first chunk (or at once). */
function closeEarly(args: string[], which: 'stdout' | 'stderr'): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FLUJO_STATE_URI;
  delete env.FLUJO_PROJECT_ROOT;
  delete env.FLUJO_INPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: p, env });
    let stdout = '';
    let stderr = '';
    if (which === 'stdout') {
      child.stdout.once('data', (s: Buffer) => {
        stdout = s.toString('utf8');
        child.stdout.destroy();
      });
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    } else {
      child.stderr.destroy();
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end();
  });
}

const quiet = (r: CliResult) => {
  expect(r.stderr).not.toMatch(/EPIPE|Unhandled 'error' event|\n\s+at /);
  expect(r.stderr).toBe('');
};

describe('a reader that closes early', () => {
  it.each([
    [['lens', 'show', 'many-1', '--json']],
    [['lens', 'report', 'many-1', '--format', 'json']],
    [['lens', 'report', 'many-1', '--format', 'md']],
    [['lens', 'show', 'many-1']],
  ])('ends %j quietly with exit 0', async (args) => {
    const r = await closeEarly(args, 'stdout');
    expect(r.stdout.length).toBeGreaterThan(0);
    quiet(r);
    expect(r.code).toBe(0);
  });

  it('keeps the command’s own exit code (1 for an unknown run)', async () => {
    const r = await closeEarly(['lens', 'show', 'no-such-run', '--json'], 'stderr');
    expect(r.code).toBe(1);
  });

  it('ends lens watch --json quietly with exit 0', async () => {
    const r = await closeEarly(['lens', 'watch', 'many-1', '--json'], 'stdout');
    quiet(r);
    expect(r.code).toBe(0);
  });

  it('finishes a run whose stderr (progress) is closed, printing its output on stdout', async () => {
    const r = await closeEarly(
      ['run', 'many.mjs', '--input', 'xyz', '--run-id', 'many-2'],
      'stderr',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('xyz\n');
  });
});
