/**
 * ADR 94: the lens commands that only read need only the right to read. A Postgres role granted
 * SELECT alone, and a user who may only read a SQLite file in a folder it may not write, list,
 * show, cost, trace, report, watch, verify, export and serve (answers and cancels refused); the
 * commands that write say what they need
 * (exit 2, not "a bug in Flujo"). Read models another release built are still brought up to date
 * by whoever may write, and a reader who may not is told why and what to run.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  chmodSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { CLI, runCli, type CliResult } from './cli.js';

const DEMO = fileURLToPath(new URL('../../examples/demo', import.meta.url));
const reachable = await postgresReachable();

function demoProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-read-access-'));
  cpSync(DEMO, dir, { recursive: true });
  rmSync(join(dir, '.flujo'), { recursive: true, force: true });
  return dir;
}

/** The read commands, each expected to exit 0 and print what the run holds. */
function readsAll(cli: (...args: string[]) => CliResult, runId: string): void {
  const list = cli('lens', 'list', '--json');
  expect(list.code, list.stderr).toBe(0);
  expect((JSON.parse(list.stdout) as { run_id: string }[]).map((r) => r.run_id)).toEqual([runId]);
  const show = cli('lens', 'show', runId.slice(0, 8), '--json');
  expect(show.code, show.stderr).toBe(0);
  expect(JSON.parse(show.stdout)).toMatchObject({ run_id: runId, status: 'completed' });
  const costs = cli('lens', 'costs', '--json');
  expect(costs.code, costs.stderr).toBe(0);
  for (const args of [
    ['lens', 'trace', runId],
    ['lens', 'report', runId],
    ['lens', 'watch', runId],
    ['lens', 'verify', '--all'],
    ['lens', 'export', runId],
    // On SQLite, replay opened the file to write: "attempt to write a readonly database" (exit 2).
    ['lens', 'replay', runId],
  ]) {
    const r = cli(...args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  }
}

/**
 * Runs `flujo lens serve --port 0 …args`, hands `use` its URL and what it printed on stderr, then
 * stops it with Ctrl-C and expects exit 0.
 */
async function withLensServe(
  args: string[],
  opts: { cwd: string; uid?: number },
  use: (url: string, stderr: string) => Promise<void>,
): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'lens', 'serve', '--port', '0', ...args], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', HOME: '/tmp' },
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
  });
  const exit = new Promise<number | null>((r) => child.on('close', r));
  let err = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /flujo lens: (\S+)/.exec(err);
        if (m?.[1]) resolve(m[1]);
      });
      void exit.then((code) => reject(new Error(`lens serve exited ${code}: ${err}`)));
    });
    await use(url, err);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exit).toBe(0);
}

