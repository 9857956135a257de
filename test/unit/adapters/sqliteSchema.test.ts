/**
 * The SQLite ledger's v2 schema (ADR 36): events keyed by a run number, the v1 `events` table
 * kept as a view, and the move of a v1 ledger to it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { ConfigError } from '../../../src/errors.js';
import { initFastHash } from '../../../src/events/chain.js';
import { emptyHead, sealBatch, type Head } from '../../../src/events/envelope.js';
import type { NewEvent } from '../../../src/events/catalogue.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';
import { goldenEvents } from '../../fixtures/golden/events.js';

const dirs: string[] = [];
const tmpPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'flujo-schema-'));
  dirs.push(d);
  return join(d, 'state.db');
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
beforeAll(initFastHash);

const V1 = `CREATE TABLE events (
     pos INTEGER PRIMARY KEY, run_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
     at INTEGER NOT NULL, prev BLOB NOT NULL, hash BLOB NOT NULL, body BLOB NOT NULL,
     UNIQUE (run_id, seq));
   CREATE TABLE run_heads (
     run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash BLOB NOT NULL, epoch INTEGER NOT NULL,
     terminal INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;`;

/** A ledger as Flujo wrote it before v2: two runs whose events interleave, one of them closed. */
function writeV1(path: string, withHeads = true) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(V1);
  db.pragma('user_version = 1');
  const ins = db.prepare(
    'INSERT INTO events (run_id, seq, type, at, prev, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const heads = new Map<string, Head>([
    ['run-b', emptyHead('run-b')],
    ['run-a', emptyHead('run-a')],
  ]);
  // run-a stops short of its RunCompleted: it is still open.
  const order = goldenEvents.flatMap((e, i) =>
    i < goldenEvents.length - 1
      ? [['run-b', e] as const, ['run-a', e] as const]
      : [['run-b', e] as const],
  );
  let at = 1_764_000_000_000;
  for (const [runId, e] of order) {
    const [r] = sealBatch(heads.get(runId) as Head, [e], at++);
    ins.run(runId, r!.seq, r!.type, r!.at, r!.prev, r!.hash, r!.body);
    heads.set(runId, { runId, seq: r!.seq, hash: r!.hash });
  }
  if (withHeads) {
    const head = db.prepare('INSERT INTO run_heads VALUES (?, ?, ?, ?, ?, ?, ?)');
    head.run('run-b', heads.get('run-b')!.seq, heads.get('run-b')!.hash, 3, 1, 10, 20);
    head.run('run-a', heads.get('run-a')!.seq, heads.get('run-a')!.hash, 2, 0, 11, 21);
  }
  const rows = db.prepare('SELECT * FROM events ORDER BY pos').all();
  db.close();
  return { heads, rows };
}

describe('the SQLite ledger schema v2', () => {
  it('moves a v1 ledger to v2 without losing or changing a row: positions, heads and chains as they were', async () => {
    const path = tmpPath();
    const { heads, rows } = writeV1(path);
    const store = createSqliteLedger({ path });
    expect(store.db.pragma('user_version', { simple: true })).toBe(2);
    // The v1 columns, through the view, in the same global order.
    expect(store.db.prepare('SELECT * FROM events ORDER BY pos').all()).toEqual(rows);
    for (const runId of ['run-a', 'run-b']) {
      expect((await verifyStoredRun(store, runId)).ok).toBe(true);
      const head = await store.head(runId);
      expect(head?.seq).toBe(heads.get(runId)!.seq);
      expect(Buffer.from(head!.hash)).toEqual(Buffer.from(heads.get(runId)!.hash));
    }
    expect((await store.head('run-b'))?.terminal).toBe(true);
    expect((await store.head('run-a'))?.epoch).toBe(2);
    const all = await store.readAll(undefined, 100);
    expect(all.map((r) => `${r.runId}:${r.seq}`)).toEqual(
      rows.map((r) => `${(r as { run_id: string }).run_id}:${(r as { seq: number }).seq}`),
    );
    // The open run goes on where it was.
    const a = heads.get('run-a')!;
    const res = await store.append({
      runId: 'run-a',
      expected: a,
      events: [goldenEvents[goldenEvents.length - 1] as NewEvent],
      at: 1_764_000_100_000,
    });
    expect(res.head.seq).toBe(goldenEvents.length);
    expect((await verifyStoredRun(store, 'run-a')).ok).toBe(true);
    await store.close();
  });

  it('refuses to move a v1 ledger whose events have no head row, names the run, and changes nothing', () => {
    const path = tmpPath();
    const { rows } = writeV1(path, false);
    let err: unknown;
    try {
      createSqliteLedger({ path });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/run run-[ab] has events but no head row/);
    expect((err as Error).message).toContain('nothing was changed');
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare('SELECT * FROM events ORDER BY pos').all()).toEqual(rows);
    db.close();
  });

  it('keeps the v1 events columns for auditors: reads by run id use the indexes, and tampering through the view reaches the rows', async () => {
    const path = tmpPath();
    const store = createSqliteLedger({ path });
    let head = emptyHead('run-1');
    for (const e of goldenEvents)
      head = (await store.append({ runId: 'run-1', expected: head, events: [e], at: 1 })).head;
    const plan = store.db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT seq, prev, hash, body FROM events WHERE run_id = 'run-1' ORDER BY seq",
      )
      .all()
      .map((r) => (r as { detail: string }).detail)
      .join(' | ');
    expect(plan).not.toMatch(/SCAN|TEMP B-TREE/);
    store.db
      .prepare("UPDATE events SET hash = zeroblob(32) WHERE run_id = 'run-1' AND seq = 3")
      .run();
    const v = await verifyStoredRun(store, 'run-1');
    expect(v.ok).toBe(false);
    expect(v.failure?.seq).toBe(3);
    store.db.prepare("DELETE FROM events WHERE run_id = 'run-1' AND seq = 2").run();
    expect((await store.read('run-1')).map((r) => r.seq)).not.toContain(2);
    await store.close();
  });

  it('writes about four WAL pages per step commit when many runs with random ids interleave (v1 wrote 4.8)', async () => {
    const path = tmpPath();
    // Inline checkpoints, turned off: every frame of the measured commits stays in the WAL.
    const store = createSqliteLedger({ path, synchronous: 'NORMAL', checkpoint: 'inline' });
    store.db.pragma('wal_autocheckpoint = 0');
    const step: NewEvent[] = goldenEvents.slice(2, 5);
    const commitRun = async (runId: string) => {
      let head = (
        await store.append({
          runId,
          expected: emptyHead(runId),
          events: [goldenEvents[0] as NewEvent],
          at: 1,
        })
      ).head;
      for (let k = 0; k < 10; k++)
        head = (await store.append({ runId, expected: head, events: step, at: 2 })).head;
    };
    // Enough runs that the id index has many leaves, then count the frames of 200 more runs.
    for (let i = 0; i < 400; i++) await commitRun(randomUUID());
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    for (let i = 0; i < 200; i++) await commitRun(randomUUID());
    const wal = readFileSync(`${path}-wal`);
    const pageSize = store.db.pragma('page_size', { simple: true }) as number;
    let frames = 0;
    let commits = 0;
    for (let off = 32; off + 24 <= wal.length; off += 24 + pageSize) {
      if (wal.readUInt32BE(off) === 0) break;
      frames++;
      if (wal.readUInt32BE(off + 4) !== 0) commits++;
    }
    expect(commits).toBe(200 * 11);
    expect(frames / commits).toBeLessThan(4.5);
    await store.close();
  });
});
