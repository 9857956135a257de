import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead } from '../../src/events/envelope.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { completed, started, stepDone } from '../support/events.js';
import { rechainRun } from '../support/tamper.js';
import { runCli } from './cli.js';

const AT = 1_764_000_000_000;
let project: string;

async function seedProject(dir: string) {
  const store = createSqliteLedger({ path: join(dir, '.flujo', 'state.db') });
  for (const id of ['3fa2c1d9-aaaa', '3fa2c1d9-bbbb', '7c0ffee0-cccc']) {
    await store.append({
      runId: id,
      expected: emptyHead(id),
      events: [started(), stepDone('0'), completed()],
      at: AT,
    });
  }
  return store;
}

describe('flujo lens verify (built CLI)', () => {
  beforeAll(async () => {
    await initFastHash();
    project = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    writeFileSync(join(project, 'flujo.toml'), '# test project\n');
    await (await seedProject(project)).close();
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('prints the version', () => {
    const r = runCli(['--version'], { cwd: project });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('verifies every run of the default embedded ledger', () => {
    const r = runCli(['lens', 'verify', '--all', '--json'], { cwd: project });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      runs_checked: 3,
      events_checked: 9,
      failures: [],
    });
  });

  it('finds the project root from a subfolder', () => {
    const sub = join(project, 'a', 'b');
    rmSync(sub, { recursive: true, force: true });
    mkdirSync(sub, { recursive: true });
    const r = runCli(['lens', 'verify', '7c0f'], { cwd: sub });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ledger intact: 1 run, 3 events');
  });

  it('accepts a unique prefix and refuses an ambiguous one', () => {
    expect(runCli(['lens', 'verify', '7c0f', '--json'], { cwd: project }).code).toBe(0);
    const amb = runCli(['lens', 'verify', '3fa2'], { cwd: project });
    expect(amb.code).toBe(1);
    expect(amb.stderr).toMatch(/matches several runs \(3fa2c1d9-aaaa, 3fa2c1d9-bbbb\)/);
    const none = runCli(['lens', 'verify', 'zzz'], { cwd: project });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no run matches "zzz"/);
  });

  it('names the run, first bad seq and reason of a tampered ledger, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      const store = await seedProject(dir);
      store.db
        .prepare("UPDATE events SET hash = zeroblob(32) WHERE run_id = '7c0ffee0-cccc' AND seq = 2")
        .run();
      await store.close();
      const r = runCli(['lens', 'verify', '--all', '--json', '--project', dir], { cwd: project });
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        ok: false,
        runs_checked: 3,
        failures: [{ run_id: '7c0ffee0-cccc', seq: 2, reason: 'hash_altered' }],
      });
      const text = runCli(['lens', 'verify', '7c0ffee0', '--project', dir], { cwd: project });
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('✗ run 7c0ffee0-cccc seq 2: hash_altered');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--all names the events of a run whose head row was deleted, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      const store = await seedProject(dir);
      store.db.prepare("DELETE FROM run_heads WHERE run_id = '3fa2c1d9-bbbb'").run();
      await store.close();
      const r = runCli(['lens', 'verify', '--all', '--json', '--project', dir], { cwd: project });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: false,
        runs_checked: 2,
        failures: [{ run_id: '3fa2c1d9-bbbb', seq: 1, reason: 'orphaned' }],
      });
      const text = runCli(['lens', 'verify', '--all', '--project', dir], { cwd: project });
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('✗ run 3fa2c1d9-bbbb seq 1: orphaned — 3 stored events');
      // Named alone too (ADR 130), not "no run matches": its events are still in the file.
      for (const run of ['3fa2c1d9-bbbb', '3fa2c1d9-b']) {
        const one = runCli(['lens', 'verify', run, '--json', '--project', dir], { cwd: project });
        expect(one.code).toBe(1);
        expect(JSON.parse(one.stdout)).toMatchObject({
          ok: false,
          runs_checked: 0,
          failures: [{ run_id: '3fa2c1d9-bbbb', seq: 1, reason: 'orphaned' }],
        });
      }
      const alone = runCli(['lens', 'verify', '3fa2c1d9-bbbb', '--project', dir], { cwd: project });
      expect(alone.code).toBe(1);
      expect(alone.stdout).toContain('✗ run 3fa2c1d9-bbbb seq 1: orphaned — 3 stored events');
      const none = runCli(['lens', 'verify', '7d', '--project', dir], { cwd: project });
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no run matches "7d"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a run that does not begin with RunStarted, though every link holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      const store = await seedProject(dir);
      // RunStarted removed and the rest renumbered and re-chained; another given a second one.
      rechainRun(store.db, '7c0ffee0-cccc', (envs) => envs.slice(1));
      rechainRun(store.db, '3fa2c1d9-bbbb', (envs) => [envs[0]!, envs[1]!, envs[0]!, envs[2]!]);
      await store.close();
      const r = runCli(['lens', 'verify', '--all', '--json', '--project', dir], { cwd: project });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: false,
        runs_checked: 3,
        failures: [
          { run_id: '3fa2c1d9-bbbb', seq: 3, reason: 'second_start' },
          { run_id: '7c0ffee0-cccc', seq: 1, reason: 'no_start' },
        ],
      });
      const text = runCli(['lens', 'verify', '7c0f', '--project', dir], { cwd: project });
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(
        '✗ run 7c0ffee0-cccc seq 1: no_start — seq 1 is StepCompleted, not RunStarted',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--all names a head row with no events and a read-model row the ledger does not hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
      await (await seedProject(dir)).close();
      // The read models (runs) are derived once, then the ledger loses two runs in two ways.
      expect(runCli(['lens', 'rebuild', '--project', dir], { cwd: project }).code).toBe(0);
      const store = createSqliteLedger({ path: join(dir, '.flujo', 'state.db') });
      store.db.prepare("DELETE FROM events WHERE run_id = '3fa2c1d9-aaaa'").run();
      store.db
        .prepare(
          "UPDATE run_heads SET seq = 0, hash = ?, terminal = 0 WHERE run_id = '3fa2c1d9-aaaa'",
        )
        .run(Buffer.from(emptyHead('3fa2c1d9-aaaa').hash));
      store.db.prepare("DELETE FROM events WHERE run_id = '7c0ffee0-cccc'").run();
      store.db.prepare("DELETE FROM run_heads WHERE run_id = '7c0ffee0-cccc'").run();
      await store.close();
      const r = runCli(['lens', 'verify', '--all', '--json', '--project', dir], { cwd: project });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: false,
        runs_checked: 2,
        failures: [
          { run_id: '3fa2c1d9-aaaa', seq: 1, reason: 'no_start' },
          { run_id: '7c0ffee0-cccc', seq: 1, reason: 'unrecorded' },
        ],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--file --json prints one JSON object for a file that is no export at all, and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      const good = join(dir, 'run.cbor');
      const exp = runCli(['lens', 'export', '7c0ffee0-cccc', '-o', good], { cwd: project });
      expect(exp.code).toBe(0);
      const bytes = readFileSync(good);
      const magic = Buffer.from(bytes);
      magic[magic.indexOf('flujo.run-export') + 15] = 'X'.charCodeAt(0);
      for (const [name, content, why] of [
        ['truncated.cbor', bytes.subarray(0, bytes.length >> 1), /truncated/],
        ['text.cbor', Buffer.from('hello\n'), /not canonical CBOR/],
        ['magic.cbor', magic, /format is not "flujo.run-export"/],
      ] as const) {
        writeFileSync(join(dir, name), content);
        const r = runCli(['lens', 'verify', '--file', join(dir, name), '--json'], { cwd: project });
        expect(r.code).toBe(1);
        const out = JSON.parse(r.stdout);
        expect(out).toMatchObject({
          ok: false,
          runs_checked: 0,
          failures: [{ run_id: null, seq: null, reason: 'bad_export' }],
        });
        expect(out.failures[0].detail).toMatch(why);
        expect(r.stderr).toContain(join(dir, name));
      }
      const missing = runCli(['lens', 'verify', '--file', join(dir, 'nope.cbor'), '--json'], {
        cwd: project,
      });
      expect(missing.code).toBe(2);
      expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: { code: 'USAGE' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a state file that is not a database, or truncated: exit 2 naming the file and what to do, JSON with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      await (await seedProject(dir)).close();
      const db = join(dir, '.flujo', 'state.db');
      const whole = readFileSync(db);
      for (const content of [
        Buffer.from('not a database at all, just text\n'.repeat(200)),
        whole.subarray(0, 5000),
      ]) {
        writeFileSync(db, content);
        rmSync(`${db}-wal`, { force: true });
        rmSync(`${db}-shm`, { force: true });
        const r = runCli(['lens', 'verify', '7c0ffee0-cccc', '--json', '--project', dir], {
          cwd: project,
        });
        expect(r.code).toBe(2);
        const out = JSON.parse(r.stdout);
        expect(out).toMatchObject({
          ok: false,
          runs_checked: 0,
          error: { code: 'CONFIG_STATE_URI' },
        });
        expect(out.error.message).toContain(db);
        expect(out.error.message).toMatch(
          /SQLITE_(NOTADB|CORRUPT).*restore .* from a backup.*\.recover/,
        );
        expect(r.stderr).toContain(`cannot open the SQLite ledger at ${db}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a damaged page under one run: that run fails as unreadable at its seq, the others are checked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      const path = join(dir, '.flujo', 'state.db');
      const store = createSqliteLedger({ path });
      for (const id of ['run-a', 'run-b', 'run-c']) {
        const big = (i: number) => stepDone(String(i), `MARK-${id}-${i}-`.padEnd(3000, 'x'));
        let head = emptyHead(id);
        for (const events of [
          [started()],
          ...[0, 1, 2, 3, 4, 5].map((i) => [big(i)]),
          [completed()],
        ])
          head = (await store.append({ runId: id, expected: head, events, at: AT })).head;
      }
      await store.close(); // checkpoints the WAL into the file
      const bytes = readFileSync(path);
      const page = Math.floor(bytes.indexOf('MARK-run-b-3-') / 4096);
      bytes.fill(0xff, page * 4096, page * 4096 + 16); // the b-tree page header
      writeFileSync(path, bytes);
      const r = runCli(['lens', 'verify', '--all', '--json', '--project', dir], { cwd: project });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: false,
        runs_checked: 3,
        events_checked: 16,
        failures: [{ run_id: 'run-b', seq: 5, reason: 'unreadable' }],
      });
      expect(runCli(['lens', 'verify', 'run-c', '--project', dir], { cwd: project }).code).toBe(0);
      // Verify changed nothing in the damaged file.
      expect(readFileSync(path).equals(bytes)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 with advice on an unusable state URI or missing argument', () => {
    const bad = runCli(['lens', 'verify', '--all'], {
      cwd: project,
      env: { FLUJO_STATE_URI: 'mysql://x' },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CONFIG_STATE_URI.*sqlite:\/\/\/relative\.db/);
    const usage = runCli(['lens', 'verify'], { cwd: project });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/name one run or pass --all/);
    const unknown = runCli(['lens', 'verfy'], { cwd: project });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/verify/);
  });

  it.each([
    [
      ['--all', '--file', 'x.cbor'],
      '--all and --file do not combine (--all checks every run of the ledger, --file an export, with no ledger): drop one of them',
    ],
    [
      ['r-1', '--all'],
      'RUN and --all do not combine (RUN checks one run of the ledger, --all every run of the ledger): drop one of them',
    ],
    [
      ['r-1', '--file', 'x.cbor'],
      'RUN and --file do not combine (RUN checks one run of the ledger, --file an export, with no ledger): drop one of them',
    ],
    [
      ['r-1', '--all', '--file', 'x.cbor'],
      'RUN, --all and --file do not combine (RUN checks one run of the ledger, --all every run of the ledger, --file an export, with no ledger): drop all but one',
    ],
  ])('%j: says the flags do not combine and which to drop (was: pass --all)', (args, message) => {
    const r = runCli(['lens', 'verify', ...args, '--json'], { cwd: project });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'USAGE', message } });
    expect(r.stderr).toContain(`error: [USAGE] ${message}`);
  });

  it('reads state_uri from flujo.toml and reports a broken flujo.toml with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-e2e-'));
    try {
      writeFileSync(join(dir, 'flujo.toml'), 'state_uri = "memory://"\n');
      const r = runCli(['lens', 'verify', '--all', '--json'], { cwd: dir });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, runs_checked: 0 });
      writeFileSync(join(dir, 'flujo.toml'), 'ok = 1\nstate_uri = \n');
      const broken = runCli(['lens', 'verify', '--all'], { cwd: dir });
      expect(broken.code).toBe(2);
      expect(broken.stderr).toContain(`${join(dir, 'flujo.toml')}:2:`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verifies a Postgres ledger named by FLUJO_STATE_URI', async (ctx) => {
    if (!(await postgresReachable()))
      ctx.skip('Postgres is not reachable (FLUJO_REQUIRE_SERVICES=1 fails instead)');
    const schema = uniqueSchema('e2e');
    const uri = `${PG_URL}?schema=${schema}`;
    try {
      const { createPostgresLedger } = await import('../../src/adapters/ledger/postgres.js');
      const store = await createPostgresLedger({ connectionString: PG_URL, schema });
      await store.append({
        runId: 'pg-run',
        expected: emptyHead('pg-run'),
        events: [started(), completed()],
        at: AT,
      });
      await store.append({
        runId: 'pg-gone',
        expected: emptyHead('pg-gone'),
        events: [started(), stepDone('0'), completed()],
        at: AT,
      });
      await store.pool.query(`DELETE FROM "${schema}".run_heads WHERE run_id = 'pg-gone'`);
      await store.close();
      const verify = (...args: string[]) =>
        runCli(['lens', 'verify', ...args], { cwd: project, env: { FLUJO_STATE_URI: uri } });
      const r = verify('pg-run', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, runs_checked: 1, events_checked: 2 });
      // A run whose head row was deleted, named by its id or a prefix: found by a range of the
      // events' run ids (ADR 139), named `orphaned` as --all names it.
      const orphaned = { run_id: 'pg-gone', seq: 1, reason: 'orphaned' };
      for (const run of ['pg-gone', 'pg-g']) {
        const one = verify(run, '--json');
        expect(one.code).toBe(1);
        expect(JSON.parse(one.stdout)).toMatchObject({ ok: false, failures: [orphaned] });
      }
      expect(verify('pg-gone').stdout).toContain('✗ run pg-gone seq 1: orphaned — 3 stored events');
      expect(JSON.parse(verify('--all', '--json').stdout)).toMatchObject({
        ok: false,
        runs_checked: 1,
        failures: [orphaned],
      });
      for (const run of ['pg-x', 'pg_', 'pg%']) {
        const none = verify(run);
        expect(none.code).toBe(1);
        expect(none.stderr).toContain(`no run matches ${JSON.stringify(run)}`);
      }
    } finally {
      await dropSchema(schema);
    }
  });
});
