/**
 * Writing a command's files all or nothing (init's scaffold; create's pipeline.yaml with its
 * flujo.toml budget). What is at each path is looked at first; then every file is written under a
 * temporary name beside the file it becomes and renamed into place, a replaced file kept under a
 * temporary name until all are in place; a failure takes back what was done. A path that is a
 * link is written through only to a file inside the project (ADR 157).
 */
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';

/** `EACCES: permission denied` from an fs error (its message without the syscall and path). */
export function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.message ?? String(e)).split(',')[0] || (err.code ?? 'unknown error');
}

/** What is at a path, following links: no `stat` if nothing is (or a link points at nothing). */
export interface Look {
  readonly stat?: Stats;
  /** Where the link at the path points, as written in it (a link that leads to a file or not). */
  readonly link?: string;
  readonly danglingLink?: boolean;
  readonly error?: unknown;
}

export function look(path: string): Look {
  let link: string | undefined;
  try {
    if (lstatSync(path).isSymbolicLink()) link = readlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return { error: e };
    return {};
  }
  try {
    return { stat: statSync(path), ...(link !== undefined ? { link } : {}) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A link to nothing, or a loop of links (ELOOP): nothing a file can be written through.
    if (link !== undefined && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP'))
      return { link, danglingLink: true };
    return { error: e };
  }
}

/** What a path that is neither a file nor a folder is, for a refusal. */
export function kindOf(s: Stats): string {
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Whether `p` is `root` or inside it (both absolute). */
export function insideDir(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

const realOr = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/**
 * The file a link at `abs` leads to, when its real path is inside the real `root` (ADR 157): the
 * bytes for `abs` go there. `outside` names it when it is not: a command writes no file outside
 * its project, not even through a link the project holds.
 */
export function linkedFile(abs: string, root: string): { file?: string; outside?: string } {
  const real = realpathSync(abs);
  return insideDir(realOr(root), real) ? { file: real } : { outside: real };
}

/** A file to write: where its bytes go (a path, or the file a link leads to) and what it replaces. */
export interface FileWrite {
  readonly file: string;
  readonly text: string;
  /** The file it replaces, whose mode the new one keeps. */
  readonly existing?: Stats;
  /** The path a refusal names. */
  readonly shown: string;
}

const tempName = (file: string, tag: string) =>
  join(dirname(file), `.${basename(file)}.${randomUUID().slice(0, 8)}.${tag}`);

/**
 * Whether this user may make files in the folder `dir`: a file is written there and removed.
 * The error when not (EACCES, EROFS…), else undefined.
 */
export function cannotWriteIn(dir: string, tag: string): unknown {
  const probe = join(dir, `.${randomUUID().slice(0, 8)}.${tag}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch (e) {
    return e;
  }
  try {
    unlinkSync(probe);
  } catch {
    // made and not removed: the folder is writable, which is what was asked
  }
  return undefined;
}

/**
 * Makes `missingDirs` (outermost first), writes every file under a temporary name, then renames
 * each into place. On a failure it removes what it made, puts back what it replaced, and throws
 * what `refusal` makes of the step that failed (`cannot write PATH`) and its error.
 */
export function writeAll(
  files: readonly FileWrite[],
  missingDirs: readonly string[],
  refusal: (what: string, e: unknown) => Error,
  tag: string,
): void {
  const madeDirs: string[] = [];
  const temps = new Map<FileWrite, string>();
  const backups = new Map<FileWrite, string>();
  const placed: FileWrite[] = [];
  const quietly = (f: () => void) => {
    try {
      f();
    } catch {
      // best effort: the refusal names the failure that matters
    }
  };
  const fail = (what: string, e: unknown): never => {
    for (const t of placed) if (!backups.has(t)) quietly(() => unlinkSync(t.file));
    for (const [t, backup] of backups) quietly(() => renameSync(backup, t.file));
    for (const temp of temps.values()) quietly(() => unlinkSync(temp));
    for (const d of madeDirs.reverse()) quietly(() => rmdirSync(d));
    throw refusal(what, e);
  };

  for (const d of missingDirs) {
    try {
      mkdirSync(d);
      madeDirs.push(d);
    } catch (e) {
      fail(`cannot make the folder ${d}`, e);
    }
  }
  for (const t of files) {
    const temp = tempName(t.file, tag);
    try {
      writeFileSync(temp, t.text, { flag: 'wx' });
      temps.set(t, temp);
      if (t.existing) chmodSync(temp, t.existing.mode & 0o7777);
    } catch (e) {
      fail(`cannot write ${t.shown}`, e);
    }
  }
  for (const t of files) {
    try {
      if (t.existing) {
        const backup = tempName(t.file, tag);
        renameSync(t.file, backup);
        backups.set(t, backup);
      }
      renameSync(temps.get(t)!, t.file);
      temps.delete(t);
      placed.push(t);
    } catch (e) {
      fail(`cannot write ${t.shown}`, e);
    }
  }
  for (const backup of backups.values()) quietly(() => unlinkSync(backup));
}
