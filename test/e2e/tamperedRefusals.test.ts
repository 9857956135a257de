/**
 * A tampered ledger as the commands that act on or vouch for a run meet it (the built CLI on a
 * real SQLite file): `flujo cancel` must not append after a run's terminal event when the head
 * row's flag was cleared, a head row set to ended over a paused run is named as such by resume and
 * cancel (not "has finished" or "already ended (paused)"), and `flujo lens replay` must not call a
 * tampered run identical; a run missing its RunStarted (or every event) is named by trace, replay,
 * show and resume rather than reported as an internal error, a missing read model, a missing
 * pipeline file or an unknown run. Each names run and seq, exits 1 and records nothing.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { initFastHash, linkHash } from '../../src/events/chain.js';
import { decodeCanonical, encodeCanonical } from '../../src/events/codec.js';
import { rechainRun } from '../support/tamper.js';
import { runCli } from './cli.js';

const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-tampered-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A project (`flujo init`) with one completed run. */
function completedRun(name: string): { p: string; id: string; db: string } {
  const p = join(dir, name);
  expect(runCli(['init', '--project', p], { cwd: dir }).code).toBe(0);
  const id = json(runCli(['run', '--input', 'Ada', '--json'], { cwd: p }).stdout).run_id as string;
  const done = runCli(['resume', id, '--input', '{"approved":true}', '--json'], { cwd: p });
  expect(json(done.stdout).status).toBe('completed');
  return { p, id, db: join(p, '.flujo', 'state.db') };
}

function sql<T>(db: string, f: (d: Database.Database) => T): T {
  const d = new Database(db);
  try {
    return f(d);
  } finally {
    d.close();
  }
}

const stored = (db: string, id: string) =>
  sql(db, (d) => d.prepare('SELECT seq, type FROM events WHERE run_id = ? ORDER BY seq').all(id));

