import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'flujo-config-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const toml = (text: string) => writeFileSync(join(root, 'flujo.toml'), text);

describe('flujo.toml', () => {
  it('defaults to the embedded ledger with no file at all', () => {
    const cfg = loadConfig({ root, env: {} });
    expect(cfg).toMatchObject({ stateUri: 'sqlite:///.flujo/state.db', toml: {} });
    expect(cfg.file).toBeUndefined();
    expect(cfg.sources.state_uri).toBe('default');
  });

  it('takes --state-uri over FLUJO_STATE_URI over FLUJO_STATE_MODE over the file', () => {
    toml('state_uri = "sqlite:///from-file.db"\n');
    expect(loadConfig({ root, env: {} }).stateUri).toBe('sqlite:///from-file.db');
    expect(loadConfig({ root, env: {} }).sources.state_uri).toBe(`${join(root, 'flujo.toml')}:1`);
    expect(loadConfig({ root, env: { FLUJO_STATE_MODE: 'memory' } }).stateUri).toBe('memory://');
    const env = { FLUJO_STATE_MODE: 'memory', FLUJO_STATE_URI: 'sqlite:///env.db' };
    expect(loadConfig({ root, env }).stateUri).toBe('sqlite:///env.db');
    expect(loadConfig({ root, env, stateUri: 'memory://' }).sources.state_uri).toBe('--state-uri');
  });

  it('names an unknown key with its line and the nearest known key', () => {
    toml('state_uri = "memory://"\n\n[budgets.default]\ntotal_cost_usd_limt = 2\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(
      /flujo\.toml:4: unknown key budgets\.default\.total_cost_usd_limt; did you mean budgets\.default\.total_cost_usd_limit\?/,
    );
  });

  it('names a bad value with its key and line', () => {
    toml('[settings]\nhttp_allowed_hosts = "example.com"\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(
      /flujo\.toml:2: settings\.http_allowed_hosts: /,
    );
    toml('[settings]\nsnapshot_every = 100\nmax_calls_in_flight = 0\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(
      /flujo\.toml:3: settings\.max_calls_in_flight: /,
    );
    toml('[settings]\nmax_calls_in_flight = 2\n');
    expect(loadConfig({ root, env: {} }).toml.settings).toEqual({ max_calls_in_flight: 2 });
    toml('state_uri = \n');
    expect(() => loadConfig({ root, env: {} })).toThrow(/flujo\.toml:1:\d+: /);
  });

  it("loads Flujo's own sections with a warning instead of failing", () => {
    toml(
      '[architect]\nstate_machine_default = true\n[settings]\nmax_iters = 3\nagent_timeout = 30\n',
    );
    const cfg = loadConfig({ root, env: {} });
    expect(cfg.toml.settings).toEqual({ agent_timeout: 30 });
    expect(cfg.warnings).toHaveLength(2);
    expect(cfg.warnings[0]).toContain('architect');
  });

  it('reads env_file under the environment, which wins', () => {
    writeFileSync(join(root, '.env'), 'OPENAI_API_KEY=sk-file\nANTHROPIC_API_KEY="sk-ant"\n');
    toml('env_file = ".env"\n');
    const cfg = loadConfig({ root, env: { OPENAI_API_KEY: 'sk-env' } });
    expect(cfg.env.OPENAI_API_KEY).toBe('sk-env');
    expect(cfg.env.ANTHROPIC_API_KEY).toBe('sk-ant');
    expect(cfg.sources['env.OPENAI_API_KEY']).toBe('environment');
    toml('env_file = "missing.env"\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(/missing\.env does not exist/);
  });

  it('reads the file FLUJO_CONFIG_PATH names, and refuses one that is not there', () => {
    writeFileSync(join(root, 'other.toml'), 'state_uri = "memory://"\n');
    expect(loadConfig({ root, env: { FLUJO_CONFIG_PATH: 'other.toml' } }).stateUri).toBe(
      'memory://',
    );
    expect(() => loadConfig({ root, env: { FLUJO_CONFIG_PATH: 'nope.toml' } })).toThrow(
      /FLUJO_CONFIG_PATH names .*nope\.toml, which does not exist/,
    );
  });
});
