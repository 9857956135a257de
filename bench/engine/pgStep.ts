/**
 * Where a Postgres step's time goes, layer by layer, interleaved run by run so that load from
 * other processes falls on every layer alike:
 *
 *   cd bench/engine && node --import tsx pgStep.ts [runs, default 400]
 *
 * For each 10-step no-op run (as run.ts's section 1):
 * - engine: `engine.run` on the Postgres ledger (pool of 2), and the part of it inside
 *   `ledger.append`;
 * - replayed: the same append requests, right after, through `ledger.append` of a second ledger
 *   with nothing between them (no engine): sealing, the pool, the flight and the server;
 * - bare statement: the same batches pre-sealed, as the ledger's own append statement through a
 *   flight on one plain client: the server and one round trip;
 * - and between runs, 11 of each floor: a `SELECT 1` round trip and an autocommit INSERT of one
 *   1 KB row (performance.md's A4).
 *
 * All per step of the run (a run is 11 appends), wall time and the process's CPU time
 * (`process.cpuUsage`, user + system, every thread), which load from other processes moves less.
 * Median and quartiles over the runs.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

import pg from 'pg';

import { prepareAppend } from '../../src/adapters/ledger/common.js';
import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import {
  appendText,
  appendValues,
  shapeKey,
  shapeOf,
} from '../../src/adapters/ledger/postgresAppend.js';
import { Flight, type FlightStatement } from '../../src/adapters/ledger/postgresFlight.js';
import { definePipeline, sequence, step } from '../../src/dsl/builder.js';
import { emptyHead, type Head } from '../../src/events/envelope.js';
import type { AppendRequest, LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';

const URL = process.env.FLUJO_BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.argv[2] ?? 400);
const STEPS = 10;

const plan = definePipeline(
  'linear10',
  sequence(...Array.from({ length: STEPS }, (_, i) => step(`s${i + 1}`, (x: number) => x + 1))),
).plan;
const schemas = ['engine', 'replay', 'bare', 'floor'].map(
  (k) => `flujo_bench_pgstep_${process.pid}_${k}`,
);
const [sEngine, sReplay, sBare, sFloor] = schemas as [string, string, string, string];

const ledger = await createPostgresLedger({ connectionString: URL, schema: sEngine, max: 2 });
const replayLedger = await createPostgresLedger({ connectionString: URL, schema: sReplay, max: 2 });
await (await createPostgresLedger({ connectionString: URL, schema: sBare, max: 1 })).close();
const client = new pg.Client({ connectionString: URL });
await client.connect();
await client.query(
  `CREATE SCHEMA "${sFloor}"; CREATE TABLE "${sFloor}".floor (id bigserial PRIMARY KEY, run_id text, seq int, hash bytea, body bytea, UNIQUE (run_id, seq))`,
);

let captured: AppendRequest[] = [];
let inAppend = 0;
let cpuInAppend = 0;
/** The process's CPU time (user + system, all threads) since `c0`, in ms. */
const cpuSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};
const timed: LedgerStore = {
  ...ledger,
  append: async (req) => {
    captured.push(req);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      return await ledger.append(req);
    } finally {
      inAppend += performance.now() - t0;
      cpuInAppend += cpuSince(c0);
    }
  },
};
const engine = createEngine({ ledger: timed });

