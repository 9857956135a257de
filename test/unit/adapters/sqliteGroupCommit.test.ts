/**
 * Group commit on the SQLite ledger (ADR 54): appends of several runs queued at once share one
 * transaction, each keeping its own head check, projection rows, chain and result; a refused or
 * failing append is rolled back alone; a promise resolves only once its transaction has committed;
 * a process killed inside a group's transaction leaves nothing of the group.
 *
 * Transactions are counted on the real database: every commit appends frames to the WAL, and the
 * last frame of a commit carries the database size in its header (non-zero only there).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger, type SqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { openState } from '../../../src/adapters/ledger/state.js';
import { definePipeline, sequence, step } from '../../../src/dsl/builder.js';
import { EngineError, LedgerConflictError, LedgerFencedError } from '../../../src/errors.js';
import { initFastHash } from '../../../src/events/chain.js';
import { emptyHead, type Head } from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';
import { claimed, started, stepDone } from '../../support/events.js';
import { bundledChild } from '../../support/bundle.js';

const CHILD = await bundledChild(
  fileURLToPath(new URL('../../support/groupCommitChild.ts', import.meta.url)),
);
const AT = 1_764_000_000_000;
const dirs: string[] = [];
const open: SqliteLedger[] = [];
const tmpPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'flujo-group-'));
  dirs.push(d);
  return join(d, 'state.db');
};
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
beforeAll(initFastHash);

function ledger(path: string, extra: Partial<Parameters<typeof createSqliteLedger>[0]> = {}) {
  // FULL keeps SQLite's own checkpoint, which leaves the WAL alone until it holds 1,000 pages.
  // A wide window: every append made while another run is in flight waits for the next turn of
  // the event loop, however slow this machine is between two statements of a test.
  const store = createSqliteLedger({
    path,
    synchronous: 'FULL',
    groupCommit: { togetherMs: 60_000 },
    ...extra,
  });
  open.push(store);
  return store;
}

/** Commits in the WAL since it was last rewound: frames of the current salt whose commit size is set. */
function walCommits(path: string): number {
  let wal: Buffer;
  try {
    wal = readFileSync(`${path}-wal`);
  } catch {
    return 0;
  }
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits += 1;
  }
  return commits;
}

async function startRuns(store: SqliteLedger, ids: readonly string[]): Promise<Map<string, Head>> {
  const heads = new Map<string, Head>();
  for (const id of ids) {
    const r = await store.append({
      runId: id,
      expected: emptyHead(id),
      events: [started()],
      at: AT,
    });
    heads.set(id, r.head);
  }
  return heads;
}

