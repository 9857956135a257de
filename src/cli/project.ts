/**
 * Where the project is and what its flujo.toml says. Root: --project, then FLUJO_PROJECT_ROOT,
 * then the nearest folder upward holding flujo.toml or pipeline.yaml, else the working folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { parse as parseToml } from 'smol-toml';

import { ConfigError, ErrorCode } from '../errors.js';

const MARKERS = ['flujo.toml', 'pipeline.yaml'];

export function findProjectRoot(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): string {
  if (explicit) return resolve(cwd, explicit);
  if (env.FLUJO_PROJECT_ROOT) return resolve(cwd, env.FLUJO_PROJECT_ROOT);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (MARKERS.some((m) => existsSync(join(dir, m)))) return dir;
    if (dirname(dir) === dir) return resolve(cwd);
  }
}

export interface ProjectConfig {
  readonly stateUri?: string;
}

export function loadProjectConfig(root: string): ProjectConfig {
  const file = join(root, 'flujo.toml');
  if (!existsSync(file)) return {};
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    const err = e as { line?: number; column?: number; message: string };
    const where = err.line ? `${file}:${err.line}:${err.column ?? 1}` : file;
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${where}: ${err.message.split('\n')[0]}`, {
      file,
    });
  }
  const stateUri = doc.state_uri;
  if (stateUri !== undefined && typeof stateUri !== 'string') {
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${file}: state_uri must be a string`, {
      file,
    });
  }
  return stateUri === undefined ? {} : { stateUri };
}