const rows = {
  'engine: per step': [] as number[],
  '  of which inside ledger.append': [] as number[],
  'replayed through ledger.append': [] as number[],
  'bare statement (pre-sealed, flight)': [] as number[],
  'SELECT 1 x 1.1': [] as number[],
  'one 1 KB row INSERT x 1.1': [] as number[],
};
/** The same layers' CPU time per step (process.cpuUsage: less moved by load than wall time). */
const cpu: Record<keyof typeof rows, number[]> = Object.fromEntries(
  Object.keys(rows).map((k) => [k, [] as number[]]),
) as never;
const hash = Buffer.alloc(32, 7);
const body = Buffer.alloc(1024, 3);
let floorSeq = 0;
const load0 = loadavg()[0] ?? 0;
try {
  for (let i = -20; i < RUNS; i++) {
    captured = [];
    inAppend = 0;
    cpuInAppend = 0;
    let c0 = process.cpuUsage();
    let t0 = performance.now();
    const r = await engine.run(plan, 0, { runId: `e${i}` });
    const tEngine = performance.now() - t0;
    const cEngine = cpuSince(c0);
    if (r.status !== 'completed') throw new Error(`run ${r.status}`);
    const reqs = captured;

    let head: Head = emptyHead(`b${i}`);
    c0 = process.cpuUsage();
    t0 = performance.now();
    for (const q of reqs)
      head = (await replayLedger.append({ ...q, runId: `b${i}`, expected: head })).head;
    const tReplay = performance.now() - t0;
    const cReplay = cpuSince(c0);

    head = emptyHead(`c${i}`);
    const batches = reqs.map((q) => {
      const req = { ...q, runId: `c${i}`, expected: head };
      const prepared = prepareAppend(req);
      const shape = shapeOf(req, prepared, false);
      head = prepared.head;
      return {
        name: `bench_${shapeKey(shape)}`,
        text: appendText(sBare, shape),
        values: appendValues(req, prepared) as FlightStatement['values'],
      };
    });
    c0 = process.cpuUsage();
    t0 = performance.now();
    for (const b of batches) {
      const o = await Flight.run(client, [b]);
      if (!o.ok || o.rows !== 1) throw new Error('bare statement: head did not move');
    }
    const tBare = performance.now() - t0;
    const cBare = cpuSince(c0);

    c0 = process.cpuUsage();
    t0 = performance.now();
    for (let k = 0; k < reqs.length; k++)
      await client.query({ name: 'bench_one', text: 'SELECT 1' });
    const tSelect = performance.now() - t0;
    const cSelect = cpuSince(c0);
    c0 = process.cpuUsage();
    t0 = performance.now();
    for (let k = 0; k < reqs.length; k++) {
      await client.query({
        name: 'bench_row',
        text: `INSERT INTO "${sFloor}".floor (run_id, seq, hash, body) VALUES ($1, $2, $3, $4)`,
        values: ['floor', ++floorSeq, hash, body],
      });
    }
    const tRow = performance.now() - t0;
    const cRow = cpuSince(c0);
    if (i < 0) continue;
    rows['engine: per step'].push(tEngine / STEPS);
    rows['  of which inside ledger.append'].push(inAppend / STEPS);
    rows['replayed through ledger.append'].push(tReplay / STEPS);
    rows['bare statement (pre-sealed, flight)'].push(tBare / STEPS);
    rows['SELECT 1 x 1.1'].push(tSelect / STEPS);
    rows['one 1 KB row INSERT x 1.1'].push(tRow / STEPS);
    cpu['engine: per step'].push(cEngine / STEPS);
    cpu['  of which inside ledger.append'].push(cpuInAppend / STEPS);
    cpu['replayed through ledger.append'].push(cReplay / STEPS);
    cpu['bare statement (pre-sealed, flight)'].push(cBare / STEPS);
    cpu['SELECT 1 x 1.1'].push(cSelect / STEPS);
    cpu['one 1 KB row INSERT x 1.1'].push(cRow / STEPS);
  }
} finally {
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
  await ledger.close();
  await replayLedger.close();
}

const at = (a: number[], p: number) =>
  [...a].sort((x, y) => x - y)[Math.floor(a.length * p)] ?? NaN;
const w = Math.max(...Object.keys(rows).map((k) => k.length));
process.stdout.write(
  `${RUNS} runs of ${STEPS} steps (11 appends each), ms per step, median (p25–p75), wall and CPU; load average ${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}\n`,
);
const q = (a: number[]) =>
  `${at(a, 0.5).toFixed(3)}  (${at(a, 0.25).toFixed(3)}–${at(a, 0.75).toFixed(3)})`;
for (const [name, a] of Object.entries(rows)) {
  const c = cpu[name as keyof typeof rows];
  process.stdout.write(`${name.padEnd(w)}  wall ${q(a)}  CPU ${q(c)}\n`);
}
