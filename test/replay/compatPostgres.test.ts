/**
 * The compatibility corpus on Postgres (ADR 84): what an earlier release wrote to a Postgres
 * state (test/fixtures/compat/<release>/postgres.sql, by generatePostgres.ts: its DDL and rows)
 * restored into a fresh schema and opened by today's Flujo, which brings the read models up to
 * date. The rows are the bytes the release recorded in memory (its scenario JSON); every run
 * verifies and replays offline; the read models, as opened and rebuilt, show what the release
 * showed; a paused run resumes to the release's output and rows. One schema per test, dropped.
 */
import { existsSync, readFileSync } from 'node:fs';

import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { toHex } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { encodeCanonical } from '../../src/events/codec.js';
import { PROJECTION_VERSIONS } from '../../src/projections/changes.js';
import { runDetailJson, stepJson } from '../../src/lens/rows.js';
import { createEngine } from '../../src/runtime/engine.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { ANSWERED_BY, compatAgents, type CompatLedger } from '../fixtures/compat/generate.js';
import { SCHEMA_TOKEN, dumpPath } from '../fixtures/compat/generatePostgres.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { afterAdr78, corpus, essentials, planOf, releases } from './compatCorpus.js';

const dumped = releases.filter((r) => existsSync(dumpPath(r)));

let up = false;
beforeAll(async () => {
  up = await postgresReachable();
});

const schemas: string[] = [];
afterEach(async () => {
  for (const s of schemas.splice(0)) await dropSchema(s);
});

/** The release's dump in a schema of its own, as a restore of a backup would put it. */
async function restore(release: string): Promise<string> {
  const schema = uniqueSchema('compat_pg');
  schemas.push(schema);
  const sql = readFileSync(dumpPath(release), 'utf8').replaceAll(SCHEMA_TOKEN, schema);
  // Its own connection: the dump sets the session's search_path.
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
  return schema;
}

const stateUri = (schema: string) => {
  const u = new URL(PG_URL);
  u.searchParams.set('schema', schema);
  return u.toString();
};

async function withState<T>(schema: string, f: (s: State) => Promise<T>): Promise<T> {
  const state = await openState(stateUri(schema), { projectRoot: process.cwd() });
  try {
    return await f(state);
  } finally {
    await state.close();
  }
}

async function shown(state: State, runId: string) {
  const run = runDetailJson((await state.readModels.getRun(runId))!);
  const steps = (await state.readModels.steps(runId)).filter((s) => s.path !== '.').map(stepJson);
  return { run, steps };
}

