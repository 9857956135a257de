import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash, toHex } from '../../src/events/chain.js';
import { emptyHead } from '../../src/events/envelope.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { goldenEvents } from '../fixtures/golden/events.js';
import { rechainRun, type Envelope } from '../support/tamper.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/verify-ledger.sh', import.meta.url));
const tools = ['b3sum', 'sqlite3', 'xxd'].filter(
  (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function ledger() {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-indep-'));
  dirs.push(dir);
  const path = join(dir, 'state.db');
  const store = createSqliteLedger({ path });
  let head = emptyHead('run-1');
  for (const e of goldenEvents)
    head = (
      await store.append({ runId: 'run-1', expected: head, events: [e], at: 1_764_000_000_000 })
    ).head;
  return { store, path, head };
}

const verifyWithScript = (path: string) =>
  spawnSync('bash', [SCRIPT, path, 'run-1'], { encoding: 'utf8' });

describe('the independent shell verifier (sqlite3 + b3sum, no Flujo code)', () => {
  beforeAll(initFastHash);

  it('agrees with Flujo on an intact ledger, head hash included', async (ctx) => {
    if (tools.length)
      ctx.skip(`needs ${tools.join(', ')} on PATH (apt-get install b3sum sqlite3 xxd)`);
    const { store, path, head } = await ledger();
    await store.close();
    const r = verifyWithScript(path);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`ok 6 events ${toHex(head.hash)}`);
  });

  it.for([
    [
      'an edited body',
      "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'classify', 'classifx') AS BLOB) WHERE seq = 3",
      3,
    ],
    ['an edited hash', 'UPDATE events SET hash = zeroblob(32) WHERE seq = 4', 4],
    ['a removed event', 'DELETE FROM events WHERE seq = 2', 2],
    ['a removed tail', 'DELETE FROM events WHERE seq = 6', 6],
  ] as const)('names the same first bad seq as Flujo for %s', async ([, sql, seq], ctx) => {
    if (tools.length) ctx.skip(`needs ${tools.join(', ')} on PATH`);
    const { store, path } = await ledger();
    store.db.prepare(sql).run();
    const ours = await verifyStoredRun(store, 'run-1');
    await store.close();
    expect(ours.failure?.seq).toBe(seq);
    const r = verifyWithScript(path);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^seq ${seq}:`));
  });

  it.for([
    ['a run that begins with another event', (e: Envelope[]) => e.slice(1), 1, 'no_start'],
    [
      'a second RunStarted',
      (e: Envelope[]) => [...e.slice(0, 2), e[0]!, ...e.slice(2)],
      3,
      'second_start',
    ],
    ['a head row with no events under it', () => [], 1, 'no_start'],
  ] as const)(
    'agrees with Flujo on %s, re-chained so every link holds',
    async ([, edit, seq, reason], ctx) => {
      if (tools.length) ctx.skip(`needs ${tools.join(', ')} on PATH`);
      const { store, path } = await ledger();
      rechainRun(store.db, 'run-1', edit);
      const ours = await verifyStoredRun(store, 'run-1');
      await store.close();
      expect(ours.failure).toMatchObject({ seq, reason });
      const r = verifyWithScript(path);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`^seq ${seq}:`));
    },
  );
});

describe('the shell verifiers without their tools', () => {
  it.each([
    ['verify-export.sh', ['run.cbor'], /needs (xxd|b3sum) on PATH: .*cargo install b3sum/],
    [
      'verify-ledger.sh',
      ['state.db', 'run-1'],
      /needs (sqlite3|xxd|b3sum) on PATH: .*cargo install b3sum/,
    ],
  ])('%s says which tool is missing and how to get it (exit 2)', (name, args, msg) => {
    const empty = mkdtempSync(join(tmpdir(), 'flujo-nopath-'));
    dirs.push(empty);
    const script = fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url));
    const r = spawnSync('/bin/bash', [script, ...args], {
      encoding: 'utf8',
      env: { PATH: empty },
      cwd: empty,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
    const usage = spawnSync('/bin/bash', [script], { encoding: 'utf8', env: { PATH: empty } });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^usage: /);
  });
});
