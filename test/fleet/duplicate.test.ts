/**
 * A publish the work queue takes for a duplicate (the same start or cancel within two minutes)
 * and that waits reports the run as it stands, with `duplicate: true` (QA: a duplicate `run
 * --fleet --run-id X --json` of a run that had completed printed `{"status":"queued",
 * "duplicate":true}`, where the local `run --run-id X` prints the result). Real `flujo worker`
 * processes, the shared NATS in its own namespace, a Postgres ledger in its own schema.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { fleetNames } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient, type FleetClient } from '../../src/fleet/client.js';
import { runCli } from '../e2e/cli.js';
import {
  NATS_URL,
  PG_URL,
  dropSchema,
  natsReachable,
  postgresReachable,
  uniqueSchema,
} from '../support/services.js';
import { spawnWorker, until, type WorkerProcess } from './workerProcess.js';

const up = (await postgresReachable()) && (await natsReachable());

describe.skipIf(!up)('a duplicate publish that waits reports the run as it stands', () => {
  const schema = uniqueSchema('fleetdup');
  const uri = `${PG_URL}?schema=${schema}`;
  const namespace = `fleetdup_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const env = { FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace };
  let project: string;
  let nc: NatsConnection;
  let client: FleetClient;
  let state: State;
  const workers: WorkerProcess[] = [];

  const cli = (...args: string[]) => runCli(args, { cwd: project, env });
  const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
  const types = async (runId: string) =>
    (await state.ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body).type);

  async function startWorker(): Promise<void> {
    const w = spawnWorker(['--ack-wait', '2'], {
      cwd: project,
      env: { ...process.env, ...env, NO_COLOR: '1', FLUJO_STATE_URI: uri },
    });
    workers.push(w);
    await until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
  }

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'flujo-fleetdup-'));
    expect(runCli(['init', '--yes'], { cwd: project }).code).toBe(0); // pauses for approval
    nc = await connect({ servers: NATS_URL });
    client = await createFleetClient(nc, { namespace });
    state = await openState(uri, { projectRoot: project });
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    await state?.close();
    rmSync(project, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('waits for the earlier message while it is still queued, and reports its outcome', async () => {
    // No worker yet: the first start stays in the queue.
    const first = await client.start({ runId: 'dup-q', input: 'Ada' });
    const again = client.start({ runId: 'dup-q', input: 'Ada', wait: 30_000 });
    await new Promise((r) => setTimeout(r, 500)); // the duplicate is published meanwhile
    await startWorker();
    const r = await again;
    expect(r).toMatchObject({ runId: 'dup-q', duplicate: true, seq: first.seq });
    // The earlier message's own outcome (its stream seq), not a second one's.
    expect(r.result).toMatchObject({ run_id: 'dup-q', status: 'paused', message: first.seq });
    expect((await types('dup-q')).filter((t) => t === 'RunStarted')).toHaveLength(1);
  }, 60_000);

  it('run --fleet of a run that completed prints its result, as run --run-id here does', async () => {
    expect(
      json(cli('run', '--fleet', '--input', 'Ada', '--run-id', 'dup-c', '--json').stdout),
    ).toMatchObject({
      status: 'paused',
    });
    const done = cli('resume', 'dup-c', '--fleet', '--input', '{"approved":true}', '--json');
    expect(json(done.stdout)).toMatchObject({ status: 'completed' });
    const recorded = await types('dup-c');

    const again = cli('run', '--fleet', '--input', 'Ada', '--run-id', 'dup-c', '--json');
    expect(again.code, again.stderr).toBe(0);
    const here = runCli(
      ['run', '--input', 'Ada', '--run-id', 'dup-c', '--json', '--state-uri', uri],
      {
        cwd: project,
      },
    );
    expect(here.code).toBe(0);
    expect(json(again.stdout)).toEqual({ ...json(here.stdout), duplicate: true });
    expect(json(again.stdout)).toMatchObject({
      status: 'completed',
      output: 'Published: Hello, Ada! Welcome to Flujo.',
    });

    const text = cli('--project', project, 'run', '--fleet', '--input', 'Ada', '--run-id', 'dup-c');
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe('Published: Hello, Ada! Welcome to Flujo.');
    expect(text.stderr).toContain('the same message was published before');
    expect(text.stderr).toContain('run dup-c completed by the fleet');
    // Its next step carries the global options given (ADR 144).
    expect(text.stderr).toContain(`inspect: flujo --project '${project}' lens show dup-c`);
    // Only queued, as before: nothing to report.
    const queued = cli(
      'run',
      '--fleet',
      '--wait',
      '0',
      '--input',
      'Ada',
      '--run-id',
      'dup-c',
      '--json',
    );
    expect(json(queued.stdout)).toEqual({ run_id: 'dup-c', status: 'queued', duplicate: true });
    // Reporting recorded nothing.
    expect(await types('dup-c')).toEqual(recorded);
  }, 90_000);

  it('run --fleet of a run that paused reports it paused, as the first did', async () => {
    const first = cli('run', '--fleet', '--input', 'Ada', '--run-id', 'dup-p', '--json');
    expect(json(first.stdout)).toMatchObject({ status: 'paused', pause: { step: 'approve' } });
    const recorded = await types('dup-p');
    const again = cli('run', '--fleet', '--input', 'Ada', '--run-id', 'dup-p', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(json(again.stdout)).toEqual({ ...json(first.stdout), duplicate: true });
    expect(await types('dup-p')).toEqual(recorded);
  }, 60_000);

  it('cancel --fleet of a run it cancelled reports it cancelled, recording it once', async () => {
    expect(cli('run', '--fleet', '--input', 'Ada', '--run-id', 'dup-x', '--json').code).toBe(0);
    const first = cli('cancel', 'dup-x', '--fleet', '--json');
    expect(json(first.stdout)).toMatchObject({ status: 'cancelled' });
    const again = cli('cancel', 'dup-x', '--fleet', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(json(again.stdout)).toEqual({ ...json(first.stdout), duplicate: true });
    expect((await types('dup-x')).filter((t) => t === 'RunCancelled')).toHaveLength(1);
  }, 60_000);

  it('an answer published again under its id after it was taken is not sent again', async () => {
    await client.start({ runId: 'dup-a', input: 'Ada', wait: 20_000 });
    const answer = { input: { approved: true }, messageId: 'answer-dup-a', wait: 20_000 };
    expect((await client.resume('dup-a', answer)).result).toMatchObject({ status: 'completed' });
    const again = await client.resume('dup-a', answer);
    expect(again).toMatchObject({ duplicate: true });
    expect(again.result).toBeUndefined();
    expect((await types('dup-a')).filter((t) => t === 'HumanInputReceived')).toHaveLength(1);
  }, 60_000);
});
