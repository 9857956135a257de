/**
 * The fleet takes a run up under the name it recorded when its blueprint has no `name:` (ADR
 * 142): a start of a run already recorded, naming the run's file renamed, and a resume from the
 * recorded file after its `name:` line was removed. Before, both were PLAN_CHANGED (the plan was
 * named after the file). Real processes (the built CLI), the shared NATS, a SQLite ledger.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fleetNames } from '../../src/adapters/nats/work.js';
import { createFleetClient, type FleetClient } from '../../src/fleet/client.js';
import { runCli } from '../e2e/cli.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until, type WorkerProcess } from './workerProcess.js';

const up = await natsReachable();

/** Pauses for a person, then a step reads the answer. */
const ASKS = `version: "0.1"
name: kept
steps:
  - kind: hitl
    name: ask
    message: 'Approve?'
    input_schema: { type: object, properties: { ok: { type: boolean } }, required: [ok] }
    sink_to: answer
  - name: after
    agent: { id: flujo.builtins.stringify }
    input: 'ok={{ context.answer.ok }}'
`;

describe.skipIf(!up)('flujo worker: a run whose nameless blueprint was renamed', () => {
  const namespace = `renamed_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-renamed-'));
  const env = { FLUJO_STATE_URI: `sqlite:///${join(dir, 'state.db')}` };
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env });
  let nc: NatsConnection;
  let worker: WorkerProcess;
  let client: FleetClient;

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# renamed pipeline files, fleet\n');
    nc = await connect({ servers: NATS_URL });
    worker = spawnWorker([], {
      cwd: dir,
      env: {
        ...process.env,
        NO_COLOR: '1',
        ...env,
        FLUJO_NATS_URL: NATS_URL,
        FLUJO_NATS_NAMESPACE: namespace,
      },
    });
    await until('the worker to start', () =>
      worker.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    client = await createFleetClient(nc, { namespace });
  }, 60_000);

  afterAll(async () => {
    worker.child.kill('SIGKILL');
    await worker.exited;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a start of a recorded run naming its renamed file takes it up', async () => {
    writeFileSync(
      join(dir, 'one.yaml'),
      'version: "0.1"\nsteps:\n  - name: s\n    agent: { id: flujo.builtins.stringify }\n',
    );
    expect(cli('run', 'one.yaml', '--input', 'x', '--run-id', 'fl-1').code).toBe(0);
    renameSync(join(dir, 'one.yaml'), join(dir, 'two.yaml'));
    const { result } = await client.start({
      runId: 'fl-1',
      pipeline: 'two.yaml',
      input: 'x',
      wait: 30_000,
    });
    // Before: error PLAN_CHANGED.
    expect(result).toMatchObject({ run_id: 'fl-1', status: 'completed', output: 'x' });
  }, 60_000);

  it('a resume from the recorded file whose name: line was removed completes', async () => {
    writeFileSync(join(dir, 'h.yaml'), ASKS);
    const r = cli('run', 'h.yaml', '--input', 'Ada', '--run-id', 'fl-2', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'paused' });
    writeFileSync(
      join(dir, 'h.yaml'),
      readFileSync(join(dir, 'h.yaml'), 'utf8').replace('name: kept\n', ''),
    );
    const { result } = await client.resume('fl-2', { input: { ok: true }, wait: 30_000 });
    expect(result).toMatchObject({ run_id: 'fl-2', status: 'completed', output: 'ok=true' });
  }, 60_000);
});