describe.skipIf(!reachable)('lens read commands under a Postgres role granted SELECT only', () => {
  const schema = uniqueSchema('readrole');
  const role = `flujo_reader_${schema.slice(-8)}`;
  const owner = `${PG_URL}?schema=${schema}`;
  const reader = `${PG_URL.replace('://postgres@', `://${role}@`)}?schema=${schema}`;
  let dir: string;
  let runId: string;
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const as =
    (uri: string) =>
    (...args: string[]) =>
      runCli([...args, '--state-uri', uri], { cwd: dir });

  beforeAll(async () => {
    dir = demoProject();
    const run = as(owner)('run', '--input', 'an auditor reads this', '--json');
    expect(run.code, run.stderr).toBe(0);
    runId = (JSON.parse(run.stdout) as { run_id: string }).run_id;
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('lists, shows, costs, traces, reports, watches, verifies and exports', () => {
    // Before ADR 94, lens list/show/costs locked run_heads to catch the read models up:
    // "internal error: permission denied for table run_heads … a bug in Flujo" (exit 1).
    readsAll(as(reader), runId);
  }, 180_000); // about ten CLI runs: slow only on a loaded machine

  it('lens serve shows the runs read-only and refuses answers and cancels with 403', async () => {
    await withLensServe(['--state-uri', reader], { cwd: dir }, async (url, err) => {
      // Before ADR 94 it did not start: permission denied for table run_heads, exit 1.
      expect(err).toContain('read-only: the role in');
      const runs = (await (await fetch(`${url}api/runs`)).json()) as { runs: { runId: string }[] };
      expect(runs.runs.map((r) => r.runId)).toEqual([runId]);
      const cancel = await fetch(`${url}api/runs/${runId}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'audit' }),
      });
      expect(cancel.status).toBe(403);
      expect(await cancel.json()).toMatchObject({ error: { code: 'READ_ONLY' } });
    });
  });

  it('a schema with no ledger reads as empty and is not created (a mistyped ?schema=)', async () => {
    const none = `${schema}_none`;
    const uri = `${PG_URL}?schema=${none}`;
    const list = as(uri)('lens', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).toContain('no runs match');
    expect(as(uri)('lens', 'costs', '--json').code).toBe(0);
    const made = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [none]);
    expect(made.rowCount).toBe(0); // before: list and costs created the schema and its ledger
  });

  it('a command that writes names the role and what it needs (exit 2)', () => {
    for (const args of [
      ['run', '--input', 'x'],
      ['lens', 'rebuild'],
      // Was LEDGER_STORE, exit 1: "renumbering … failed: permission denied for table events".
      ['lens', 'renumber'],
    ]) {
      const r = as(reader)(...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('[CONFIG_STATE_URI]');
      expect(r.stderr).toContain(`the role in postgresql://${role}@`);
      expect(r.stderr).toContain('may not write the ledger');
      expect(r.stderr).not.toContain('bug in Flujo');
    }
  });

  it('a table the role may not read is named with the grant it needs (exit 2)', async () => {
    // Before: lens show and costs said "internal error: permission denied for table steps …
    // a bug in Flujo" (exit 1); trace, report, verify, export and replay LEDGER_STORE (exit 1);
    // lens list that the role "may not write the ledger's tables, which this command needs".
    const refusedRead = (table: string, ...args: string[]) => {
      const r = as(reader)(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`[CONFIG_STATE_URI] the role in postgresql://${role}@`);
      expect(r.stderr).toContain(`may not read the ledger: permission denied for table ${table}`);
      expect(r.stderr).toContain('SELECT on every table');
      expect(r.stderr).not.toContain('may not write');
      expect(r.stderr).not.toContain('bug in Flujo');
    };
    try {
      await admin.query(`REVOKE SELECT ON ${schema}.steps, ${schema}.costs FROM ${role}`);
      refusedRead('steps', 'lens', 'show', runId);
      refusedRead('costs', 'lens', 'costs');
      await admin.query(`REVOKE SELECT ON ${schema}.events FROM ${role}`);
      for (const args of [
        ['lens', 'trace', runId],
        ['lens', 'report', runId],
        ['lens', 'verify', '--all'],
        ['lens', 'export', runId],
        ['lens', 'replay', runId],
      ])
        refusedRead('events', ...args);
      await admin.query(`REVOKE SELECT ON ${schema}.projection_versions FROM ${role}`);
      refusedRead('projection_versions', 'lens', 'list');
      // No USAGE on the schema: was "cannot open the Postgres ledger … permission denied for
      // schema", with nothing said of what to grant.
      await admin.query(`REVOKE USAGE ON SCHEMA ${schema} FROM ${role}`);
      for (const args of [
        ['lens', 'list'],
        ['lens', 'trace', runId],
      ]) {
        const r = as(reader)(...args);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain(
          `may not read the ledger: permission denied for schema ${schema}`,
        );
        expect(r.stderr).toContain('Reading needs USAGE on the ledger');
      }
    } finally {
      await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
    }
    expect(as(reader)('lens', 'show', runId).code).toBe(0);
  });

  it("the owner's lens rebuild keeps the reader's grants on the tables it remakes", () => {
    // Before: the rebuild dropped and created every read-model table, and the reader's SELECT
    // went with them: "permission denied for table projection_versions"/"steps" until re-granted.
    const rebuilt = as(owner)('lens', 'rebuild');
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    readsAll(as(reader), runId);
  });

  it('read models of another version: the reader is told to rebuild, a writer rebuilds them', async () => {
    const version = async () =>
      Number(
        (
          await admin.query<{ version: number }>(
            `SELECT version FROM ${schema}.projection_versions WHERE name = 'steps'`,
          )
        ).rows[0]?.version,
      );
    const current = await version();
    await admin.query(
      `UPDATE ${schema}.projection_versions SET version = $1 WHERE name = 'steps'`,
      [current - 1],
    );
    const refused = as(reader)('lens', 'list');
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `the read models in Postgres schema ${schema} are not this Flujo's (steps v${current - 1}, this Flujo reads v${current})`,
    );
    expect(refused.stderr).toContain('flujo lens rebuild');
    expect(await version()).toBe(current - 1);
    // A role that may write brings them up to date on its first read, as before.
    expect(as(owner)('lens', 'list').code).toBe(0);
    expect(await version()).toBe(current);
    await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
    expect(as(reader)('lens', 'list').code).toBe(0);
  });
});

// A second user is needed to make a file read-only: permission bits do not bind root's own
// process, and only root can start a process as another user.
const root = process.getuid?.() === 0;

describe.skipIf(!root)('lens read commands by a user who may only read the SQLite file', () => {
  const NOBODY = 65534;
  let dir: string;
  let runId: string;
  let db: string;
  const asNobody = (...args: string[]) =>
    runCli(args, { cwd: dir, uid: NOBODY, gid: NOBODY, env: { HOME: '/tmp' } });

  beforeAll(() => {
    dir = demoProject();
    chmodSync(dir, 0o755); // mkdtemp makes it 0700: the user must reach the file, not write here
    const run = runCli(['run', '--input', 'an auditor reads this', '--json'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    runId = (JSON.parse(run.stdout) as { run_id: string }).run_id;
    db = join(dir, '.flujo', 'state.db');
    expect(existsSync(`${db}-wal`)).toBe(false); // the writer closed cleanly
    expect(statSync(join(dir, '.flujo')).mode & 0o777).toBe(0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every view, from the file as it is, and leaves it as it was', () => {
    const before = readFileSync(db);
    // Before ADR 94: "attempt to write a readonly database" (exit 2) from every one of them,
    // lens verify included: SQLite could not make the -shm it reads a WAL file with.
    readsAll(asNobody, runId);
    expect(readFileSync(db).equals(before)).toBe(true);
    expect(existsSync(`${db}-wal`) || existsSync(`${db}-shm`)).toBe(false);
  }, 180_000); // about ten CLI runs: slow only on a loaded machine

  it('lens watch from a copy in memory sees the run go on when the file changes', async () => {
    // A run left running (its writer killed), its -wal folded into the file by a clean close:
    // the reader's watch reads a copy in memory. Before, it never read the file again, so it
    // showed nothing of the resume and did not end.
    writeFileSync(
      join(dir, 'slow.mjs'),
      'export const slow = async (s) => { await new Promise((r) => setTimeout(r, Number(process.env.SLOW_MS))); return s; };\n',
    );
    writeFileSync(
      join(dir, 'skills.yaml'),
      `${readFileSync(join(dir, 'skills.yaml'), 'utf8')}  - id: slow\n    description: Waits SLOW_MS, then passes its input on.\n    path: ./slow.mjs\n    export: slow\n    side_effects: false\n`,
    );
    writeFileSync(
      join(dir, 'slow.yaml'),
      "version: '0.1'\nname: slow\nsteps:\n  - name: first\n    agent: { id: slow }\n    input: '{{ context.initial_prompt }}'\n  - name: second\n    agent: { id: flujo.builtins.stringify }\n",
    );
    chmodSync(dir, 0o755);
    // The runs recorded before the writer starts: read first, so a writer that records its run
    // before this read ends cannot hide it (the lookup below once compared counts taken after the
    // spawn, and then polled for its whole bound).
    const before = new Set(
      (
        JSON.parse(runCli(['lens', 'list', '--json'], { cwd: dir }).stdout) as { run_id: string }[]
      ).map((r) => r.run_id),
    );
    const writerEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', SLOW_MS: '60000' };
    delete writerEnv.FLUJO_STATE_URI;
    delete writerEnv.FLUJO_PROJECT_ROOT;
    const writer = spawn(process.execPath, [CLI, 'run', 'slow.yaml', '--input', 'left running'], {
      cwd: dir,
      env: writerEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let writerErr = '';
    writer.stderr.on('data', (d: Buffer) => (writerErr += d.toString()));
    // Listened for from the spawn: a writer that ends on its own is seen, and its close awaited
    // below has not already passed.
    let writerDone = false;
    const writerClosed = new Promise<number | null>((r) =>
      writer.on('close', (code) => {
        writerDone = true;
        r(code);
      }),
    );
    let left: string | undefined;
    for (let i = 0; i < 100 && !left && !writerDone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const runs = JSON.parse(runCli(['lens', 'list', '--json'], { cwd: dir }).stdout) as {
        run_id: string;
        status: string;
      }[];
      left = runs.find((r) => !before.has(r.run_id) && r.status === 'running')?.run_id;
    }
    expect(writerDone, `the writer ended before it was killed: ${writerErr}`).toBe(false);
    writer.kill('SIGKILL');
    await writerClosed;
    expect(left, `no running run was recorded; the writer said: ${writerErr}`).toBeDefined();
    const w = new Database(db);
    w.pragma('schema_version');
    w.close();
    expect(existsSync(`${db}-wal`)).toBe(false);
    const watcher = spawn(process.execPath, [CLI, 'lens', 'watch', left!, '--interval', '50'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', HOME: '/tmp' },
      uid: NOBODY,
      gid: NOBODY,
    });
    let seen = '';
    watcher.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    watcher.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    const exited = new Promise<number | null>((r) => watcher.on('close', r));
    try {
      // Bounds for a loaded machine (CI beside other work), not the expected times.
      for (let i = 0; i < 300 && !seen.includes('first'); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(seen).toContain('first');
      expect(seen).not.toContain('run completed');
      const resumed = runCli(['resume', left!], { cwd: dir, env: { SLOW_MS: '10' } });
      expect(resumed.code, resumed.stderr).toBe(0);
      const code = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r('still watching'), 30_000)),
      ]);
      expect(code, seen).toBe(0);
      expect(seen).toContain('run completed');
    } finally {
      watcher.kill('SIGKILL');
      await exited;
      // The watcher read in place once the resume made a -wal; fold it back, as the writer would.
      const last = new Database(db);
      last.pragma('schema_version');
      last.close();
    }
  }, 120_000);

  it('lens serve from a copy in memory shows a run recorded after it started (ADR 104)', async () => {
    expect(existsSync(`${db}-wal`)).toBe(false);
    try {
      await withLensServe([], { cwd: dir, uid: NOBODY }, async (url, err) => {
        expect(err).toContain('served from a copy in memory taken now');
        expect(err).toContain('it is read again when the file changes');
        const ids = async () =>
          (
            (await (await fetch(`${url}api/runs`)).json()) as { runs: { runId: string }[] }
          ).runs.map((r) => r.runId);
        expect(await ids()).toContain(runId);
        // The live feed, open before the run, follows the fresh copy too.
        const feed = new AbortController();
        const live = await fetch(`${url}api/events`, { signal: feed.signal });
        let frames = '';
        const reading = (async () => {
          const text = new TextDecoder();
          for await (const chunk of live.body as unknown as AsyncIterable<Uint8Array>)
            frames += text.decode(chunk, { stream: true });
        })().catch(() => {});
        const run = runCli(['run', '--input', 'recorded while served', '--json'], { cwd: dir });
        expect(run.code, run.stderr).toBe(0);
        const added = (JSON.parse(run.stdout) as { run_id: string }).run_id;
        // Before, the copy taken at start was served until serve stopped: the run never showed.
        // Bounds for a loaded machine; the file is looked at once a second.
        let seen: string[] = [];
        for (let i = 0; i < 150 && !seen.includes(added); i++) {
          await new Promise((r) => setTimeout(r, 200));
          seen = await ids();
        }
        expect(seen).toContain(added);
        expect(seen).toContain(runId);
        const show = (await (await fetch(`${url}api/runs/${added}`)).json()) as {
          run: { status: string };
          steps: unknown[];
        };
        expect(show.run.status).toBe('completed');
        expect(show.steps.length).toBeGreaterThan(0);
        for (let i = 0; i < 50 && !frames.includes(added); i++)
          await new Promise((r) => setTimeout(r, 100));
        feed.abort();
        await reading;
        expect(frames).toContain(`"runId":"${added}"`);
      });
    } finally {
      // Had serve looked while the run's -wal was there, it read in place; fold it back.
      const last = new Database(db);
      last.pragma('schema_version');
      last.close();
    }
  }, 120_000);

  it('a -wal beside the file with no -shm it may open: says why and what to do (exit 2)', () => {
    // As a writer that stopped without closing leaves it (an empty -wal: no frames), in a folder
    // this user may not write. Before: "cannot open …: unable to open database file", no more.
    writeFileSync(`${db}-wal`, '');
    try {
      const r = asNobody('lens', 'list');
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('a -wal is beside it');
      expect(r.stderr).toContain('cannot open or create its -shm');
      expect(r.stderr).toContain('Read a copy');
    } finally {
      rmSync(`${db}-wal`, { force: true });
    }
  });

  it('a command that writes says this user may not, and what needs only reading', () => {
    const r = asNobody('run', '--input', 'x');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('this user may not write the file or its folder');
    expect(r.stderr).toContain('the lens commands that only read need read access alone');
  });

  it('with a -wal and -shm beside the file, a command that writes is refused (exit 2) and serve reads', async () => {
    // A writer has the file open (or crashed): SQLite then opens it read-only without a word
    // for a user who may not write it. Before: run, resume and cancel failed at their first
    // append (LEDGER_STORE, exit 1), lens rebuild with "a bug in Flujo", and lens serve started
    // for writing, its cancels failing.
    const holder = new Database(db);
    holder.prepare('SELECT count(*) FROM sqlite_master').get();
    try {
      expect(existsSync(`${db}-wal`) && existsSync(`${db}-shm`)).toBe(true);
      for (const args of [
        ['run', '--input', 'x'],
        ['resume', runId, '--input', 'x'],
        ['cancel', runId],
        ['lens', 'rebuild'],
      ]) {
        const r = asNobody(...args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(`${db} is not writable by this user (EACCES)`);
        expect(r.stderr).toContain('this user may not write the file or its folder');
        expect(r.stderr).not.toContain('bug in Flujo');
      }
      expect(asNobody('lens', 'list').code).toBe(0);
      await withLensServe([], { cwd: dir, uid: NOBODY }, async (url, err) => {
        expect(err).toContain('read-only: cannot open the SQLite ledger');
        const cancel = await fetch(`${url}api/runs/${runId}/cancel`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'audit' }),
        });
        expect(cancel.status).toBe(403);
      });
    } finally {
      holder.close();
    }
    expect(existsSync(`${db}-wal`)).toBe(false);
  });

  it('read models of another version: told why, and nothing changed', () => {
    const w = new Database(db);
    w.prepare("UPDATE projection_versions SET version = version - 1 WHERE name = 'runs'").run();
    w.close();
    const before = readFileSync(db);
    const r = asNobody('lens', 'list');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`the read models in ${db} are not this Flujo's (runs v`);
    expect(r.stderr).toContain('flujo lens rebuild');
    expect(readFileSync(db).equals(before)).toBe(true);
    // The owner's first read rebuilds them; the reader reads again.
    expect(runCli(['lens', 'list'], { cwd: dir }).code).toBe(0);
    expect(asNobody('lens', 'list').code).toBe(0);
  });
});
