/**
 * bench/lens: the read side over a big ledger. Generates BENCH_RUNS runs (default 100,000) of ten
 * events each (1,000,000 events) — synthetic but valid batches appended through the store, so
 * the projections fill inline exactly as in production — then times the queries lens and the web
 * lens make: `lens list` (listRuns limit 50 + countByStatus), `lens costs` (by model, by day) and a
 * run page (getRun + steps). Prints median and p95 per query for SQLite and Postgres, and the
 * append cost with and without projections.
 *
 *   npm run bench:lens                       # both stores, 100k runs
 *   BENCH_RUNS=10000 BENCH_STORES=sqlite npm run bench:lens
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import pg from 'pg';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { initFastHash } from '../../src/events/chain.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 100_000);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
const PG_URL = process.env.FLUJO_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const T0 = Date.UTC(2025, 0, 1);
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku', 'llama3'];
const PIPELINES = ['triage', 'summarise', 'review', 'extract', 'route'];

/** Run i: ten events in one batch; most complete, some fail, a few pause for a person. */
export function batch(i: number): NewEvent[] {
  const model = MODELS[i % MODELS.length] as string;
  const usage = { input: 100 + (i % 50), output: 20 + (i % 7) };
  const head: NewEvent[] = [
    {
      type: 'RunStarted',
      data: {
        pipeline: { name: PIPELINES[i % PIPELINES.length] as string, fingerprint: 'f'.repeat(64) },
        input: { ticket: i, text: 'please help with order '.repeat(3) },
        engine: { version: 'bench', flags: [] },
      },
    },
    { type: 'RunClaimed', data: { worker: 'bench', epoch: 1 } },
    { type: 'StepScheduled', data: { path: '.', name: 'pipeline', kind: 'sequence' } },
    { type: 'StepScheduled', data: { path: '0', name: 'classify', kind: 'step' } },
    { type: 'BudgetReserved', data: { path: '0', attempt: 1, costMicros: 900, tokens: 400 } },
    {
      type: 'AgentCallRequested',
      data: {
        path: '0',
        attempt: 1,
        key: `r${i}:0:1`,
        agent: `openai:${model}`,
        requestHash: 'h',
        input: { ticket: i },
      },
    },
    {
      type: 'AgentResponded',
      data: {
        path: '0',
        attempt: 1,
        key: `r${i}:0:1`,
        output: { label: 'billing', score: i % 100 },
        usage,
        costMicros: usage.input * 3 + usage.output * 12,
        model,
        latencyMs: 300 + (i % 400),
      },
    },
  ];
  if (i % 20 === 0) {
    return [
      ...head,
      { type: 'StepCompleted', data: { path: '0', output: { label: 'billing' } } },
      {
        type: 'HumanInputRequested',
        data: { path: '1', message: 'Refund?', inputSchema: { type: 'boolean' } },
      },
      { type: 'RunPaused', data: { path: '1', reason: 'hitl' } },
    ];
  }
  if (i % 10 === 0) {
    const error = { code: 'STEP_ERROR', message: 'upstream said no', retryable: false };
    return [
      ...head,
      { type: 'StepFailed', data: { path: '0', error } },
      { type: 'StepFailed', data: { path: '.', error } },
      { type: 'RunFailed', data: { error } },
    ];
  }
  return [
    ...head,
    { type: 'StepCompleted', data: { path: '0', output: { label: 'billing' } } },
    { type: 'StepCompleted', data: { path: '.', output: { label: 'billing' } } },
    { type: 'RunCompleted', data: { output: { label: 'billing' } } },
  ];
}

const runId = (i: number) => `run-${i.toString(36).padStart(6, '0')}`;