describe('a tampered ledger', () => {
  it('a completed run whose head row says it has not ended: verify names it, cancel refuses', () => {
    const { p, id, db } = completedRun('flag');
    sql(db, (d) => d.prepare('UPDATE run_heads SET terminal = 0 WHERE run_id = ?').run(id));
    const before = stored(db, id);
    const last = before.length;

    const verify = runCli(['lens', 'verify', id, '--json'], { cwd: p });
    expect(verify.code).toBe(1);
    expect(json(verify.stdout).failures).toEqual([
      expect.objectContaining({ run_id: id, seq: last, reason: 'head_mismatch' }),
    ]);

    const cancel = runCli(['cancel', id, '--json'], { cwd: p });
    expect(cancel.code).toBe(1);
    expect(json(cancel.stdout).error).toMatchObject({ code: 'LEDGER_CORRUPT' });
    expect(cancel.stderr).toContain(`run ${id} seq ${last}: head_mismatch`);
    expect(cancel.stderr).toContain('nothing was recorded');
    // Nothing after RunCompleted.
    expect(stored(db, id)).toEqual(before);
  });

  it('a paused run whose head row says it ended: resume and cancel name the missing end', () => {
    const p = join(dir, 'ended-flag');
    expect(runCli(['init', '--project', p], { cwd: dir }).code).toBe(0);
    const id = json(runCli(['run', '--input', 'Ada', '--json'], { cwd: p }).stdout)
      .run_id as string;
    const db = join(p, '.flujo', 'state.db');
    sql(db, (d) => d.prepare('UPDATE run_heads SET terminal = 1 WHERE run_id = ?').run(id));
    const before = stored(db, id);
    const next = before.length + 1;
    for (const args of [
      ['resume', id, '--input', '{"approved":true}', '--json'],
      ['cancel', id, '--json'],
    ]) {
      const r = runCli(args, { cwd: p });
      expect(r.code).toBe(1);
      expect(json(r.stdout).error).toMatchObject({ code: 'LEDGER_CORRUPT' });
      expect(r.stderr).toContain(`run ${id} seq ${next}: truncated`);
    }
    expect(stored(db, id)).toEqual(before);
  });

  it('a paused run whose head row seq was lowered: resume, cancel and verify name the same seq (ADR 130)', () => {
    const p = join(dir, 'lowered');
    expect(runCli(['init', '--project', p], { cwd: dir }).code).toBe(0);
    const id = json(runCli(['run', '--input', 'Ada', '--json'], { cwd: p }).stdout)
      .run_id as string;
    const db = join(p, '.flujo', 'state.db');
    const before = stored(db, id);
    const last = before.length;
    sql(db, (d) => d.prepare('UPDATE run_heads SET seq = ? WHERE run_id = ?').run(last - 2, id));
    const verify = runCli(['lens', 'verify', id, '--json'], { cwd: p });
    expect(verify.code).toBe(1);
    expect(json(verify.stdout).failures).toEqual([
      expect.objectContaining({ run_id: id, seq: last, reason: 'head_mismatch' }),
    ]);
    for (const args of [
      ['resume', id, '--input', '{"approved":true}', '--json'],
      ['cancel', id, '--json'],
    ]) {
      const r = runCli(args, { cwd: p });
      expect(r.code).toBe(1);
      expect(json(r.stdout).error).toMatchObject({ code: 'LEDGER_CORRUPT' });
      // Was seq last - 2, the head's: the rows past it were taken for another writer's.
      expect(r.stderr).toContain(`run ${id} seq ${last}: head_mismatch`);
      expect(r.stderr).toContain('nothing was recorded');
    }
    expect(stored(db, id)).toEqual(before);
  });

  it('a run whose RunStarted was removed: trace, replay and show name the gap, not a bug', () => {
    const { p, id, db } = completedRun('no-start');
    sql(db, (d) => {
      d.prepare('DELETE FROM events WHERE run_id = ? AND seq = 1').run(id);
      d.prepare('DELETE FROM runs WHERE run_id = ?').run(id); // as a read-model rebuild leaves it
    });
    for (const args of [
      ['lens', 'trace', id, '--json'],
      ['lens', 'replay', id, '--json'],
      ['lens', 'show', id, '--json'],
    ]) {
      const r = runCli(args, { cwd: p });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`[LEDGER_CORRUPT] run ${id} seq 1: gap`);
      expect(r.stderr).not.toMatch(/internal error|rebuild|recorded no pipeline file/);
    }
  });

  it('a paused run whose RunStarted bytes were overwritten: resume names the damage, not a decode error', () => {
    const p = join(dir, 'started');
    expect(runCli(['init', '--project', p], { cwd: dir }).code).toBe(0);
    const id = json(runCli(['run', '--input', 'Ada', '--json'], { cwd: p }).stdout)
      .run_id as string;
    const db = join(p, '.flujo', 'state.db');
    sql(db, (d) =>
      d.prepare("UPDATE events SET body = x'a0' WHERE run_id = ? AND seq = 1").run(id),
    );
    const before = stored(db, id);
    const r = runCli(['resume', id, '--input', '{"approved":true}', '--json'], { cwd: p });
    expect(r.code).toBe(1);
    // Was LEDGER_DECODE "run … seq 1: envelope keys are []", with no word of what to do.
    expect(json(r.stdout)).toMatchObject({ run_id: id, error: { code: 'LEDGER_CORRUPT' } });
    expect(r.stderr).toContain(`[LEDGER_CORRUPT] run ${id} seq 1: body_altered`);
    expect(r.stderr).toContain(`flujo lens verify ${id}`);
    expect(stored(db, id)).toEqual(before);
    // cancel recorded RunCancelled after the damaged event, then failed reading the run back
    // (LEDGER_DECODE, exit 1): the user was told it failed, and the run was cancelled.
    const c = runCli(['cancel', id, '--json'], { cwd: p });
    expect(c.code).toBe(1);
    expect(json(c.stdout)).toMatchObject({ run_id: id, error: { code: 'LEDGER_DECODE' } });
    expect(stored(db, id)).toEqual(before);
  });

  it('a run whose events were all removed under its head: resume names it, not "no run"', () => {
    const { p, id, db } = completedRun('no-events');
    sql(db, (d) => d.prepare('DELETE FROM events WHERE run_id = ?').run(id));
    const r = runCli(['resume', id, '--json'], { cwd: p });
    expect(r.code).toBe(1);
    expect(json(r.stdout).error).toMatchObject({ code: 'LEDGER_CORRUPT' });
    expect(r.stderr).toContain(`run ${id} seq 1: truncated`);
  });

  it('an event a newer Flujo wrote (sealed in the chain): replay says to upgrade, not corrupt', async () => {
    await initFastHash();
    const { p, id, db } = completedRun('newer');
    sql(db, (d) => {
      // Re-seal from the RunCompleted on, as a newer Flujo writing v7 of it would have.
      const last = d
        .prepare('SELECT seq, prev, body FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1')
        .get(id) as { seq: number; prev: Buffer; body: Buffer };
      const env = decodeCanonical(new Uint8Array(last.body)) as Record<string, unknown>;
      const body = encodeCanonical({ ...env, v: 7 });
      const hash = linkHash(new Uint8Array(last.prev), body);
      d.prepare('UPDATE events SET body = ?, hash = ? WHERE run_id = ? AND seq = ?').run(
        Buffer.from(body),
        Buffer.from(hash),
        id,
        last.seq,
      );
      d.prepare('UPDATE run_heads SET hash = ? WHERE run_id = ?').run(Buffer.from(hash), id);
    });
    const replay = runCli(['lens', 'replay', id, '--json'], { cwd: p });
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('error: [LEDGER_DECODE]');
    expect(replay.stderr).not.toContain('LEDGER_CORRUPT');
    expect(replay.stderr).toContain('written by a newer Flujo');
  });

  it('lens replay refuses a run whose stored chain does not verify, naming run and seq', () => {
    const { p, id, db } = completedRun('replay');
    expect(runCli(['lens', 'replay', id, '--json'], { cwd: p }).code).toBe(0);
    // One byte of an event the refold takes as recorded (the skill's reply): the decisions still
    // come out the same, so only the chain can tell.
    const seq = sql(db, (d) => {
      const row = d
        .prepare("SELECT seq, body FROM events WHERE run_id = ? AND type = 'AgentResponded'")
        .get(id) as { seq: number; body: Buffer };
      const body = Buffer.from(row.body);
      body[body.indexOf(Buffer.from('Welcome'))] = 'w'.charCodeAt(0);
      d.prepare('UPDATE events SET body = ? WHERE run_id = ? AND seq = ?').run(body, id, row.seq);
      return row.seq;
    });
    const replay = runCli(['lens', 'replay', id, '--json'], { cwd: p });
    expect(replay.code).toBe(1);
    expect(replay.stdout).not.toContain('"identical": true');
    expect(replay.stderr).toContain(`[LEDGER_CORRUPT] run ${id} seq ${seq}: body_altered`);
  });

  it('lens export refuses a run that does not verify (re-chained without RunStarted, an edited event): exit 1, no file', async () => {
    await initFastHash();
    const { p, id, db } = completedRun('export');
    const other = json(runCli(['run', '--input', 'Bo', '--json'], { cwd: p }).stdout)
      .run_id as string;
    sql(db, (d) => rechainRun(d, id, (envs) => envs.slice(1)));
    const seq = sql(db, (d) => {
      const row = d
        .prepare("SELECT seq, body FROM events WHERE run_id = ? AND type = 'AgentResponded'")
        .get(other) as { seq: number; body: Buffer };
      const body = Buffer.from(row.body);
      body[body.indexOf(Buffer.from('Welcome'))] = 'w'.charCodeAt(0);
      d.prepare('UPDATE events SET body = ? WHERE run_id = ? AND seq = ?').run(
        body,
        other,
        row.seq,
      );
      return row.seq;
    });
    for (const [run, at, reason] of [
      [id, 1, 'no_start'],
      [other, seq, 'body_altered'],
    ] as const) {
      const file = join(dir, `export-${reason}.cbor`);
      for (const args of [
        ['lens', 'export', run, '-o', file],
        ['lens', 'export', run, '-o', file, '--json'],
      ]) {
        const r = runCli(args, { cwd: p });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`[LEDGER_CORRUPT] run ${run} seq ${at}: ${reason}`);
        expect(r.stderr).toContain('nothing was exported');
        // Under --json the refusal is one object on stdout (CONTRACTS); else nothing is.
        if (args.includes('--json'))
          expect(JSON.parse(r.stdout)).toEqual({
            run_id: run,
            error: { code: 'LEDGER_CORRUPT', message: expect.stringContaining(reason) },
          });
        else expect(r.stdout).toBe('');
        expect(existsSync(file)).toBe(false);
      }
      // Through stdout (`> run.cbor`): not one byte.
      const piped = runCli(['lens', 'export', run], { cwd: p });
      expect(piped.code).toBe(1);
      expect(piped.stdout).toBe('');
      expect(piped.stderr).toContain(`seq ${at}: ${reason}`);
    }
  });

  it('lens rebuild names a run with no RunStarted (re-chained) instead of dropping it silently, exit 1', async () => {
    await initFastHash();
    const { p, id, db } = completedRun('rebuild');
    const other = json(runCli(['run', '--input', 'Bo', '--json'], { cwd: p }).stdout)
      .run_id as string;
    sql(db, (d) => rechainRun(d, id, (envs) => envs.slice(1)));
    const ledger = () =>
      sql(db, (d) => d.prepare('SELECT run_id, seq, hash, body FROM events ORDER BY pos').all());
    const before = ledger();
    const r = runCli(['lens', 'rebuild', '--json'], { cwd: p });
    expect(r.code).toBe(1);
    expect(json(r.stdout).damaged).toEqual([
      expect.objectContaining({ run_id: id, seq: 1, reason: 'no_start' }),
    ]);
    expect(r.stderr).toContain(`run ${id} seq 1: no_start`);
    expect(r.stderr).toContain(`flujo lens verify ${id}`);
    // The other run's read models are rebuilt all the same.
    const list = JSON.parse(runCli(['lens', 'list', '--json'], { cwd: p }).stdout) as {
      run_id: string;
    }[];
    expect(list.map((x) => x.run_id)).toEqual([other]);
    const text = runCli(['lens', 'rebuild'], { cwd: p });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/✗ rebuilt runs, steps, hitl, costs/);
    expect(ledger()).toEqual(before); // the rebuild writes read models only
  });
});
