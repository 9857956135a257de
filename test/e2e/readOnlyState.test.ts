/**
 * `flujo lens verify` and `flujo lens export` open the state file read-only (ADR 83): its bytes
 * stay as they were, a -wal or -shm that was not there is not left behind (one that was there is
 * left as it was), no schema is migrated, and a missing file is named (exit 2) without being
 * created — healthy, damaged, old-schema and missing files, with and without a live writer's WAL.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead } from '../../src/events/envelope.js';
import { completed, started, stepDone } from '../support/events.js';
import { runCli } from './cli.js';

const AT = 1_764_000_000_000;
let dir: string;

beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-readonly-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A project whose state file holds `runs` completed runs, closed (WAL checkpointed, removed). */
async function project(name: string, runs = ['run-a', 'run-b']) {
  const p = join(dir, name);
  mkdirSync(p, { recursive: true });
  writeFileSync(join(p, 'flujo.toml'), '# test project\n');
  const db = join(p, '.flujo', 'state.db');
  const store = createSqliteLedger({ path: db });
  for (const id of runs) {
    await store.append({
      runId: id,
      expected: emptyHead(id),
      events: [started(), stepDone('0', `MARK-${id}-`.padEnd(3000, 'x')), completed()],
      at: AT,
    });
  }
  await store.close();
  return { p, db };
}

/** The state file's bytes and which sidecars exist. */
const files = (db: string) => ({
  db: readFileSync(db),
  wal: existsSync(`${db}-wal`) ? readFileSync(`${db}-wal`) : null,
  shm: existsSync(`${db}-shm`),
});

/** verify (one run, --all, --json) and export (-o, stdout) of run-a; returns their exit codes. */
function readCommands(p: string): number[] {
  const out = join(dir, `${p.split('/').pop()}-a.cbor`);
  rmSync(out, { force: true });
  return [
    runCli(['lens', 'verify', 'run-a'], { cwd: p }).code,
    runCli(['lens', 'verify', '--all', '--json'], { cwd: p }).code,
    runCli(['lens', 'export', 'run-a', '-o', out], { cwd: p }).code,
    runCli(['lens', 'export', 'run-a'], { cwd: p }).code,
  ] as number[];
}

