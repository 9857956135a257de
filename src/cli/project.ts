/**
 * Where the project is. Root: --project, then FLUJO_PROJECT_ROOT,
 * then the nearest folder upward holding flujo.toml or pipeline.yaml, else the working folder.
 * A root given (--project, FLUJO_PROJECT_ROOT) must be a folder that exists: a typo, or the
 * project's flujo.toml named instead of its folder, is refused naming where it was given, not
 * taken as an empty project (show-config printed defaults, lens list said there were no runs).
 */
import { lstatSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { ConfigError, ErrorCode } from '../errors.js';
import { shellWord } from './shell.js';

const MARKERS = ['flujo.toml', 'pipeline.yaml'];

/** Whether a marker is there, a link to nothing included: its project's config refuses it
 * (QA L10), rather than the search going on to a folder further up. */
const written = (path: string): boolean => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

export interface FindRootOptions {
  /** A root given that does not exist yet is taken (create writes its draft there). */
  readonly mayNotExist?: boolean;
}

export function findProjectRoot(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
  options: FindRootOptions = {},
): string {
  if (explicit !== undefined)
    return givenRoot(
      resolve(cwd, explicit),
      '--project',
      `--project ${shellWord(explicit)}`,
      options,
    );
  const fromEnv = env.FLUJO_PROJECT_ROOT;
  if (fromEnv)
    return givenRoot(resolve(cwd, fromEnv), 'FLUJO_PROJECT_ROOT', 'FLUJO_PROJECT_ROOT', options);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (MARKERS.some((m) => written(join(dir, m)))) return dir;
    if (dirname(dir) === dir) return resolve(cwd);
  }
}

/** `root` as given by `source` (`--project` or `FLUJO_PROJECT_ROOT`), when it is a folder. */
function givenRoot(root: string, source: string, shown: string, options: FindRootOptions): string {
  let what: string;
  let todo: string;
  try {
    if (statSync(root).isDirectory()) return root;
    const folder = dirname(root);
    what = 'is a file, not a folder';
    todo = `Give the project's folder: ${source === '--project' ? `--project ${shellWord(folder)}` : `${source}=${shellWord(folder)}`}`;
    if (basename(root) === 'flujo.toml')
      todo += ' (to read a flujo.toml kept elsewhere, set FLUJO_CONFIG_PATH to it)';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.mayNotExist) return root;
    what =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'ENOTDIR'
          ? 'is not a folder (a file is on its path)'
          : `cannot be used (${code ?? (e as Error).message})`;
    todo =
      code === 'ENOENT'
        ? `Fix the path, or make a project there with: flujo --project ${shellWord(root)} init`
        : 'Give a project folder this user may read';
  }
  throw new ConfigError(
    ErrorCode.CONFIG_INVALID,
    `${shown} names ${root}, which ${what}; nothing was done. ${todo}`,
    { root, source },
  );
}
