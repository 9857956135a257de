/**
 * A start message for a run already in the ledger (a redelivery whose ack was lost, a start
 * published again after the de-duplication window) takes the run up (ADR 107): the worker loads
 * the pipeline as a resume does (ADR 106), and ADR 100's limits bound new runs only. Before, the
 * worker loaded it with every rule before it knew the run existed, so a run recorded with a step
 * name a later rule refuses (V-K4) ended its start with BLUEPRINT_INVALID; and one recorded under
 * a larger max_input_bytes than this worker's ended it with USAGE. Real processes (the built
 * CLI), the shared NATS, a SQLite ledger in the project.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { fleetNames } from '../../src/adapters/nats/work.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { createEngine } from '../../src/runtime/engine.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until, type WorkerProcess } from './workerProcess.js';

const up = await natsReachable();

const ASKS = (name: string) => `version: "0.1"
name: asks
steps:
  - name: ${name}
    kind: hitl
    message: "Go on?"
    input_schema: { type: boolean }
`;

describe.skipIf(!up)('flujo worker: a start of a run already recorded', () => {
  const namespace = `takeup_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-takeup-'));
  const stateUri = `sqlite:///${join(dir, 'state.db')}`;
  const big = 'y'.repeat(2000);
  let worker: WorkerProcess | undefined;
  let nc: NatsConnection;

  /** Records a run of `file` as an earlier release (no V-K4, no limit) did: paused. */
  async function recorded(runId: string, file: string, input: string): Promise<void> {
    const path = join(dir, file);
    const loaded = loadBlueprint(path, { files: nodeBlueprintFiles, root: dir, recordedRun: true });
    expect(loaded.errors).toEqual([]);
    const plan = await withBlueprintCode(loaded);
    const state = await openState(stateUri, { projectRoot: dir });
    try {
      const run = await createEngine({ ledger: state.ledger }).run(plan, input, {
        runId,
        source: file,
        context: { initial_prompt: input },
      });
      expect(run.status).toBe('paused');
    } finally {
      await state.close();
    }
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '[settings]\nmax_input_bytes = 1024\n');
    writeFileSync(join(dir, 'named.yaml'), ASKS('"approve\\u001b[2J"'));
    writeFileSync(join(dir, 'clean.yaml'), ASKS('approve'));
    nc = await connect({ servers: NATS_URL });
  });

  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await worker?.exited;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the paused run instead of refusing its blueprint or its input', async () => {
    await recorded('old-name', 'named.yaml', 'x');
    await recorded('old-big', 'clean.yaml', big);
    worker = spawnWorker(['--ack-wait', '2', '--reconcile-after', '0'], {
      cwd: dir,
      env: {
        ...process.env,
        NO_COLOR: '1',
        FLUJO_STATE_URI: stateUri,
        FLUJO_NATS_URL: NATS_URL,
        FLUJO_NATS_NAMESPACE: namespace,
      },
    });
    const w = worker;
    await until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    const client = await createFleetClient(nc, { namespace });

    const named = await client.start({
      runId: 'old-name',
      pipeline: 'named.yaml',
      input: 'x',
      wait: 20_000,
    });
    expect(named.result).toMatchObject({
      run_id: 'old-name',
      status: 'paused',
      pause: { step: 'approve\u001b[2J' },
    });
    const bigStart = await client.start({
      runId: 'old-big',
      pipeline: 'clean.yaml',
      input: big,
      wait: 20_000,
    });
    expect(bigStart.result).toMatchObject({ run_id: 'old-big', status: 'paused' });

    // A new run is still refused both: its blueprint (V-K4), and its input over this limit.
    const fresh = await client.start({
      runId: 'new-name',
      pipeline: 'named.yaml',
      input: 'x',
      wait: 20_000,
    });
    expect(fresh.result).toMatchObject({ error: { code: 'BLUEPRINT_INVALID' } });
    const over = await client.start({
      runId: 'new-big',
      pipeline: 'clean.yaml',
      input: big,
      wait: 20_000,
    });
    expect(over.result).toMatchObject({ error: { code: 'USAGE' } });
    const state = await openState(stateUri, { projectRoot: dir });
    try {
      expect(await state.ledger.head('new-name')).toBeNull();
      expect(await state.ledger.head('new-big')).toBeNull();
      // The recorded runs were read, not taken: one claim each, as recorded.
      expect((await state.ledger.head('old-name'))?.epoch).toBe(1);
      expect((await state.ledger.head('old-big'))?.epoch).toBe(1);
    } finally {
      await state.close();
    }
  }, 60_000);
});
