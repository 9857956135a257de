/**
 * The effective configuration: flujo.toml (FLUJO_CONFIG_PATH, else <root>/flujo.toml), its
 * env_file, and the environment, with where each setting came from (for `flujo show-config`).
 * Every problem is a ConfigError naming the file, line and key, and what to write instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';

import { loadEnvFile } from '../adapters/agents/env.js';
import { DEFAULT_STATE_PATH } from '../adapters/ledger/stateUri.js';
import { utf8TextOf } from '../adapters/fs/utf8Text.js';
import { ConfigError, ErrorCode, unreadableFile } from '../errors.js';
import { entryProblem } from '../blueprint/allowedImports.js';
import { nearest } from '../blueprint/findings.js';
import { FLUJO_ONLY_KEYS, FLUJO_ONLY_SETTINGS, FlujoToml } from './schema.js';

export interface EffectiveConfig {
  readonly root: string;
  /** The flujo.toml read, if any. */
  readonly file?: string;
  readonly toml: FlujoToml;
  readonly stateUri: string;
  /** The process environment with the env_file's variables under it (the environment wins). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where each effective setting came from: `FLUJO_STATE_URI`, `flujo.toml:3`, `default`… */
  readonly sources: Readonly<Record<string, string>>;
  readonly warnings: readonly string[];
}

export interface LoadConfigOptions {
  readonly root: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** --state-uri, which beats everything else. */
  readonly stateUri?: string;
}

const KNOWN: Record<string, readonly string[]> = {
  '': [
    'state_uri',
    'env_file',
    'blueprint_allowed_imports',
    'settings',
    'cost',
    'budgets',
    ...FLUJO_ONLY_KEYS,
  ],
  settings: [
    'agent_timeout',
    'http_allowed_hosts',
    'max_calls_in_flight',
    'max_input_bytes',
    'snapshot_every',
    'sqlite_synchronous',
  ],
  cost: ['strict', 'providers'],
  budgets: ['default', 'pipeline'],
  limits: ['total_cost_usd_limit', 'total_tokens_limit'],
  price: ['prompt_tokens_per_1k', 'completion_tokens_per_1k'],
};

function knownAt(path: readonly PropertyKey[]): readonly string[] {
  const p = path.map(String);
  if (p.length === 0) return KNOWN[''] as string[];
  if (p[0] === 'budgets' && p.length >= 2) return KNOWN.limits as string[];
  if (p[0] === 'cost' && p.length >= 3) return KNOWN.price as string[];
  return KNOWN[p[0] as string] ?? [];
}

/** The 1-based line of `key` inside the TOML table at `path` (best effort). */
/** The line index of the table header `[a.b."c d"]`, quotes a bare name does not need and a
 * trailing comment allowed; -1 when absent. */
function headerIndex(lines: readonly string[], path: readonly string[]): number {
  const header = path.map((s) => (/^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s))).join('.');
  return lines.findIndex(
    (l) =>
      l
        .replace(/\s#[^"\]]*$/, '')
        .replace(/"([A-Za-z0-9_-]+)"/g, '$1')
        .trim() === `[${header}]`,
  );
}

function lineOf(text: string, path: readonly string[], key: string): number | undefined {
  const lines = text.split(/\r?\n/);
  let start = 0;
  if (path.length > 0) {
    const h = headerIndex(lines, path);
    if (h >= 0) start = h + 1;
  }
  const keyRe = new RegExp(`^\\s*("?)${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\1\\s*=`);
  for (let i = start; i < lines.length; i++) {
    if (i > start && path.length > 0 && /^\s*\[/.test(lines[i] as string)) break;
    if (keyRe.test(lines[i] as string)) return i + 1;
  }
  const table = headerIndex(lines, [...path, key]);
  return table >= 0 ? table + 1 : undefined;
}

function readToml(file: string): { text: string; doc: Record<string, unknown> } {
  let text: string;
  try {
    text = utf8TextOf(
      readFileSync(file),
      file,
      (message) => new ConfigError(ErrorCode.CONFIG_INVALID, message, { file }),
    );
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(ErrorCode.CONFIG_INVALID, unreadableFile(file, 'TOML', e), { file });
  }
  try {
    return { text, doc: parseToml(text) as Record<string, unknown> };
  } catch (e) {
    const err = e as { line?: number; column?: number; message: string };
    const where = err.line ? `${file}:${err.line}:${err.column ?? 1}` : file;
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: ${err.message.split('\n')[0]}`, {
      file,
    });
  }
}

/** Takes Flujo-only keys out (with a warning) so the strict schema sees only ours. */
function withoutFlujoOnly(doc: Record<string, unknown>, file: string, warnings: string[]) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (FLUJO_ONLY_KEYS.has(k))
      warnings.push(`${file}: ${k} is a Flujo (Python) setting with no effect here; ignored`);
    else out[k] = v;
  }
  const settings = out.settings;
  if (settings && typeof settings === 'object' && !Array.isArray(settings)) {
    const kept: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(settings)) {
      if (FLUJO_ONLY_SETTINGS.has(k))
        warnings.push(
          `${file}: settings.${k} is a Flujo (Python) setting with no effect here; ignored`,
        );
      else kept[k] = v;
    }
    out.settings = kept;
  }
  return out;
}

function problem(file: string, text: string, issue: z.core.$ZodIssue): ConfigError {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] as string;
    const line = lineOf(text, path, key);
    const dotted = [...path, key].join('.');
    const hint = nearest(key, knownAt(issue.path));
    // A top-level key written under a [table] belongs to that table in TOML.
    const top = path.length > 0 && (KNOWN[''] as readonly string[]).includes(key);
    return new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${file}${line ? `:${line}` : ''}: unknown key ${dotted}${top ? `; ${key} is a top-level key: move it above the first [table]` : hint ? `; did you mean ${[...path, hint].join('.')}?` : `; known keys here: ${knownAt(issue.path).join(', ')}`}`,
      { file, key: dotted },
    );
  }
  const key = path[path.length - 1] ?? '';
  const parent = path.slice(0, -1).map(String);
  // A key that is missing has no line of its own: name its table's.
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  const line =
    lineOf(text, path.slice(0, -1), key) ??
    (missing && parent.length > 0
      ? lineOf(text, parent.slice(0, -1), parent[parent.length - 1]!)
      : undefined);
  const what = missing ? `is missing; add ${String(key)} = … to this table` : issue.message;
  return new ConfigError(
    ErrorCode.CONFIG_INVALID,
    `${file}${line ? `:${line}` : ''}: ${path.join('.')}: ${what}`,
    { file, key: path.join('.') },
  );
}

