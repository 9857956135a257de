/**
 * JetStream delivers a message again to the worker that is still handling it: the worker's
 * heartbeats came late because the process was busy (here a pipeline module that holds the CPU
 * for longer than the ack wait while it is imported; under load, any slow stretch). The worker
 * must not handle it a second time — that raced the run against itself: a second claim fenced
 * the first, the step in flight ran again, and a scripted model answered the wrong call (the
 * "ok" instead of "Handed over" flake of worker.test.ts). Real processes (the built CLI), the
 * shared NATS, a SQLite ledger in the project.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until as waitUntil, type WorkerProcess } from './workerProcess.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const up = await natsReachable();

/**
 * A pipeline whose import holds the CPU for FLUJO_TEST_BLOCK_MS (no heartbeat can go out), and
 * whose one step notes each time it runs, then takes a second (so a second handling overlaps).
 */
const BLOCKING = `
import { appendFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
const end = Date.now() + Number(process.env.FLUJO_TEST_BLOCK_MS ?? 0);
while (Date.now() < end) {}
export default definePipeline(
  'blocking-load',
  step('note', async (x) => {
    appendFileSync(process.env.FLUJO_TEST_RUNS_FILE, 'ran\\n');
    await new Promise((r) => setTimeout(r, 1000));
    return { noted: String(x) };
  }),
).plan;
`;

describe.skipIf(!up)('flujo worker: a message delivered again while it is still handled', () => {
  const namespace = `redeliver_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-redeliver-'));
  const stateUri = `sqlite:///${join(dir, 'state.db')}`;
  const runsFile = join(dir, 'runs.txt');
  const workers: WorkerProcess[] = [];
  let nc: NatsConnection;

  function startWorker(args: string[]): WorkerProcess {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: stateUri,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
      FLUJO_TEST_BLOCK_MS: '3000',
      FLUJO_TEST_RUNS_FILE: runsFile,
    };
    const w = spawnWorker([...args], { cwd: dir, env: e });
    workers.push(w);
    return w;
  }

  const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
    waitUntil(what, probe);

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# redelivery test\n');
    writeFileSync(join(dir, 'blocking.mjs'), BLOCKING);
    writeFileSync(runsFile, '');
    nc = await connect({ servers: NATS_URL });
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the handling in progress goes on with the new delivery: one claim, the step run once, acked once', async () => {
    // An ack wait of 1 s against an import that holds the CPU for 3 s: JetStream redelivers.
    const w = startWorker(['--ack-wait', '1', '--reconcile-after', '0']);
    await until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    const client = await createFleetClient(nc, { namespace });
    const runId = 'redelivered-1';
    const started = await client.start({
      runId,
      pipeline: 'blocking.mjs',
      input: 'x',
      wait: 30_000,
    });
    expect(started.result).toMatchObject({ status: 'completed', output: { noted: 'x' } });

    const received = w
      .logs()
      .filter((l) => l.run_id === runId && l.msg === 'work message received');
    expect(received).toHaveLength(1);
    expect(readFileSync(runsFile, 'utf8')).toBe('ran\n');
    const state = await openState(stateUri, { projectRoot: dir });
    try {
      const events = (await state.ledger.read(runId)).map((r) =>
        decodeRecord(runId, r.seq, r.body),
      );
      const claims = events.filter((e) => e.type === 'RunClaimed');
      expect(claims.map((c) => (c.data as { epoch: number }).epoch)).toEqual([1]);
      expect(events.at(-1)!.type).toBe('RunCompleted');
    } finally {
      await state.close();
    }
    // JetStream did deliver it again, to this worker, while it was handling it.
    expect(w.logs().some((l) => String(l.msg).startsWith('work message delivered again'))).toBe(
      true,
    );
    const jsm = await jetstreamManager(nc);
    await until('the message to be acked', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
  }, 60_000);
});
