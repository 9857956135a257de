/**
 * Several processes opening the same new SQLite state at once (two `flujo worker`s started
 * together, a `flujo run` beside a `flujo lens serve`) all open it: the schema is created once.
 * Each migration re-reads the schema version under the write lock; it read it before taking the
 * lock, so the slower process ran the first migration again and failed with "table event_log
 * already exists" (seen as a worker that never started in test/fleet/deadLetter.test.ts).
 * And two switching the new file to WAL at once deadlock in SQLite, which fails one at once with
 * "database is locked" (SQLITE_BUSY, no busy handler; seen in CI): the switch is tried again. The
 * processes open together, released at once when all are ready, so that they meet there.
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
 * with `file`, only the ledger's SQLite file (the WAL switch and migration). It says it is ready
 * once its modules are loaded, then reads from its stdin the instant to open at and spins until
 * it: the test sends one instant to all four once all are ready, so they open together however
 * slowly each one started (a release by a pipe alone wakes them one after another).
 */
const OPENER = `
import { readFileSync } from 'node:fs';
import { openState } from '${DIST}adapters/ledger/state.js';
import { openSqliteDatabase } from '${DIST}adapters/ledger/sqliteOpen.js';
const [, uri, root, only] = process.argv;
process.stdout.write('ready\\n');
const at = Number(readFileSync(0, 'utf8'));
while (Date.now() < at) {}
if (only === 'file') openSqliteDatabase(uri).close();
else await (await openState(uri, { projectRoot: root })).close();
`;

function open(uri: string, only: string) {
  const args = ['--input-type=module', '-e', OPENER, uri, dir, only];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const ready = new Promise<void>((resolve) =>
    child.stdout.setEncoding('utf8').on('data', (s: string) => s.includes('ready') && resolve()),
  );
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr })),
  );
  return { ready: Promise.race([ready, done]), go: (at: number) => child.stdin.end(`${at}`), done };
}

/** Rounds of `n` processes opening one new file together; the error line of each that failed. */
async function together(rounds: number, only: string, uriOf: (file: string) => string, n = 4) {
  const failures: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const uri = uriOf(join(dir, `${only}-${round}.db`));
    const children = Array.from({ length: n }, () => open(uri, only));
    await Promise.all(children.map((c) => c.ready));
    const at = Date.now() + 50;
    for (const c of children) c.go(at);
    for (const r of await Promise.all(children.map((c) => c.done)))
      if (r.code !== 0)
        failures.push(r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr);
  }
  return failures;
}

describe('a new SQLite state opened by several processes at once', () => {
  it('is created once, and every process opens it', async () => {
    expect(await together(6, 'state', (f) => `sqlite:///${f}`)).toEqual([]);
  }, 120_000);

  it('switches to WAL in every process (without the retry, 2 runs of this test in 3 saw "database is locked")', async () => {
    expect(await together(16, 'file', (f) => f, 6)).toEqual([]);
  }, 120_000);
});
