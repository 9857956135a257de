/**
 * What the lens commands share: the project's config and ledger, run-id prefixes, and reading a
 * run's events. Read models come from the projections (./lensState.ts); everything here needs
 * only the ledger.
 */
import {
  closeSync,
  fstatSync,
  openSync,
  realpathSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { openLedger } from '../../adapters/ledger/open.js';
import { parseStateUri } from '../../adapters/ledger/stateUri.js';
import type { EffectiveConfig } from '../../config/load.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { readSince } from '../../lens/since.js';
import type { LedgerStore } from '../../ports.js';
import { missingStateFile, projectConfig, resolveRunId, type GlobalOptions } from '../context.js';

export interface LensFlags extends GlobalOptions {
  readonly json?: boolean;
}

export function lensConfig(flags: GlobalOptions): EffectiveConfig {
  return projectConfig(flags, process.env, process.cwd());
}

export async function openLensLedger(
  cfg: EffectiveConfig,
  access: { readonly readOnly?: boolean } = {},
): Promise<LedgerStore> {
  const sync = cfg.toml.settings?.sqlite_synchronous;
  return openLedger(cfg.stateUri, {
    projectRoot: cfg.root,
    ...(sync ? { sqliteSynchronous: sync } : {}),
    ...access,
  });
}

/**
 * Opens the ledger, resolves the run prefix, runs `work`, and always closes the ledger. The
 * commands that use this only read a run's events (trace, report, watch, verify, export,
 * replay), so the ledger is opened read-only by default: a role granted only SELECT, or a file
 * this user may only read, serves them, and nothing is created or migrated (ADR 83, 94).
 */
export async function withRun<T>(
  flags: GlobalOptions,
  prefix: string,
  work: (ctx: { cfg: EffectiveConfig; ledger: LedgerStore; runId: string }) => Promise<T>,
  access: { readonly readOnly?: boolean } = { readOnly: true },
): Promise<T> {
  const cfg = lensConfig(flags);
  // A project that has recorded no run has no state file: opening it read-only says so (exit 2,
  // the file named) instead of creating an empty one to find no run in.
  const ledger = await openLensLedger(cfg, missingStateFile(cfg) ? { readOnly: true } : access);
  try {
    const runId = await resolveRunId(ledger, prefix);
    return await work({ cfg, ledger, runId });
  } finally {
    await ledger.close();
  }
}

export function usage(message: string): EngineError {
  return new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });
}

/** `--since` of lens list and lens costs: epoch ms, or USAGE (exit 2) saying what to pass. */
export function sinceFlag(text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const since = readSince(text, now);
  if ('at' in since) return since.at;
  throw usage(`--since ${text} ${since.problem}`);
}

/**
 * Writes `-o FILE` of lens export and lens report. A file that cannot be written (its folder
 * missing, a folder, no permission, a full disk) is a refusal naming it (USAGE, exit 2), not an
 * internal error; a write that fails part way removes what it wrote, so no partial file is left.
 */
export function writeOutputFile(
  file: string,
  data: string | Uint8Array,
  cfg: EffectiveConfig,
): void {
  refuseStateFile(file, cfg);
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (e) {
    throw cannotWrite(file, e);
  }
  // Only a file this command made or emptied is removed: a device or a pipe (-o /dev/stdout) stays.
  let regular = false;
  try {
    regular = fstatSync(fd).isFile();
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
  } catch (e) {
    closeQuietly(fd);
    if (regular) unlinkQuietly(file);
    throw cannotWrite(file, e, regular ? 'the part written was removed' : '');
  }
  try {
    closeSync(fd);
  } catch (e) {
    if (regular) unlinkQuietly(file);
    throw cannotWrite(file, e, regular ? 'the file was removed' : '');
  }
}

/**
 * `-o` naming the project's SQLite state or its -wal, -shm or -journal file is refused: writing it
 * would destroy every recorded run (every command then failed with SQLITE_NOTADB). A file that
 * exists is the same file when its device and inode are (a symlink, a hard link, another case of
 * the name on a disk that ignores case); one that does not yet, when its real folder and name are.
 */
function refuseStateFile(file: string, cfg: EffectiveConfig): void {
  const state = parseStateUri(cfg.stateUri, cfg.root);
  if (state.kind !== 'sqlite') return;
  const identity = (p: string): string | undefined => {
    try {
      const st = statSync(p);
      return `${st.dev}:${st.ino}`;
    } catch {
      return undefined;
    }
  };
  const place = (p: string): string => {
    try {
      return join(realpathSync(dirname(p)), basename(p));
    } catch {
      return resolve(p);
    }
  };
  const target = identity(file);
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const own = `${state.path}${suffix}`;
    const same = target !== undefined ? identity(own) === target : place(own) === place(file);
    if (same)
      throw usage(
        `-o ${file} is this project's state (${own}): writing it would destroy the recorded runs; give -o another file; nothing was written`,
      );
  }
}

/** `-o FILE` as given, resolved against the working folder; an empty one is refused. */
export function outputFlag(given: string | undefined): string | undefined {
  if (given === undefined) return undefined;
  if (given === '') throw usage('-o is empty: give it a file name, or leave -o out');
  return resolve(process.cwd(), given);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already reported by the write that failed
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // gone already, or not ours to remove
  }
}

function cannotWrite(file: string, e: unknown, after = 'nothing was written'): EngineError {
  const code = (e as { code?: unknown })?.code;
  const why =
    code === 'ENOENT'
      ? `the folder ${dirname(file)} does not exist; create it or give -o a file in a folder that does`
      : code === 'ENOTDIR'
        ? `a part of ${dirname(file)} is not a folder; give -o a file in a folder`
        : code === 'EISDIR'
          ? 'it is a folder; give -o a file name (a file in that folder, for example)'
          : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
            ? 'this user may not write it; give -o a file in a folder you may write'
            : `${(e as Error)?.message ?? String(e)}; give -o another file`;
  return usage(`-o ${file} cannot be written: ${why}${after ? `; ${after}` : ''}`);
}
