/**
 * A worker whose process stalls again and again while it handles a message (a step that holds
 * the CPU longer than the ack wait, several times) burns the message's deliveries without any
 * handling failing: JetStream delivers it again to the same worker (ADR 81) until the last
 * delivery's ack wait runs out, and announces MAX_DELIVERIES. The run is healthy and is driven to
 * its end by the worker that has it. Such a message is not a dead letter (ADR 86): it used to be
 * kept as one (and removed from the work queue) while its run went on to complete, so an
 * operator's `dead-letters retry` could start a second driver on a live run. Nor is a message
 * whose handling failed once on a delivery its stalls made the last: handlings count, not
 * deliveries. Real processes (the built CLI), the shared NATS, a SQLite ledger in the project.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import Database from 'better-sqlite3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { listDeadLetters } from '../../src/fleet/deadLetters.js';
import { listSpent } from '../../src/fleet/spent.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until as waitUntil, type WorkerProcess } from './workerProcess.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const up = await natsReachable();

/**
 * One step that holds the CPU for FLUJO_TEST_STALL_MS, FLUJO_TEST_STALLS times, with a short
 * break between (the worker pulls again then, and is handed the message again).
 */
const STALLING = `
import { appendFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
export default definePipeline(
  'stalling',
  step('stall', async (x) => {
    appendFileSync(process.env.FLUJO_TEST_RUNS_FILE, 'ran\\n');
    for (let i = 0; i < Number(process.env.FLUJO_TEST_STALLS); i++) {
      const end = Date.now() + Number(process.env.FLUJO_TEST_STALL_MS);
      while (Date.now() < end) {}
      await new Promise((r) => setTimeout(r, 300));
    }
    return { stalled: String(x) };
  }),
).plan;
`;

/**
 * A pipeline whose load holds the CPU for FLUJO_TEST_STALL_MS, FLUJO_TEST_STALLS times (a module
 * with top-level awaits between heavy stretches), so the message runs out of deliveries before
 * its run is recorded; its one step is quick.
 */
const STALLING_LOAD = `
import { appendFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
for (let i = 0; i < Number(process.env.FLUJO_TEST_STALLS); i++) {
  const end = Date.now() + Number(process.env.FLUJO_TEST_STALL_MS);
  while (Date.now() < end) {}
  await new Promise((r) => setTimeout(r, 300));
}
export default definePipeline(
  'stalling-load',
  step('note', async (x) => {
    appendFileSync(process.env.FLUJO_TEST_RUNS_FILE, 'loaded\\n');
    return { loaded: String(x) };
  }),
).plan;
`;

/**
 * One step that, the first time it runs, holds the CPU for FLUJO_TEST_STALL_MS once, then marks
 * FLUJO_TEST_MARK and waits for FLUJO_TEST_GO (meanwhile the test takes the SQLite write lock, so
 * the step's completion cannot be recorded: the handling fails with LEDGER_STORE).
 */
const STALL_THEN_FAIL = `
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
export default definePipeline(
  'stall-then-fail',
  step('stall', async (x) => {
    const first = !readFileSync(process.env.FLUJO_TEST_RUNS_FILE, 'utf8').includes('failing');
    appendFileSync(process.env.FLUJO_TEST_RUNS_FILE, 'failing\\n');
    if (first) {
      const end = Date.now() + Number(process.env.FLUJO_TEST_STALL_MS);
      while (Date.now() < end) {}
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(process.env.FLUJO_TEST_MARK, 'stalled');
      while (!existsSync(process.env.FLUJO_TEST_GO)) await new Promise((r) => setTimeout(r, 20));
    }
    return { failed_once: String(x) };
  }),
).plan;
`;

/**
 * A pipeline whose load stalls as STALLING_LOAD's does (the message runs out of deliveries before
 * its run is recorded), and whose one step marks FLUJO_TEST_MARK3, then waits for FLUJO_TEST_GO3.
 */
const STALLING_LOAD_WAITS = `
import { existsSync, writeFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
for (let i = 0; i < Number(process.env.FLUJO_TEST_STALLS); i++) {
  const end = Date.now() + Number(process.env.FLUJO_TEST_STALL_MS);
  while (Date.now() < end) {}
  await new Promise((r) => setTimeout(r, 300));
}
export default definePipeline(
  'stalling-load-waits',
  step('wait', async (x) => {
    writeFileSync(process.env.FLUJO_TEST_MARK3, 'waiting');
    while (!existsSync(process.env.FLUJO_TEST_GO3)) await new Promise((r) => setTimeout(r, 20));
    return { waited: String(x) };
  }),
).plan;
`;

/** One step that marks FLUJO_TEST_MARK2, then waits for FLUJO_TEST_GO2 (no stall). */
const WAITS = `
import { existsSync, writeFileSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
export default definePipeline(
  'waits',
  step('wait', async (x) => {
    writeFileSync(process.env.FLUJO_TEST_MARK2, 'waiting');
    while (!existsSync(process.env.FLUJO_TEST_GO2)) await new Promise((r) => setTimeout(r, 20));
    return { waited: String(x) };
  }),
).plan;
`;

