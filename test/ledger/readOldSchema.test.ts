/**
 * `lens verify` and `lens export` read an older-schema ledger as it is (ADR 83, amended): the
 * state file a2e5cd7 wrote (SQLite ledger schema v1, test/fixtures/compat/a2e5cd7/state.db,
 * copied to a temp dir) and the Postgres state d103acb wrote (its dump restored) are verified
 * and exported without a migration or any write: the file's bytes, its schema version, the
 * Postgres read models' versions stay as they were.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash, toHex } from '../../src/events/chain.js';
import { emptyHead } from '../../src/events/envelope.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { SCENARIOS, runIdOf } from '../fixtures/compat/generate.js';
import { SCHEMA_TOKEN, dumpPath } from '../fixtures/compat/generatePostgres.js';
import { stateFilePath } from '../fixtures/compat/generateSqlite.js';
import { corpus } from '../replay/compatCorpus.js';
import { runCli } from '../e2e/cli.js';
import { started } from '../support/events.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

const OLD_SQLITE = 'a2e5cd7';
const OLD_POSTGRES = 'd103acb';
/** The runs the release recorded: every scenario (bigint stopped where its read model failed). */
const runIds = SCENARIOS.map(runIdOf).sort();

/** The rows of the v1 `events` table, read with plain SQL from a copy of the file. */
function storedRows(): Map<string, string[][]> {
  const copy = join(dir, 'raw.db');
  copyFileSync(stateFilePath(OLD_SQLITE), copy);
  const db = new Database(copy);
  try {
    const rows = db
      .prepare<[], { run_id: string; seq: number; type: string; body: string; hash: string }>(
        'SELECT run_id, seq, type, hex(body) AS body, hex(hash) AS hash FROM events ORDER BY run_id, seq',
      )
      .all();
    const by = new Map<string, string[][]>();
    for (const r of rows)
      by.set(r.run_id, [
        ...(by.get(r.run_id) ?? []),
        [String(r.seq), r.type, r.body.toLowerCase(), r.hash.toLowerCase()],
      ]);
    return by;
  } finally {
    db.close();
  }
}

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-oldschema-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const sidecars = (path: string) => ['-wal', '-shm'].filter((s) => existsSync(path + s));

let n = 0;
/** A project holding a copy of the old release's state file. */
function oldProject() {
  const p = join(dir, `p${++n}`);
  mkdirSync(join(p, '.flujo'), { recursive: true });
  writeFileSync(join(p, 'flujo.toml'), '# test project\n');
  const db = join(p, '.flujo', 'state.db');
  copyFileSync(stateFilePath(OLD_SQLITE), db);
  return { p, db };
}