const ids = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('SQLite group commit', () => {
  it('commits appends of several runs made at once in one transaction', async () => {
    const path = tmpPath();
    const store = ledger(path);
    const opened = walCommits(path); // the schema's
    const runs = ids(8);
    const heads = await startRuns(store, runs);
    expect(walCommits(path)).toBe(opened + 8); // one after another: one transaction each
    const results = await Promise.all(
      runs.map((id) =>
        store.append({
          runId: id,
          expected: heads.get(id) as Head,
          events: [stepDone('a', { id }), stepDone('b')],
          at: AT + 1,
        }),
      ),
    );
    expect(walCommits(path)).toBe(opened + 9);
    expect(store.groupCommits()).toMatchObject({ transactions: 9, appends: 16, largest: 8 });
    for (const [i, r] of results.entries()) {
      expect(r.head).toMatchObject({ runId: runs[i], seq: 3 });
      expect(r.records.map((x) => x.seq)).toEqual([2, 3]);
      expect((await verifyStoredRun(store, runs[i] as string)).ok).toBe(true);
      expect(await store.head(runs[i] as string)).toMatchObject({ seq: 3 });
    }
  });

  it('commits a lone run inside append(); runs in flight together wait for the next loop turn', async () => {
    const path = tmpPath();
    const store = ledger(path);
    const seqOf = (id: string) =>
      (store.db.prepare('SELECT seq FROM run_heads WHERE run_id = ?').get(id) as { seq: number })
        .seq;
    // One run after another: each append is committed before append() returns.
    let a = emptyHead('a');
    for (let i = 0; i < 3; i++) {
      const p = store.append({
        runId: 'a',
        expected: a,
        events: [i ? stepDone(`s${i}`) : started()],
        at: AT,
      });
      expect(seqOf('a')).toBe(i + 1);
      a = (await p).head;
    }
    await store.append({
      runId: 'a',
      expected: a,
      events: [{ type: 'RunCompleted', data: { output: 1 } }],
      at: AT,
    });
    const b = (
      await store.append({ runId: 'b', expected: emptyHead('b'), events: [started()], at: AT })
    ).head;
    expect(seqOf('b')).toBe(1);
    // b is in flight: c's append waits for the next turn, and b's next one joins it.
    const c = store.append({ runId: 'c', expected: emptyHead('c'), events: [started()], at: AT });
    const b2 = store.append({ runId: 'b', expected: b, events: [stepDone('x')], at: AT });
    expect(
      store.db.prepare("SELECT count(*) AS n FROM run_heads WHERE run_id = 'c'").get(),
    ).toEqual({ n: 0 });
    expect(seqOf('b')).toBe(1);
    const before = walCommits(path);
    await Promise.all([c, b2]);
    expect(walCommits(path)).toBe(before + 1);
    expect([seqOf('b'), seqOf('c')]).toEqual([2, 1]);
  });

  it('with groupCommit: false, commits each append alone, inside append()', async () => {
    const path = tmpPath();
    const store = ledger(path, { groupCommit: false });
    const opened = walCommits(path);
    const runs = ids(8);
    const heads = await startRuns(store, runs);
    await Promise.all(
      runs.map((id) =>
        store.append({
          runId: id,
          expected: heads.get(id) as Head,
          events: [stepDone('a')],
          at: AT,
        }),
      ),
    );
    expect(walCommits(path)).toBe(opened + 16);
    expect(store.groupCommits()).toBeNull();
  });

  it('a stale, a fenced and a finished run fail alone in a group; the others commit', async () => {
    const path = tmpPath();
    const store = ledger(path);
    const runs = ids(6);
    const heads = await startRuns(store, runs);
    // r3 has finished; r1 moves on, so its old head is stale; r2 is claimed at epoch 2, so epoch
    // 1 is fenced. (r2, in flight, appends last: the group's first append then waits for the
    // others instead of being committed at once as a lone run's would be.)
    const r3 = await store.append({
      runId: 'r3',
      expected: heads.get('r3') as Head,
      events: [{ type: 'RunCompleted', data: { output: 1 } }],
      at: AT,
    });
    const r1 = await store.append({
      runId: 'r1',
      expected: heads.get('r1') as Head,
      events: [stepDone('x')],
      at: AT,
    });
    const r2 = await store.append({
      runId: 'r2',
      expected: heads.get('r2') as Head,
      events: [claimed(2)],
      at: AT,
    });
    const before = walCommits(path);
    const rows = (id: string) => store.read(id).then((r) => r.length);
    const counts = await Promise.all(runs.map(rows));

    const settled = await Promise.allSettled([
      store.append({
        runId: 'r0',
        expected: heads.get('r0') as Head,
        events: [stepDone('a')],
        at: AT,
      }),
      store.append({
        runId: 'r1',
        expected: heads.get('r1') as Head,
        events: [stepDone('a')],
        at: AT,
      }),
      store.append({ runId: 'r2', expected: r2.head, events: [stepDone('a')], at: AT, epoch: 1 }),
      store.append({ runId: 'r3', expected: r3.head, events: [stepDone('a')], at: AT }),
      store.append({
        runId: 'r4',
        expected: heads.get('r4') as Head,
        events: [stepDone('a')],
        at: AT,
      }),
      // Two appends on one head in the same group: the first wins, the second conflicts.
      store.append({
        runId: 'r5',
        expected: heads.get('r5') as Head,
        events: [stepDone('a')],
        at: AT,
      }),
      store.append({
        runId: 'r5',
        expected: heads.get('r5') as Head,
        events: [stepDone('b')],
        at: AT,
      }),
    ]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'fulfilled',
      'fulfilled',
      'rejected',
    ]);
    const reason = (i: number) => (settled[i] as PromiseRejectedResult).reason as unknown;
    expect(reason(1)).toBeInstanceOf(LedgerConflictError);
    expect(reason(1)).toMatchObject({ runId: 'r1', expectedSeq: 1, actualSeq: 2 });
    expect(reason(2)).toBeInstanceOf(LedgerFencedError);
    expect(reason(3)).toBeInstanceOf(EngineError);
    expect((reason(3) as Error).message).toMatch(/has finished/);
    expect(reason(6)).toBeInstanceOf(LedgerConflictError);
    expect(reason(6)).toMatchObject({ runId: 'r5', expectedSeq: 1, actualSeq: 2 });

    expect(walCommits(path)).toBe(before + 1);
    const after = await Promise.all(runs.map(rows));
    expect(after).toEqual(counts.map((n, i) => n + ([0, 4, 5].includes(i) ? 1 : 0)));
    expect(await store.head('r1')).toMatchObject({ seq: r1.head.seq });
    const r5 = await store.read('r5');
    expect(r5.map((r) => r.type)).toEqual(['RunStarted', 'StepCompleted']);
    for (const id of runs) expect((await verifyStoredRun(store, id)).ok).toBe(true);
  });

  it('a projection that throws rolls back its own append only; the group commits the rest', async () => {
    const path = tmpPath();
    const store = ledger(path, {
      projections: [
        (db, records, head) => {
          db.prepare('INSERT INTO side (run_id, seq) VALUES (?, ?)').run(head.runId, head.seq);
          if (records.some((r) => r.type === 'StepCompleted' && head.runId === 'r2')) {
            throw new Error('projection failed');
          }
        },
      ],
    });
    store.db.exec('CREATE TABLE side (run_id TEXT, seq INTEGER)');
    const runs = ids(4);
    const heads = await startRuns(store, runs);
    const before = walCommits(path);
    const settled = await Promise.allSettled(
      runs.map((id) =>
        store.append({
          runId: id,
          expected: heads.get(id) as Head,
          events: [stepDone('a')],
          at: AT,
        }),
      ),
    );
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({
      message: expect.stringMatching(/projection failed/),
    });
    expect(walCommits(path)).toBe(before + 1);
    const side = store.db.prepare('SELECT run_id, seq FROM side ORDER BY run_id, seq').all();
    expect(side).toEqual([
      { run_id: 'r0', seq: 1 },
      { run_id: 'r0', seq: 2 },
      { run_id: 'r1', seq: 1 },
      { run_id: 'r1', seq: 2 },
      { run_id: 'r2', seq: 1 },
      { run_id: 'r3', seq: 1 },
      { run_id: 'r3', seq: 2 },
    ]);
    expect(await store.head('r2')).toMatchObject({ seq: 1 });
    expect((await store.read('r2')).length).toBe(1);
    // The failed run goes on from where it stood.
    await store.append({
      runId: 'r2',
      expected: heads.get('r2') as Head,
      events: [claimed(1)],
      at: AT,
    });
    for (const id of runs) expect((await verifyStoredRun(store, id)).ok).toBe(true);
  });

  it('when SQLite rolls back the whole shared transaction, the others are committed alone', async () => {
    const path = tmpPath();
    const store = ledger(path, {
      projections: [
        (db, _records, head) => {
          // What SQLite does on some errors (SQLITE_FULL, SQLITE_IOERR): the whole transaction goes.
          if (head.runId === 'r1' && head.seq === 2) db.exec('ROLLBACK');
        },
      ],
    });
    const runs = ids(4);
    const heads = await startRuns(store, runs);
    const before = walCommits(path);
    const settled = await Promise.allSettled(
      runs.map((id) =>
        store.append({
          runId: id,
          expected: heads.get(id) as Head,
          events: [stepDone('a')],
          at: AT,
        }),
      ),
    );
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(store.groupCommits()).toMatchObject({ fellBack: 1 });
    expect(walCommits(path)).toBe(before + 3); // r0, r2 and r3, each alone
    expect((await store.read('r1')).length).toBe(1);
    for (const id of ['r0', 'r2', 'r3']) expect((await store.read(id)).length).toBe(2);
    for (const id of runs) expect((await verifyStoredRun(store, id)).ok).toBe(true);
  });

  it('close() commits appends still queued', async () => {
    const path = tmpPath();
    const store = createSqliteLedger({ path, synchronous: 'FULL' });
    const pending = ids(3).map((id) =>
      store.append({ runId: id, expected: emptyHead(id), events: [started()], at: AT }),
    );
    await store.close();
    expect((await Promise.all(pending)).map((r) => r.head.seq)).toEqual([1, 1, 1]);
    const again = ledger(path);
    expect((await again.listRuns()).map((r) => r.runId)).toEqual(['r0', 'r1', 'r2']);
  });

  it('runs driven at once by the engine share commits; the read models match a rebuild', async () => {
    const path = tmpPath();
    const state = await openState(`sqlite:///${path}`, { projectRoot: '/' });
    try {
      const tick = () => new Promise<void>((r) => setImmediate(r));
      const plan = definePipeline(
        'g',
        sequence(
          ...Array.from({ length: 6 }, (_, i) =>
            // Odd steps wait for the event loop, as an agent's reply would.
            step(`s${i}`, async (x: number) => (i % 2 ? (await tick(), x + 1) : x + 1)),
          ),
        ),
      ).plan;
      const engine = createEngine({ ledger: state.ledger });
      const out = await Promise.all(ids(8, 'e').map((runId) => engine.run(plan, 0, { runId })));
      expect(out.map((r) => [r.status, r.output])).toEqual(ids(8).map(() => ['completed', 6]));
      const stats = (state.ledger as SqliteLedger).groupCommits();
      expect(stats?.largest).toBeGreaterThanOrEqual(4); // 8 unless this machine stalls 10 ms
      expect(stats?.grouped).toBeGreaterThan(stats!.appends / 2);
      for (const id of ids(8, 'e')) expect((await verifyStoredRun(state.ledger, id)).ok).toBe(true);
      const db = (state.ledger as SqliteLedger).db;
      const dump = () =>
        ['runs', 'steps', 'costs', 'hitl'].map((t) =>
          db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all(),
        );
      const inline = dump();
      await state.rebuild();
      expect(dump()).toEqual(inline);
    } finally {
      await state.close();
    }
  });
});