describe.skipIf(!up)('flujo worker: deliveries burnt by stalls while the run is healthy', () => {
  const namespace = `stall_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-stall-'));
  const stateUri = `sqlite:///${join(dir, 'state.db')}`;
  const runsFile = join(dir, 'runs.txt');
  const workers: WorkerProcess[] = [];
  let nc: NatsConnection;
  let w: WorkerProcess;

  function startWorker(args: string[]): WorkerProcess {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: stateUri,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
      FLUJO_TEST_STALL_MS: '1600',
      FLUJO_TEST_STALLS: '4',
      FLUJO_TEST_RUNS_FILE: runsFile,
      FLUJO_TEST_MARK: join(dir, 'stalled.mark'),
      FLUJO_TEST_GO: join(dir, 'go.mark'),
      FLUJO_TEST_MARK2: join(dir, 'waiting.mark'),
      FLUJO_TEST_GO2: join(dir, 'go2.mark'),
      FLUJO_TEST_MARK3: join(dir, 'waiting3.mark'),
      FLUJO_TEST_GO3: join(dir, 'go3.mark'),
    };
    const w = spawnWorker([...args], { cwd: dir, env: e });
    workers.push(w);
    return w;
  }

  const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
    waitUntil(what, probe, 60_000);

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# stall test\n');
    writeFileSync(join(dir, 'stalling.mjs'), STALLING);
    writeFileSync(join(dir, 'stalling-load.mjs'), STALLING_LOAD);
    writeFileSync(join(dir, 'stall-then-fail.mjs'), STALL_THEN_FAIL);
    writeFileSync(join(dir, 'waits.mjs'), WAITS);
    writeFileSync(join(dir, 'stalling-load-waits.mjs'), STALLING_LOAD_WAITS);
    writeFileSync(runsFile, '');
    nc = await connect({ servers: NATS_URL });
    // Ack wait 1 s, two deliveries: a 1.6 s stall outlasts the ack wait, so the message is
    // delivered again to this worker after one stall and runs out after a second.
    w = startWorker(['--ack-wait', '1', '--max-deliver', '2', '--reconcile-after', '0']);
    await until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
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

  /** Starts `runId` on `pipeline` and checks it was driven once, to its end, with no dead letter. */
  async function startAndCheck(runId: string, pipeline: string, output: Record<string, string>) {
    const client = await createFleetClient(nc, { namespace });
    const started = await client.start({ runId, pipeline, input: 'x', wait: 60_000 });
    expect(started.result).toMatchObject({ status: 'completed', output });

    // JetStream did run out of deliveries for it while the worker handled it.
    await until('the MAX_DELIVERIES advisory to be handled', () =>
      w.logs().some((l) => l.run_id === runId && String(l.msg).includes('out of deliveries'))
        ? true
        : undefined,
    );
    const received = w
      .logs()
      .filter((l) => l.run_id === runId && l.msg === 'work message received');
    expect(received).toHaveLength(1);
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

    const jsm = await jetstreamManager(nc);
    const deps = { jsm, js: jetstream(nc), names };
    expect(await listDeadLetters(deps, { runId })).toEqual([]);
    await until('the spent message to leave the work queue', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
    expect(
      w.logs().filter((l) => l.run_id === runId && String(l.msg).includes('kept as a dead letter')),
    ).toEqual([]);
    // A message kept for its handling was recorded as spent (ADR 86, "the bound"); settled, its
    // record is gone.
    await until('no spent record to be left', async () =>
      (await listSpent(jsm, names)).length === 0 ? true : undefined,
    );
  }

  it('a run stalled while it is driven completes, driven once; its message is not kept as a dead letter and leaves the queue at once', async () => {
    const runId = 'stalled-1';
    await startAndCheck(runId, 'stalling.mjs', { stalled: 'x' });
    expect(readFileSync(runsFile, 'utf8')).toBe('ran\n');
    // Its run was recorded when JetStream gave up: the message left the queue then (if this
    // worker had died, the reconciler would have adopted the run).
    expect(w.logs()).toContainEqual(
      expect.objectContaining({
        run_id: runId,
        removed: true,
        msg: 'work message out of deliveries while its work is in hand; not a dead letter',
      }),
    );
  }, 120_000);

  it('a start whose load stalls until its deliveries run out is kept for its handling, which starts and settles the run', async () => {
    const runId = 'stalled-load-1';
    await startAndCheck(runId, 'stalling-load.mjs', { loaded: 'x' });
    expect(readFileSync(runsFile, 'utf8')).toBe('ran\nloaded\n');
    // Nothing of it was in the ledger when JetStream gave up: it stayed in the queue, and the
    // handling removed it once the run was at rest.
    expect(w.logs()).toContainEqual(
      expect.objectContaining({
        run_id: runId,
        removed: false,
        msg: 'work message out of deliveries while its work is in hand; not a dead letter',
      }),
    );
  }, 120_000);

  it('a handling that fails once on a delivery its stall made the last is retried (queued again), not kept as a dead letter', async () => {
    const runId = 'stalled-then-failed-1';
    const client = await createFleetClient(nc, { namespace });
    await client.start({ runId, pipeline: 'stall-then-fail.mjs', input: 'x' });
    // The stall made delivery 2 (of 2) arrive while the step ran; now lock the ledger.
    await until('the step to stall', () =>
      existsSync(join(dir, 'stalled.mark')) ? true : undefined,
    );
    const lock = new Database(join(dir, 'state.db'));
    lock.exec('BEGIN IMMEDIATE');
    try {
      writeFileSync(join(dir, 'go.mark'), 'go');
      await until('the handling to fail', () =>
        w.logs().some((l) => l.run_id === runId && l.msg === 'work message failed')
          ? true
          : undefined,
      );
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    const failed = w.logs().find((l) => l.run_id === runId && l.msg === 'work message failed')!;
    // One handling failed, on JetStream's last delivery: retried, as a new message.
    expect(failed).toMatchObject({ code: 'LEDGER_STORE', delivery: 1, outcome: 'retry' });

    const events = await until('the run to complete', async () => {
      const state = await openState(stateUri, { projectRoot: dir });
      try {
        const all = (await state.ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));
        return all.at(-1)?.type === 'RunCompleted' ? all : undefined;
      } finally {
        await state.close();
      }
    });
    expect(events.filter((e) => e.type === 'RunClaimed')).toHaveLength(2);
    const jsm = await jetstreamManager(nc);
    expect(await listDeadLetters({ jsm, js: jetstream(nc), names }, { runId })).toEqual([]);
    await until('the queue to be empty', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
    // The copy was handled from its first delivery.
    expect(
      w.logs().filter((l) => l.run_id === runId && l.msg === 'work message received'),
    ).toMatchObject([{ delivery: 1 }, { delivery: 1 }]);
  }, 120_000);

  it('the worker handling a message answers when asked on <ns>.control.handling (as the worker that got the advisory asks), and settles it by hand', async () => {
    const runId = 'asked-1';
    const client = await createFleetClient(nc, { namespace });
    const published = await client.start({ runId, pipeline: 'waits.mjs', input: 'x' });
    await until('the step to wait', () =>
      existsSync(join(dir, 'waiting.mark')) ? true : undefined,
    );
    const reply = await nc.request(
      `${namespace}.control.handling.${names.stream}.${published.seq}`,
      '',
      { timeout: 10_000 },
    );
    // Its run is recorded: the message leaves the queue now, the handling settles the run.
    expect(reply.json<{ reason: string }>().reason).toMatch(
      /^a worker is still handling it, and the ledger has what it asked \(run running\)/,
    );
    const jsm = await jetstreamManager(nc);
    expect(await queuedFor(jsm, names, runId)).toBe(0);
    // A sequence nobody handles gets no answer.
    await expect(
      nc.request(`${namespace}.control.handling.${names.stream}.999999`, '', { timeout: 500 }),
    ).rejects.toThrow();

    writeFileSync(join(dir, 'go2.mark'), 'go');
    await until('the run to complete', async () => {
      const state = await openState(stateUri, { projectRoot: dir });
      try {
        const all = await state.ledger.read(runId);
        return all.length > 0 &&
          decodeRecord(runId, all.at(-1)!.seq, all.at(-1)!.body).type === 'RunCompleted'
          ? true
          : undefined;
      } finally {
        await state.close();
      }
    });
    expect(await listDeadLetters({ jsm, js: jetstream(nc), names }, { runId })).toEqual([]);
    expect(await queuedFor(jsm, names, runId)).toBe(0);
  }, 120_000);

  it('a spent start kept for its handling leaves the queue once its run is recorded, before the run ends', async () => {
    const runId = 'stalled-load-waits-1';
    const client = await createFleetClient(nc, { namespace });
    await client.start({ runId, pipeline: 'stalling-load-waits.mjs', input: 'x' });
    await until('JetStream to give up on it while the pipeline loads', () =>
      w.logs().some((l) => l.run_id === runId && l.removed === false) ? true : undefined,
    );
    await until('the step to wait', () =>
      existsSync(join(dir, 'waiting3.mark')) ? true : undefined,
    );
    // The run is recorded and still running: the spent message is out of the queue now, so
    // the reconciler would adopt the run if this worker died.
    const jsm = await jetstreamManager(nc);
    await until('the spent message to leave the queue while the run is driven', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
    expect(existsSync(join(dir, 'go3.mark'))).toBe(false);
    writeFileSync(join(dir, 'go3.mark'), 'go');
    await until('the run to complete', async () => {
      const state = await openState(stateUri, { projectRoot: dir });
      try {
        const all = await state.ledger.read(runId);
        return all.length > 0 &&
          decodeRecord(runId, all.at(-1)!.seq, all.at(-1)!.body).type === 'RunCompleted'
          ? true
          : undefined;
      } finally {
        await state.close();
      }
    });
    expect(await listDeadLetters({ jsm, js: jetstream(nc), names }, { runId })).toEqual([]);
  }, 120_000);
});
