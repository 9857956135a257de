/**
 * The effective configuration: flujo.toml (FLUJO_CONFIG_PATH, else <root>/flujo.toml), its
 * env_file, and the environment, with where each setting came from (for `flujo show-config`).
 * Every problem is a ConfigError naming the file, line, column and key, and what to write instead.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';

import { loadEnvFile } from '../adapters/agents/env.js';
import { DEFAULT_STATE_PATH } from '../adapters/ledger/stateUri.js';
import { utf8TextOf } from '../adapters/fs/utf8Text.js';
import { ConfigError, ErrorCode, unreadableFile } from '../errors.js';
import { entryProblem } from '../blueprint/allowedImports.js';
import { nearest } from '../blueprint/findings.js';
import { checkSettings, STATE_MODES } from './checks.js';
import { configFileState } from './configFile.js';
import { FLUJO_ONLY_KEYS, FLUJO_ONLY_SETTINGS, FlujoToml } from './schema.js';
import { placeOf, tomlPlaces, type Places } from './tomlPositions.js';

export interface EffectiveConfig {
  readonly root: string;
  /** The flujo.toml read, if any. */
  readonly file?: string;
  readonly toml: FlujoToml;
  readonly stateUri: string;
  /** The process environment with the env_file's variables under it (the environment wins). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where each effective setting came from: `FLUJO_STATE_URI`, `flujo.toml:3:14` (its
   * value), `default`… */
  readonly sources: Readonly<Record<string, string>>;
  readonly warnings: readonly string[];
}

export interface LoadConfigOptions {
  readonly root: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** --state-uri, which beats everything else. */
  readonly stateUri?: string;
}

/** The keys Flujo TS acts on, by table: what "known keys here" lists (QA L12: not the Flujo
 * (Python) sections it ignores). */
const KNOWN: Record<string, readonly string[]> = {
  '': ['state_uri', 'env_file', 'blueprint_allowed_imports', 'settings', 'cost', 'budgets'],
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

/** `file:LINE:COL` of the value at `path` (of its key with `key`), or of its nearest table. */
type Where = (path: readonly PropertyKey[], key?: 'key') => string;

function whereIn(file: string, places: Places): Where {
  return (path, key) => {
    const place = placeOf(places, path, key ? { key: true } : {});
    return place ? `${file}:${place}` : file;
  };
}

/** Takes Flujo-only keys out (with a warning at each) so the strict schema sees only ours. */
function withoutFlujoOnly(doc: Record<string, unknown>, where: Where, warnings: string[]) {
  const ignored = (path: string[]) =>
    warnings.push(
      `${where(path, 'key')}: ${path.join('.')} is a Flujo (Python) setting with no effect here; ignored`,
    );
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (FLUJO_ONLY_KEYS.has(k)) ignored([k]);
    else out[k] = v;
  }
  const settings = out.settings;
  if (settings && typeof settings === 'object' && !Array.isArray(settings)) {
    const kept: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(settings)) {
      if (FLUJO_ONLY_SETTINGS.has(k)) ignored(['settings', k]);
      else kept[k] = v;
    }
    out.settings = kept;
  }
  return out;
}