export function loadConfig(options: LoadConfigOptions): EffectiveConfig {
  const { root, env } = options;
  const sources: Record<string, string> = {};
  const warnings: string[] = [];
  const explicit = env.FLUJO_CONFIG_PATH;
  const file = explicit ? resolve(root, explicit) : join(root, 'flujo.toml');
  if (explicit && !existsSync(file)) {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `FLUJO_CONFIG_PATH names ${file}, which does not exist; fix the path or unset the variable`,
      { file },
    );
  }
  let toml: FlujoToml = {};
  let text = '';
  const found = existsSync(file);
  if (found) {
    const read = readToml(file);
    text = read.text;
    const parsed = FlujoToml.safeParse(withoutFlujoOnly(read.doc, file, warnings));
    if (!parsed.success) throw problem(file, text, parsed.error.issues[0] as z.core.$ZodIssue);
    toml = parsed.data;
  }
  const from = (key: string) => {
    const line = lineOf(text, key.split('.').slice(0, -1), key.split('.').pop() as string);
    return `${file}${line ? `:${line}` : ''}`;
  };

  // Each entry is a path, a glob or a package name; one that is none of them is said here, not
  // left to match nothing (ADR 152).
  for (const entry of toml.blueprint_allowed_imports ?? []) {
    const why = entryProblem(entry);
    if (why)
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${from('blueprint_allowed_imports')}: blueprint_allowed_imports entry ${JSON.stringify(entry)} ${why}`,
        { file, key: 'blueprint_allowed_imports' },
      );
  }

  let merged: Record<string, string | undefined> = { ...env };
  if (toml.env_file) {
    const envPath = resolve(dirname(file), toml.env_file);
    if (!existsSync(envPath)) {
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${from('env_file')}: env_file ${envPath} does not exist; create it (see .env.example) or remove the key`,
        { file },
      );
    }
    const vars = loadEnvFile(envPath);
    merged = { ...vars, ...env };
    for (const k of Object.keys(vars))
      sources[`env.${k}`] = env[k] !== undefined ? 'environment' : envPath;
  }

  let stateUri: string;
  if (options.stateUri) {
    stateUri = options.stateUri;
    sources.state_uri = '--state-uri';
  } else if (env.FLUJO_STATE_URI) {
    stateUri = env.FLUJO_STATE_URI;
    sources.state_uri = 'FLUJO_STATE_URI';
  } else if (env.FLUJO_STATE_MODE === 'memory' || env.FLUJO_STATE_MODE === 'ephemeral') {
    stateUri = 'memory://';
    sources.state_uri = `FLUJO_STATE_MODE=${env.FLUJO_STATE_MODE}`;
  } else if (toml.state_uri) {
    stateUri = toml.state_uri;
    sources.state_uri = from('state_uri');
  } else {
    stateUri = `sqlite:///${DEFAULT_STATE_PATH}`;
    sources.state_uri = 'default';
  }
  for (const [section, values] of Object.entries(toml)) {
    if (section === 'state_uri') continue;
    if (values && typeof values === 'object' && !Array.isArray(values)) {
      for (const k of Object.keys(values)) sources[`${section}.${k}`] = from(`${section}.${k}`);
    } else sources[section] = from(section);
  }
  // Every leaf of a deeper table too (budgets.pipeline."nightly-*".total_cost_usd_limit,
  // cost.providers.openai."gpt-4.1".…), by its path: a model name may hold a dot.
  const at = (path: readonly string[], key: string) => {
    const line = lineOf(text, path, key);
    return `${file}${line ? `:${line}` : ''}`;
  };
  const leaves = (path: string[], values: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v && typeof v === 'object' && !Array.isArray(v))
        leaves([...path, k], v as Record<string, unknown>);
      else if (path.length >= 2) sources[[...path, k].join('.')] = at(path, k);
    }
  };
  for (const [section, values] of Object.entries(toml))
    if (values && typeof values === 'object' && !Array.isArray(values))
      leaves([section], values as Record<string, unknown>);
  return {
    root,
    ...(found ? { file } : {}),
    toml,
    stateUri,
    env: merged,
    sources,
    warnings,
  };
}
