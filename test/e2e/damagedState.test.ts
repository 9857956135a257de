/**
 * A damaged page in a SQLite state file, met by the commands that read or write it after opening
 * (the built CLI): each names the file and what to do next (ADR 75), as `lens verify` and the
 * open itself already did, instead of "the file is damaged" with no file named. The page is
 * damaged as lens verify's test does it: its b-tree header overwritten in the checkpointed file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
let dir: string;
let project: string;
let healthy: Buffer;
let paused: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-damaged-'));
  project = join(dir, 'p');
  expect(runCli(['init', '--project', project], { cwd: dir }).code).toBe(0);
  paused = json(runCli(['run', '--input', 'Ada', '--json'], { cwd: project }).stdout)
    .run_id as string;
  // The state file as the last command left it: WAL checkpointed into it and removed on close.
  healthy = readFileSync(join(project, '.flujo', 'state.db'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The state file again, with the root page of `table` damaged. */
function damage(table: string): string {
  const db = join(project, '.flujo', 'state.db');
  rmSync(`${db}-wal`, { force: true });
  rmSync(`${db}-shm`, { force: true });
  writeFileSync(db, healthy);
  const { root, size } = (() => {
    const d = new Database(db, { readonly: true });
    try {
      const r = d.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as {
        rootpage: number;
      };
      return { root: r.rootpage, size: d.pragma('page_size', { simple: true }) as number };
    } finally {
      d.close();
    }
  })();
  const bytes = readFileSync(db);
  bytes.fill(0xff, (root - 1) * size, (root - 1) * size + 16);
  writeFileSync(db, bytes);
  return db;
}

function expectNamed(r: { code: number | null; stderr: string }, db: string) {
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`error: [LEDGER_STORE] the SQLite ledger ${db} is damaged`);
  expect(r.stderr).toMatch(/SQLITE_CORRUPT/);
  expect(r.stderr).toContain(`restore ${db} from a backup`);
  expect(r.stderr).toContain(`sqlite3 ${db} .recover`);
  expect(r.stderr).toContain('flujo lens verify --all');
  expect(r.stderr).not.toMatch(/internal error|This is a bug/);
}

describe('a damaged page in the SQLite state file', () => {
  it('lens list and lens show name the file and the next step (read models damaged)', () => {
    const db = damage('runs');
    expectNamed(runCli(['lens', 'list'], { cwd: project }), db);
    expectNamed(runCli(['lens', 'list', '--json'], { cwd: project }), db);
    expectNamed(runCli(['lens', 'show', paused], { cwd: project }), db);
  });

  it('resume and run name the file and the next step (events damaged)', () => {
    const db = damage('event_log');
    expectNamed(
      runCli(['resume', paused, '--input', '{"approved":true}', '--json'], { cwd: project }),
      db,
    );
    expectNamed(runCli(['run', '--input', 'Bo', '--json'], { cwd: project }), db);
  });

  it('lens show names the file when the run heads are damaged', () => {
    const db = damage('run_heads');
    expectNamed(runCli(['lens', 'show', paused], { cwd: project }), db);
    expectNamed(
      runCli(['lens', 'export', paused, '-o', join(dir, 'x.cbor')], { cwd: project }),
      db,
    );
  });
});
