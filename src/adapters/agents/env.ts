/**
 * Credentials and endpoints come from an `env` record the composition root passes in (process.env
 * merged with an env_file); nothing below reads process.env. `loadEnvFile` parses a dotenv file.
 */
import { readFileSync } from 'node:fs';

import { ConfigError, ErrorCode } from '../../errors.js';
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
 */
export function parseEnv(text: string, file = '.env'): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${file}:${i + 1}:1: expected KEY=value, found "${line.slice(0, 40)}"`,
        { file, line: i + 1 },
      );
    }
    const name = m[1] as string;
    let value = (m[2] as string).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') {
        value = value.replace(/\\([nrt"\\])/g, (_s, c: string) =>
          c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
        );
      }
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[name] = value;
  });
  return out;
}

/** Reads and parses an env file; a missing file is a ConfigError naming it. */
export function loadEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `env_file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); fix the env_file path in flujo.toml`,
      { file: path },
    );
  }
  return parseEnv(text, path);
}
