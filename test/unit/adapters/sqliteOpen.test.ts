import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';

import { ConfigError, EngineError } from '../../../src/errors.js';
import { initFastHash } from '../../../src/events/chain.js';
import { emptyHead } from '../../../src/events/envelope.js';
import { started } from '../../support/events.js';
import { createSqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { openLedger } from '../../../src/adapters/ledger/open.js';
import { inPlaceReaders } from '../../../src/adapters/ledger/sqliteOpen.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'flujo-open-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('opening a SQLite ledger', () => {
  it('creates the folders of a new state path', async () => {
    const root = tmp();
    const store = await openLedger('sqlite:///.flujo/deep/state.db', { projectRoot: root });
    expect(store.kind).toBe('sqlite');
    await store.close();
  });

  it('turns a path that cannot be created into a config error naming the path', async () => {
    const root = tmp();
    writeFileSync(join(root, 'blocker'), 'a file, not a folder');
    const err = await openLedger('sqlite:///blocker/state.db', { projectRoot: root }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as Error).message).toContain(join(root, 'blocker', 'state.db'));
  });

  it('turns a file that is not a database into a config error', async () => {
    const root = tmp();
    writeFileSync(
      join(root, 'state.db'),
      'not sqlite at all, just text that is long enough to matter'.repeat(20),
    );
    await expect(openLedger('sqlite:///state.db', { projectRoot: root })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it('refuses a ledger written by a newer schema version', () => {
    const path = join(tmp(), 'state.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => createSqliteLedger({ path })).toThrow(/schema v99.*Upgrade Flujo/);
  });

  it('runs in WAL mode with the synchronous level asked for', async () => {
    const path = join(tmp(), 'state.db');
    for (const [mode, level] of [
      ['FULL', 2],
      ['NORMAL', 1],
    ] as const) {
      const store = createSqliteLedger({ path, synchronous: mode });
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db.pragma('synchronous', { simple: true })).toBe(level);
      await store.close();
    }
  });

  it('read-only: reads what is there, refuses appends, and leaves the file and its sidecars as they were', async () => {
    await initFastHash();
    const path = join(tmp(), 'state.db');
    const rw = createSqliteLedger({ path });
    await rw.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: 1 });
    await rw.close();
    const bytes = readFileSync(path);
    const sidecars = () => [existsSync(`${path}-wal`), existsSync(`${path}-shm`)];
    expect(sidecars()).toEqual([false, false]);
    const ro = createSqliteLedger({ path, readOnly: true });
    expect((await ro.read('r')).length).toBe(1);
    // SQLite made both while the read-only connection was open; close() has SQLite remove them.
    expect(sidecars()).toEqual([true, true]);
    const err = await ro
      .append({ runId: 'q', expected: emptyHead('q'), events: [started()], at: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as Error).message).toContain('opened read-only');
    await ro.close();
    expect(sidecars()).toEqual([false, false]);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(() => createSqliteLedger({ path: `${path}.missing`, readOnly: true })).toThrow(
      /no SQLite ledger at .*state\.db\.missing; nothing was created/,
    );
    expect(existsSync(`${path}.missing`)).toBe(false);
  });

  it('read-only twice in one process: the last to close, in either order, has SQLite remove the -wal and -shm', async () => {
    await initFastHash();
    const path = join(tmp(), 'state.db');
    const rw = createSqliteLedger({ path });
    await rw.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: 1 });
    await rw.close();
    const bytes = readFileSync(path);
    const sidecars = () => [existsSync(`${path}-wal`), existsSync(`${path}-shm`)];
    for (const firstClosesFirst of [true, false]) {
      const a = createSqliteLedger({ path, readOnly: true });
      // The second finds the files the first made: not a writer's, so they are still to remove.
      const b = createSqliteLedger({ path, readOnly: true });
      expect((await a.read('r')).length).toBe(1);
      expect((await b.read('r')).length).toBe(1);
      expect(sidecars()).toEqual([true, true]);
      const [first, second] = firstClosesFirst ? [a, b] : [b, a];
      await first.close();
      // The other still reads through them.
      expect(sidecars()).toEqual([true, true]);
      expect((await second.read('r')).length).toBe(1);
      await second.close();
      expect(sidecars()).toEqual([false, false]);
      expect(inPlaceReaders()).toBe(0);
    }
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it("read-only beside a writer's -wal and -shm leaves them, however many opens close", async () => {
    await initFastHash();
    const path = join(tmp(), 'state.db');
    const rw = createSqliteLedger({ path });
    await rw.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: 1 });
    const a = createSqliteLedger({ path, readOnly: true });
    const b = createSqliteLedger({ path, readOnly: true });
    await a.close();
    await b.close();
    expect([existsSync(`${path}-wal`), existsSync(`${path}-shm`)]).toEqual([true, true]);
    await rw.append({ runId: 'q', expected: emptyHead('q'), events: [started()], at: 2 });
    await rw.close();
  });

  it('a writer that closes while a read-only open holds its -wal and -shm leaves them: a later open joins files that are still there', async () => {
    // ADR 113 review: the later open takes the first's view ("there before"); it would be wrong
    // if the writer's close could remove the files under the first open and the later one made
    // them again. It cannot: the read-only connection keeps them (SQLite removes them only at the
    // last connection's close), for a writer in this process or in another.
    await initFastHash();
    const path = join(tmp(), 'state.db');
    const sidecars = () => [existsSync(`${path}-wal`), existsSync(`${path}-shm`)];
    const rw = createSqliteLedger({ path });
    await rw.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: 1 });
    const a = createSqliteLedger({ path, readOnly: true });
    await rw.close();
    expect(sidecars()).toEqual([true, true]);
    const other = `const D = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
      const d = new D(process.argv[1]);
      d.pragma('journal_mode = WAL');
      d.exec('CREATE TABLE IF NOT EXISTS other_writer (x)');
      d.close();`;
    execFileSync(process.execPath, ['-e', other, path]);
    expect(sidecars()).toEqual([true, true]);
    const b = createSqliteLedger({ path, readOnly: true });
    expect((await b.read('r')).length).toBe(1);
    await a.close();
    await b.close();
    expect(inPlaceReaders()).toBe(0);
    // The writers' files, as before ADR 113 with one open: no open here made them.
    expect(sidecars()).toEqual([true, true]);
  });
});
