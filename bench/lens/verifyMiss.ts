/**
 * bench/lens/verifyMiss: `flujo lens verify RUN` when RUN names no run the store lists (ADR 139).
 * Fills BENCH_RUNS runs (default 20,000) of ten events each, deletes the head rows of three of
 * them (orphans, ADR 130), then times, old and new interleaved in one process:
 *
 * - miss, old: resolveRunId's miss + every orphan of the store (a scan of every event), filtered
 * - miss, new: resolveRunId's miss + the orphans whose run id starts with RUN
 * - an orphaned run named by its id: found either way
 * - resolveRunId alone: the part of the miss before the orphans are looked for
 *
 * Prints median and p95 (ms) of BENCH_REPS (default 31) per store.
 *
 *   node --import tsx bench/lens/verifyMiss.ts        # BENCH_RUNS, BENCH_STORES=sqlite,postgres
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { resolveRunId } from '../../src/cli/context.js';
import { initFastHash } from '../../src/events/chain.js';
import type { LedgerStore } from '../../src/ports.js';
import { orphanedRuns } from '../../src/runtime/verifyLedger.js';
import { fill } from './run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20_000);
const REPS = Number(process.env.BENCH_REPS ?? 31);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
const PG_URL = process.env.FLUJO_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
// bench/lens/run.ts names run i `run-` and i in base 36 over six digits.
const GONE = [7, RUNS >> 1, RUNS - 3].map((i) => `run-${i.toString(36).padStart(6, '0')}`);

/** The miss as `lens verify` meets it: no listed run, then the orphans that may be it. */
async function miss(store: LedgerStore, run: string, old?: boolean): Promise<number> {
  try {
    await resolveRunId(store, run);
    throw new Error(`${run} resolved`);
  } catch (e) {
    if ((e as { code?: string }).code !== 'LEDGER_UNKNOWN_RUN') throw e;
  }
  if (old === undefined) return 0;
  const found = old
    ? (await orphanedRuns(store)).filter((o) => o.runId.startsWith(run))
    : await orphanedRuns(store, run);
  return found.length;
}

async function measure(name: string, store: LedgerStore): Promise<void> {
  const cases: [string, string, boolean | undefined, number][] = [
    ['miss `zzz`: resolveRunId alone (listRuns by prefix)', 'zzz', undefined, 0],
    ['miss `abc`: resolveRunId alone (listRuns by prefix)', 'abc', undefined, 0],
    ['miss `zzz` (after every run id), old', 'zzz', true, 0],
    ['miss `zzz` (after every run id), new', 'zzz', false, 0],
    ['miss `abc` (before every run id), old', 'abc', true, 0],
    ['miss `abc` (before every run id), new', 'abc', false, 0],
    ['an orphaned run by its id, old', GONE[1]!, true, 1],
    ['an orphaned run by its id, new', GONE[1]!, false, 1],
  ];
  const times = cases.map(() => [] as number[]);
  for (let r = -1; r < REPS; r++) {
    for (const [k, [, run, old, want]] of cases.entries()) {
      const t = performance.now();
      const n = await miss(store, run, old);
      const ms = performance.now() - t;
      if (n !== want) throw new Error(`${run}: ${n} orphans, expected ${want}`);
      if (r >= 0) times[k]!.push(ms);
    }
  }
  for (const [k, [label]] of cases.entries()) {
    const xs = times[k]!.sort((a, b) => a - b);
    const at = (q: number) => xs[Math.floor(q * (xs.length - 1))]!.toFixed(2);
    console.log(`| ${name} | ${label} | ${at(0.5)} | ${at(0.95)} |`);
  }
}

async function main() {
  await initFastHash();
  console.log(`bench/lens/verifyMiss: ${RUNS} runs, ${RUNS * 10} events, 3 orphaned\n`);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-bench-miss-'));
  const rows: (() => Promise<void>)[] = [];
  try {
    if (STORES.includes('sqlite')) {
      const path = join(dir, 'state.db');
      const w = createSqliteLedger({ path, synchronous: 'NORMAL' });
      await fill(w, 0, RUNS, 1);
      for (const id of GONE) w.db.prepare('DELETE FROM run_heads WHERE run_id = ?').run(id);
      await w.close();
      rows.push(async () => {
        const store = createSqliteLedger({ path, readOnly: true });
        await measure('sqlite', store).finally(() => store.close());
      });
    }
    let schema: string | undefined;
    if (STORES.includes('postgres')) {
      schema = `bench_miss_${process.pid}`;
      const w = await createPostgresLedger({ connectionString: PG_URL, schema });
      await fill(w, 0, RUNS, 8);
      await w.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DELETE FROM "${schema}".run_heads WHERE run_id = ANY($1)`, [GONE]);
      await c.query(`VACUUM ANALYZE "${schema}".events`);
      await c.query(`VACUUM ANALYZE "${schema}".run_heads`);
      await c.end();
      rows.push(async () => {
        const store = await createPostgresLedger({
          connectionString: PG_URL,
          schema,
          readOnly: true,
        });
        await measure('postgres', store).finally(() => store.close());
      });
    }
    console.log('| store | lookup | median ms | p95 ms |\n|---|---|---|---|');
    for (const f of rows) await f();
    if (schema) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA "${schema}" CASCADE`);
      await c.end();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
