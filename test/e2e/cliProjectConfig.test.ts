/**
 * Where the project, its configuration and its state are given (--project, FLUJO_PROJECT_ROOT,
 * flujo.toml, state_uri, FLUJO_STATE_URI, --state-uri), refused when unusable with the place
 * named (QA L9-L13): the built CLI, exit 2, nothing created.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { shellWord } from '../../src/shellWords.js';
import { runCli, writeProject } from './cli.js';

const PIPELINE = `version: '0.1'
name: cfg
steps:
  - name: s
    agent: { id: flujo.builtins.stringify }
    input: '{{ context.initial_prompt }}'
`;

let dir: string;
let p: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-projcfg-'));
  p = writeProject(dir, 'proj', { 'pipeline.yaml': PIPELINE });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a state URI that cannot be used names where it was set', () => {
  it('state_uri in flujo.toml: the file, line and column', () => {
    const q = writeProject(dir, 'toml-uri', {
      'pipeline.yaml': PIPELINE,
      'flujo.toml': '# state\nstate_uri = "mysql://x"\n',
    });
    for (const args of [['run', '--input', 'a'], ['show-config'], ['lens', 'list']]) {
      const r = runCli(args, { cwd: q });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `[CONFIG_STATE_URI] ${join(q, 'flujo.toml')}:2:13: state_uri: unusable state URI "mysql://x": unknown scheme "mysql:"`,
      );
    }
    expect(readdirSync(q).sort()).toEqual(['flujo.toml', 'pipeline.yaml']);
  });

  it('FLUJO_STATE_URI and --state-uri: the variable or the flag, with the fix', () => {
    const env = runCli(['run', '--input', 'a'], {
      cwd: p,
      env: { FLUJO_STATE_URI: 'file:///tmp/x.db' },
    });
    expect(env.code, env.stderr).toBe(2);
    expect(env.stderr).toContain('[CONFIG_STATE_URI] FLUJO_STATE_URI: unusable state URI');
    expect(env.stderr).toContain('write the SQLite URI sqlite:////tmp/x.db');
    expect(env.stderr).not.toContain('sqlite:///file:');
    const flag = runCli(['--state-uri', 'memory://foo', 'lens', 'list'], { cwd: p });
    expect(flag.code, flag.stderr).toBe(2);
    expect(flag.stderr).toContain(
      '[CONFIG_STATE_URI] --state-uri: unusable state URI "memory://foo": memory:// takes nothing after it',
    );
    expect(existsSync(join(p, '.flujo'))).toBe(false);
  });
});

describe('--project and FLUJO_PROJECT_ROOT', () => {
  const COMMANDS = [
    ['run', '--input', 'a'],
    ['show-config'],
    ['lens', 'list'],
    ['validate'],
    ['validate', 'pipeline.yaml'],
  ];

  it('a folder that does not exist is refused by every command alike, naming it', () => {
    const missing = join(dir, 'nope');
    for (const args of COMMANDS) {
      const r = runCli(['--project', missing, ...args], { cwd: p });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(
        `[CONFIG_INVALID] --project ${shellWord(missing)} names ${missing}, which does not exist; nothing was done. Fix the path, or make a project there with: flujo --project ${shellWord(missing)} init`,
      );
    }
    const env = runCli(['show-config'], { cwd: p, env: { FLUJO_PROJECT_ROOT: missing } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain(`FLUJO_PROJECT_ROOT names ${missing}, which does not exist`);
    expect(existsSync(missing)).toBe(false);
  });

  it('a file is refused with its folder to give instead (flujo.toml: FLUJO_CONFIG_PATH)', () => {
    const toml = join(p, 'flujo.toml');
    writeFileSync(toml, '');
    try {
      for (const args of COMMANDS) {
        const r = runCli(['--project', toml, ...args], { cwd: dir });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(
          `[CONFIG_INVALID] --project ${shellWord(toml)} names ${toml}, which is a file, not a folder; nothing was done. Give the project's folder: --project ${shellWord(p)} (to read a flujo.toml kept elsewhere, set FLUJO_CONFIG_PATH to it)`,
        );
        expect(r.stderr).not.toContain('ENOTDIR');
      }
      const env = runCli(['lens', 'list'], {
        cwd: dir,
        env: { FLUJO_PROJECT_ROOT: join(p, 'pipeline.yaml') },
      });
      expect(env.code).toBe(2);
      expect(env.stderr).toContain(`Give the project's folder: FLUJO_PROJECT_ROOT=${shellWord(p)}`);
    } finally {
      rmSync(toml);
    }
  });

  it('create may still name a folder that is not there yet: it writes the draft there', () => {
    const made = join(dir, 'new-draft');
    const r = runCli(['--project', made, 'create', '--no-agentic', '--goal', 'say hi'], {
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(made, 'pipeline.yaml'))).toBe(true);
  });

  it('an empty --project (an unset shell variable) is a usage error, not the folder found', () => {
    for (const args of [...COMMANDS, ['init']]) {
      const r = runCli(['--project', '', ...args], { cwd: p });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('[USAGE] --project is empty');
    }
    expect(existsSync(join(p, '.flujo'))).toBe(false);
    expect(existsSync(join(p, 'flujo.toml'))).toBe(false);
  });
});

describe('flujo.toml read as written, or refused at its place', () => {
  it('a flujo.toml that is a link to nothing, or a FIFO, is refused, not read as no file (QA L10)', () => {
    const q = writeProject(dir, 'dangling', { 'pipeline.yaml': PIPELINE });
    const toml = join(q, 'flujo.toml');
    symlinkSync('/nonexistent/x.toml', toml);
    for (const args of [['run', '--input', 'a'], ['show-config']]) {
      const r = runCli(args, { cwd: q });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `[CONFIG_INVALID] ${toml} is a symbolic link to /nonexistent/x.toml, which does not exist`,
      );
    }
    expect(existsSync(join(q, '.flujo'))).toBe(false);
    rmSync(toml);
    execFileSync('mkfifo', [toml]);
    const r = runCli(['show-config'], { cwd: q });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${toml} is a named pipe (FIFO), not a file`);
  });

  it('a dotted key is named at its line and column (QA L12)', () => {
    const q = writeProject(dir, 'dotted', {
      'pipeline.yaml': PIPELINE,
      'flujo.toml': 'state_uri = "memory://"\nsettings.agent_timeout = -1\n',
    });
    const r = runCli(['run', '--input', 'a'], { cwd: q });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${join(q, 'flujo.toml')}:2:26: settings.agent_timeout: Too small`);
  });

  it('settings that could never apply are refused or warned about (QA L13)', () => {
    const q = writeProject(dir, 'never', {
      'pipeline.yaml': PIPELINE,
      'flujo.toml': '[settings]\nhttp_allowed_hosts = ["http://api.example.com"]\n',
    });
    const toml = join(q, 'flujo.toml');
    const hosts = runCli(['run', '--input', 'a'], { cwd: q });
    expect(hosts.code, hosts.stderr).toBe(2);
    expect(hosts.stderr).toContain(
      `${toml}:2:23: settings.http_allowed_hosts entry "http://api.example.com" is a URL, not a host: write "api.example.com"`,
    );
    writeFileSync(
      toml,
      'state_uri = "memory://"\n[budgets.pipeline."[c]fg"]\ntotal_tokens_limit = 1\n',
    );
    const run = runCli(['run', '--input', 'a'], {
      cwd: q,
      env: { FLUJO_STATE_MODE: 'bogus' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(
      `warning: ${toml}:2:19: budgets.pipeline."[c]fg": [ matches only itself`,
    );
    expect(run.stderr).toContain('warning: FLUJO_STATE_MODE="bogus" is not a state mode');
  });
});