function problem(file: string, where: Where, issue: z.core.$ZodIssue): ConfigError {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] as string;
    const dotted = [...path, key].join('.');
    const known = knownAt(issue.path);
    // Flujo's own sections may be what a misspelt top-level key meant; they are not listed.
    const hint = nearest(key, path.length === 0 ? [...known, ...FLUJO_ONLY_KEYS] : known);
    // A top-level key written under a [table] belongs to that table in TOML.
    const top =
      path.length > 0 &&
      ((KNOWN[''] as readonly string[]).includes(key) || FLUJO_ONLY_KEYS.has(key));
    return new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${where([...path, key], 'key')}: unknown key ${dotted}${top ? `; ${key} is a top-level key: move it above the first [table]` : hint ? `; did you mean ${[...path, hint].join('.')}?` : `; known keys here: ${known.join(', ')}`}`,
      { file, key: dotted },
    );
  }
  const key = path[path.length - 1] ?? '';
  // A key that is missing has no place of its own: its table's is named.
  const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  // [[settings]]: an array of tables where one table is meant.
  const many =
    issue.code === 'invalid_type' &&
    issue.expected === 'object' &&
    /received array/.test(issue.message);
  const what = missing
    ? `is missing; add ${key} = … to this table`
    : many
      ? `${issue.message}: [[${path.join('.')}]] makes a list of tables; write [${path.join('.')}] once`
      : issue.message;
  return new ConfigError(ErrorCode.CONFIG_INVALID, `${where(path)}: ${path.join('.')}: ${what}`, {
    file,
    key: path.join('.'),
  });
}

export function loadConfig(options: LoadConfigOptions): EffectiveConfig {
  const { root, env } = options;
  const sources: Record<string, string> = {};
  const warnings: string[] = [];
  const explicit = env.FLUJO_CONFIG_PATH;
  const file = explicit ? resolve(root, explicit) : join(root, 'flujo.toml');
  const state = explicit
    ? configFileState(
        file,
        `FLUJO_CONFIG_PATH names ${file}, which`,
        'fix the path or unset the variable',
      )
    : configFileState(file, file, "make it the project's flujo.toml file, or remove it");
  if (explicit && state === 'absent') {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `FLUJO_CONFIG_PATH names ${file}, which does not exist; fix the path or unset the variable`,
      { file },
    );
  }
  let toml: FlujoToml = {};
  const found = state === 'present';
  let where: Where = () => file;
  if (found) {
    const read = readToml(file);
    where = whereIn(file, tomlPlaces(read.text));
    const parsed = FlujoToml.safeParse(withoutFlujoOnly(read.doc, where, warnings));
    if (!parsed.success) throw problem(file, where, parsed.error.issues[0] as z.core.$ZodIssue);
    toml = parsed.data;
  }

  // Each entry is a path, a glob or a package name; one that is none of them is said here, not
  // left to match nothing (ADR 152).
  for (const [n, entry] of (toml.blueprint_allowed_imports ?? []).entries()) {
    const why = entryProblem(entry);
    if (why)
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${where(['blueprint_allowed_imports', n])}: blueprint_allowed_imports entry ${JSON.stringify(entry)} ${why}`,
        { file, key: 'blueprint_allowed_imports' },
      );
  }
  warnings.push(...checkSettings(toml, env, where));

  let merged: Record<string, string | undefined> = { ...env };
  if (toml.env_file) {
    const envPath = resolve(dirname(file), toml.env_file);
    const named = `${where(['env_file'])}: env_file ${envPath}`;
    const todo = 'create it (see .env.example) or remove the key';
    if (configFileState(envPath, named, todo) === 'absent')
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `${named} does not exist; ${todo}`, { file });
    const vars = loadEnvFile(envPath);
    merged = { ...vars, ...env };
    for (const k of Object.keys(vars))
      sources[`env.${k}`] = env[k] !== undefined ? 'environment' : envPath;
  }

  let stateUri: string;
  const mode = env.FLUJO_STATE_MODE;
  if (options.stateUri) {
    stateUri = options.stateUri;
    sources.state_uri = '--state-uri';
  } else if (env.FLUJO_STATE_URI) {
    stateUri = env.FLUJO_STATE_URI;
    sources.state_uri = 'FLUJO_STATE_URI';
  } else if (mode && STATE_MODES.includes(mode)) {
    stateUri = 'memory://';
    sources.state_uri = `FLUJO_STATE_MODE=${mode}`;
  } else if (toml.state_uri) {
    stateUri = toml.state_uri;
    sources.state_uri = where(['state_uri']);
  } else {
    stateUri = `sqlite:///${DEFAULT_STATE_PATH}`;
    sources.state_uri = 'default';
  }
  // Every setting by its dotted path (a model name may hold a dot: cost.providers.openai.gpt-4.1
  // .prompt_tokens_per_1k), tables and leaves, where its value is written.
  const walk = (path: string[], value: unknown) => {
    if (path.length > 0 && !(path.length === 1 && path[0] === 'state_uri'))
      sources[path.join('.')] = where(path);
    if (value && typeof value === 'object' && !Array.isArray(value))
      for (const [k, v] of Object.entries(value)) walk([...path, k], v);
  };
  walk([], toml);
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