describe.each(dumped)('the %s Postgres dump, restored and opened today', (release) => {
  const runs = corpus.filter((c) => c.release === release).map((c) => c.ledger);
  /** The runs the release stored in full; bigint's append failed in its inline read model. */
  const whole = runs.filter((l) => l.scenario !== 'bigint');
  const live = (ctx: { skip: (why: string) => void }) => {
    if (!up) ctx.skip('postgres is not reachable (set FLUJO_REQUIRE_SERVICES=1 to fail instead)');
  };

  it('holds the rows the release recorded, and every run verifies', async (ctx) => {
    live(ctx);
    expect(dumped.length).toBeGreaterThanOrEqual(2);
    const schema = await restore(release);
    await withState(schema, async ({ ledger }) => {
      expect((await ledger.listRuns()).map((h) => h.runId).sort()).toEqual(
        runs.map((l) => l.runId).sort(),
      );
      for (const l of runs) {
        const rows = (await ledger.read(l.runId)).map((r) => [
          r.seq,
          r.type,
          toHex(r.body),
          toHex(r.hash),
        ]);
        const recorded = l.events.map((r) => [r.seq, r.type, r.body, r.hash]);
        // bigint: the rows up to the commit whose read model the release could not write.
        if (l.scenario === 'bigint') {
          expect(rows.length).toBeGreaterThan(0);
          expect(rows.length).toBeLessThan(recorded.length);
          expect(rows).toEqual(recorded.slice(0, rows.length));
        } else expect(rows).toEqual(recorded);
        expect(await verifyStoredRun(ledger, l.runId)).toMatchObject({
          ok: true,
          events: rows.length,
        });
      }
    });
  });

  it('replays every run offline to its recorded decisions', async (ctx) => {
    live(ctx);
    const schema = await restore(release);
    await withState(schema, async ({ ledger }) => {
      for (const l of runs) {
        const r = await createEngine({ ledger }).replay(await planOf(l.scenario), l.runId);
        expect(r.firstDivergence, l.scenario).toBeUndefined();
        expect(r).toMatchObject({ identical: true });
      }
    });
  });

  it("shows what the release's lens showed, as opened and after lens rebuild", async (ctx) => {
    live(ctx);
    const schema = await restore(release);
    const versions = async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        const res = await c.query<{ name: string; version: number }>(
          `SELECT name, version FROM "${schema}".projection_versions ORDER BY name`,
        );
        return Object.fromEntries(res.rows.map((r) => [r.name, Number(r.version)]));
      } finally {
        await c.end();
      }
    };
    const before = await versions();
    await withState(schema, async (state) => {
      // Opening brings a read model the release kept at an older version up to today's.
      expect(await versions()).toEqual({ ...before, ...PROJECTION_VERSIONS });
      for (const pass of ['opened', 'rebuilt']) {
        if (pass === 'rebuilt') {
          const report = await state.rebuild();
          expect(report.events).toBeGreaterThan(0);
        }
        for (const l of whole) {
          const now = essentials(await shown(state, l.runId));
          expect(now, `${pass} ${l.scenario}`).toEqual(
            afterAdr78(essentials(l.lens as { run: unknown; steps: unknown[] })),
          );
        }
        // The run the release left half stored shows as running, as it is.
        const big = runs.find((l) => l.scenario === 'bigint');
        if (big) expect((await shown(state, big.runId)).run).toMatchObject({ status: 'running' });
      }
    });
  });

  describe.each(whole.filter((l) => l.resumed))('$scenario, paused', (l: CompatLedger) => {
    it("resumes to the release's output and rows, and the whole run verifies and replays", async (ctx) => {
      live(ctx);
      const r = l.resumed!;
      const schema = await restore(release);
      await withState(schema, async (state) => {
        let t = decodeRecord(l.runId, 1, Buffer.from(r.events[0]!.body, 'hex')).at - 1;
        const engine = createEngine({
          ledger: state.ledger,
          agents: compatAgents as never,
          clock: { now: () => (t += 1) },
          worker: 'compat',
        });
        const plan = await planOf(l.scenario);
        const done = await engine.resume(plan, l.runId, {
          humanInput: r.answer,
          answeredBy: ANSWERED_BY,
        });
        expect({ status: done.status, output: done.output }).toEqual(r.result);
        const after = await state.ledger.read(l.runId, { fromSeq: l.events.length + 1 });
        // ADR 78: today's resume adds StepAbandoned markers; every other event is the release's.
        const same = (es: LedgerEvent[]) =>
          es
            .filter((e) => e.type !== 'StepAbandoned')
            .map((e) => [e.type, e.at, toHex(encodeCanonical({ type: e.type, data: e.data }))]);
        expect(same(after.map((x) => decodeRecord(l.runId, x.seq, x.body)))).toEqual(
          same(r.events.map((x) => decodeRecord(l.runId, x.seq, Buffer.from(x.body, 'hex')))),
        );
        expect(await verifyStoredRun(state.ledger, l.runId)).toMatchObject({ ok: true });
        expect(await createEngine({ ledger: state.ledger }).replay(plan, l.runId)).toMatchObject({
          identical: true,
        });
        const now = essentials(await shown(state, l.runId));
        expect(now.run).toMatchObject({ status: r.result.status });
        expect(now.steps.map((s) => [s.path, s.status])).toEqual(
          afterAdr78(essentials(r.lens as { run: unknown; steps: unknown[] })).steps.map((s) => [
            s.path,
            s.status,
          ]),
        );
      });
    });
  });
});
