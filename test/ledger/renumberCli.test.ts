/**
 * The built CLI on a real restore (ADR 92): the a449bcd Postgres dump of the compat corpus,
 * restored into a schema with its txids moved 10^6 ahead of this cluster (ADR 84's measurement).
 * Every command that opens it for writing exits 2 with LEDGER_TXID_AHEAD; verify and replay read
 * it; `lens renumber` repairs it, after which every event is read in commit order again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { initFastHash } from '../../src/events/chain.js';
import type { StoredRecord } from '../../src/events/envelope.js';
import { SCHEMA_TOKEN, dumpPath } from '../fixtures/compat/generatePostgres.js';
import { runCli } from '../e2e/cli.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

const root = join(import.meta.dirname, '../..');
const RELEASE = 'a449bcd';
const EVENTS = 243;

let up = false;
beforeAll(async () => {
  await initFastHash();
  up = await postgresReachable();
});
const schemas: string[] = [];
afterEach(async () => {
  for (const s of schemas.splice(0)) await dropSchema(s);
});

async function query(text: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** The dump restored, then its txids moved 10^6 on: a restore from a cluster further on. */
async function restoredAhead(): Promise<{ schema: string; uri: string }> {
  const schema = uniqueSchema('renum_cli');
  schemas.push(schema);
  await query(readFileSync(dumpPath(RELEASE), 'utf8').replaceAll(SCHEMA_TOKEN, schema));
  await query(`UPDATE "${schema}".events SET txid = (txid::text::bigint + 1000000)::text::xid8`);
  const u = new URL(PG_URL);
  u.searchParams.set('schema', schema);
  return { schema, uri: u.toString() };
}

const cli = (uri: string, ...args: string[]) =>
  runCli([...args, '--state-uri', uri], { cwd: root });

describe(`flujo lens renumber on the ${RELEASE} dump restored ahead`, () => {
  it('refuses to write, still verifies and replays, and renumbers it whole', async (ctx) => {
    if (!up) ctx.skip('postgres is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)');
    const { schema, uri } = await restoredAhead();

    const list = cli(uri, 'lens', 'list', '--json');
    expect(list.code, list.stderr).toBe(2);
    expect(list.stderr).toContain(`[LEDGER_TXID_AHEAD] the Postgres ledger in schema ${schema}`);
    expect(list.stderr).toContain(`holds ${EVENTS} events`);
    expect(list.stderr).toContain('flujo lens renumber');

    const verify = cli(uri, 'lens', 'verify', '--all', '--json');
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, events_checked: EVENTS });
    const replay = cli(uri, 'lens', 'replay', 'compat-flow', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ run_id: 'compat-flow', identical: true });

    const sqlite = runCli(['lens', 'renumber', '--state-uri', 'memory://'], { cwd: root });
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr).toContain('[USAGE] lens renumber repairs a Postgres ledger');

    const dry = cli(uri, 'lens', 'renumber', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      schema,
      renumbered: true,
      dry_run: true,
      vacuumed: false,
      events: EVENTS,
      ahead: EVENTS,
      positions: [],
    });
    expect(cli(uri, 'lens', 'list', '--json').code).toBe(2);

    const fixed = cli(uri, 'lens', 'renumber');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toContain(`schema ${schema}: renumbered ${EVENTS} events (${EVENTS} had`);
    expect(fixed.stdout).toContain('order kept');
    expect(fixed.stderr).toContain(`${schema}.flujo_position_map`);
    expect(fixed.stderr).not.toContain('VACUUM'); // it ran

    const listed = cli(uri, 'lens', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as unknown[]).length).toBe(8);
    const again = cli(uri, 'lens', 'renumber');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to renumber');

    // Every event in commit order again, and each run's events in seq order within it.
    const state = await openState(uri, { projectRoot: root });
    try {
      const seen: StoredRecord[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await state.ledger.readAll(after, 100);
        if (!page.length) break;
        seen.push(...page);
        after = page[page.length - 1]!.pos;
      }
      expect(seen.length).toBe(EVENTS);
      const last = new Map<string, number>();
      for (const r of seen) {
        expect(r.seq).toBe((last.get(r.runId) ?? 0) + 1);
        last.set(r.runId, r.seq);
      }
    } finally {
      await state.close();
    }
  });
});
