/**
 * Runs damaged at their start, emptied or left without a head row, on the real SQLite and Postgres
 * ledgers (the built CLI), as a QA probe damaged them by hand:
 *
 * - `lens rebuild` on Postgres named a run whose head row was deleted as "left out of the read
 *   models" and folded it all the same: `runs` kept it, `lens list` showed it completed (SQLite
 *   left it out). Both now leave it out.
 * - A run whose events were all deleted (head row kept) was shown by `lens show` (and `lens costs
 *   RUN`) from its stale read-model row, exit 0, and `lens rebuild` dropped it with "✓ rebuilt",
 *   exit 0; one whose RunStarted alone was deleted was shown too. Now LEDGER_CORRUPT (exit 1) and
 *   a rebuild that names the run (exit 1).
 * - A paused run without RunStarted at seq 1 was resumed (`--pipeline`) onto a ledger `lens
 *   verify` calls a gap, or refused as PLAN_CHANGED; resume, cancel and `run --run-id` now refuse
 *   it with LEDGER_CORRUPT at seq 1 and record nothing (ADR 124).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { genesisHash, initFastHash, linkHash } from '../../src/events/chain.js';
import { decodeCanonical, encodeCanonical } from '../../src/events/codec.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { rechainRun, type Envelope } from '../support/tamper.js';
import { runCli, type CliResult } from './cli.js';

const reachable = await postgresReachable();
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

type Row = Record<string, unknown>;

/** One project on one store: the CLI's environment and SQL on the ledger's own tables. */
interface Ledger {
  readonly p: string;
  readonly env: NodeJS.ProcessEnv;
  /** SQL with `$1`-style parameters, on either store. */
  sql(text: string, params?: unknown[]): Promise<Row[]>;
  /** The run re-chained from its genesis after `edit` (tamper.ts's forger). */
  rechain(runId: string, edit: (envs: Envelope[]) => Envelope[]): Promise<void>;
}

interface Store {
  readonly name: 'sqlite' | 'postgres';
  open(p: string): Ledger;
}

const schemas: string[] = [];

const sqliteStore: Store = {
  name: 'sqlite',
  open(p) {
    const file = join(p, '.flujo', 'state.db');
    const withDb = <T>(f: (d: Database.Database) => T): T => {
      const d = new Database(file);
      try {
        return f(d);
      } finally {
        d.close();
      }
    };
    return {
      p,
      env: {},
      sql: (text, params = []) =>
        Promise.resolve(
          withDb((d) => {
            const s = d.prepare(text.replace(/\$\d+/g, '?'));
            return s.reader ? (s.all(...params) as Row[]) : (s.run(...params), []);
          }),
        ),
      rechain: (runId, edit) => Promise.resolve(withDb((d) => rechainRun(d, runId, edit))),
    };
  },
};

const postgresStore: Store = {
  name: 'postgres',
  open(p) {
    const schema = uniqueSchema('startdmg');
    schemas.push(schema);
    const sql = async (text: string, params: unknown[] = []) => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`SET search_path TO "${schema}"`);
        return (await c.query(text, params)).rows as Row[];
      } finally {
        await c.end();
      }
    };
    return {
      p,
      env: { FLUJO_STATE_URI: `${PG_URL}?schema=${schema}` },
      sql,
      async rechain(runId, edit) {
        const rows = await sql('SELECT body FROM events WHERE run_id = $1 ORDER BY seq', [runId]);
        const envs = edit(
          rows.map((r) => decodeCanonical(new Uint8Array(r.body as Buffer)) as Envelope),
        );
        await sql('DELETE FROM events WHERE run_id = $1', [runId]);
        let prev = genesisHash(runId);
        for (const [i, env] of envs.entries()) {
          const body = encodeCanonical({ ...env, seq: i + 1 });
          const hash = linkHash(prev, body);
          await sql(
            'INSERT INTO events (run_id, seq, type, at, prev, hash, body) VALUES ($1, $2, $3, $4, $5, $6, $7)',
            [runId, i + 1, env.type, env.at, Buffer.from(prev), Buffer.from(hash), body],
          );
          prev = hash;
        }
        await sql('UPDATE run_heads SET seq = $1, hash = $2 WHERE run_id = $3', [
          envs.length,
          Buffer.from(prev),
          runId,
        ]);
      },
    };
  },
};

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-start-damage-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await dropSchema(s);
});

