import { describe, expect, it } from 'vitest';

import {
  budgetPatternProblem,
  checkSettings,
  hostEntryProblem,
} from '../../../src/config/checks.js';
import { ConfigError } from '../../../src/errors.js';
import { hostAllowed } from '../../../src/skills/builtins/http.js';

/** Hosts a URL can name, to show an entry refused matches none of them and one kept does. */
const HOSTS = ['x', 'api.example.com', 'a.example.com', 'example.com', '::1', 'xn--bcher-kva.de'];

describe('http_allowed_hosts entries that can match no host (QA L13)', () => {
  it.each([
    ['', 'is empty'],
    ['  ', 'is empty'],
    ['http://x', 'is a URL, not a host: write "x"'],
    ['https://api.example.com:8443/v1', 'write "api.example.com"'],
    ['api.example.com/v1', 'holds a path: write the host alone ("api.example.com")'],
    ['api.example.com:443', 'holds a port: write the host alone ("api.example.com")'],
    ['api.*.com', 'holds a * that matches nothing'],
    ['*example.com', 'holds a * that matches nothing'],
    ['[::1]', 'write the IPv6 address alone ("::1")'],
    ['a b', 'holds a space'],
    ['bücher.de', 'write "xn--bcher-kva.de"'],
  ])('refuses %j: %s', (entry, why) => {
    expect(hostEntryProblem(entry)).toContain(why);
    for (const host of HOSTS) expect(hostAllowed(host, [entry])).toBe(false);
  });

  it.each(['*', '*.example.com', 'API.example.com', ' example.com ', '::1', '127.0.0.1'])(
    'keeps %j, which matches a host',
    (entry) => {
      expect(hostEntryProblem(entry)).toBeUndefined();
      expect(HOSTS.concat('127.0.0.1').some((h) => hostAllowed(h, [entry]))).toBe(true);
    },
  );

  it('refuses at the entry`s place, naming it', () => {
    const toml = { settings: { http_allowed_hosts: ['ok.com', 'http://x'] } };
    const at = (path: readonly (string | number)[]) => `flujo.toml:${path.join('/')}`;
    expect(() => checkSettings(toml, {}, at)).toThrow(ConfigError);
    expect(() => checkSettings(toml, {}, at)).toThrow(
      'flujo.toml:settings/http_allowed_hosts/1: settings.http_allowed_hosts entry "http://x" is a URL, not a host: write "x"',
    );
  });
});

describe('budgets that apply to no pipeline, and FLUJO_STATE_MODE', () => {
  const at = (path: readonly (string | number)[]) => `F:${path.join('/')}`;

  it('warns about an empty name, a bracket, and a table with no limit, at its place', () => {
    expect(budgetPatternProblem('nightly-*')).toBeUndefined();
    expect(budgetPatternProblem('a?c')).toBeUndefined();
    const warnings = checkSettings(
      {
        budgets: {
          default: {},
          pipeline: { '': { total_tokens_limit: 1 }, '[a-z]ec': { total_tokens_limit: 1 }, x: {} },
        },
      },
      {},
      at,
    );
    expect(warnings).toEqual([
      'F:budgets/default: [budgets.default] sets no limit; add total_cost_usd_limit or total_tokens_limit, or remove the table',
      'F:budgets/pipeline/: budgets.pipeline."": an empty name applies to no pipeline (every pipeline has a name); name one, or use [budgets.default] for every run',
      'F:budgets/pipeline/[a-z]ec: budgets.pipeline."[a-z]ec": [ matches only itself (a budget pattern\'s wildcards are * and ? alone), so this applies only to a pipeline named exactly "[a-z]ec"; write one table per name, or a pattern with * or ?',
      'F:budgets/pipeline/x: budgets.pipeline."x" sets no limit; add total_cost_usd_limit or total_tokens_limit, or remove the table',
    ]);
  });

  it('warns about a FLUJO_STATE_MODE it does not read, and not about memory or ephemeral', () => {
    expect(checkSettings({}, { FLUJO_STATE_MODE: 'bogus' }, at)).toEqual([
      'FLUJO_STATE_MODE="bogus" is not a state mode and is ignored: set it to memory (or ephemeral, the same) to keep nothing, or unset it',
    ]);
    for (const mode of ['memory', 'ephemeral', ''])
      expect(checkSettings({}, { FLUJO_STATE_MODE: mode }, at)).toEqual([]);
  });
});
