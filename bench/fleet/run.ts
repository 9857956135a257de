/**
 * bench/fleet: the fleet end to end — `flujo worker` processes (the built CLI) pulling from NATS
 * JetStream and writing to Postgres, driven by createFleetClient from this process.
 *
 * - latency: one run at a time, publish a start and wait for the worker's outcome on
 *   `<ns>.results.<run>`; a 10-step no-op pipeline, and a HITL answer → completed.
 * - throughput: BENCH_FLEET_RUNS starts published at once, time until every outcome is in, with
 *   1 and 2 workers (each --concurrency 8).
 *
 *   npm run build && npm run bench:fleet
 *   BENCH_FLEET_RUNS=200 BENCH_FLEET_SAMPLES=50 npm run bench:fleet
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';

import { fleetNames } from '../../src/adapters/nats/work.js';
import { createFleetClient, type FleetClient } from '../../src/fleet/client.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PG_URL = process.env.FLUJO_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.FLUJO_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const RUNS = Number(process.env.BENCH_FLEET_RUNS ?? 500);
const SAMPLES = Number(process.env.BENCH_FLEET_SAMPLES ?? 100);

const noop = (n: number) =>
  [
    'version: "0.1"',
    `name: noop${n}`,
    'steps:',
    ...Array.from({ length: n }, (_, i) => [
      `  - name: s${i}`,
      '    agent: { id: flujo.builtins.stringify }',
      '    input: "{{ previous_step }}"',
    ]).flat(),
    '',
  ].join('\n');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))] ?? NaN;
};

async function main() {
  const project = mkdtempSync(join(tmpdir(), 'flujo-bench-fleet-'));
  spawnSync(process.execPath, [CLI, 'init', '--yes'], { cwd: project, stdio: 'ignore' });
  writeFileSync(join(project, 'noop10.yaml'), noop(10));
  const schema = `bench_fleet_${process.pid}`;
  const namespace = `benchfleet_${process.pid}`;
  const uri = `${PG_URL}?schema=${schema}`;
  const nc = await connect({ servers: NATS_URL });
  const fleet: FleetClient = await createFleetClient(nc, { namespace });
  const workers: ChildProcess[] = [];
  const startWorker = () =>
    new Promise<ChildProcess>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'worker', '--concurrency', '8'], {
        cwd: project,
        env: {
          ...process.env,
          FLUJO_STATE_URI: uri,
          FLUJO_NATS_URL: NATS_URL,
          FLUJO_NATS_NAMESPACE: namespace,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.setEncoding('utf8').on('data', (s: string) => {
        if (s.includes('worker started')) resolve(child);
      });
      workers.push(child);
    });
  const stopWorkers = async () => {
    await Promise.all(
      workers.splice(0).map(
        (w) =>
          new Promise<void>((r) => {
            w.on('close', () => r());
            w.kill('SIGTERM');
          }),
      ),
    );
  };
  let id = 0;
  const nextId = () => `b${(id += 1)}`;
  try {
    console.log(`bench/fleet: Postgres ledger, NATS ${NATS_URL}, node ${process.version}`);
    await startWorker();
    // Warm up: the worker loads and compiles the pipelines once.
    for (let i = 0; i < 5; i++) {
      await fleet.start({ runId: nextId(), pipeline: 'noop10.yaml', input: 'x', wait: 30_000 });
      await fleet.start({ runId: nextId(), input: 'Ada', wait: 30_000 });
    }

    const startMs: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      const r = await fleet.start({
        runId: nextId(),
        pipeline: 'noop10.yaml',
        input: 'x',
        wait: 30_000,
      });
      if (r.result?.status !== 'completed') throw new Error(JSON.stringify(r.result));
      startMs.push(performance.now() - t0);
    }
    const hitlMs: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const runId = nextId();
      await fleet.start({ runId, input: 'Ada', wait: 30_000 });
      const t0 = performance.now();
      const r = await fleet.resume(runId, { input: { approved: true }, wait: 30_000 });
      if (r.result?.status !== 'completed') throw new Error(JSON.stringify(r.result));
      hitlMs.push(performance.now() - t0);
    }
    console.log(`\nlatency, one run at a time (${SAMPLES} samples; ms)`);
    console.log(
      `  start → completed, 10-step no-op   median ${median(startMs).toFixed(2)}   p95 ${p95(startMs).toFixed(2)}`,
    );
    console.log(
      `  HITL answer → completed            median ${median(hitlMs).toFixed(2)}   p95 ${p95(hitlMs).toFixed(2)}`,
    );

    console.log(`\nthroughput, ${RUNS} 10-step runs published at once`);
    for (const count of [1, 2]) {
      while (workers.length < count) await startWorker();
      const ids = Array.from({ length: RUNS }, nextId);
      const t0 = performance.now();
      const outcomes = ids.map((runId) =>
        fleet.start({ runId, pipeline: 'noop10.yaml', input: 'x', wait: 300_000 }),
      );
      const results = await Promise.all(outcomes);
      const ms = performance.now() - t0;
      const done = results.filter((r) => r.result?.status === 'completed').length;
      console.log(
        `  ${count} worker${count === 1 ? ' ' : 's'}: ${done}/${RUNS} completed in ${(ms / 1000).toFixed(2)} s = ${((done / ms) * 1000).toFixed(0)} runs/s (${((done * 10 * 1000) / ms).toFixed(0)} steps/s)`,
      );
    }
  } finally {
    await stopWorkers();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(fleetNames(namespace).stream).catch(() => {});
    await nc.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    rmSync(project, { recursive: true, force: true });
  }
}

await main();
