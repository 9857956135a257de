/**
 * Postgres append cost for the engine's own batch shapes, beside the raw round trips under it:
 *
 *   node --import tsx bench/ledger/pgSteps.ts [appends per round, default 100] [rounds, 21]
 *
 * A linear pipeline's step is ONE append of 4 small events (AgentResponded, StepCompleted,
 * StepScheduled, AgentCallRequested); a run's single-event appends are its edges. Each case runs
 * on its own connection(s) and schema. The cases take turns, one round each, for every round:
 * load from other processes then falls on all of them alike. The first round is a warm-up; the
 * table gives the median µs per operation and the min–max of the rounds.
 */
import { loadavg } from 'node:os';

import pg from 'pg';

import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { openPostgresState } from '../../src/adapters/ledger/projectionsPostgres.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { initFastHash } from '../../src/events/chain.js';
import { emptyHead, type Head } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';

const URL = process.env.FLUJO_BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const N = Number(process.argv[2] ?? 100);
const ROUNDS = Number(process.argv[3] ?? 21);

/** The events of step `i` of a linear pipeline of function agents, as the engine batches them. */
const step = (i: number): NewEvent[] => [
  {
    type: 'AgentResponded',
    data: {
      path: String(i),
      attempt: 1,
      key: `r:${i}:1`,
      output: i,
      usage: { input: 0, output: 0 },
      costMicros: 0,
      model: 'fn:x',
      latencyMs: 0,
    },
  },
  { type: 'StepCompleted', data: { path: String(i), output: i } },
  { type: 'StepScheduled', data: { path: String(i + 1), name: 's', kind: 'step' } },
  {
    type: 'AgentCallRequested',
    data: {
      path: String(i + 1),
      attempt: 1,
      key: `r:${i + 1}:1`,
      agent: 'fn:x',
      requestHash: 'a'.repeat(64),
      input: i,
    },
  },
];
const start: NewEvent[] = [
  {
    type: 'RunStarted',
    data: {
      pipeline: { name: 'bench', fingerprint: 'f' },
      input: 0,
      engine: { version: '0', flags: [] },
    },
  },
  { type: 'RunClaimed', data: { worker: 'w', epoch: 1 } },
];

await initFastHash();
const admin = new pg.Pool({ connectionString: URL, max: 1 });
const schemas: string[] = [];
const closers: Array<() => Promise<void>> = [];
const schema = () => {
  const s = `bench_pgsteps_${process.pid}_${schemas.length}`;
  schemas.push(s);
  return s;
};

/** One append after another on one run, each naming the head the previous one returned. */
async function appender(store: LedgerStore, events: number): Promise<() => Promise<unknown>> {
  const runId = `run-${events}`;
  let head: Head = (await store.append({ runId, expected: emptyHead(runId), events: start, at: 1 }))
    .head;
  let i = 0;
  return async () => {
    const res = await store.append({
      runId,
      expected: head,
      events: step(i++).slice(0, events),
      at: 2,
      epoch: 1,
    });
    head = res.head;
  };
}

async function direct(events: number) {
  const store = await createPostgresLedger({ connectionString: URL, schema: schema(), max: 2 });
  closers.push(() => store.close());
  return appender(store, events);
}
async function projected(events: number) {
  const state = await openPostgresState(URL, schema());
  closers.push(() => state.close());
  return appender(state.ledger, events);
}
async function rawInsert() {
  const s = schema();
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  closers.push(() => client.end());
  await client.query(
    `CREATE SCHEMA ${s}; CREATE TABLE ${s}.raw (id bigserial PRIMARY KEY, b bytea)`,
  );
  const row = Buffer.alloc(1000, 7);
  const q = { name: 'raw', text: `INSERT INTO ${s}.raw (b) VALUES ($1)`, values: [row] };
  return () => client.query(q);
}
async function select1() {
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  closers.push(() => client.end());
  return () => client.query({ name: 'one', text: 'SELECT 1' });
}

const cases: Array<[string, () => Promise<unknown>]> = [
  ['SELECT 1 round trip', await select1()],
  ['raw INSERT of one 1 KB row (autocommit)', await rawInsert()],
  ['append, 1 event', await direct(1)],
  ['append, 4 events (a step)', await direct(4)],
  ['append + inline projections, 1 event', await projected(1)],
  ['append + inline projections, 4 events', await projected(4)],
];

const load0 = loadavg()[0]!;
const times = cases.map(() => [] as number[]);
try {
  for (let r = 0; r <= ROUNDS; r++) {
    for (const [k, [, op]] of cases.entries()) {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await op();
      if (r > 0) times[k]!.push(((performance.now() - t0) / N) * 1000);
    }
  }
} finally {
  for (const close of closers.reverse()) await close();
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const w = Math.max(...cases.map(([name]) => name.length));
process.stdout.write(
  `${ROUNDS} rounds × ${N} ops; load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}\n`,
);
for (const [k, [name]] of cases.entries()) {
  const t = times[k]!;
  const range = `${Math.min(...t).toFixed(0)}–${Math.max(...t).toFixed(0)}`;
  process.stdout.write(`${name.padEnd(w)}  ${median(t).toFixed(0).padStart(5)} µs  (${range})\n`);
}