describe.each([
  { store: sqliteStore, skip: false },
  { store: postgresStore, skip: !reachable },
])('$store.name: a run damaged at its start', ({ store, skip }) => {
  let n = 0;
  /** A project (`flujo init`) on the store. */
  function project(): Ledger {
    n += 1;
    const p = join(dir, `${store.name}-${n}`);
    expect(runCli(['init', '--project', p], { cwd: dir }).code).toBe(0);
    return store.open(p);
  }
  const cli = (l: Ledger, args: string[]): CliResult => runCli(args, { cwd: l.p, env: l.env });
  /** A run paused on its question (the init pipeline asks for approval). */
  const paused = (l: Ledger, input = 'Ada'): string =>
    json(cli(l, ['run', '--input', input, '--json']).stdout).run_id as string;
  const completed = (l: Ledger, input = 'Ada'): string => {
    const id = paused(l, input);
    const done = cli(l, ['resume', id, '--input', '{"approved":true}', '--json']);
    expect(json(done.stdout).status).toBe('completed');
    return id;
  };
  const listed = (l: Ledger) =>
    (JSON.parse(cli(l, ['lens', 'list', '--json']).stdout) as { run_id: string }[]).map(
      (r) => r.run_id,
    );
  const readModelRuns = async (l: Ledger) =>
    (await l.sql('SELECT run_id FROM runs ORDER BY run_id')).map((r) => r.run_id);
  /** The run's rows and head, to show that nothing was recorded. */
  const stored = async (l: Ledger, id: string) => ({
    events: await l.sql('SELECT seq, type FROM events WHERE run_id = $1 ORDER BY seq', [id]),
    head: await l.sql('SELECT seq, terminal FROM run_heads WHERE run_id = $1', [id]),
  });

  it.skipIf(skip)(
    'lens rebuild leaves a run whose head row was deleted out of the read models, as it says',
    async () => {
      const l = project();
      const gone = completed(l);
      const other = completed(l, 'Bo');
      await l.sql('DELETE FROM run_heads WHERE run_id = $1', [gone]);
      const r = cli(l, ['lens', 'rebuild', '--json']);
      expect(r.code).toBe(1);
      expect(json(r.stdout).damaged).toEqual([
        expect.objectContaining({ run_id: gone, reason: 'orphaned' }),
      ]);
      // Postgres folded its events all the same: `runs` kept it and lens list showed it completed.
      expect(await readModelRuns(l)).toEqual([other]);
      expect(listed(l)).toEqual([other]);
      const show = cli(l, ['lens', 'show', gone]);
      expect(show.code).toBe(1);
      expect(show.stderr).toContain('LEDGER_UNKNOWN_RUN');
    },
  );

  it.skipIf(skip)(
    'a run whose events were all deleted under its head row: show, costs and watch refuse it, rebuild names it',
    async () => {
      const l = project();
      const id = completed(l);
      const other = completed(l, 'Bo');
      await l.sql('DELETE FROM events WHERE run_id = $1', [id]);
      for (const args of [
        ['lens', 'show', id],
        ['lens', 'show', id, '--json'],
        ['lens', 'costs', id],
        ['lens', 'watch', id, '--json'],
        ['lens', 'trace', id],
        ['lens', 'export', id, '-o', join(l.p, 'x.cbor')],
      ]) {
        const r = cli(l, args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toContain(`[LEDGER_CORRUPT] run ${id} seq 1: truncated`);
        expect(r.stderr).toContain(`flujo lens verify ${id}`);
        expect(r.stdout).not.toContain('completed');
      }
      const report = cli(l, ['lens', 'report', id]);
      expect(report.code).toBe(1);
      expect(report.stderr).toContain('fails verification at seq 1 (truncated)');

      const rebuilt = cli(l, ['lens', 'rebuild', '--json']);
      expect(rebuilt.code).toBe(1);
      expect(json(rebuilt.stdout).damaged).toEqual([
        expect.objectContaining({ run_id: id, seq: 1, reason: 'truncated' }),
      ]);
      expect(rebuilt.stderr).toContain(`✗ run ${id} seq 1: truncated`);
      expect(rebuilt.stderr).toContain(`flujo lens verify ${id}`);
      expect(listed(l)).toEqual([other]);
      const text = cli(l, ['lens', 'rebuild']);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/✗ rebuilt .*; damage named above/);
      // The run vanished from the read models: verify still names it.
      const verify = cli(l, ['lens', 'verify', id, '--json']);
      expect(json(verify.stdout).failures).toEqual([
        expect.objectContaining({ run_id: id, seq: 1, reason: 'truncated' }),
      ]);
    },
  );

  it.skipIf(skip)(
    'lens list flags the stale rows of runs the ledger no longer records, until a rebuild (ADR 130)',
    async () => {
      const l = project();
      const emptied = completed(l);
      const headless = completed(l, 'Bo');
      const intact = completed(l, 'Cy');
      await l.sql('DELETE FROM events WHERE run_id = $1', [emptied]);
      await l.sql('DELETE FROM run_heads WHERE run_id = $1', [headless]);
      const list = cli(l, ['lens', 'list', '--json']);
      expect(list.code).toBe(0);
      const rows = JSON.parse(list.stdout) as { run_id: string; damaged?: string }[];
      expect(Object.fromEntries(rows.map((r) => [r.run_id, r.damaged ?? null]))).toEqual({
        [emptied]: 'no_start',
        [headless]: 'unrecorded',
        [intact]: null,
      });
      const text = cli(l, ['lens', 'list']);
      expect(text.code).toBe(0);
      const line = (id: string) => text.stdout.split('\n').find((x) => x.startsWith(id)) ?? '';
      expect(line(emptied)).toContain('✗ completed?');
      expect(line(headless)).toContain('✗ completed?');
      expect(line(intact)).toContain('✓ completed');
      expect(text.stderr).toContain('2 runs marked ✗ are no longer recorded in the ledger');
      expect(text.stderr).toContain('flujo lens verify --all');
      const one = cli(l, ['lens', 'list', '--pipeline', 'nope']);
      expect(one.stderr).not.toContain('✗');
      expect(cli(l, ['lens', 'rebuild']).code).toBe(1);
      expect(listed(l)).toEqual([intact]);
    },
  );

  it.skipIf(skip)('a run whose RunStarted alone was deleted: show names the gap', async () => {
    const l = project();
    const id = completed(l);
    await l.sql('DELETE FROM events WHERE run_id = $1 AND seq = 1', [id]);
    for (const args of [
      ['lens', 'show', id],
      ['lens', 'costs', id, '--json'],
      ['lens', 'watch', id],
    ]) {
      const r = cli(l, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`[LEDGER_CORRUPT] run ${id} seq 1: gap`);
      expect(r.stdout).not.toContain('completed');
    }
  });

  it.skipIf(skip)(
    'resume, cancel and run --run-id refuse a paused run without RunStarted at seq 1, recording nothing',
    async () => {
      const l = project();
      const removed = paused(l);
      const rechained = paused(l, 'Bo');
      await l.sql('DELETE FROM events WHERE run_id = $1 AND seq = 1', [removed]);
      // A forger's version: RunStarted gone and the rest renumbered, every link holding.
      await l.rechain(rechained, (envs) => envs.slice(1));
      for (const [id, reason] of [
        [removed, 'gap'],
        [rechained, 'no_start'],
      ] as const) {
        const before = await stored(l, id);
        for (const args of [
          ['resume', id, '--input', '{"approved":true}'],
          ['resume', id, '--input', '{"approved":true}', '--json'],
          ['resume', id, '--pipeline', 'pipeline.yaml', '--input', '{"approved":true}'],
          ['cancel', id],
          ['cancel', id, '--json'],
          ['run', '--run-id', id, '--input', 'Ada'],
        ]) {
          const r = cli(l, args);
          expect(r.code, args.join(' ')).toBe(1);
          expect(r.stderr).toContain(`[LEDGER_CORRUPT] run ${id} seq 1: ${reason}`);
          expect(r.stderr).toContain(`Check it with: flujo lens verify ${id}`);
          expect(r.stderr).toContain('nothing was recorded');
          expect(r.stderr).not.toMatch(/PLAN_CHANGED|allow-changed-pipeline/);
          if (args.includes('--json'))
            expect(json(r.stdout)).toMatchObject({
              run_id: id,
              error: { code: 'LEDGER_CORRUPT' },
            });
          expect(await stored(l, id)).toEqual(before);
        }
      }
    },
  );
});
