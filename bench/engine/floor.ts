/**
 * This machine's commit floor: what one durable commit costs with no engine around it, measured
 * in the same run as the engine. performance.md's anchors (A3, A4) were measured on another
 * machine of this kind, and machines differ most in exactly this: the cost of the write and lock
 * system calls a commit makes. A step of our engine is one commit, so its time minus this floor is
 * what the engine itself adds.
 *
 * - one 1 KB row per transaction: performance.md's A3 (SQLite) and A4 (Postgres) set-up;
 * - a step's commit (SQLite): the rows our ledger writes for one step of a linear pipeline — the
 *   head row moved and four sealed events inserted in one BEGIN IMMEDIATE transaction, on the
 *   ledger's own schema — with the sealing done beforehand;
 * - a step's commit (Postgres): the same rows through the ledger's own append statement (one
 *   autocommit statement, named, one client), pre-sealed: what the server and one round trip cost
 *   for a step, with no engine, pool or flight around it.
 */
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import Database from 'better-sqlite3';
import pg from 'pg';

import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import {
  appendText,
  appendValues,
  shapeOf,
  shapeKey,
} from '../../src/adapters/ledger/postgresAppend.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead, sealBatch, type Head, type SealedRecord } from '../../src/events/envelope.js';

export interface FloorOptions {
  readonly repeats: number;
  /** Commits per repeat. */
  readonly commits: number;
}

const removeDb = (path: string) => {
  for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
};

/** repeatSync for a commit that is awaited (Postgres: one round trip each). */
async function repeatAsync(o: FloorOptions, commit: () => Promise<unknown>): Promise<number[]> {
  for (let w = 0; w < Math.max(1, o.commits / 10); w++) await commit();
  const out: number[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const t0 = performance.now();
    for (let k = 0; k < o.commits; k++) await commit();
    out.push((performance.now() - t0) / o.commits);
  }
  return out;
}

/** Median-ready ms per commit for each repeat, after a warm-up of a tenth of a repeat. */
function repeatSync(o: FloorOptions, commit: (i: number) => void): number[] {
  let i = 0;
  for (let w = 0; w < Math.max(1, o.commits / 10); w++) commit(i++);
  const out: number[] = [];
  for (let r = 0; r < o.repeats; r++) {
    const t0 = performance.now();
    for (let k = 0; k < o.commits; k++) commit(i++);
    out.push((performance.now() - t0) / o.commits);
  }
  return out;
}

