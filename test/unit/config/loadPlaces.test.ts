/**
 * flujo.toml problems named at `file:LINE:COL` in every form TOML allows (QA L12), the file
 * itself refused when it is a link to nothing, a loop of links or not a file (QA L10), and the
 * settings that could never apply said (QA L13).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

let root: string;
let f: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'flujo-config-places-'));
  f = join(root, 'flujo.toml');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const toml = (text: string) => writeFileSync(f, text);
const load = (env: Record<string, string> = {}) => loadConfig({ root, env });
/** The ConfigError loading throws (exit 2), or a failure naming what was returned. */
const refusal = (env: Record<string, string> = {}): ConfigError => {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
    return e as ConfigError;
  }
  throw new Error('loaded without a refusal');
};

describe('line and column in every form a key can take (QA L12)', () => {
  it('a dotted key, an inline table and an array of tables', () => {
    toml('# x\nsettings.agent_timeout = -1\n');
    expect(refusal().message).toContain(`${f}:2:26: settings.agent_timeout: Too small`);
    toml('settings = { snapshot_every = 1, agent_timeout = -1 }\n');
    expect(refusal().message).toContain(`${f}:1:50: settings.agent_timeout: Too small`);
    toml('settings = { agent_timout = 1 }\n');
    expect(refusal().message).toContain(
      `${f}:1:14: unknown key settings.agent_timout; did you mean settings.agent_timeout?`,
    );
    toml('[[settings]]\nagent_timeout = 1\n');
    expect(refusal().message).toContain(
      `${f}:1:3: settings: Invalid input: expected object, received array: [[settings]] makes a list of tables; write [settings] once`,
    );
  });

  it('the value of a bad setting and the key of an unknown one, under a header', () => {
    toml(
      '[settings]\n  max_calls_in_flight   =   0\n[budgets.default]\n  total_cost_usd_limt = 1\n',
    );
    expect(refusal().message).toContain(`${f}:2:29: settings.max_calls_in_flight:`);
    toml('[budgets.default]\n  total_cost_usd_limt = 1\n');
    expect(refusal().message).toContain(
      `${f}:2:3: unknown key budgets.default.total_cost_usd_limt`,
    );
  });

  it("Flujo's ignored settings are warned about at their place, and are not listed as known keys", () => {
    toml('[architect]\nx = 1\n[settings]\n  max_iters = 3\n');
    expect(load().warnings).toEqual([
      `${f}:1:2: architect is a Flujo (Python) setting with no effect here; ignored`,
      `${f}:4:3: settings.max_iters is a Flujo (Python) setting with no effect here; ignored`,
    ]);
    toml('state_uri = "memory://"\nzzz = 1\n');
    const message = refusal().message;
    expect(message).toContain(
      `${f}:2:1: unknown key zzz; known keys here: state_uri, env_file, blueprint_allowed_imports, settings, cost, budgets`,
    );
    expect(message).not.toContain('architect');
    // A misspelt Flujo section is still recognised as one.
    toml('architekt = 1\n');
    expect(refusal().message).toContain('did you mean architect?');
  });

  it('show-config sources point at each value', () => {
    toml('state_uri = "memory://"\nsettings = { agent_timeout = 5 }\n');
    expect(load().sources).toMatchObject({
      state_uri: `${f}:1:13`,
      'settings.agent_timeout': `${f}:2:30`,
    });
  });
});

describe('a flujo.toml that is not a file to read (QA L10)', () => {
  it('a symbolic link to nothing is refused naming the link and its target, not read as no file', () => {
    symlinkSync('/nonexistent/x.toml', f);
    expect(refusal().message).toBe(
      `[CONFIG_INVALID] ${f} is a symbolic link to /nonexistent/x.toml, which does not exist; make it the project's flujo.toml file, or remove it`,
    );
  });

  it('FLUJO_CONFIG_PATH naming a loop of links says it is a loop', () => {
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
    const message = refusal({ FLUJO_CONFIG_PATH: 'loop1' }).message;
    expect(message).toContain(
      `FLUJO_CONFIG_PATH names ${join(root, 'loop1')}, which is a symbolic link to loop2 that leads back to itself (ELOOP`,
    );
    expect(message).not.toContain('does not exist');
  });

  it('a FIFO is refused at once instead of waiting for a writer', () => {
    execFileSync('mkfifo', [f]);
    expect(refusal().message).toContain(`${f} is a named pipe (FIFO), not a file`);
  });

  it('an env_file that is a link to nothing names the link and its target', () => {
    symlinkSync('gone.env', join(root, '.env'));
    toml('env_file = ".env"\n');
    expect(refusal().message).toContain(
      `${f}:1:12: env_file ${join(root, '.env')} is a symbolic link to gone.env, which does not exist`,
    );
  });
});

describe('settings that can never apply (QA L13)', () => {
  it('refuses an http_allowed_hosts entry no host matches, at the entry', () => {
    toml('[settings]\nhttp_allowed_hosts = ["ok.com", "", "*", "http://x"]\n');
    expect(refusal().message).toContain(`${f}:2:33: settings.http_allowed_hosts entry "" is empty`);
    toml('[settings]\nhttp_allowed_hosts = ["ok.com", "*", "http://x"]\n');
    expect(refusal().message).toContain(
      `${f}:2:38: settings.http_allowed_hosts entry "http://x" is a URL, not a host: write "x"`,
    );
    toml('[settings]\nhttp_allowed_hosts = ["ok.com", "*", "*.example.com"]\n');
    expect(load().toml.settings?.http_allowed_hosts).toEqual(['ok.com', '*', '*.example.com']);
  });

  it('warns about budget tables that apply to no pipeline or set no limit, at the table', () => {
    toml(
      [
        '[budgets.pipeline."[a-z]ec"]',
        'total_tokens_limit = 1',
        '[budgets.pipeline.""]',
        'total_tokens_limit = 1',
        '[budgets.pipeline."x"]',
        '[budgets.pipeline."nightly-*"]',
        'total_tokens_limit = 1',
      ].join('\n'),
    );
    const warnings = load().warnings;
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain(`${f}:1:19: budgets.pipeline."[a-z]ec": [ matches only itself`);
    expect(warnings[1]).toContain(
      `${f}:3:19: budgets.pipeline."": an empty name applies to no pipeline`,
    );
    expect(warnings[2]).toContain(`${f}:5:19: budgets.pipeline."x" sets no limit`);
  });

  it('FLUJO_STATE_MODE: memory and ephemeral keep nothing; another value is warned about and ignored', () => {
    expect(load({ FLUJO_STATE_MODE: 'ephemeral' }).stateUri).toBe('memory://');
    const cfg = load({ FLUJO_STATE_MODE: 'bogus' });
    expect(cfg.stateUri).toBe('sqlite:///.flujo/state.db');
    expect(cfg.warnings).toEqual([
      'FLUJO_STATE_MODE="bogus" is not a state mode and is ignored: set it to memory (or ephemeral, the same) to keep nothing, or unset it',
    ]);
  });
});
