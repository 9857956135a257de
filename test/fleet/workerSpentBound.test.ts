/**
 * A message JetStream stopped delivering while a worker handles it, whose work is not in the
 * ledger yet, is settled by that handling (ADR 86) — and kept as a dead letter once it has been
 * held past the bound (ADR 86, "the bound"): its worker died (SIGKILL) or its handling wedged (a
 * pipeline load that does not resolve). Before, it stayed in `<NS>_WORK` undelivered for ever,
 * out of `dead-letters list` and out of the reconciler's sight. Real processes (the built CLI),
 * the shared NATS, a SQLite ledger in the project.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { listDeadLetters, type DeadLetterView } from '../../src/fleet/deadLetters.js';
import { listSpent } from '../../src/fleet/spent.js';
import { runCli } from '../e2e/cli.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until as waitUntil, type WorkerProcess } from './workerProcess.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const up = await natsReachable();

/**
 * A pipeline whose load holds the CPU for 1.6 s FLUJO_TEST_STALLS times (the message runs out of
 * deliveries before its run is recorded), then waits for the file GO names (wedged until then);
 * its one step notes NAME in FLUJO_TEST_RUNS_FILE.
 */
const wedging = (name: string, go: string) => `
import { appendFileSync, existsSync } from 'node:fs';
import { definePipeline, step } from '${DIST}dsl/builder.js';
for (let i = 0; i < Number(process.env.FLUJO_TEST_STALLS); i++) {
  const end = Date.now() + 1600;
  while (Date.now() < end) {}
  await new Promise((r) => setTimeout(r, 300));
}
while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 20));
export default definePipeline(
  'wedging-${name}',
  step('note', async (x) => {
    appendFileSync(process.env.FLUJO_TEST_RUNS_FILE, 'ran:${name}\\n');
    return { ran: String(x) };
  }),
).plan;
`;

