/**
 * Text a person hands the CLI must be UTF-8, as blueprint files must be: a run's input or an
 * answer on stdin, flujo.toml, its env_file, skills.yaml and `--context @file`. Node decoded
 * them leniently, each bad byte becoming U+FFFD, so a Latin-1 `café` piped to `run --input -`
 * was recorded as `caf\uFFFD`, which nobody sent. Each is refused naming where:line:column and
 * the byte, before anything is recorded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { lensRuns, runCli, writeProject } from './cli.js';

const PIPELINE = `version: "0.1"
name: asks
steps:
  - kind: step
    name: echo
    agent:
      id: flujo.builtins.stringify
    input: "{{ previous_step }}"
  - kind: hitl
    name: ask
    message: "give"
    input_schema: {}
`;
const TOML = 'state_uri = "sqlite:///.flujo/state.db"\n';
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-not-utf8-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const project = (name: string, toml: string | Buffer = TOML): string =>
  writeProject(dir, name, { 'flujo.toml': toml, 'pipeline.yaml': PIPELINE });
const runsIn = lensRuns;

describe('flujo run: input on stdin', () => {
  it('refuses bytes that are not UTF-8 with USAGE, exit 2, naming stdin:line:column and the byte, recording no run', () => {
    const p = project('run');
    const r = runCli(['run', '--input', '-'], { cwd: p, input: latin1('ok\ncaf\xe9\n') });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      'error: [USAGE] stdin:2:4: not UTF-8 text (byte 0xE9 here); send UTF-8 text (iconv -t UTF-8 converts it); nothing was recorded',
    );
    // Piped without --input: the same.
    const piped = runCli(['run', '--json'], { cwd: p, input: latin1('\xff') });
    expect(piped.code).toBe(2);
    expect(json(piped.stdout)).toEqual({
      error: { code: 'USAGE', message: expect.stringContaining('stdin:1:1: not UTF-8 text') },
    });
    expect(runsIn(p)).toEqual([]);
    // UTF-8 (with characters beyond the BMP) is recorded as sent.
    const ok = runCli(['run', '--input', '-', '--json'], { cwd: p, input: 'café 😀\n' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout).status).toBe('paused');
    const id = json(ok.stdout).run_id as string;
    const show = json(runCli(['lens', 'show', id, '--json'], { cwd: p }).stdout);
    expect(JSON.stringify(show)).toContain('café 😀');
  });
});

describe('flujo resume: an answer on stdin', () => {
  it('refuses it as HUMAN_INPUT_REJECTED, exit 1; the run stays paused with nothing recorded', () => {
    const p = project('resume');
    const run = runCli(['run', '--input', 'x', '--json'], { cwd: p });
    const id = json(run.stdout).run_id as string;
    const events = () =>
      json(runCli(['lens', 'verify', id, '--json'], { cwd: p }).stdout).events_checked;
    const before = events();

    const r = runCli(['resume', id, '--input', '-'], { cwd: p, input: latin1('{"a": "\xe9"}') });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      '[HUMAN_INPUT_REJECTED] stdin:1:8: not UTF-8 text (byte 0xE9 here); send UTF-8 text',
    );
    const j = runCli(['resume', id, '--input', '-', '--json'], { cwd: p, input: latin1('\xe9') });
    expect(j.code).toBe(1);
    expect(json(j.stdout)).toEqual({
      run_id: id,
      status: 'paused',
      error: { code: 'HUMAN_INPUT_REJECTED', message: expect.stringContaining('stdin:1:1') },
    });
    expect(events()).toBe(before);

    const ok = runCli(['resume', id, '--input', '-', '--json'], { cwd: p, input: '{"a": "é"}' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout).status).toBe('completed');
  });
});

describe('files the CLI reads', () => {
  it('refuses a flujo.toml that is not UTF-8 with CONFIG_INVALID, exit 2, at file:line:column', () => {
    const p = project('toml', latin1(`${TOML}# caf\xe9\n`));
    const r = runCli(['run', '--input', 'x'], { cwd: p });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `[CONFIG_INVALID] ${join(p, 'flujo.toml')}:2:6: not UTF-8 text (byte 0xE9 here); save it as UTF-8`,
    );
  });

  it("refuses an env_file that is not UTF-8, naming it (a key's value was read with U+FFFD)", () => {
    const p = project('env', `${TOML}env_file = ".env"\n`);
    writeFileSync(join(p, '.env'), latin1('OPENAI_API_KEY=sk-\xe9\n'));
    const r = runCli(['run', '--input', 'x'], { cwd: p });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `[CONFIG_INVALID] ${join(p, '.env')}:1:19: not UTF-8 text (byte 0xE9 here); save it as UTF-8`,
    );
  });

  it('refuses a skills.yaml that is not UTF-8 with SKILLS_CONFIG_INVALID, for run and validate', () => {
    const p = project('skills');
    writeFileSync(join(p, 'skills.yaml'), latin1('# r\xe9sum\xe9\nskills: {}\n'));
    const want = `[SKILLS_CONFIG_INVALID] ${join(p, 'skills.yaml')}:1:4: not UTF-8 text (byte 0xE9 here); save it as UTF-8`;
    for (const args of [['run', '--input', 'x'], ['validate']]) {
      const r = runCli(args, { cwd: p });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(want);
    }
    expect(runsIn(p)).toEqual([]);
  });

  it('refuses a --context @file that is not UTF-8, recording no run', () => {
    const p = project('context');
    writeFileSync(join(p, 'ctx.json'), latin1('{"who": "Jos\xe9"}'));
    const r = runCli(['run', '--input', 'x', '--context', '@ctx.json', '--json'], { cwd: p });
    expect(r.code, r.stderr).toBe(2);
    expect(json(r.stdout)).toEqual({
      error: {
        code: 'CONFIG_INVALID',
        message: `--context: ${join(p, 'ctx.json')}:1:13: not UTF-8 text (byte 0xE9 here); save it as UTF-8`,
      },
    });
    expect(runsIn(p)).toEqual([]);
  });
});
