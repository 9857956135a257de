/**
 * Under --json a refusal is one JSON object on stdout (CONTRACTS), also one made before the
 * command's work starts: a bad flag, a bad --context, a missing or invalid pipeline file, an
 * unknown run. Each keeps its exit code and its `error: [CODE]` line on stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, spawnCli } from './cli.js';

let p: string;

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-jsonrefusals-'));
  writeFileSync(join(p, 'flujo.toml'), '');
  writeFileSync(join(p, 'bad.yaml'), 'name: p\nsteps:\n  - kind: bogus\n');
  // A module that prints at import, as a pipeline with a stray console.log does.
  writeFileSync(join(p, 'noisy.mjs'), "console.log('loading my pipeline');\nexport default 42;\n");
  const steps = Array.from({ length: 2000 }, (_, i) => `  - kind: bogus\n    name: s${i}\n`);
  writeFileSync(join(p, 'many.yaml'), `name: p\nsteps:\n${steps.join('')}`);
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

/** The whole of stdout is one JSON object (JSON.parse throws on anything before or after it). */
function refusal(args: string[], code: number, errorCode: string) {
  const r = runCli(args, { cwd: p });
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toContain(`error: [${errorCode}]`);
  const value = JSON.parse(r.stdout) as {
    run_id?: string;
    error: { code: string; message: string; errors?: unknown[] };
  };
  expect(value.error.code).toBe(errorCode);
  expect(value.error.message).not.toMatch(/^\[/);
  return value;
}

describe('--json refusals print one object', () => {
  it('run: an invalid blueprint (exit 4) with its findings', () => {
    const v = refusal(['run', 'bad.yaml', '--json'], 4, 'BLUEPRINT_INVALID');
    expect(v.error.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ rule_id: 'V-K2', line: 3 })]),
    );
    // The findings as `flujo validate --json` lists them: the file as given, not made absolute.
    const validated = JSON.parse(runCli(['validate', 'bad.yaml', '--json'], { cwd: p }).stdout) as {
      errors: unknown[];
    };
    expect(v.error.errors).toEqual(validated.errors);
    expect(v.error.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ file: 'bad.yaml' })]),
    );
    expect(v).not.toHaveProperty('run_id');
  });

  it('run: a bad --context, a missing pipeline file, a bad flag (exit 2)', () => {
    refusal(['run', 'bad.yaml', '--json', '--context', '{x'], 2, 'CONFIG_INVALID');
    expect(refusal(['run', 'missing.yaml', '--json'], 2, 'CONFIG_INVALID').error.message).toContain(
      'missing.yaml',
    );
    expect(refusal(['run', '--json', '--bogus'], 2, 'USAGE').error.message).toBe(
      "unknown option '--bogus'",
    );
    // --run-id given: named as given.
    const v = refusal(['run', '--json', '--budget-usd', 'x', '--run-id', 'r1'], 2, 'USAGE');
    expect(v.run_id).toBe('r1');
    // A flag missing its value before --json is read.
    refusal(['run', '--json', '--budget-usd'], 2, 'USAGE');
  });

  it('resume and cancel: a bad flag or a missing RUN (exit 2)', () => {
    const v = refusal(['resume', '--json', '--bogus', 'x'], 2, 'USAGE');
    expect(v).not.toHaveProperty('run_id');
    refusal(['cancel', '--json'], 2, 'USAGE');
  });

  it('validate: a missing file, --json with --format (exit 2)', () => {
    // A pipeline file that does not exist is CONFIG_INVALID (docs/cli.md's table), as from run.
    refusal(['validate', 'missing.yaml', '--json'], 2, 'CONFIG_INVALID');
    refusal(['validate', 'bad.yaml', '--json', '--format', 'text'], 2, 'USAGE');
  });

  it('lens: an unknown run (exit 1, run_id as given), a bad flag (exit 2)', () => {
    for (const cmd of ['show', 'trace', 'replay'])
      expect(refusal(['lens', cmd, 'nope', '--json'], 1, 'LEDGER_UNKNOWN_RUN').run_id).toBe('nope');
    refusal(['lens', 'report', 'nope', '--format', 'json'], 1, 'LEDGER_UNKNOWN_RUN');
    refusal(['lens', 'list', '--json', '--limit', 'x'], 2, 'USAGE');
    refusal(['lens', 'costs', '--json', '--by', 'x'], 2, 'USAGE');
  });

  it('lens watch --json: the refusal is one line, as its objects are', () => {
    const r = runCli(['lens', 'watch', 'nope', '--json'], { cwd: p });
    expect(r.code).not.toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ run_id: 'nope', error: {} });
  });

  it('an unknown command or a flag no group takes, under --json (exit 2)', () => {
    expect(refusal(['lens', 'frob', '--json'], 2, 'USAGE').error.message).toBe(
      "unknown command 'frob'",
    );
    expect(refusal(['lens', 'shwo', '--json'], 2, 'USAGE').error.message).toBe(
      "unknown command 'shwo' (Did you mean show?)",
    );
    refusal(['frobnicate', '--json'], 2, 'USAGE');
    // The parser meets --json first, where no command takes it yet.
    expect(refusal(['--json', 'frobnicate'], 2, 'USAGE').error.message).toBe(
      "unknown option '--json'",
    );
    expect(runCli(['frobnicate'], { cwd: p }).stdout).toBe('');
  });

  it("a pipeline module's own stdout write does not stand for the refusal (exit 3)", () => {
    const r = runCli(['run', 'noisy.mjs', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(3);
    const [line, ...rest] = r.stdout.split('\n');
    expect(line).toBe('loading my pipeline');
    expect(JSON.parse(rest.join('\n'))).toMatchObject({ error: { code: 'MODULE_LOAD' } });
  });

  it('a refusal larger than a pipe holds reaches a reader whole', async () => {
    // Read as it comes, through a pipe: the process exited while most of it was still queued.
    const r = await spawnCli(['run', 'many.yaml', '--json'], { cwd: p });
    expect(r.code).toBe(4);
    expect(r.stdout.length).toBeGreaterThan(1024 * 1024);
    const v = JSON.parse(r.stdout) as { error: { code: string; errors: unknown[] } };
    expect(v.error.code).toBe('BLUEPRINT_INVALID');
    expect(v.error.errors.length).toBeGreaterThanOrEqual(2000);
  });

  it('without --json, stdout stays empty', () => {
    const r = runCli(['run', 'missing.yaml'], { cwd: p });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});
