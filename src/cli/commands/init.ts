/**
 * `flujo init [--force] [--yes]`: scaffolds a project in the current folder (or --project).
 * Never overwrites without --force; asks for confirmation only on a terminal and without --yes.
 *
 * Every path it would write is checked before anything is written: a folder where it writes a
 * file, a file where it makes a folder, or (without --force) a file it would overwrite is refused
 * with CONFIG_INVALID naming it, and nothing is written. --force overwrites files only: it never
 * replaces a folder with a file or a file with a folder. A path that is a link to a file inside the
 * project is that file (written through, with --force); a link leading out of the project, or to
 * nothing, is refused, also under --force (ADR 157). The files are written under temporary
 * names, then renamed into place; a write that still fails (a folder this user may not write)
 * removes what this init made and puts back what it replaced, and is refused the same way.
 *
 * An existing `.gitignore` is the user's (every git repository has one): it is never refused nor
 * replaced, also under --force; the lines it lacks are added at its end (`updated`), or it is
 * left as it is when it has them all (`kept`).
 */
import { readFileSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { ConfigError, ErrorCode, ExitCode } from '../../errors.js';
import { confirm } from '../ask.js';
import type { Output } from '../output.js';
import { GITIGNORE, SCAFFOLD } from '../scaffold/files.js';
import { flujoCommand } from '../shell.js';
import { kindOf, linkedFile, look, reason, writeAll, type Look } from '../writeFiles.js';

export interface InitFlags {
  readonly project?: string;
  readonly force?: boolean;
  readonly yes?: boolean;
  readonly json?: boolean;
}

/** What to do next, as `init` prints it (commands, with `--project` if given; what each does). */
const next = (): readonly (readonly [string, string])[] => [
  [flujoCommand('run --input "Ada"'), 'runs pipeline.yaml; it pauses for your approval'],
  [flujoCommand('resume <run> --input \'{"approved": true}\''), ''],
  [flujoCommand('lens show <run>'), 'what happened, step by step'],
];

/** The scaffold's `.gitignore` lines an existing one lacks (compared trimmed, comments aside). */
function missingIgnores(existing: string): string[] {
  const have = new Set(existing.split(/\r?\n/).map((l) => l.trim()));
  return GITIGNORE.split('\n').filter((l) => l.trim() !== '' && !have.has(l.trim()));
}

interface Target {
  readonly rel: string;
  readonly text: string;
  /**
   * Where the bytes go: the path, or the file a link there leads to when that is inside the
   * project (ADR 157; a link leading out of it is refused).
   */
  readonly file: string;
  readonly existing?: Stats;
  /** An existing `.gitignore` with lines added (`updated`) or left as it is (`kept`). */
  readonly merged?: 'updated' | 'kept';
}

const action = (t: Target) => t.merged ?? (t.existing ? 'overwrote' : 'created');

/** The checks before anything is written: the targets, or a refusal naming every problem. */
function plan(root: string, force: boolean): { targets: Target[]; missingDirs: string[] } {
  const problems: string[] = [];
  const existing: string[] = [];
  const missingDirs: string[] = [];

  // The project folder and the folders above it that init would make.
  let dir = root;
  for (;;) {
    const at = look(dir);
    if (at.stat?.isDirectory()) break;
    if (at.error) {
      problems.push(`${dir} cannot be checked (${reason(at.error)})`);
      break;
    }
    if (at.stat || at.danglingLink) {
      problems.push(
        dir === root
          ? `${root} is ${at.stat ? 'a file' : 'a link to nothing'}, not a folder; remove or rename it, or choose another --project`
          : `${dir} is ${at.stat ? 'a file' : 'a link to nothing'}, so the project folder ${root} cannot be made; remove or rename it, or choose another --project`,
      );
      break;
    }
    missingDirs.unshift(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  if (problems.length > 0) refuse(problems);

  // The folders inside the project that the files go in (skills/).
  const blocked = new Set<string>();
  const subdirs = [...new Set(SCAFFOLD.map((f) => dirname(f.path)).filter((d) => d !== '.'))];
  for (const rel of subdirs) {
    const abs = join(root, rel);
    const at: Look = missingDirs.length > 0 ? {} : look(abs);
    if (!at.stat && !at.danglingLink && !at.error) missingDirs.push(abs);
    else if (at.error) {
      problems.push(`${abs} cannot be checked (${reason(at.error)})`);
      blocked.add(rel);
    } else if (!at.stat?.isDirectory()) {
      const inside = SCAFFOLD.filter((f) => dirname(f.path) === rel).map((f) => f.path);
      problems.push(
        `${abs} is ${at.stat ? 'a file' : 'a link to nothing'} where init makes the folder ${rel}/ for ${inside.join(', ')}; remove or rename it (--force does not replace a file with a folder)`,
      );
      blocked.add(rel);
    }
  }

  const targets: Target[] = [];
  for (const f of SCAFFOLD) {
    const abs = join(root, f.path);
    if (blocked.has(dirname(f.path))) continue;
    const at: Look = missingDirs.includes(dirname(abs)) ? {} : look(abs);
    if (at.error) problems.push(`${abs} cannot be checked (${reason(at.error)})`);
    else if (at.danglingLink)
      problems.push(
        `${abs} is a link to ${at.link}, which does not exist; remove the link or point it at a file`,
      );
    else if (at.stat?.isDirectory())
      problems.push(
        `${abs} is a folder where init writes the file ${f.path}; remove or rename it (--force does not replace a folder)`,
      );
    else if (at.stat && !at.stat.isFile())
      problems.push(
        `${abs} is ${kindOf(at.stat)} where init writes ${f.path}; remove or rename it`,
      );
    else if (at.stat) {
      // A link is written through only to a file inside the project (ADR 157).
      const { file = abs, outside } = at.link !== undefined ? linkedFile(abs, root) : {};
      const leadsOut = () =>
        problems.push(
          `${abs} is a link to ${outside}, outside the project; init writes no file outside it (not with --force either): remove the link to have init write a file of its own there`,
        );
      if (f.path === '.gitignore') {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          problems.push(`${abs} cannot be read (${reason(e)})`);
          continue;
        }
        const missing = missingIgnores(text);
        // Kept as it is, it is not written: a link out of the project is then no matter.
        if (missing.length > 0 && outside) {
          leadsOut();
          continue;
        }
        const sep = text === '' || text.endsWith('\n') ? '' : '\n';
        targets.push({
          rel: f.path,
          text: missing.length > 0 ? `${text}${sep}${missing.join('\n')}\n` : text,
          file,
          existing: at.stat,
          merged: missing.length > 0 ? 'updated' : 'kept',
        });
      } else if (outside) leadsOut();
      else {
        if (!force) existing.push(f.path);
        targets.push({ rel: f.path, text: f.text, file, existing: at.stat });
      }
    } else targets.push({ rel: f.path, text: f.text, file: abs });
  }
  if (existing.length > 0)
    problems.push(
      `${root} already has ${existing.join(', ')}; use --force to overwrite ${existing.length > 1 ? 'them' : 'it'}`,
    );
  if (problems.length > 0) refuse(problems);
  return { targets, missingDirs };
}

function refuse(problems: string[]): never {
  throw new ConfigError(ErrorCode.CONFIG_INVALID, `${problems.join('; ')}; nothing was written`);
}

/** Writes the targets all or nothing (src/cli/writeFiles.ts); a failure is refused, naming it. */
function write(root: string, all: Target[], missingDirs: string[]): void {
  const files = all
    .filter((t) => t.merged !== 'kept')
    .map((t) => ({ ...t, shown: join(root, t.rel) }));
  writeAll(
    files,
    missingDirs,
    (what, e) =>
      new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${what} (${reason(e)}); nothing was written. Make sure you may write there, or choose another --project`,
        { root },
      ),
    'flujo-init',
  );
}

export async function init(flags: InitFlags, out: Output): Promise<number> {
  const root = resolve(process.cwd(), flags.project ?? '.');
  let { targets, missingDirs } = plan(root, Boolean(flags.force));
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  if (interactive && !flags.yes) {
    if (!(await confirm(`Create a Flujo project in ${root}?`))) {
      out.info('nothing written');
      if (flags.json) out.json({ project: root, written: false, files: [], next: [] });
      return ExitCode.ok;
    }
    // The folder may have changed while the question waited.
    ({ targets, missingDirs } = plan(root, Boolean(flags.force)));
  }
  write(root, targets, missingDirs);
  for (const t of targets) out.info(`${action(t)} ${t.rel}`);
  out.info('');
  out.info('Next:');
  // At least two spaces before the comment, so a pasted line is the command and a comment.
  for (const [command, what] of next())
    out.info(`  ${what ? `${`${command}  `.padEnd(33)}# ${what}` : command}`);
  if (flags.json)
    out.json({
      project: root,
      written: true,
      files: targets.map((t) => ({ path: t.rel, action: action(t) })),
      next: next().map(([command]) => command),
    });
  return ExitCode.ok;
}
