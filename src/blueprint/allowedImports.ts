/**
 * `blueprint_allowed_imports` (flujo.toml): the modules outside the project root that a blueprint
 * (`uses:` / `agent:` module references, `agent: {path, export}`) and skills.yaml may load. The
 * project owner writes the list; a blueprint cannot widen it. An entry is
 *
 * - a path: absolute, or relative to the project root (`../shared`, `./x` — anything starting
 *   with `/` or `.`): that file, or every file under that folder;
 * - a glob (any entry holding `*` or `?`; relative to the project root unless absolute): `*` and
 *   `?` match within one path segment, a whole segment `**` matches any number of segments. A
 *   wildcard never matches a name starting with `.` (so `.git`, `.ssh`, `.env` must be named);
 * - anything else: a package name, which only skills.yaml reads (`my-skills`).
 *
 * Entries and modules are compared by their real paths (symlinks resolved), so a link cannot
 * bring a module in from elsewhere. No entry allows a path with a `.flujo` segment: that folder
 * holds the runs' state, which runs write. Inside the project nothing changes: entries only widen
 * what may be loaded from outside it (ADR 152).
 */
import { posix } from 'node:path';

export type AllowEntry =
  | { readonly kind: 'path'; readonly raw: string; readonly path: string }
  | { readonly kind: 'glob'; readonly raw: string; readonly re: RegExp }
  | { readonly kind: 'package'; readonly raw: string };

/** The run state's folder: never allowed by an entry, whatever it says. */
export const STATE_DIR = '.flujo';
export const ALLOW_KEY = 'blueprint_allowed_imports';

const isGlob = (s: string) => /[*?]/.test(s);
const isPath = (s: string) => s.startsWith('/') || s.startsWith('.');

/** What is wrong with an entry, as words to follow `entry "…" ` (undefined: nothing). */
export function entryProblem(raw: string): string | undefined {
  if (raw.trim() === '')
    return 'is empty; write a path (absolute or relative to the project root) or a glob';
  if (raw !== raw.trim()) return 'has spaces around it; remove them';
  if (raw.includes('\0')) return 'holds a NUL character';
  if (raw.startsWith('~'))
    return 'starts with ~, which is not expanded; write the absolute path (or one relative to the project root)';
  if (/[[\]{}]/.test(raw))
    return 'holds [ ] { }, which are not wildcards here: only *, ** and ? are; list each path';
  if (!isGlob(raw)) return undefined;
  const segments = raw.split('/');
  if (segments.some((s) => s.includes('**') && s !== '**'))
    return 'has ** inside a path segment; ** stands for whole segments (dir/**/x.mjs), * for part of one';
  const first = segments.findIndex(isGlob);
  if (segments.slice(first).some((s) => s === '.' || s === '..'))
    return 'has . or .. after a wildcard; put them before the first wildcard (../shared/*.mjs)';
  return undefined;
}

function segmentRe(seg: string): string {
  let re = /^[*?]/.test(seg) ? '(?!\\.)' : '';
  for (const ch of seg) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return re;
}

/** The regular expression of an absolute glob (its `..` already resolved). */
export function globRegExp(pattern: string): RegExp {
  const segments = pattern.split('/');
  let re = '';
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '**') re += last ? '(?!\\.)[^/]+(?:/(?!\\.)[^/]+)*' : '(?:(?!\\.)[^/]+/)*';
    else re += segmentRe(seg) + (last ? '' : '/');
  });
  return new RegExp(`^${re}$`);
}

const tryReal = (realpath: ((p: string) => string) | undefined, p: string): string => {
  if (!realpath) return p;
  try {
    return realpath(p);
  } catch {
    return p; // not there (yet): taken as written
  }
};

/**
 * The entries as matchers: paths and glob prefixes resolved against `root` and then to their
 * real paths. Throws a TypeError naming a bad entry (the CLI checks them when it reads
 * flujo.toml, so this is a caller's mistake).
 */
export function resolveEntries(
  raws: readonly string[],
  root: string,
  realpath?: (p: string) => string,
): AllowEntry[] {
  return raws.map((raw): AllowEntry => {
    const problem = entryProblem(raw);
    if (problem) throw new TypeError(`${ALLOW_KEY} entry ${JSON.stringify(raw)} ${problem}`);
    if (!isGlob(raw)) {
      if (!isPath(raw)) return { kind: 'package', raw };
      return { kind: 'path', raw, path: tryReal(realpath, posix.resolve(root, raw)) };
    }
    const segments = raw.split('/');
    const first = segments.findIndex(isGlob);
    const prefix = segments.slice(0, first).join('/');
    const base = tryReal(realpath, posix.resolve(root, prefix === '' && first > 0 ? '/' : prefix));
    const rest = segments.slice(first).join('/');
    return { kind: 'glob', raw, re: globRegExp(`${base === '/' ? '' : base}/${rest}`) };
  });
}

/** Whether a real path has a `.flujo` segment (the run state's folder). */
export const inStateDir = (real: string) => real.split('/').includes(STATE_DIR);

/** The entry that allows the module at real path `real`, if one does. */
export function allowedBy(entries: readonly AllowEntry[], real: string): AllowEntry | undefined {
  if (inStateDir(real)) return undefined;
  return entries.find((e) =>
    e.kind === 'path'
      ? real === e.path || real.startsWith(e.path === '/' ? '/' : `${e.path}/`)
      : e.kind === 'glob' && e.re.test(real),
  );
}

/**
 * The entry to suggest for a module at real path `real`: relative to the project root when they
 * share a top folder (`../shared/x.mjs`, `./m.mjs`), else absolute.
 */
export function suggestedEntry(root: string, real: string): string {
  const top = (p: string) => p.split('/')[1] ?? '';
  if (top(root) !== top(real)) return real;
  const rel = posix.relative(root, real);
  // `m.mjs` would be read as a package name, which no blueprint module matches.
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** The flujo.toml line that allows `add` besides the entries already there. */
export function allowLine(existing: readonly string[], add: string): string {
  return `${ALLOW_KEY} = [${[...existing, add].map((e) => JSON.stringify(e)).join(', ')}]`;
}

/** How to add `entry` to the key: the line to write, and where. */
export function allowWords(
  existing: readonly string[],
  entry: string,
  configFile = 'flujo.toml',
): string {
  const line = allowLine(existing, entry);
  return existing.length === 0
    ? `add the line ${line} to ${configFile}, above its first [table]`
    : `in ${configFile}, make the line ${line}`;
}

/** What to do to allow a module at real path `real`, naming the key and the line to write. */
export function allowFix(
  existing: readonly string[],
  root: string,
  real: string,
  configFile = 'flujo.toml',
): string {
  if (inStateDir(real))
    return `move the module into the project: no ${ALLOW_KEY} entry allows a file inside a ${STATE_DIR} folder (run state)`;
  return `move the module into the project, or allow it: ${allowWords(existing, suggestedEntry(root, real), configFile)}`;
}
