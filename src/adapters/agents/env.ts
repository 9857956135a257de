/**
 * Credentials and endpoints come from an `env` record the composition root passes in (process.env
 * merged with an env_file); nothing below reads process.env. `loadEnvFile` parses a dotenv file.
 */
import { readFileSync } from 'node:fs';

import { ConfigError, ErrorCode } from '../../errors.js';
import { utf8TextOf } from '../fs/utf8Text.js';
import type { Provider } from './config.js';

export type Env = Readonly<Record<string, string | undefined>>;

const KEY_VARS: Record<Provider, string> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
};
const URL_VARS: Record<Provider, string> = {
  openai: 'OPENAI_BASE_URL',
  anthropic: 'ANTHROPIC_BASE_URL',
};
const DEFAULT_URLS: Record<Provider, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
};

export interface Endpoint {
  readonly apiKey: string;
  readonly baseUrl: string;
  /** True when the base URL is the provider's own (not a compatible server). */
  readonly official: boolean;
}

/** The key and base URL for a provider: the step's baseUrl, then the env, then the default. */
export function endpointFor(provider: Provider, env: Env, stepBaseUrl?: string): Endpoint {
  const keyVar = KEY_VARS[provider];
  const apiKey = env[keyVar]?.trim();
  if (!apiKey) {
    throw new ConfigError(
      ErrorCode.CONFIG_MISSING_KEY,
      `${keyVar} is not set: set it in the environment or in the env_file named by flujo.toml (a local OpenAI-compatible server that ignores keys still needs a placeholder such as ${keyVar}=local)`,
      { variable: keyVar },
    );
  }
  const baseUrl = (stepBaseUrl ?? env[URL_VARS[provider]]?.trim()) || DEFAULT_URLS[provider];
  return { apiKey, baseUrl, official: baseUrl.replace(/\/+$/, '') === DEFAULT_URLS[provider] };
}

/**
 * Parses dotenv text: `KEY=value`, optional `export `, `#` comments, single- or double-quoted
 * values (double quotes understand \n, \t, \", \\). Later lines win. Names must be identifiers.
 * Errors name file:line:column and never quote the line: a malformed line is often a secret
 * pasted with the wrong separator (`OPENAI_API_KEY: sk-...`), and errors end up in CI logs.
 */
export function parseEnv(text: string, file = '.env'): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  text.split(/\r?\n/).forEach((raw, i) => {
    const entry = parseLine(raw.trimEnd(), (col, what) => envError(file, i + 1, col, what));
    if (entry) out[entry[0]] = entry[1];
  });
  return out;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const QUOTED = { '"': /^"((?:[^"\\]|\\.)*)"/, "'": /^'([^']*)'/ } as const;

/** One line's name and value, or undefined for a blank or comment line; columns are 1-based. */
function parseLine(
  line: string,
  fail: (col: number, what: string) => Error,
): [string, string] | undefined {
  let pos = line.length - line.trimStart().length;
  if (pos === line.length || line[pos] === '#') return undefined;
  pos += /^export\s+/.exec(line.slice(pos))?.[0].length ?? 0;
  const name = IDENT.exec(line.slice(pos))?.[0];
  if (!name) throw fail(pos + 1, 'expected KEY=value, KEY being letters, digits and _');
  pos += name.length;
  const gap = /^\s*/.exec(line.slice(pos))?.[0].length ?? 0;
  if (line[pos + gap] !== '=') {
    // Only a name followed by a separator is named: a bare token may be the secret itself.
    const next = line[pos];
    const named = next !== undefined && (next === ':' || /\s/.test(next));
    throw fail(pos + gap + 1, `expected KEY=value${named ? `: "=" after ${name}` : ''}`);
  }
  pos += gap + 1;
  pos += /^\s*/.exec(line.slice(pos))?.[0].length ?? 0;
  const rest = line.slice(pos);
  const q = rest[0];
  if (q !== '"' && q !== "'") return [name, rest.replace(/\s+#.*$/, '')];
  const m = QUOTED[q].exec(rest);
  if (!m) {
    const kind = q === '"' ? 'double' : 'single';
    throw fail(
      pos + 1,
      `unterminated ${kind}-quoted value of ${name}: close it with ${q} on this line`,
    );
  }
  if (!/^\s*(?:#.*)?$/.test(rest.slice(m[0].length)))
    throw fail(
      pos + m[0].length + 1,
      `expected only a # comment after the closing ${q} of ${name}`,
    );
  const inner = m[1] as string;
  if (q === "'") return [name, inner];
  return [
    name,
    inner.replace(/\\([nrt"\\])/g, (_s, c: string) =>
      c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
    ),
  ];
}

function envError(file: string, line: number, column: number, what: string): ConfigError {
  return new ConfigError(ErrorCode.CONFIG_INVALID, `${file}:${line}:${column}: ${what}`, {
    file,
    line,
    column,
  });
}

/** Reads and parses an env file; a missing file is a ConfigError naming it. */
export function loadEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = utf8TextOf(
      readFileSync(path),
      path,
      (message) => new ConfigError(ErrorCode.CONFIG_INVALID, message, { file: path }),
    );
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `env_file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); fix the env_file path in flujo.toml`,
      { file: path },
    );
  }
  return parseEnv(text, path);
}
