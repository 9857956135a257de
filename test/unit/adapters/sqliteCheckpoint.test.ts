/**
 * WAL checkpoints in a worker thread (ADR 37): when the worker starts, that the WAL stays bounded
 * and rewinds, that the writer waits for a slow worker past maxFrames, that a worker that cannot
 * open the file gives SQLite its own checkpoint back, that close ends the worker and leaves no WAL
 * behind, and that a process killed mid-checkpoint loses no committed event.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { createSqliteLedger, type SqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../../src/events/chain.js';
import { decodeRecord, emptyHead, type Head } from '../../../src/events/envelope.js';
import type { NewEvent } from '../../../src/events/catalogue.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';
import { started } from '../../support/events.js';
import { bundledChild } from '../../support/bundle.js';

const CHILD = await bundledChild(
  fileURLToPath(new URL('../../support/checkpointChild.ts', import.meta.url)),
);
const dirs: string[] = [];
const tmpPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'flujo-ckpt-'));
  dirs.push(d);
  return join(d, 'state.db');
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
beforeAll(initFastHash);

const stepEvents = (i: number): NewEvent[] =>
  Array.from({ length: 4 }, (_, k) => ({
    type: 'StepCompleted' as const,
    data: { path: `s${i}.${k}`, output: { i, k, pad: 'y'.repeat(300) } },
  }));

async function commitMany(store: SqliteLedger, runId: string, n: number, head = emptyHead(runId)) {
  let h: Head = head;
  for (let i = 0; i < n; i++)
    h = (
      await store.append({
        runId,
        expected: h,
        // A run's record begins with RunStarted (lens verify's no_start otherwise).
        events: h.seq === 0 ? [started(), ...stepEvents(i)] : stepEvents(i),
        at: 1 + i,
      })
    ).head;
  return h;
}

const walFrames = (store: SqliteLedger, path: string) =>
  statSync(`${path}-wal`).size / ((store.db.pragma('page_size', { simple: true }) as number) + 24);

describe('background WAL checkpoints', () => {
  it('start after the set number of commits, keep the WAL bounded, and lose nothing', async () => {
    const path = tmpPath();
    const store = createSqliteLedger({
      path,
      synchronous: 'NORMAL',
      checkpoint: { startAfter: 16, every: 8, resetFrames: 200 },
    });
    await commitMany(store, 'early', 15);
    expect(store.checkpoints()).toMatchObject({ running: false, background: 0, onWriter: 0 });
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);

    await commitMany(store, 'long', 3000);
    const s = store.checkpoints()!;
    expect(s.running).toBe(true);
    expect(s.failed).toBeNull();
    expect(s.background).toBeGreaterThan(0);
    expect(s.onWriter).toBeGreaterThan(0);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    // 3,000 commits write over 12,000 frames (about 50 MB); the WAL was rewound all along and
    // never passed maxFrames (4 × 200) by more than one look's worth of commits.
    expect(walFrames(store, path)).toBeLessThan(800 + 8 * 8);
    expect((await store.read('long')).length).toBe(1 + 3000 * 4);
    expect((await verifyStoredRun(store, 'long')).ok).toBe(true);

    await store.close();
    expect(store.checkpoints()?.running).toBe(false);
    // The worker's connection closed first, so the writer's close checkpointed and removed it.
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = createSqliteLedger({ path });
    expect((await again.read('long')).length).toBe(1 + 3000 * 4);
    expect((await verifyStoredRun(again, 'early')).ok).toBe(true);
    await again.close();
  }, 60_000);

  it('wait for a worker slowed by its disk once the WAL passes maxFrames, and only then', async () => {
    const path = tmpPath();
    const store = createSqliteLedger({
      path,
      synchronous: 'NORMAL',
      // Each worker pass takes 150 ms, as a checkpoint whose fsync waits on a busy disk would.
      checkpoint: {
        startAfter: 8,
        every: 8,
        resetFrames: 100,
        maxFrames: 400,
        workerPassDelayMs: 150,
      },
    });
    await commitMany(store, 'slow', 2000);
    const s = store.checkpoints()!;
    expect(s.failed).toBeNull();
    // Commits arrive hundreds of times faster than the worker's passes; without the wait the
    // WAL would hold most of their 8,000-odd frames.
    expect(s.stalls).toBeGreaterThan(0);
    expect(walFrames(store, path)).toBeLessThan(400 + 8 * 8);
    expect((await verifyStoredRun(store, 'slow')).ok).toBe(true);
    await store.close();

    // A worker that keeps up is never waited for.
    const quick = createSqliteLedger({
      path: tmpPath(),
      synchronous: 'NORMAL',
      checkpoint: { startAfter: 8, every: 8, resetFrames: 100, maxFrames: 1_000_000 },
    });
    await commitMany(quick, 'quick', 500);
    expect(quick.checkpoints()?.stalls).toBe(0);
    await quick.close();
  }, 60_000);

  it('gives SQLite its own checkpoint back when the worker cannot open the file, and loses nothing', async () => {
    const path = tmpPath();
    const store = createSqliteLedger({
      path,
      synchronous: 'NORMAL',
      checkpoint: { startAfter: 16, every: 8 },
    });
    let head = await commitMany(store, 'r', 8);
    // The file is moved away while the ledger is open (its connection keeps the open file), so the
    // worker, which opens the database by name, finds nothing there.
    renameSync(path, `${path}.moved`);
    head = await commitMany(store, 'r', 8, head); // the 16th commit starts the worker
    // Its failure arrives as a message, once the worker thread has started (seconds on a loaded
    // machine: a fixed 200 ms wait failed there once).
    await vi.waitFor(
      () => expect(store.checkpoints()?.failed).toMatch(/checkpoint worker failed/),
      {
        timeout: 10_000,
      },
    );
    head = await commitMany(store, 'r', 8, head);
    const s = store.checkpoints()!;
    expect(s.failed).toMatch(/checkpoint worker failed/);
    expect(s.running).toBe(false);
    expect(s.background).toBe(0);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    renameSync(`${path}.moved`, path);
    await commitMany(store, 'r', 8, head);
    expect(await store.read('r')).toHaveLength(1 + 32 * 4);
    await store.close();
    const again = createSqliteLedger({ path });
    expect(await again.read('r')).toHaveLength(1 + 32 * 4);
    expect((await verifyStoredRun(again, 'r')).ok).toBe(true);
    await again.close();
  });

  it("is off with checkpoint: 'inline', by default with FULL, and for an in-memory database", async () => {
    const inline = createSqliteLedger({
      path: tmpPath(),
      synchronous: 'NORMAL',
      checkpoint: 'inline',
    });
    await commitMany(inline, 'r', 300);
    expect(inline.checkpoints()).toBeNull();
    expect(inline.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await inline.close();
    // FULL syncs the WAL at every commit; there the default stays SQLite's own checkpoint.
    const full = createSqliteLedger({ path: tmpPath(), synchronous: 'FULL' });
    await commitMany(full, 'r', 300);
    expect(full.checkpoints()).toBeNull();
    expect(full.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await full.close();
    const mem = createSqliteLedger({ path: ':memory:', synchronous: 'NORMAL' });
    expect(mem.checkpoints()).toBeNull();
    await mem.close();
  });

  it('never keeps alive a process that forgot to close its ledger', async () => {
    const path = tmpPath();
    const child = spawn(process.execPath, [CHILD, path, 'flood', '200'], {
      stdio: 'pipe',
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.on('exit', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
    expect(exited, err).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(200);
    expect(
      Number(lines.at(-1)?.split(' ')[3]) + Number(lines.at(-1)?.split(' ')[4]),
    ).toBeGreaterThan(0); // the worker ran
  }, 30_000);

  it('a process killed at random points, checkpoints running, loses no committed batch', async () => {
    const path = tmpPath();
    let acknowledged = -1;
    let background = 0;
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [CHILD, path, 'flood'], {
        stdio: 'pipe',
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // Killed at a random batch once its worker has checkpointed at least once.
      const target = 60 + Math.floor(Math.random() * 200);
      let seen = 0;
      let armed = false;
      createInterface({ input: child.stdout }).on('line', (line) => {
        const [, b, , bg] = line.split(' ');
        acknowledged = Number(b);
        background = Math.max(background, Number(bg));
        if (++seen >= target && Number(bg) > 0 && !armed) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), Math.random() * 20);
        }
      });
      const signal = await new Promise((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
      expect(signal, err).toBe('SIGKILL');
    }
    expect(background).toBeGreaterThan(0); // the worker was checkpointing in these processes
    const store = createSqliteLedger({ path, checkpoint: 'inline' });
    expect((await verifyStoredRun(store, 'flood')).ok).toBe(true);
    const rows = await store.read('flood');
    const last = decodeRecord('flood', rows.at(-1)!.seq, rows.at(-1)!.body);
    // Every batch a child printed was committed before it printed; none is missing or partial.
    const lastBatch = (last.data as { output: { batch: number } }).output.batch;
    expect(lastBatch).toBeGreaterThanOrEqual(acknowledged);
    let expected = 1; // RunStarted
    for (let b = 0; b <= lastBatch; b++) expected += (b % 25) + 1;
    expect(rows.length).toBe(expected);
    await store.close();
  }, 120_000);
});
