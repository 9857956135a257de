/**
 * Where `flujo create` writes: pipeline.yaml in the output folder and, with --budget, flujo.toml.
 * Everything that can be checked is checked before the Architect's first model call (the folder
 * is a folder or can be made, this user may write in it, pipeline.yaml is no folder and no link
 * leading out of the project, flujo.toml may be written and takes the budget), and again once
 * the Architect is done, then both files are written all or nothing (src/cli/writeFiles.ts).
 */
import { accessSync, constants, readFileSync, type Stats } from 'node:fs';
import { dirname, relative } from 'node:path';

import { ConfigError, ErrorCode } from '../../errors.js';
import {
  cannotWriteIn,
  kindOf,
  linkedFile,
  look,
  reason,
  writeAll,
  type FileWrite,
} from '../writeFiles.js';

export interface Target {
  /** The output folder (absolute). */
  readonly dir: string;
  /** dir/pipeline.yaml. */
  readonly file: string;
  /** The root the draft is checked and run in (draftRoot): no link may lead out of it. */
  readonly root: string;
  readonly force: boolean;
  /** With --budget: the flujo.toml the project reads, and the project root it must stay in. */
  readonly budget?: { readonly file: string; readonly projectRoot: string };
  readonly cwd: string;
}

/** What the checks found: the folders to make, where the bytes go, what they replace. */
export interface Checked {
  readonly missingDirs: readonly string[];
  readonly pipeline: { readonly file: string; readonly existing?: Stats };
  readonly toml?: { readonly file: string; readonly existing?: Stats; readonly text: string };
}

const TAG = 'flujo-create';

/** A path as the messages show it: relative to the current folder. */
export const shownPath = (cwd: string, abs: string) => relative(cwd, abs) || abs;

/**
 * Checks the output folder, pipeline.yaml and (with --budget) flujo.toml; refuses every problem
 * at once with CONFIG_INVALID, its message ending with `nothing` (what was, and was not, done).
 */