describe('lens verify and lens export change nothing in the state file', () => {
  it('a healthy closed file: same bytes, no -wal or -shm left', async () => {
    const { p, db } = await project('healthy');
    const before = files(db);
    expect(before.wal).toBeNull();
    expect(before.shm).toBe(false);
    expect(readCommands(p)).toEqual([0, 0, 0, 0]);
    expect(files(db)).toEqual(before);
  });

  it('a file with a live writer: its WAL is read (not checkpointed) and left as it was', async () => {
    const { p, db } = await project('live');
    const writer = createSqliteLedger({ path: db, checkpoint: 'inline' });
    try {
      await writer.append({
        runId: 'run-c',
        expected: emptyHead('run-c'),
        events: [started(), completed()],
        at: AT,
      });
      const before = files(db);
      expect(before.wal?.length).toBeGreaterThan(0);
      expect(readCommands(p)).toEqual([0, 0, 0, 0]);
      const all = runCli(['lens', 'verify', '--all', '--json'], { cwd: p });
      expect(JSON.parse(all.stdout)).toMatchObject({ ok: true, runs_checked: 3 });
      const after = files(db);
      expect(after.db.equals(before.db)).toBe(true);
      expect(after.wal?.equals(before.wal as Buffer)).toBe(true);
      expect(after.shm).toBe(true);
    } finally {
      await writer.close();
    }
  });

  it('a damaged file: verify fails the run, export refuses it, and the file is as it was', async () => {
    const { p, db } = await project('damaged', ['run-a', 'run-b', 'run-c']);
    const bytes = readFileSync(db);
    const page = Math.floor(bytes.indexOf('MARK-run-a-') / 4096);
    bytes.fill(0xff, page * 4096, page * 4096 + 16);
    writeFileSync(db, bytes);
    const before = files(db);
    const [one, all, exportFile, exportOut] = readCommands(p);
    expect([one, all, exportFile, exportOut]).toEqual([1, 1, 1, 1]);
    expect(files(db)).toEqual(before);
  });

  it('an older ledger schema is read as it is, not migrated: the file as it was', async () => {
    const p = join(dir, 'v1');
    mkdirSync(join(p, '.flujo'), { recursive: true });
    writeFileSync(join(p, 'flujo.toml'), '# test project\n');
    const db = join(p, '.flujo', 'state.db');
    const d = new Database(db);
    d.pragma('journal_mode = WAL');
    d.exec(`CREATE TABLE events (pos INTEGER PRIMARY KEY, run_id TEXT NOT NULL, seq INTEGER NOT NULL,
              type TEXT NOT NULL, at INTEGER NOT NULL, prev BLOB NOT NULL, hash BLOB NOT NULL,
              body BLOB NOT NULL, UNIQUE (run_id, seq));
            CREATE TABLE run_heads (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash BLOB NOT NULL,
              epoch INTEGER NOT NULL, terminal INTEGER NOT NULL, created_at INTEGER NOT NULL,
              updated_at INTEGER NOT NULL) WITHOUT ROWID;`);
    d.pragma('user_version = 1');
    d.close();
    const before = files(db);
    const r = runCli(['lens', 'verify', '--all', '--json'], { cwd: p });
    // ADR 83 amended: a v1 file is read in its own tables (test/ledger/readOldSchema.test.ts
    // verifies and exports the runs an old release wrote).
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, runs_checked: 0 });
    const exp = runCli(['lens', 'export', 'x', '-o', join(dir, 'v1.cbor')], { cwd: p });
    expect(exp.stderr).toContain('[LEDGER_UNKNOWN_RUN] no run matches "x"');
    expect(exp.code).toBe(1);
    expect(files(db)).toEqual(before);
    const v = new Database(db, { readonly: true });
    expect(v.pragma('user_version', { simple: true })).toBe(1);
    v.close();
  });

  it('a missing state file: exit 2 naming it, and neither the file nor its folder is created', () => {
    const p = join(dir, 'missing');
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'flujo.toml'), '# test project\n');
    const db = join(p, '.flujo', 'state.db');
    for (const args of [
      ['lens', 'verify', '--all'],
      ['lens', 'verify', 'run-a', '--json'],
      ['lens', 'export', 'run-a', '-o', join(dir, 'missing.cbor')],
    ]) {
      const r = runCli(args, { cwd: p });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `[CONFIG_STATE_URI] no SQLite ledger at ${db}; nothing was created`,
      );
      expect(existsSync(join(p, '.flujo'))).toBe(false);
    }
    expect(existsSync(join(dir, 'missing.cbor'))).toBe(false);
  });

  it('a project that has recorded no run: the other lens reads create no state file either', () => {
    const p = join(dir, 'norun');
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'flujo.toml'), '# test project\n');
    const db = join(p, '.flujo', 'state.db');
    // Over all runs: an empty ledger, exit 0.
    const list = runCli(['lens', 'list'], { cwd: p });
    expect(list.code).toBe(0);
    expect(list.stderr + list.stdout).toContain('no runs match');
    const listJson = runCli(['lens', 'list', '--json'], { cwd: p });
    expect(listJson.code).toBe(0);
    expect(JSON.parse(listJson.stdout)).toEqual([]);
    // One run: none matches (show reads the read models), or the missing file is named.
    const show = runCli(['lens', 'show', 'run-a'], { cwd: p });
    expect(show.code).toBe(1);
    expect(show.stderr).toContain('LEDGER_UNKNOWN_RUN');
    for (const args of [
      ['lens', 'replay', 'run-a'],
      ['lens', 'trace', 'run-a'],
    ]) {
      const r = runCli(args, { cwd: p });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`no SQLite ledger at ${db}; nothing was created`);
    }
    expect(existsSync(join(p, '.flujo'))).toBe(false);
  });
});