describe.skipIf(!up)('flujo worker: a spent message held past the bound', () => {
  const namespace = `spent_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-spent-'));
  const stateUri = `sqlite:///${join(dir, 'state.db')}`;
  const runsFile = join(dir, 'runs.txt');
  const workers: WorkerProcess[] = [];
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  function startWorker(name: string, stalls: number): WorkerProcess {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: stateUri,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
      FLUJO_TEST_STALLS: String(stalls),
      FLUJO_TEST_RUNS_FILE: runsFile,
    };
    // Ack wait 1 s, two deliveries: the load's stalls run the message out of deliveries. The
    // bound is then ten ack waits: 10 s.
    const args = ['--ack-wait', '1', '--max-deliver', '2', '--reconcile-after', '0'];
    const w = spawnWorker(['--name', name, ...args], { cwd: dir, env: e });
    workers.push(w);
    return w;
  }

  const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
    waitUntil(what, probe, 60_000, 50);

  const started = (w: WorkerProcess) =>
    until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
  const spentInHand = (w: WorkerProcess, runId: string) =>
    until('JetStream to give up on it while its pipeline loads', () =>
      w.logs().find((l) => l.run_id === runId && l.removed === false),
    );
  const deadLetterOf = (runId: string) =>
    until(`a dead letter of ${runId}`, async () => {
      const all = await listDeadLetters({ jsm, js: jetstream(nc), names }, { runId });
      return all.length > 0 ? all : undefined;
    });
  const events = async (runId: string) => {
    const state = await openState(stateUri, { projectRoot: dir });
    try {
      return (await state.ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));
    } finally {
      await state.close();
    }
  };

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# spent bound test\n');
    writeFileSync(join(dir, 'wedge-a.mjs'), wedging('a', join(dir, 'go-a.mark')));
    writeFileSync(join(dir, 'wedge-b.mjs'), wedging('b', join(dir, 'go-b.mark')));
    writeFileSync(join(dir, 'settles.mjs'), wedging('c', join(dir, 'flujo.toml')));
    writeFileSync(runsFile, '');
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a spent start that settles leaves no spent record and no dead letter', async () => {
    const w = startWorker('w-settles', 3);
    await started(w);
    const client = await createFleetClient(nc, { namespace });
    const runId = 'settles-1';
    const done = await client.start({ runId, pipeline: 'settles.mjs', input: 'x', wait: 60_000 });
    expect(done.result).toMatchObject({ status: 'completed' });
    // It was taken in hand after its deliveries ran out, and recorded as such meanwhile.
    const inHand = await spentInHand(w, runId);
    expect(String(inHand.reason)).toMatch(/^a worker is still handling it \(w-settles, since /);
    await until('the queue to be empty', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
    await until('its spent record to go', async () =>
      (await listSpent(jsm, names)).length === 0 ? true : undefined,
    );
    expect(await listDeadLetters({ jsm, js: jetstream(nc), names }, { runId })).toEqual([]);
    w.child.kill('SIGKILL');
    await w.exited;
  }, 120_000);

  it('a handling wedged past the bound: its message is kept as a dead letter naming its worker, and the handling does not run it', async () => {
    const w = startWorker('w-wedged', 3);
    await started(w);
    const client = await createFleetClient(nc, { namespace });
    const runId = 'wedged-1';
    await client.start({ runId, pipeline: 'wedge-a.mjs', input: 'x' });
    await spentInHand(w, runId);
    const spentAt = Date.now();
    // Recorded where every worker looks.
    const records = await until('its spent record', async () => {
      const all = await listSpent(jsm, names);
      return all.length > 0 ? all : undefined;
    });
    expect(records).toMatchObject([{ runId, kind: 'start', worker: 'w-wedged' }]);
    expect(await queuedFor(jsm, names, runId)).toBe(1);

    const [dead] = (await deadLetterOf(runId)) as DeadLetterView[];
    // Not before the bound (10 s after it was taken in hand; a sweep every 2.5 s).
    expect(Date.now() - spentAt).toBeGreaterThan(8_000);
    expect(dead).toMatchObject({ run_id: runId, kind: 'start', code: 'MAX_DELIVERIES' });
    expect(dead!.reason).toMatch(/^held by worker w-wedged since \d{4}-\d\d-\d\dT/);
    expect(dead!.reason).toContain('that worker still handles it: the handling is wedged');
    expect(await queuedFor(jsm, names, runId)).toBe(0);
    await until('its spent record to go', async () =>
      (await listSpent(jsm, names)).length === 0 ? true : undefined,
    );

    // The load resolves at last: the handling sees its message is a dead letter, runs nothing.
    writeFileSync(join(dir, 'go-a.mark'), 'go');
    await until('the handling to give up', () =>
      w
        .logs()
        .some(
          (l) =>
            l.run_id === runId &&
            l.msg ===
              'work message kept as a dead letter while this handling held it past the bound; not run here',
        )
        ? true
        : undefined,
    );
    expect(await events(runId)).toEqual([]);
    expect(readFileSync(runsFile, 'utf8')).not.toContain('ran:a');
    w.child.kill('SIGKILL');
    await w.exited;
  }, 120_000);

  it('a worker killed while it holds a spent start: within the bound another worker keeps it as a dead letter naming it, and dead-letters retry starts the run', async () => {
    const doomed = startWorker('w-doomed', 3);
    await started(doomed);
    const client = await createFleetClient(nc, { namespace });
    const runId = 'killed-1';
    await client.start({ runId, pipeline: 'wedge-b.mjs', input: 'x' });
    await spentInHand(doomed, runId);
    await until('its spent record', async () =>
      (await listSpent(jsm, names)).some((r) => r.runId === runId) ? true : undefined,
    );
    const spentAt = Date.now();
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    // JetStream will not deliver it again; it waits in the queue.
    expect(await queuedFor(jsm, names, runId)).toBe(1);

    const sweeper = startWorker('w-sweeper', 0);
    await started(sweeper);
    const [dead] = (await deadLetterOf(runId)) as DeadLetterView[];
    // Within the bound (10 s) and a sweep or two.
    expect(Date.now() - spentAt).toBeLessThan(25_000);
    expect(dead!.reason).toMatch(/^held by worker w-doomed since /);
    expect(dead!.reason).toContain('that worker does not answer: it died or is stalled');
    // The sweeper logs once the queued copy is deleted, after the dead letter is stored: the dead
    // letter can be listed before the line reaches its stdout (CI run of a7a9055 failed here).
    const kept = await until('the sweeper to log it', () =>
      sweeper
        .logs()
        .find(
          (l) =>
            l.run_id === runId &&
            l.msg ===
              'work message held past the bound after its deliveries ran out; kept as a dead letter',
        ),
    );
    expect(kept).toMatchObject({ held_by: 'w-doomed' });
    expect(await queuedFor(jsm, names, runId)).toBe(0);
    expect(await events(runId)).toEqual([]);
    await until('its spent record to go', async () =>
      (await listSpent(jsm, names)).length === 0 ? true : undefined,
    );

    writeFileSync(join(dir, 'go-b.mark'), 'go');
    const retried = runCli(['fleet', 'dead-letters', 'retry', String(dead!.seq)], {
      cwd: dir,
      env: { FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace },
    });
    expect(retried.code).toBe(0);
    const all = await until('the retried run to complete', async () => {
      const all = await events(runId);
      return all.at(-1)?.type === 'RunCompleted' ? all : undefined;
    });
    expect(all.filter((e) => e.type === 'RunClaimed')).toHaveLength(1);
    expect(readFileSync(runsFile, 'utf8')).toContain('ran:b');
    expect(existsSync(join(dir, 'go-b.mark'))).toBe(true);
  }, 120_000);
});
