/**
 * Where the project is. Root: --project, then FLUJO_PROJECT_ROOT,
 * then the nearest folder upward holding flujo.toml or pipeline.yaml, else the working folder.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

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
