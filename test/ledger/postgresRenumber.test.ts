/**
 * A Postgres ledger restored into a cluster whose transaction counter is behind the one that wrote
 * it (ADR 92). The restore is made the way it happens: the rows' txids (and a subscriber position
 * stored with them) are moved 10^9 ahead of this cluster. Opening it for writing is refused with
 * LEDGER_TXID_AHEAD; reading by run and verify still work; `renumberPostgresLedger` gives every
 * row a position below the horizon in the old order, maps the stored position, and new appends
 * sort after the old rows.
 */
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createPostgresLedger, type PostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { renumberPostgresLedger } from '../../src/adapters/ledger/postgresRenumber.js';
import { openPostgresState } from '../../src/adapters/ledger/projectionsPostgres.js';
import { EngineError, ErrorCode, ExitCode } from '../../src/errors.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead, type Head } from '../../src/events/envelope.js';
import type { StoredRecord } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';
import { verifyWholeLedger } from '../../src/runtime/verifyLedger.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { completed, started, stepDone } from '../support/events.js';

const AT = 1_764_000_000_000;
const AHEAD = 1_000_000_000n;

describe('a Postgres ledger restored with its txids ahead of the cluster', () => {
  let up = false;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    await initFastHash();
    up = await postgresReachable();
  });
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const skipUnlessUp = (ctx: { skip: (why: string) => void }) => {
    if (!up) ctx.skip('postgres is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)');
  };

  async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  async function all(store: LedgerStore, after?: string): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    for (;;) {
      const page = await store.readAll(after, 3);
      out.push(...page);
      const last = page[page.length - 1];
      if (!last) return out;
      after = last.pos;
    }
  }
  /** readAll until `n` rows show: a transaction elsewhere in the cluster holds back the horizon. */
  async function allOf(store: LedgerStore, n: number): Promise<StoredRecord[]> {
    const until = Date.now() + 20_000;
    for (;;) {
      const rows = await all(store);
      if (rows.length >= n || Date.now() > until) return rows;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const ids = (rs: readonly StoredRecord[]) => rs.map((r) => `${r.runId}#${r.seq}`);

  /**
   * Records three runs in interleaved transactions, and a subscriber that read the first five
   * events and stored its position (and an unrelated "12:30") in system_state. Then "restores"
   * it: every txid, and the stored position, moved AHEAD on.
   */
  async function restoredLedger() {
    const schema = uniqueSchema('renum');
    cleanups.push(() => dropSchema(schema));
    const state = await openPostgresState(PG_URL, schema);
    const heads = new Map<string, Head>();
    const append = async (
      runId: string,
      events: Parameters<LedgerStore['append']>[0]['events'],
    ) => {
      const res = await state.ledger.append({
        runId,
        expected: heads.get(runId) ?? emptyHead(runId),
        events,
        at: AT + heads.size,
      });
      heads.set(runId, res.head);
    };
    await append('a', [started('a')]);
    await append('b', [started('b'), stepDone('b.1')]);
    await append('a', [stepDone('a.1')]);
    await append('c', [started('c')]);
    await append('b', [stepDone('b.2'), completed()]);
    await append('a', [stepDone('a.2'), completed()]);
    const recorded = await allOf(state.ledger, 9);
    expect(ids(recorded)).toEqual(['a#1', 'b#1', 'b#2', 'a#2', 'c#1', 'b#3', 'b#4', 'a#3', 'a#4']);
    const seen = recorded[3] as StoredRecord; // a#2
    const shift = (pos: string) => {
      const [t, p] = pos.split(':') as [string, string];
      return `${BigInt(t) + AHEAD}:${p}`;
    };
    await state.readModels.setSystemState('subscriber', { pos: shift(seen.pos), at: '12:30' });
    await state.close();
    await sql(`UPDATE "${schema}".events SET txid = (txid::text::bigint + $1)::text::xid8`, [
      AHEAD.toString(),
    ]);
    // Commit order is not pos order: c's transaction took its id first and committed later.
    await sql(
      `UPDATE "${schema}".events
          SET txid = ((SELECT min(txid::text::bigint) FROM "${schema}".events) - 1)::text::xid8
        WHERE run_id = 'c'`,
    );
    const rows = await sql<{ id: string; pos: string }>(
      `SELECT run_id || '#' || seq AS id, txid::text || ':' || pos AS pos
         FROM "${schema}".events ORDER BY txid, pos`,
    );
    const before = rows.map((r) => r.id);
    expect(before).toEqual(['c#1', 'a#1', 'b#1', 'b#2', 'a#2', 'b#3', 'b#4', 'a#3', 'a#4']);
    return { schema, before, oldPositions: rows.map((r) => r.pos), heads, seenAt: 5 };
  }

  function expectAhead(e: unknown, schema: string) {
    expect(e).toBeInstanceOf(EngineError);
    const err = e as EngineError;
    expect(err.code).toBe(ErrorCode.LEDGER_TXID_AHEAD);
    expect(err.exitCode).toBe(ExitCode.config);
    expect(err.message).toContain(`schema ${schema} holds 9 events`);
    const [, top, counter] =
      /transaction ids up to (\d+), but this cluster's transaction counter is at (\d+):/.exec(
        err.message,
      ) ?? [undefined, '0', '0'];
    expect(BigInt(top as string) > AHEAD).toBe(true);
    expect(BigInt(counter as string) < AHEAD).toBe(true);
    expect(err.details).toMatchObject({ schema, top, xmax: counter, ahead: 9 });
    expect(err.message).toContain('restored from another cluster');
    expect(err.message).toContain('nothing was changed');
    expect(err.message).toContain('flujo lens renumber');
    expect(err.message).toContain(`schema=${schema}`);
  }

  it('refuses to open it for writing, names what happened and what to do, and changes nothing', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema } = await restoredLedger();
    const before = await sql(`SELECT txid::text, pos FROM "${schema}".events ORDER BY pos`);

    const write = await createPostgresLedger({ connectionString: PG_URL, schema }).catch(
      (e: unknown) => e,
    );
    expectAhead(write, schema);
    expectAhead(await openPostgresState(PG_URL, schema).catch((e: unknown) => e), schema);

    // Read-only: read by run and verify work; the commit-order read is refused, not empty.
    const ro = await createPostgresLedger({ connectionString: PG_URL, schema, readOnly: true });
    cleanups.push(() => ro.close());
    expect((await ro.read('a')).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    const verified = await verifyWholeLedger(ro);
    expect({ ok: verified.ok, runs: verified.runsChecked, events: verified.eventsChecked }).toEqual(
      {
        ok: true,
        runs: 3,
        events: 9,
      },
    );
    expectAhead(await ro.readAll().catch((e: unknown) => e), schema);
    // What the refusal saves a reader from: the commit-order query itself sees none of the rows.
    const hidden = await sql(
      `SELECT count(*)::int AS n FROM "${schema}".events
        WHERE txid < pg_snapshot_xmin(pg_current_snapshot())`,
    );
    expect(hidden).toEqual([{ n: 0 }]);
    expect(await sql(`SELECT txid::text, pos FROM "${schema}".events ORDER BY pos`)).toEqual(
      before,
    );
  });

  it('renumber refuses while a Flujo has the schema open, and a dry run changes nothing', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema } = await restoredLedger();
    const ro = await createPostgresLedger({ connectionString: PG_URL, schema, readOnly: true });
    await ro.read('a'); // a pooled connection is now open
    const busy = await renumberPostgresLedger({ connectionString: PG_URL, schema }).catch(
      (e: unknown) => e,
    );
    await ro.close();
    expect(busy).toBeInstanceOf(EngineError);
    expect((busy as EngineError).code).toBe(ErrorCode.LEDGER_IN_USE);
    expect((busy as EngineError).message).toMatch(
      new RegExp(
        `schema ${schema} is in use by pid \\d+ \\(flujo ${schema}\\); nothing was changed`,
      ),
    );

    const dry = await renumberPostgresLedger({ connectionString: PG_URL, schema, dryRun: true });
    expect(dry).toMatchObject({
      renumbered: true,
      dryRun: true,
      vacuumed: false,
      events: 9,
      ahead: 9,
    });
    const [{ top }] = (await sql(
      `SELECT max(txid::text::bigint)::text AS top FROM "${schema}".events`,
    )) as [{ top: string }];
    expect(BigInt(top) > AHEAD).toBe(true);
    expect(await sql(`SELECT to_regclass('"${schema}".flujo_position_map')::text AS t`)).toEqual([
      { t: null },
    ]);
  });

  it('renumber keeps the order, maps the stored position, and new appends sort after', async (ctx) => {
    skipUnlessUp(ctx);
    const { schema, before, oldPositions, heads, seenAt } = await restoredLedger();

    const report = await renumberPostgresLedger({ connectionString: PG_URL, schema });
    expect(report).toMatchObject({
      schema,
      renumbered: true,
      dryRun: false,
      vacuumed: true,
      events: 9,
      ahead: 9,
      positions: [{ key: 'subscriber', to: `3:${seenAt}` }],
      unmapped: [{ key: 'subscriber', value: '12:30' }],
    });
    expect(BigInt(report.highestTxid as string) > AHEAD).toBe(true);

    const state = await openPostgresState(PG_URL, schema);
    cleanups.push(() => state.close());
    const store = state.ledger as PostgresLedger;
    const after = await allOf(store, 9);
    expect(ids(after)).toEqual(before);
    expect(after.map((r) => r.pos)).toEqual(before.map((_, i) => `3:${i + 1}`));

    // A position handed out before the renumber (stored where it was not mapped) is refused,
    // not read from: it would return nothing now and skip events later.
    const stale = oldPositions[seenAt - 1] as string;
    const refused = await store.readAll(stale).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EngineError);
    expect((refused as EngineError).code).toBe(ErrorCode.LEDGER_TXID_AHEAD);
    expect((refused as EngineError).message).toContain(
      `"${stale}" is a position ahead of this cluster's transaction counter`,
    );
    expect((refused as EngineError).message).toContain(`${schema}.flujo_position_map`);
    const staleTail = store.subscribe({ after: stale, pollMs: 20 })[Symbol.asyncIterator]();
    await expect(staleTail.next()).rejects.toThrow(/LEDGER_TXID_AHEAD/);

    // The subscriber resumes from its mapped position and misses nothing.
    const stored = (await state.readModels.getSystemState('subscriber')) as {
      pos: string;
      at: string;
    };
    expect(stored).toEqual({ pos: `3:${seenAt}`, at: '12:30' });
    const controller = new AbortController();
    const got: string[] = [];
    const tail = (async () => {
      for await (const r of store.subscribe({
        after: stored.pos,
        signal: controller.signal,
        pollMs: 20,
      })) {
        got.push(`${r.runId}#${r.seq}`);
        if (got.length === before.length - seenAt + 3) controller.abort();
      }
    })();

    // New events, on an old run and a new one, come after every restored event.
    const more = await store.append({
      runId: 'c',
      expected: heads.get('c') as Head,
      events: [stepDone('c.1'), completed()],
      at: AT + 100,
    });
    await store.append({
      runId: 'd',
      expected: emptyHead('d'),
      events: [started('d')],
      at: AT + 101,
    });
    await tail;
    expect(got).toEqual([...before.slice(seenAt), 'c#2', 'c#3', 'd#1']);
    const whole = await allOf(store, 12);
    expect(ids(whole)).toEqual([...before, 'c#2', 'c#3', 'd#1']);
    expect(more.head.seq).toBe(3);
    const [t] = (whole[9] as StoredRecord).pos.split(':');
    expect(BigInt(t as string) > 3n).toBe(true);

    const verified = await verifyWholeLedger(store);
    expect({ ok: verified.ok, runs: verified.runsChecked, events: verified.eventsChecked }).toEqual(
      {
        ok: true,
        runs: 4,
        events: 12,
      },
    );
    expect((await state.readModels.getRun('c'))?.status).toBe('completed');

    // Every old position is kept for subscribers that stored theirs elsewhere.
    const map = await sql<{ old: string; to: string }>(
      `SELECT old_txid::text || ':' || old_pos AS old, new_txid::text || ':' || new_pos AS to
         FROM "${schema}".flujo_position_map ORDER BY new_pos`,
    );
    expect(map.map((m) => m.to)).toEqual(before.map((_, i) => `3:${i + 1}`));
    expect(map.map((m) => m.old)).toEqual(oldPositions);

    await state.close();
    cleanups.pop();
    const again = await renumberPostgresLedger({ connectionString: PG_URL, schema });
    expect(again).toMatchObject({ renumbered: false, events: 0, ahead: 0 });
  });

  it("renumber refuses when rows appended after the restore sort before a run's restored rows", async (ctx) => {
    skipUnlessUp(ctx);
    const { schema } = await restoredLedger();
    // As an older Flujo would have left it: run a's last event appended after the restore, with
    // this cluster's (lower) txid.
    await sql(`UPDATE "${schema}".events SET txid = '5'::xid8 WHERE run_id = 'a' AND seq = 4`);
    const before = await sql(`SELECT txid::text, pos FROM "${schema}".events ORDER BY pos`);
    const e = await renumberPostgresLedger({ connectionString: PG_URL, schema }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).code).toBe(ErrorCode.LEDGER_TXID_AHEAD);
    expect((e as EngineError).message).toContain(
      'run a seq 4 comes before seq 1: events were appended after the restore',
    );
    expect((e as EngineError).message).toContain(
      'Move those events after the restored ones by hand (their txid above 1000',
    );
    expect(await sql(`SELECT txid::text, pos FROM "${schema}".events ORDER BY pos`)).toEqual(
      before,
    );
  });
});
