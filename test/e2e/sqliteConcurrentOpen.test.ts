/**
 * Several processes opening the same new SQLite state at once (two `flujo worker`s started
 * together, a `flujo run` beside a `flujo lens serve`) all open it: the schema is created once.
 * Each migration re-reads the schema version under the write lock; it read it before taking the
 * lock, so the slower process ran the first migration again and failed with "table event_log
 * already exists" (seen as a worker that never started in test/fleet/deadLetter.test.ts).
 * And two switching the new file to WAL at once deadlock in SQLite, which fails one at once with
 * "database is locked" (SQLITE_BUSY, no busy handler; seen in CI): the switch is tried again. The
 * processes start together, at a time given to them, so that they meet there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'flujo-concurrent-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A process that opens the state (ledger and read models, as flujo run does) and closes it, or,
 * with `file`, only the ledger's SQLite file (the WAL switch and migration): started at `at`.
 */
const OPENER = `
import { openState } from '${DIST}adapters/ledger/state.js';
import { openSqliteDatabase } from '${DIST}adapters/ledger/sqliteOpen.js';
const [, uri, root, at, only] = process.argv;
while (Date.now() < Number(at)) {}
if (only === 'file') openSqliteDatabase(uri).close();
else await (await openState(uri, { projectRoot: root })).close();
`;

function open(uri: string, at: number, only = 'state') {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const args = ['--input-type=module', '-e', OPENER, uri, dir, `${at}`, only];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Rounds of four processes opening one new file together; the error line of each that failed. */
async function together(rounds: number, only: string, uriOf: (file: string) => string) {
  const failures: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const uri = uriOf(join(dir, `${only}-${round}.db`));
    const at = Date.now() + 700;
    const results = await Promise.all([0, 1, 2, 3].map(() => open(uri, at, only)));
    for (const r of results)
      if (r.code !== 0)
        failures.push(r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr);
  }
  return failures;
}

describe('a new SQLite state opened by several processes at once', () => {
  it('is created once, and every process opens it', async () => {
    expect(await together(6, 'state', (f) => `sqlite:///${f}`)).toEqual([]);
  }, 120_000);

  it('switches to WAL in every process (about 1 open in 12 failed "database is locked")', async () => {
    expect(await together(12, 'file', (f) => f)).toEqual([]);
  }, 120_000);
});
