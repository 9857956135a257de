/**
 * Settings the schema accepts but that could never do what they say (QA L13): an
 * `http_allowed_hosts` entry no host matches is refused at its place; a budget pattern that can
 * match no pipeline, or a budget table with no limit, and an unknown FLUJO_STATE_MODE are warned
 * about (the configuration still loads, as it did, but no longer in silence).
 */
import { domainToASCII } from 'node:url';

import { ConfigError, ErrorCode } from '../errors.js';
import type { FlujoToml } from './schema.js';

/** The state modes read from FLUJO_STATE_MODE (Flujo's names): both keep nothing (memory://). */
export const STATE_MODES: readonly string[] = ['memory', 'ephemeral'];

/**
 * Why `entry` of `http_allowed_hosts` can match no URL's host, as flujo.builtins.http_get
 * compares them (hostAllowed: trimmed, any case; `*` every host, `*.example.com` its
 * subdomains), or undefined when it can.
 */
export function hostEntryProblem(entry: string): string | undefined {
  const a = entry.trim();
  if (a === '') return 'is empty: name a host, such as api.example.com';
  if (a === '*' || /^\*\.[^*]+$/.test(a)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(a)) {
    let host = '';
    try {
      host = new URL(a).hostname.replace(/^\[|\]$/g, '');
    } catch {
      // not even a URL: the generic fix below
    }
    return `is a URL, not a host: write ${host ? JSON.stringify(host) : 'its host alone'} (every scheme and port of a listed host is allowed)`;
  }
  if (a.includes('*'))
    return 'holds a * that matches nothing: * stands alone (every host) or first, as in *.example.com (its subdomains)';
  if (/\s/.test(a)) return 'holds a space, which no host does';
  if (a.includes('/') || a.includes('?') || a.includes('#'))
    return `holds a path: write the host alone (${JSON.stringify(a.split(/[/?#]/)[0])})`;
  if (/^\[.*\]$/.test(a))
    return `is written in brackets: write the IPv6 address alone (${JSON.stringify(a.slice(1, -1))})`;
  if (a.split(':').length === 2)
    return `holds a port: write the host alone (${JSON.stringify(a.split(':')[0])}); every port of a listed host is allowed`;
  if (/[^\x20-\x7e]/.test(a)) {
    const ascii = domainToASCII(a);
    return `is not written as URLs name hosts: write ${ascii ? JSON.stringify(ascii) : 'it in ASCII (punycode)'}`;
  }
  return undefined;
}

/** Why the budget `pattern` applies to no pipeline (a warning), or undefined. */
export function budgetPatternProblem(pattern: string): string | undefined {
  if (pattern === '')
    return 'an empty name applies to no pipeline (every pipeline has a name); name one, or use [budgets.default] for every run';
  const bracket = /[[\]{}]/.exec(pattern);
  if (bracket)
    return `${bracket[0]} matches only itself (a budget pattern's wildcards are * and ? alone), so this applies only to a pipeline named exactly ${JSON.stringify(pattern)}; write one table per name, or a pattern with * or ?`;
  return undefined;
}

/**
 * Refuses a host entry that can match nothing; returns the warnings (budgets, FLUJO_STATE_MODE).
 * `at(path)` is where the value at `path` is written (`flujo.toml:LINE:COL`).
 */
export function checkSettings(
  toml: FlujoToml,
  env: Readonly<Record<string, string | undefined>>,
  at: (path: readonly (string | number)[]) => string,
): string[] {
  const warnings: string[] = [];
  for (const [n, entry] of (toml.settings?.http_allowed_hosts ?? []).entries()) {
    const why = hostEntryProblem(entry);
    if (why)
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${at(['settings', 'http_allowed_hosts', n])}: settings.http_allowed_hosts entry ${JSON.stringify(entry)} ${why}`,
        { key: 'settings.http_allowed_hosts', entry },
      );
  }
  const noLimit = (limits: object | undefined) => limits && Object.keys(limits).length === 0;
  if (noLimit(toml.budgets?.default))
    warnings.push(
      `${at(['budgets', 'default'])}: [budgets.default] sets no limit; add total_cost_usd_limit or total_tokens_limit, or remove the table`,
    );
  for (const [pattern, limits] of Object.entries(toml.budgets?.pipeline ?? {})) {
    const where = at(['budgets', 'pipeline', pattern]);
    const name = `budgets.pipeline.${JSON.stringify(pattern)}`;
    const why = budgetPatternProblem(pattern);
    if (why) warnings.push(`${where}: ${name}: ${why}`);
    if (noLimit(limits))
      warnings.push(
        `${where}: ${name} sets no limit; add total_cost_usd_limit or total_tokens_limit, or remove the table`,
      );
  }
  const mode = env.FLUJO_STATE_MODE;
  if (mode && !STATE_MODES.includes(mode))
    warnings.push(
      `FLUJO_STATE_MODE=${JSON.stringify(mode)} is not a state mode and is ignored: set it to memory (or ephemeral, the same) to keep nothing, or unset it`,
    );
  return warnings;
}
