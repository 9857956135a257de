/**
 * Several processes opening the same new SQLite state at once (two `flujo worker`s started
 * together, a `flujo run` beside a `flujo lens serve`) all open it: the schema is created once.
 * Each migration re-reads the schema version under the write lock; it read it before taking the
 * lock, so the slower process ran the first migration again and failed with "table event_log
 * already exists" (seen as a worker that never started in test/fleet/deadLetter.test.ts).
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

/** A process that opens the state (ledger and read models, as flujo run does) and closes it. */
const OPENER = `
import { openState } from '${DIST}adapters/ledger/state.js';
const state = await openState(process.argv[1], { projectRoot: process.argv[2] });
await state.close();
`;

function open(uri: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', OPENER, uri, dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a new SQLite state opened by several processes at once', () => {
  it('is created once, and every process opens it', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 6; round++) {
      const uri = `sqlite:///${join(dir, `state-${round}.db`)}`;
      const results = await Promise.all([open(uri), open(uri), open(uri), open(uri)]);
      for (const r of results) if (r.code !== 0) failures.push(r.stderr.trim().split('\n')[0]!);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
