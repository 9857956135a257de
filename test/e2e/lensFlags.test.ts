/**
 * Flags of the lens commands a user can get wrong: an `-o` file that cannot be written, a
 * `--limit` or `--since` too large for the store or the calendar, `--json` with `--format`. Each is
 * a refusal (`error: [USAGE] …`, exit 2, and one JSON object on stdout under --json), never an
 * internal error. One project from `flujo init`, its default SQLite state, one paused run.
 */
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, type CliResult } from './cli.js';

let dir: string;
const cli = (...args: string[]) => runCli(args, { cwd: dir });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-lensflags-'));
  const init = cli('init');
  expect(init.code, init.stderr).toBe(0);
  const run = cli('run', '--input', 'A', '--run-id', 'abc1', '--json');
  expect(run.code, run.stderr).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ run_id: 'abc1', status: 'paused' });
  mkdirSync(join(dir, 'out'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A refusal: exit 2, `error: [USAGE] …` matching `message`, no internal-error banner. */
function usage(r: CliResult, message: RegExp): void {
  expect(r.stderr).not.toMatch(/internal error|bug in Flujo/);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(/^error: \[USAGE\] /m);
  expect(r.stderr).toMatch(message);
}

/** The same under --json: stdout is one object `{ run_id?, error: { code: USAGE, message } }`. */
function jsonUsage(r: CliResult, message: RegExp): void {
  usage(r, message);
  const value = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  expect(value.error.code).toBe('USAGE');
  expect(value.error.message).toMatch(message);
}

describe('lens -o FILE that cannot be written', () => {
  it('export into a missing folder, report onto a folder: USAGE naming the path, no file', () => {
    const missing = join(dir, 'nodir', 'x.cbor');
    jsonUsage(
      cli('lens', 'export', 'abc1', '-o', missing, '--json'),
      /-o \S+nodir\/x\.cbor cannot be written: the folder \S+nodir does not exist/,
    );
    expect(existsSync(join(dir, 'nodir'))).toBe(false);
    const folder = join(dir, 'out');
    usage(
      cli('lens', 'report', 'abc1', '-o', folder),
      /-o \S+out cannot be written: it is a folder; give -o a file name/,
    );
    expect(readdirSync(folder)).toEqual([]);
  });

  it("the project's own state file or its -wal is refused: the runs are still there", () => {
    const state = join(dir, '.flujo', 'state.db');
    const before = statSync(state).size;
    // Before: exit 0, the database overwritten, and every command then failed (SQLITE_NOTADB).
    jsonUsage(
      cli('lens', 'report', 'abc1', '-o', state, '--json'),
      /-o \S+state\.db is this project's state \(\S+state\.db\): writing it would destroy the recorded runs/,
    );
    usage(
      cli('lens', 'export', 'abc1', '-o', '.flujo/state.db-wal'),
      /is this project's state \(\S+state\.db-wal\)/,
    );
    // A hard link to it is the same file (review: a path comparison let it through).
    linkSync(state, join(dir, 'hard.db'));
    usage(
      cli('lens', 'report', 'abc1', '-o', 'hard.db'),
      /is this project's state \(\S+state\.db\)/,
    );
    expect(statSync(state).size).toBe(before);
    const list = cli('lens', 'list', '--json');
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ run_id: 'abc1' })]);
  });
});

describe('lens --limit and --since out of range', () => {
  it('--limit beyond 2^53 - 1 is refused; 2^53 - 1 itself lists', () => {
    jsonUsage(
      cli('lens', 'list', '--limit', '9223372036854775807', '--json'),
      /--limit takes a whole number from 1 to 9007199254740991/,
    );
    const most = cli('lens', 'list', '--limit', String(Number.MAX_SAFE_INTEGER), '--json');
    expect(most.code, most.stderr).toBe(0);
    expect(JSON.parse(most.stdout)).toMatchObject([{ run_id: 'abc1' }]);
  });

  it('--since further back than any date, or a day the month lacks, is refused', () => {
    jsonUsage(
      cli('lens', 'costs', '--since', '1000000000000d', '--json'),
      /--since 1000000000000d reaches back before any date there is/,
    );
    // Date.parse reads 2026-02-30 as March 2.
    jsonUsage(
      cli('lens', 'list', '--since', '2026-02-30', '--json'),
      /--since 2026-02-30 is not a date: 2026-02 has 28 days/,
    );
  });
});

describe('lens report --json with --format', () => {
  it('is a usage error with another format; with --format json it is taken, as before', () => {
    for (const format of ['html', 'md', 'pdf'])
      jsonUsage(
        cli('lens', 'report', 'abc1', '--format', format, '--json'),
        new RegExp(`--json is --format json, and --format says ${format}: give one of them`),
      );
    const both = cli('lens', 'report', 'abc1', '--format', 'json', '--json');
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout)).toMatchObject({ run: { run_id: 'abc1' } });
  });
});