describe(`the SQLite state file ${OLD_SQLITE} wrote (ledger schema v1)`, () => {
  it('is v1, and opened read-only, reads as recorded: every run verifies, nothing is written', async () => {
    const { db } = oldProject();
    const before = sha(db);
    // On a copy: a read-only connection to a WAL file leaves the -wal and -shm SQLite makes.
    copyFileSync(db, join(dir, 'probe.db'));
    const probe = new Database(join(dir, 'probe.db'));
    expect(probe.pragma('user_version', { simple: true })).toBe(1);
    expect(
      probe.prepare("SELECT 1 FROM sqlite_master WHERE name = 'event_log'").get(),
    ).toBeUndefined();
    probe.close();

    const store = createSqliteLedger({ path: db, readOnly: true });
    try {
      const heads = await store.listRuns();
      expect(heads.map((h) => h.runId)).toEqual(runIds);
      const stored = storedRows();
      for (const runId of runIds) {
        const rows = (await store.read(runId)).map((r) => [
          String(r.seq),
          r.type,
          toHex(r.body),
          toHex(r.hash),
        ]);
        expect(rows.length).toBeGreaterThan(0);
        expect(rows).toEqual(stored.get(runId));
        expect(await verifyStoredRun(store, runId)).toMatchObject({
          ok: true,
          events: rows.length,
        });
        // Part of a run, from a seq: the same rows.
        expect((await store.read(runId, { fromSeq: 2, limit: 3 })).map((r) => r.seq)).toEqual(
          [2, 3, 4].filter((x) => x <= rows.length),
        );
      }
      const all = await store.readAll(undefined, 10_000);
      expect(all.length).toBe(
        (await Promise.all(heads.map((h) => store.read(h.runId)))).reduce(
          (a, r) => a + r.length,
          0,
        ),
      );
      expect(all.map((r) => Number(r.pos))).toEqual(
        [...all.map((r) => Number(r.pos))].sort((a, b) => a - b),
      );
      expect(await store.orphans!()).toEqual([]);
      await expect(
        store.append({
          runId: 'x',
          expected: emptyHead('x'),
          events: [started()],
          at: 1,
        }),
      ).rejects.toMatchObject({ code: 'USAGE' });
    } finally {
      await store.close();
    }
    expect(sha(db)).toBe(before);
    expect(sidecars(db)).toEqual([]);
  });

  it('a changed byte in a v1 row is found at its seq (the old tables are really read)', async () => {
    const { db } = oldProject();
    const w = new Database(db);
    w.prepare(
      "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'pen', 'pan') AS BLOB) WHERE run_id = 'compat-hitl_object' AND seq = 1",
    ).run();
    w.close();
    const store = createSqliteLedger({ path: db, readOnly: true });
    try {
      expect(await verifyStoredRun(store, 'compat-hitl_object')).toMatchObject({
        ok: false,
        failure: { seq: 1 },
      });
      expect(await verifyStoredRun(store, 'compat-flow')).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
  });

  it('a v1 run whose head row was deleted is read only by orphans, as in v2 (ADR 130)', async () => {
    const { db } = oldProject();
    const w = new Database(db);
    w.prepare("DELETE FROM run_heads WHERE run_id = 'compat-hitl_object'").run();
    w.close();
    const hitl = storedRows().get('compat-hitl_object')!;
    const store = createSqliteLedger({ path: db, readOnly: true });
    try {
      expect(await store.read('compat-hitl_object')).toEqual([]);
      const all = await store.readAll(undefined, 10_000);
      expect(all.length).toBeGreaterThan(0);
      expect(all.filter((r) => r.runId === 'compat-hitl_object')).toEqual([]);
      expect((await store.read('compat-flow')).length).toBeGreaterThan(0);
      expect(await store.orphans!()).toEqual([
        expect.objectContaining({ events: hitl.length, firstSeq: 1 }),
      ]);
      // By a prefix of its id: a range of the v1 events' run ids, that run's events alone.
      expect(await store.orphans!('compat-hitl_o')).toEqual(await store.orphans!());
      expect(await store.orphans!('compat-f')).toEqual([]);
      expect(await store.orphans!('compat-hitl_objecz')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('lens verify (RUN, --all --json) and lens export read it: exit 0, the file as it was', () => {
    const { p, db } = oldProject();
    const before = sha(db);
    const all = runCli(['lens', 'verify', '--all', '--json'], { cwd: p });
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const events = [...storedRows().values()].reduce((a, r) => a + r.length, 0);
    const body = JSON.parse(all.stdout) as {
      ok: boolean;
      runs_checked: number;
      events_checked: number;
    };
    expect(body).toMatchObject({ ok: true, runs_checked: runIds.length, events_checked: events });
    const one = runCli(['lens', 'verify', 'compat-hitl_object'], { cwd: p });
    expect(one.code).toBe(0);
    const out = join(p, 'hitl.cbor');
    const exp = runCli(['lens', 'export', 'compat-hitl_object', '-o', out], { cwd: p });
    expect(exp.stderr).toContain('exported compat-hitl_object: 11 records');
    expect(exp.code).toBe(0);
    // The export holds the run's bodies as stored.
    const bytes = readFileSync(out).toString('hex');
    const hitl = storedRows().get('compat-hitl_object')!;
    expect(hitl.length).toBe(11);
    for (const [, , body] of hitl) expect(bytes).toContain(body);
    expect(sha(db)).toBe(before);
    expect(sidecars(db)).toEqual([]);
    const v = new Database(db, { readonly: true });
    expect(v.pragma('user_version', { simple: true })).toBe(1);
    v.close();
  });
});

describe(`the Postgres state ${OLD_POSTGRES} wrote, restored`, () => {
  /** What the release recorded in memory (its Postgres rows are these bytes: compatPostgres). */
  const recorded = corpus.filter((c) => c.release === OLD_POSTGRES).map((c) => c.ledger);
  let up = false;
  const schemas: string[] = [];
  beforeAll(async () => {
    up = await postgresReachable();
  });
  afterEach(async () => {
    for (const s of schemas.splice(0)) await dropSchema(s);
  });

  async function query<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return (await c.query<T>(text)).rows;
    } finally {
      await c.end();
    }
  }

  it('verify reads it read-only: every run intact, its read models left at their old version', async (ctx) => {
    if (!up) ctx.skip('postgres is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)');
    const schema = uniqueSchema('oldschema');
    schemas.push(schema);
    await query(readFileSync(dumpPath(OLD_POSTGRES), 'utf8').replaceAll(SCHEMA_TOKEN, schema));
    const state = async () => ({
      versions: await query(
        `SELECT name, version FROM "${schema}".projection_versions ORDER BY name`,
      ),
      tables: await query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY 1`,
      ),
      columns: await query(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = 'runs' ORDER BY 1`,
      ),
      heads: await query(`SELECT * FROM "${schema}".run_heads ORDER BY run_id`),
    });
    const before = await state();
    expect(before.versions).toContainEqual({ name: 'runs', version: 1 });

    const store = await createPostgresLedger({
      connectionString: PG_URL,
      schema,
      readOnly: true,
      max: 2,
    });
    try {
      for (const l of recorded) {
        const v = await verifyStoredRun(store, l.runId);
        expect(v, l.scenario).toMatchObject({ ok: true });
        if (l.scenario !== 'bigint') expect(v.events).toBe(l.events.length);
      }
    } finally {
      await store.close();
    }
    const u = new URL(PG_URL);
    u.searchParams.set('schema', schema);
    const cli = runCli(['lens', 'verify', '--all', '--json', '--state-uri', u.toString()], {
      cwd: dir,
    });
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: true, runs_checked: recorded.length });
    expect(await state()).toEqual(before);
  });
});