describe('SQLite group commit across a process kill', () => {
  function child(mode: 'hold' | 'crash', path: string, runs: number, rounds: number) {
    const p = spawn(process.execPath, [CHILD, mode, path, String(runs), String(rounds)], {
      stdio: 'pipe',
    });
    const printed: string[] = [];
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve, reject) => {
      createInterface({ input: p.stdout }).on('line', (l) => {
        printed.push(l);
        if (mode === 'hold' && printed.length === rounds) p.kill('SIGKILL');
      });
      p.on('exit', (code, signal) =>
        code ? reject(new Error(`child exited ${code}: ${err}`)) : resolve(signal),
      );
    });
    return { printed, exited };
  }

  it('a process killed right after append() resolved has the appends on disk', async () => {
    const path = tmpPath();
    const { printed, exited } = child('hold', path, 8, 12);
    expect(await exited).toBe('SIGKILL');
    expect(printed).toEqual(Array.from({ length: 12 }, (_, i) => `round ${i + 1} ${i + 1}`));
    const store = ledger(path);
    for (const id of ids(8, 'g')) {
      expect(await store.head(id)).toMatchObject({ seq: 12 });
      expect((await verifyStoredRun(store, id)).ok).toBe(true);
    }
  }, 60_000);

  it('a process killed inside a group transaction leaves nothing of that group', async () => {
    const path = tmpPath();
    const { printed, exited } = child('crash', path, 8, 5);
    expect(await exited).toBe('SIGKILL');
    expect(printed).toEqual(['round 1 1', 'round 2 2', 'round 3 3', 'round 4 4']);
    const store = ledger(path);
    for (const id of ids(8, 'g')) {
      expect(await store.head(id)).toMatchObject({ seq: 4 });
      expect((await store.read(id)).length).toBe(4);
      expect((await verifyStoredRun(store, id)).ok).toBe(true);
    }
  }, 60_000);
});
