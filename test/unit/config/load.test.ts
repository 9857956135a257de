import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

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
    expect(loadConfig({ root, env: {} }).sources.state_uri).toBe(
      `${join(root, 'flujo.toml')}:1:13`,
    );
    expect(loadConfig({ root, env: { FLUJO_STATE_MODE: 'memory' } }).stateUri).toBe('memory://');
    const env = { FLUJO_STATE_MODE: 'memory', FLUJO_STATE_URI: 'sqlite:///env.db' };
    expect(loadConfig({ root, env }).stateUri).toBe('sqlite:///env.db');
    expect(loadConfig({ root, env, stateUri: 'memory://' }).sources.state_uri).toBe('--state-uri');
  });

  it("says on which line each setting of a nested table is, a model name with a dot and a header's comment included", () => {
    toml(
      [
        '[cost.providers.openai."gpt-4.1"]',
        'prompt_tokens_per_1k = 0.002',
        'completion_tokens_per_1k = 0.008',
        '[cost.providers.openai."gpt-4o-mini"]',
        'prompt_tokens_per_1k = 0.00015',
        'completion_tokens_per_1k = 0.0006',
        '[budgets.default]',
        'total_cost_usd_limit = 1.0',
        'total_tokens_limit = 200000',
        '[budgets.pipeline."nightly-*"]   # a pipeline name or a glob (* and ?)',
        'total_cost_usd_limit = 5.0',
        '',
      ].join('\n'),
    );
    const { sources } = loadConfig({ root, env: {} });
    const f = join(root, 'flujo.toml');
    expect(sources['cost.providers.openai.gpt-4.1.prompt_tokens_per_1k']).toBe(`${f}:2:24`);
    expect(sources['cost.providers.openai.gpt-4.1.completion_tokens_per_1k']).toBe(`${f}:3:28`);
    expect(sources['cost.providers.openai.gpt-4o-mini.prompt_tokens_per_1k']).toBe(`${f}:5:24`);
    expect(sources['budgets.default.total_cost_usd_limit']).toBe(`${f}:8:24`);
    expect(sources['budgets.default.total_tokens_limit']).toBe(`${f}:9:22`);
    expect(sources['budgets.pipeline.nightly-*.total_cost_usd_limit']).toBe(`${f}:11:24`);
  });

  it('names the table of a missing price with its line and says what to add', () => {
    toml(
      '[settings]\n\n[cost.providers.openai."gpt-4o-mini"]   # a model\nprompt_tokens_per_1k = 0.1\n',
    );
    expect(() => loadConfig({ root, env: {} })).toThrow(
      `${join(root, 'flujo.toml')}:3:24: cost.providers.openai.gpt-4o-mini.completion_tokens_per_1k: is missing; add completion_tokens_per_1k = … to this table`,
    );
  });

  it('names an unknown key with its line and the nearest known key', () => {
    toml('state_uri = "memory://"\n\n[budgets.default]\ntotal_cost_usd_limt = 2\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(
      /flujo\.toml:4:1: unknown key budgets\.default\.total_cost_usd_limt; did you mean budgets\.default\.total_cost_usd_limit\?/,
    );
  });

  it('names a bad value with its key and line', () => {
    toml('[settings]\nhttp_allowed_hosts = "example.com"\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(
      /flujo\.toml:2:22: settings\.http_allowed_hosts: /,
    );
    toml('[settings]\nsnapshot_every = 100\nmax_calls_in_flight = 0\n');
    expect(() => loadConfig({ root, env: {} })).toThrow(
      /flujo\.toml:3:23: settings\.max_calls_in_flight: /,
    );
    toml('[settings]\nmax_calls_in_flight = 2\n');
    expect(loadConfig({ root, env: {} }).toml.settings).toEqual({ max_calls_in_flight: 2 });
    toml('state_uri = \n');
    expect(() => loadConfig({ root, env: {} })).toThrow(/flujo\.toml:1:\d+: /);
  });

  it('takes settings.max_input_bytes from 1 byte to 256 MiB (ADR 100)', () => {
    toml('[settings]\nmax_input_bytes = 1048576\n');
    expect(loadConfig({ root, env: {} }).toml.settings).toEqual({ max_input_bytes: 1048576 });
    for (const bad of ['0', '1.5', '268435457', '"8MiB"']) {
      toml(`[settings]\nmax_input_bytes = ${bad}\n`);
      expect(() => loadConfig({ root, env: {} })).toThrow(
        /flujo\.toml:2:19: settings\.max_input_bytes: /,
      );
    }
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

  it('refuses a flujo.toml, FLUJO_CONFIG_PATH or env_file that is a folder as a config error naming it', () => {
    const refused = (env: Record<string, string>, name: RegExp) => {
      let caught: unknown;
      try {
        loadConfig({ root, env });
      } catch (e) {
        caught = e;
      }
      // Was a plain EISDIR Error: `internal error … This is a bug in Flujo`, exit 1.
      expect(caught).toBeInstanceOf(ConfigError);
      expect(caught).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 2 });
      expect((caught as Error).message).toMatch(name);
      expect((caught as Error).message).toContain('EISDIR');
    };
    mkdirSync(join(root, 'conf.d'));
    refused({ FLUJO_CONFIG_PATH: 'conf.d' }, /conf\.d cannot be read/);
    mkdirSync(join(root, 'env.d'));
    toml('env_file = "env.d"\n');
    refused({}, /env_file .*env\.d cannot be read/);
    rmSync(join(root, 'flujo.toml'));
    mkdirSync(join(root, 'flujo.toml'));
    refused({}, /flujo\.toml cannot be read/);
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