export async function fill(ledger: LedgerStore, from: number, to: number, concurrency: number) {
  let next = from;
  const worker = async () => {
    for (let i = next++; i < to; i = next++) {
      const id = runId(i);
      await ledger.append({
        runId: id,
        expected: emptyHead(id),
        events: batch(i),
        at: T0 + i * 600,
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function time(
  n: number,
  f: () => Promise<unknown>,
): Promise<{ median: number; p95: number }> {
  await f(); // warm: prepare statements, load pages
  const xs: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(n / 2)] as number, p95: xs[Math.floor(n * 0.95)] as number };
}

async function queries(store: string, state: State) {
  const rm = state.readModels;
  const rows: [string, { median: number; p95: number }][] = [];
  let k = 0;
  const someRun = () => runId((k = (k * 7919 + 13) % RUNS));
  rows.push([
    'lens list (50 newest + counts)',
    await time(40, async () => {
      await rm.listRuns({ limit: 50 });
      await rm.countByStatus();
    }),
  ]);
  rows.push([
    'lens list --status paused',
    await time(40, () => rm.listRuns({ status: 'paused', limit: 50 })),
  ]);
  rows.push([
    'lens list --pipeline review',
    await time(40, () => rm.listRuns({ pipeline: 'review', limit: 50 })),
  ]);
  rows.push(['lens costs --by model', await time(40, () => rm.costs({ by: 'model' }))]);
  rows.push(['lens costs --by day', await time(40, () => rm.costs({ by: 'day' }))]);
  rows.push([
    'lens costs RUN --by step',
    await time(40, () => rm.costs({ by: 'step', runId: someRun() })),
  ]);
  rows.push([
    'run page (getRun + steps)',
    await time(40, async () => {
      const id = someRun();
      await rm.getRun(id);
      await rm.steps(id);
    }),
  ]);
  rows.push([
    'hitl pending (all: 5% of runs)',
    await time(20, () => rm.hitl({ status: 'pending' })),
  ]);
  for (const [q, t] of rows)
    console.log(`| ${store} | ${q} | ${t.median.toFixed(2)} | ${t.p95.toFixed(2)} |`);
}

async function appendOverhead(dir: string) {
  const n = 3000;
  const plain = createSqliteLedger({ path: join(dir, 'plain.db'), synchronous: 'NORMAL' });
  const withP = await openState(`sqlite:///${join(dir, 'proj.db')}`, {
    projectRoot: dir,
    sqliteSynchronous: 'NORMAL',
  });
  // Per-event appends (the engine's common shape): one event per append after the first batch.
  const perAppend = async (ledger: LedgerStore) => {
    let appends = 0;
    const t = performance.now();
    for (let i = 0; i < n / 10; i++) {
      const id = runId(i);
      let head = emptyHead(id);
      for (const e of batch(i)) {
        head = (await ledger.append({ runId: id, expected: head, events: [e], at: T0 + i })).head;
        appends++;
      }
    }
    return ((performance.now() - t) * 1000) / appends;
  };
  const a = await perAppend(plain);
  const b = await perAppend(withP.ledger);
  console.log(
    `\nSQLite append, one event per append (synchronous=NORMAL): ${a.toFixed(1)} µs without projections, ${b.toFixed(1)} µs with (+${(b - a).toFixed(1)} µs)`,
  );
  await plain.close();
  await withP.close();
}

async function main() {
  await initFastHash();
  console.log(`bench/lens: ${RUNS} runs, ${RUNS * 10} events\n`);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-bench-lens-'));
  const out: (() => Promise<void>)[] = [];
  try {
    if (STORES.includes('sqlite')) {
      const state = await openState(`sqlite:///${join(dir, 'state.db')}`, {
        projectRoot: dir,
        sqliteSynchronous: 'NORMAL',
      });
      const t = performance.now();
      await fill(state.ledger, 0, RUNS, 1);
      console.log(
        `sqlite: generated in ${((performance.now() - t) / 1000).toFixed(1)} s (inline projections, synchronous=NORMAL)`,
      );
      out.push(() => queries('sqlite', state).then(() => state.close()));
    }
    let schema: string | undefined;
    if (STORES.includes('postgres')) {
      schema = `bench_lens_${process.pid}`;
      const state = await openState(`${PG_URL}?schema=${schema}`, { projectRoot: dir });
      const t = performance.now();
      await fill(state.ledger, 0, RUNS, 8);
      console.log(
        `postgres: generated in ${((performance.now() - t) / 1000).toFixed(1)} s (inline projections, 8 writers)`,
      );
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(
        `ANALYZE "${schema}".runs; ANALYZE "${schema}".steps; ANALYZE "${schema}".costs; ANALYZE "${schema}".hitl`,
      );
      await c.end();
      out.push(() => queries('postgres', state).then(() => state.close()));
    }
    console.log('\n| store | query | median ms | p95 ms |\n|---|---|---|---|');
    for (const f of out) await f();
    await appendOverhead(dir);
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

// Run as a script, not when refreshRss.ts borrows its runs.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