/** One 1 KB row per transaction, performance.md's A3 schema. */
export function sqliteOneRow(path: string, synchronous: 'NORMAL' | 'FULL', o: FloorOptions) {
  removeDb(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT, seq INTEGER, hash BLOB, body BLOB);
             CREATE UNIQUE INDEX events_run_seq ON events (run_id, seq);`);
    const insert = db.prepare('INSERT INTO events (run_id, seq, hash, body) VALUES (?, ?, ?, ?)');
    const hash = Buffer.alloc(32, 7);
    const body = Buffer.alloc(1024, 3);
    return repeatSync(o, (i) => insert.run('floor', i, hash, body));
  } finally {
    db.close();
    removeDb(path);
  }
}

/** What one step of a linear pipeline appends (bench/engine's no-op steps). */
function stepEvents(i: number, runId: string): NewEvent[] {
  return [
    {
      type: 'AgentResponded',
      data: {
        path: String(i),
        attempt: 1,
        key: `${runId}:${i}:1`,
        output: i + 1,
        usage: { input: 0, output: 0 },
        costMicros: 0,
        model: `fn:${i}.fn`,
        latencyMs: 0,
      },
    },
    { type: 'StepCompleted', data: { path: String(i), output: i + 1 } },
    { type: 'StepScheduled', data: { path: String(i + 1), name: `s${i + 2}`, kind: 'step' } },
    {
      type: 'AgentCallRequested',
      data: {
        path: String(i + 1),
        attempt: 1,
        key: `${runId}:${i + 1}:1`,
        agent: `fn:${i + 1}.fn`,
        requestHash: 'a'.repeat(64),
        input: i + 1,
      },
    },
  ];
}

/** `total` pre-sealed step batches of one run, each on the head the one before left. */
function sealedSteps(runId: string, total: number): { head: Head; records: SealedRecord[] }[] {
  const batches: { head: Head; records: SealedRecord[] }[] = [];
  let head = emptyHead(runId);
  for (let i = 0; i < total; i++) {
    const records = sealBatch(head, stepEvents(i, runId), 1_764_000_000_000 + i);
    batches.push({ head, records });
    const last = records[records.length - 1] as SealedRecord;
    head = { runId, seq: last.seq, hash: last.hash };
  }
  return batches;
}

/** A step's commit on the ledger's own schema: head UPDATE + 4 pre-sealed event rows. */
export async function sqliteStepCommit(
  path: string,
  synchronous: 'NORMAL' | 'FULL',
  o: FloorOptions,
): Promise<number[]> {
  await initFastHash();
  removeDb(path);
  const ledger = createSqliteLedger({ path, synchronous });
  try {
    const runId = 'floor-run';
    const total = o.commits * o.repeats + Math.ceil(o.commits / 10) + 1;
    const batches = sealedSteps(runId, total);
    const db = ledger.db;
    const runNo = Number(
      db
        .prepare(
          `INSERT INTO run_heads (run_id, seq, hash, epoch, terminal, created_at, updated_at)
           VALUES (?, 0, ?, 1, 0, 0, 0)`,
        )
        .run(runId, emptyHead(runId).hash).lastInsertRowid,
    );
    const move = db.prepare(
      'UPDATE run_heads SET seq = ?, hash = ?, updated_at = ? WHERE run_id = ? AND seq = ? AND hash = ?',
    );
    const insert = db.prepare(
      'INSERT INTO event_log (run_no, seq, type, at, prev, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const commit = db.transaction((b: { head: Head; records: SealedRecord[] }) => {
      const last = b.records[b.records.length - 1] as SealedRecord;
      const moved = move.run(last.seq, last.hash, last.at, runId, b.head.seq, b.head.hash);
      if (moved.changes !== 1) throw new Error('floor: head did not move');
      for (const r of b.records) insert.run(runNo, r.seq, r.type, r.at, r.prev, r.hash, r.body);
    });
    return repeatSync(o, (i) => commit.immediate(batches[i] as (typeof batches)[number]));
  } finally {
    await ledger.close();
    removeDb(path);
  }
}

/** One 1 KB row per autocommit INSERT, named statement, one client: performance.md's A4. */
export async function postgresOneRow(url: string, schema: string, o: FloorOptions) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      `CREATE TABLE "${schema}".floor (id bigserial PRIMARY KEY, run_id text, seq int, hash bytea, body bytea, UNIQUE (run_id, seq))`,
    );
    const hash = Buffer.alloc(32, 7);
    const body = Buffer.alloc(1024, 3);
    const text = `INSERT INTO "${schema}".floor (run_id, seq, hash, body) VALUES ($1, $2, $3, $4)`;
    let i = 0;
    const one = () =>
      client.query({ name: 'floor_insert', text, values: ['floor', i++, hash, body] });
    return await repeatAsync(o, one);
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await client.end();
  }
}

/**
 * A step's commit on Postgres: the ledger's own append statement (head UPDATE and four event rows
 * in one autocommit statement), pre-sealed batches, one client. The run's first batch starts it.
 */
export async function postgresStepCommit(url: string, schema: string, o: FloorOptions) {
  await initFastHash();
  const ledger = await createPostgresLedger({ connectionString: url, schema, max: 1 });
  await ledger.close(); // only its tables
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    const runId = 'floor-run';
    const total = o.commits * o.repeats + Math.ceil(o.commits / 10) + 1;
    const batches = sealedSteps(runId, total + 1);
    let i = 0;
    const one = async () => {
      const b = batches[i++] as (typeof batches)[number];
      const last = b.records[b.records.length - 1] as SealedRecord;
      const req = { runId, expected: b.head, events: [], at: last.at };
      const prepared = {
        records: b.records,
        head: { runId, seq: last.seq, hash: last.hash },
        claimEpoch: null,
        terminal: false,
      };
      const shape = shapeOf(req, prepared, false);
      const res = await client.query({
        name: `floor_${shapeKey(shape)}`,
        text: appendText(schema, shape),
        values: appendValues(req, prepared),
      });
      if (res.rowCount !== 1) throw new Error('floor: head did not move');
    };
    await one(); // the run's first batch: a new head row
    return await repeatAsync(o, one);
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await client.end();
  }
}