export function checkTarget(t: Target, nothing: string): Checked {
  const problems: string[] = [];
  const shown = (abs: string) => shownPath(t.cwd, abs);
  const refuse = (): never => {
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${problems.join('; ')}; ${nothing}`, {
      file: t.file,
    });
  };

  // The output folder, or the folders above it that create would make.
  const missingDirs: string[] = [];
  let d = t.dir;
  for (;;) {
    const at = look(d);
    if (at.stat?.isDirectory()) break;
    if (at.error) problems.push(`${shown(d)} cannot be checked (${reason(at.error)})`);
    else if (at.stat || at.danglingLink) {
      const what = at.stat ? 'a file' : `a link to ${at.link}, which does not exist`;
      problems.push(
        d === t.dir
          ? `the output folder ${shown(d)} is ${what}, not a folder; choose another --output-dir`
          : `${shown(d)} is ${what}, so the output folder ${shown(t.dir)} cannot be made; choose another --output-dir`,
      );
    }
    if (at.error || at.stat || at.danglingLink) refuse();
    missingDirs.unshift(d);
    if (dirname(d) === d) break;
    d = dirname(d);
  }
  // This user may make files there (or the folders to make, in the one that exists).
  const denied = cannotWriteIn(d, TAG);
  if (denied)
    problems.push(
      `cannot write in ${shown(d)} (${reason(denied)}); make sure you may write there, or choose another --output-dir`,
    );

  let pipeline: Checked['pipeline'] = { file: t.file };
  const at: ReturnType<typeof look> = missingDirs.length > 0 ? {} : look(t.file);
  const name = shown(t.file);
  if (at.error) problems.push(`${name} cannot be checked (${reason(at.error)})`);
  else if (at.danglingLink)
    problems.push(
      `${name} is a link to ${at.link}, which does not exist; remove the link, or choose another --output-dir`,
    );
  else if (at.stat?.isDirectory())
    problems.push(
      `${name} is a folder; remove or rename it, or choose another --output-dir (--force does not replace a folder)`,
    );
  else if (at.stat && !at.stat.isFile())
    problems.push(`${name} is ${kindOf(at.stat)}; remove it, or choose another --output-dir`);
  else if (at.stat) {
    // A link is written through only to a file inside the draft's root (ADR 157).
    const { file = t.file, outside } = at.link !== undefined ? linkedFile(t.file, t.root) : {};
    if (outside)
      problems.push(
        `${name} is a link to ${outside}, outside ${t.root}; create writes no file outside it (not with --force either): remove the link to have create write a file of its own there, or choose another --output-dir`,
      );
    else if (!t.force)
      problems.push(
        `${name} already exists; use --force to overwrite it, or --output-dir to write elsewhere`,
      );
    else {
      const why = writable(file);
      if (why) problems.push(why);
      pipeline = { file, existing: at.stat };
    }
  }

  const toml = t.budget ? checkToml(t.budget, shown, problems) : undefined;
  if (problems.length > 0) refuse();
  // A new flujo.toml in a --project folder not made yet: its folders are made with the output's.
  if (toml && !toml.existing)
    for (const m of missingAbove(dirname(toml.file)))
      if (!missingDirs.includes(m)) missingDirs.push(m);
  missingDirs.sort((a, b) => a.length - b.length);
  return { missingDirs, pipeline, ...(toml ? { toml } : {}) };
}

/** `dir` and the folders above it that do not exist yet, outermost first. */
function missingAbove(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !look(d).stat && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  return missing;
}

/** A file this user may not write (read-only), and the folder it is replaced in. */
function writable(file: string): string | undefined {
  try {
    accessSync(file, constants.W_OK);
  } catch (e) {
    return `${file} is read-only for this user (${reason(e)}); make it writable, or choose another --output-dir`;
  }
  const denied = cannotWriteIn(dirname(file), TAG);
  return denied ? `cannot write in ${dirname(file)} (${reason(denied)})` : undefined;
}

function checkToml(
  budget: NonNullable<Target['budget']>,
  shown: (abs: string) => string,
  problems: string[],
): Checked['toml'] {
  const name = shown(budget.file);
  const fix = 'drop --budget, or set the budget in it yourself';
  const at = look(budget.file);
  if (at.error) problems.push(`${name} cannot be checked (${reason(at.error)}); ${fix}`);
  else if (at.danglingLink)
    problems.push(`${name} is a link to ${at.link}, which does not exist; ${fix}`);
  else if (at.stat && !at.stat.isFile())
    problems.push(`${name} is ${at.stat.isDirectory() ? 'a folder' : kindOf(at.stat)}; ${fix}`);
  else if (at.stat) {
    const { file = budget.file, outside } =
      at.link !== undefined ? linkedFile(budget.file, budget.projectRoot) : {};
    if (outside) {
      problems.push(
        `${name} is a link to ${outside}, outside the project; create writes no file outside it: ${fix}`,
      );
      return undefined;
    }
    try {
      accessSync(file, constants.W_OK);
    } catch (e) {
      problems.push(`${name} is read-only for this user (${reason(e)}); ${fix}`);
      return undefined;
    }
    const denied = cannotWriteIn(dirname(file), TAG);
    if (denied) {
      problems.push(`cannot write in ${shown(dirname(file))} (${reason(denied)}); ${fix}`);
      return undefined;
    }
    try {
      return { file, existing: at.stat, text: readFileSync(file, 'utf8') };
    } catch (e) {
      problems.push(`${name} cannot be read (${reason(e)}); ${fix}`);
    }
  } else {
    // Made with the folder it goes in when that is not there yet (a new --project folder).
    const folder = dirname(missingAbove(dirname(budget.file))[0] ?? budget.file);
    const denied = look(folder).stat?.isDirectory()
      ? cannotWriteIn(folder, TAG)
      : new Error(`ENOTDIR: ${folder} is not a folder`);
    if (denied) problems.push(`cannot write ${name} (${reason(denied)}); ${fix}`);
    else return { file: budget.file, text: '' };
  }
  return undefined;
}

/**
 * Writes pipeline.yaml and the edited flujo.toml, both or neither; a failure is CONFIG_INVALID
 * naming the path, its message ending with `nothing`.
 */
export function writeTarget(
  t: Target,
  checked: Checked,
  yaml: string,
  tomlText: string | undefined,
  nothing: string,
): void {
  const files: FileWrite[] = [
    { ...checked.pipeline, text: yaml, shown: shownPath(t.cwd, t.file) },
    ...(checked.toml && tomlText !== undefined && t.budget
      ? [{ ...checked.toml, text: tomlText, shown: shownPath(t.cwd, t.budget.file) }]
      : []),
  ];
  writeAll(
    files,
    checked.missingDirs,
    (what, e) =>
      new ConfigError(ErrorCode.CONFIG_INVALID, `${what} (${reason(e)}); ${nothing}`, {
        file: t.file,
      }),
    TAG,
  );
}
