import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createSqliteLedger } from '../../../src/adapters/ledger/sqlite.js';
import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

/**
 * A resume builds on what it reads (the rest snapshot and the events after it, or every event of
 * a run without snapshots): rows that are not the recorded chain are refused by run and seq, and
 * nothing is appended on top of them.
 */
const plan = definePipeline(
  'greet',
  sequence(
    step('hello', (x: string) => `Hello, ${x}`),
    hitl('approve', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    step('end', (a: { ok: boolean }) => (a.ok ? 'published' : 'dropped')),
  ),
).plan;

async function pausedRun(snapshotEvery?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-integrity-'));
  const path = join(dir, 'state.db');
  const ledger = createSqliteLedger({ path });
  const engine = createEngine({
    ledger,
    newRunId: () => 'r1',
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
  });
  const r = await engine.run(plan, 'Ada');
  expect(r.status).toBe('paused');
  const types = (await engine.events('r1')).map((e) => e.type);
  await ledger.close();
  return { path, types };
}

/** Runs SQL against the ledger file as an attacker or a failing disk would, outside Flujo. */
function tamper(path: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path);
  db.prepare(sql).run(...params);
  db.close();
}

async function resumeOn(path: string, snapshotEvery?: number) {
  const ledger = createSqliteLedger({ path });
  const engine = createEngine({
    ledger,
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
  });
  try {
    const headBefore = (await ledger.head('r1'))?.seq;
    const outcome = await engine.resume(plan, 'r1', { humanInput: { ok: true } }).then(
      (r) => r,
      (e: unknown) => e as Error & { code?: string; details?: unknown },
    );
    return { outcome, headBefore, headAfter: (await ledger.head('r1'))?.seq };
  } finally {
    await ledger.close();
  }
}

describe('resume refuses a run whose stored chain was altered', () => {
  it('an altered rest snapshot: refused naming its seq, nothing appended', async () => {
    const { path, types } = await pausedRun();
    const snapSeq = types.lastIndexOf('SnapshotTaken') + 1;
    expect(snapSeq).toBe(types.length);
    tamper(
      path,
      `UPDATE event_log SET body = CAST(replace(CAST(body AS TEXT), 'Hello', 'Jello') AS BLOB) WHERE seq = ?`,
      snapSeq,
    );
    const { outcome, headBefore, headAfter } = await resumeOn(path);
    expect(outcome).toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { runId: 'r1', seq: snapSeq, reason: 'body_altered' },
    });
    expect((outcome as Error).message).toMatch(/flujo lens verify r1/);
    expect(headAfter).toBe(headBefore);
  });

  it('the last event deleted: refused as truncated at the recorded head', async () => {
    const { path, types } = await pausedRun();
    tamper(path, 'DELETE FROM event_log WHERE seq = ?', types.length);
    const { outcome, headAfter } = await resumeOn(path);
    expect(outcome).toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { seq: types.length, reason: 'truncated' },
    });
    expect(headAfter).toBe(types.length);
  });

  it('without snapshots every event is read and checked: garbage at seq 3 is named', async () => {
    const { path } = await pausedRun(0);
    tamper(path, `UPDATE event_log SET body = X'DEADBEEF' WHERE seq = 3`);
    const { outcome, headBefore, headAfter } = await resumeOn(path, 0);
    // Named as lens verify names it: bytes that are not CBOR (was body_altered, whatever changed).
    expect(outcome).toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { seq: 3, reason: 'bad_encoding' },
    });
    expect(headAfter).toBe(headBefore);
  });

  it('a changed hash column or body is named as lens verify names it', async () => {
    const hash = await pausedRun(0);
    // The body still links into the chain; only its stored hash changed.
    tamper(hash.path, 'UPDATE event_log SET hash = zeroblob(32) WHERE seq = 3');
    expect((await resumeOn(hash.path, 0)).outcome).toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { seq: 3, reason: 'hash_altered' },
      message: expect.stringContaining('stored hash differs; body matches the chain'),
    });
    const body = await pausedRun(0);
    // A body that is still canonical CBOR, but another one: the seq's own envelope from seq 2.
    tamper(
      body.path,
      'UPDATE event_log SET body = (SELECT body FROM event_log WHERE seq = 2) WHERE seq = 3',
    );
    expect((await resumeOn(body.path, 0)).outcome).toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { seq: 3, reason: 'body_altered' },
    });
  });

  it('an intact run still resumes', async () => {
    const { path } = await pausedRun();
    const { outcome } = await resumeOn(path);
    expect(outcome).toMatchObject({ status: 'completed', output: 'published' });
  });

  it('rows another writer appended after the head was read are not damage', async () => {
    const { path } = await pausedRun();
    const first = await resumeOn(path);
    expect(first.outcome).toMatchObject({ status: 'completed' });
    // A second resume that read the head as it was at the pause, before the first one appended.
    const ledger = createSqliteLedger({ path });
    try {
      const stale = (await ledger.read('r1')).find((r) => r.type === 'SnapshotTaken');
      expect(stale).toBeDefined();
      const atPause = {
        runId: 'r1',
        seq: stale!.seq,
        hash: stale!.hash,
        epoch: 1,
        terminal: false,
      };
      const racing = {
        ...ledger,
        head: async () => ({ ...(await ledger.head('r1'))!, ...atPause }),
      };
      const engine = createEngine({ ledger: racing as typeof ledger });
      await expect(engine.resume(plan, 'r1', { humanInput: { ok: false } })).rejects.toMatchObject({
        code: 'RUN_NOT_RESUMABLE',
      });
    } finally {
      await ledger.close();
    }
  });
});
