/**
 * SIGTERM while a `flujo worker` is still loading the pipeline a message needs (a module whose
 * import takes seconds: a big import tree, a skill module that connects somewhere). The worker
 * must hand the message back at once and exit 0 without waiting for the load, having recorded
 * nothing; the next worker runs it. Real processes (the built CLI), the shared NATS, a SQLite
 * ledger in the project.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor, resultsSubject } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient, type FleetResult } from '../../src/fleet/client.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until as waitUntil, type WorkerProcess } from './workerProcess.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const up = await natsReachable();

/** A pipeline whose import marks that it began, then takes FLUJO_TEST_LOAD_MS to finish. */
const SLOW = `
import { writeFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
if (process.env.FLUJO_TEST_LOAD_MARK) writeFileSync(process.env.FLUJO_TEST_LOAD_MARK, 'loading');
await new Promise((r) => setTimeout(r, Number(process.env.FLUJO_TEST_LOAD_MS ?? 0)));
export default definePipeline('slow-load', step('echo', (x) => ({ echoed: String(x) }))).plan;
`;

describe.skipIf(!up)('flujo worker: SIGTERM during a pipeline load', () => {
  const namespace = `stoptest_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-stop-'));
  const stateUri = `sqlite:///${join(dir, 'state.db')}`;
  const workers: WorkerProcess[] = [];
  let nc: NatsConnection;

  function startWorker(env: Record<string, string> = {}, args: string[] = []): WorkerProcess {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: stateUri,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
      ...env,
    };
    const w = spawnWorker(['--ack-wait', '30', ...args], { cwd: dir, env: e });
    workers.push(w);
    return w;
  }

  const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
    waitUntil(what, probe);

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# worker stop test\n');
    writeFileSync(join(dir, 'slow.mjs'), SLOW);
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

  it('hands the message back at once and exits 0 without waiting for the load; the next worker runs it', async () => {
    const mark = join(dir, 'loading');
    const slow = startWorker({ FLUJO_TEST_LOAD_MARK: mark, FLUJO_TEST_LOAD_MS: '15000' });
    await until('the worker to start', () =>
      slow.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    const client = await createFleetClient(nc, { namespace });
    const runId = 'slow-load-1';
    const results: FleetResult[] = [];
    const sub = nc.subscribe(resultsSubject(names, runId));
    void (async () => {
      for await (const m of sub) results.push(m.json<FleetResult>());
    })();
    await client.start({ runId, pipeline: 'slow.mjs', input: 'hi' });
    await until('the load to begin', () => (existsSync(mark) ? true : undefined));

    const t0 = Date.now();
    slow.child.kill('SIGTERM');
    expect(await slow.exited).toBe(0);
    // Well inside the 15 s the load would still take.
    expect(Date.now() - t0).toBeLessThan(3_000);
    const logs = slow.logs();
    expect(logs.find((l) => l.run_id === runId && l.outcome !== undefined)).toMatchObject({
      outcome: 'retry',
    });
    expect(logs.at(-1)).toMatchObject({ msg: 'worker stopped', retried: 1, acked: 0 });
    // Nothing recorded: the run was never started.
    const state = await openState(stateUri, { projectRoot: dir });
    try {
      expect(await state.ledger.head(runId)).toBeNull();
    } finally {
      await state.close();
    }

    // The message is back in the queue: the next worker (loading quickly) runs the run.
    const next = startWorker();
    await until('the run to complete', () =>
      results.some((r) => r.status === 'completed') ? true : undefined,
    );
    sub.unsubscribe();
    expect(results).toEqual([
      expect.objectContaining({ run_id: runId, status: 'completed', output: { echoed: 'hi' } }),
    ]);
    const done = await openState(stateUri, { projectRoot: dir });
    try {
      const events = (await done.ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));
      expect(events.filter((e) => e.type === 'RunStarted')).toHaveLength(1);
      expect(events.at(-1)?.type).toBe('RunCompleted');
    } finally {
      await done.close();
    }
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 60_000);

  it('on its last delivery, queues the message again (a nak would never be delivered again)', async () => {
    const mark = join(dir, 'loading-last');
    const last = ['--max-deliver', '1'];
    const slow = startWorker({ FLUJO_TEST_LOAD_MARK: mark, FLUJO_TEST_LOAD_MS: '15000' }, last);
    await until('the worker to start', () =>
      slow.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    const client = await createFleetClient(nc, { namespace });
    const runId = 'slow-load-last';
    const results: FleetResult[] = [];
    const sub = nc.subscribe(resultsSubject(names, runId));
    void (async () => {
      for await (const m of sub) results.push(m.json<FleetResult>());
    })();
    await client.start({ runId, pipeline: 'slow.mjs', input: 'again' });
    await until('the load to begin', () => (existsSync(mark) ? true : undefined));
    slow.child.kill('SIGTERM');
    expect(await slow.exited).toBe(0);
    expect(slow.logs().at(-1)).toMatchObject({ msg: 'worker stopped', retried: 1 });

    // Delivered once already, with one delivery allowed: only a fresh copy can reach a worker.
    const next = startWorker({}, last);
    await until('the run to complete', () => (results.length > 0 ? true : undefined));
    sub.unsubscribe();
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      run_id: runId,
      status: 'completed',
      output: { echoed: 'again' },
    });
    const jsm = await jetstreamManager(nc);
    expect(await queuedFor(jsm, names, runId)).toBe(0);
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 60_000);
});
