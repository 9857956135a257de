/**
 * The project root as a boundary: blueprints, imports, prompt files and code modules are read
 * only inside it; code modules also where flujo.toml's `blueprint_allowed_imports` allows.
 */
import { dirname } from 'node:path';

import { allowedBy, type AllowEntry } from './allowedImports.js';
import type { LoadOptions } from './env.js';

/**
 * Whether a file the blueprint names is inside the project root: by its path, and — when the
 * files port resolves links — by the file it really is, so a symlink in the project cannot hand
 * a prompt, import or module from outside it (say `~/.aws/credentials`) to a run.
 */
export function insideRoot(opts: LoadOptions, abs: string): boolean {
  if (opts.allowOutsideRoot === true) return true;
  const bound = opts.boundary ?? opts.root;
  if (!under(abs, bound)) return false;
  const real = opts.files.realpath;
  if (!real) return true;
  let target: string;
  try {
    target = real(abs);
  } catch {
    return true; // no such file: the caller's existence check reports it
  }
  let root = bound;
  try {
    root = real(bound);
  } catch {
    // a root that cannot be resolved is taken as written
  }
  return under(target, root);
}

const under = (p: string, root: string) =>
  p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);

/**
 * The boundary for a blueprint file `file` given by path: none (the project root) when it is
 * inside `root`, else its own folder. Before, such a blueprint was read with no boundary at all,
 * so `flujo run ~/Downloads/x.yaml` could hand any file on disk to a prompt or a finding.
 */
export function outsideProject(root: string, file: string): { boundary?: string } {
  return under(file, root) ? {} : { boundary: dirname(file) };
}

/**
 * Where a file refused by insideRoot is: outside the project root, or, for a blueprint outside
 * the project (ADR 160), outside the blueprint's folder.
 */
export function outsideWords(opts: LoadOptions): string {
  return opts.boundary === undefined
    ? `outside the project root ${opts.root}`
    : `outside ${opts.boundary}, the folder of a blueprint that is outside the project root ${opts.root}`;
}

/**
 * Why the code module at `abs` may not be loaded, or undefined when it may: inside the root (as
 * insideRoot decides), or outside it with its real path allowed by `blueprint_allowed_imports`
 * (ADR 152). `real` is the module's real path, which a fix names.
 */
export function moduleRefused(
  opts: LoadOptions,
  entries: readonly AllowEntry[],
  abs: string,
): { real: string } | undefined {
  if (insideRoot(opts, abs)) return undefined;
  let real = abs;
  try {
    real = opts.files.realpath?.(abs) ?? abs;
  } catch {
    // not there: matched as written, and the caller's existence check reports it
  }
  return allowedBy(entries, real) ? undefined : { real };
}

/** The project root's real path, when the files port can tell. */
export function realRoot(opts: LoadOptions): string {
  try {
    return opts.files.realpath?.(opts.root) ?? opts.root;
  } catch {
    return opts.root;
  }
}
