/**
 * The project root as a boundary: blueprints, imports, prompt files and code modules are read
 * only inside it.
 */
import type { LoadOptions } from './env.js';

/**
 * Whether a file the blueprint names is inside the project root: by its path, and — when the
 * files port resolves links — by the file it really is, so a symlink in the project cannot hand
 * a prompt, import or module from outside it (say `~/.aws/credentials`) to a run.
 */
export function insideRoot(opts: LoadOptions, abs: string): boolean {
  if (opts.allowOutsideRoot === true) return true;
  const under = (p: string, root: string) =>
    p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
  if (!under(abs, opts.root)) return false;
  const real = opts.files.realpath;
  if (!real) return true;
  let target: string;
  try {
    target = real(abs);
  } catch {
    return true; // no such file: the caller's existence check reports it
  }
  let root = opts.root;
  try {
    root = real(opts.root);
  } catch {
    // a root that cannot be resolved is taken as written
  }
  return under(target, root);
}
