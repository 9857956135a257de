/**
 * Dead letters on real NATS JetStream (ADR 68): a work message the worker gives up on after its
 * last delivery is kept, body unchanged, on `<ns>.dead.<kind>.<run>` (stream `<NS>_DEAD`) with
 * the reason, run id and delivery count; a message refused on its merits is not; and when the
 * dead-letter stream is gone the message stays in the work stream. A real `flujo worker` (the
 * built CLI) with `--max-deliver 2`, the shared NATS, a SQLite ledger in the project.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  fleetNames,
  queuedFor,
  resultsSubject,
  workSubject,
} from '../../src/adapters/nats/work.js';
import type { FleetResult } from '../../src/fleet/client.js';
import { CLI, spawnCli } from '../e2e/cli.js';
import { NATS_URL, natsReachable } from '../support/services.js';

const up = await natsReachable();
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

describe.skipIf(!up)('flujo worker: dead letters', () => {
  const namespace = `deadtest_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-dead-letters-'));
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let worker: ChildProcess;
  let log = '';
  const logs = () =>
    log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  /** The outcome the worker publishes for the next message about `runId`. */
  function nextResult(runId: string): Promise<FleetResult> {
    const sub = nc.subscribe(resultsSubject(names, runId), { max: 1 });
    return (async () => {
      for await (const m of sub) return m.json<FleetResult>();
      throw new Error('subscription closed');
    })();
  }

  async function publish(kind: 'resume' | 'cancel', runId: string, body: string, id: string) {
    const h = headers();
    h.set('Nats-Msg-Id', id);
    await jetstream(nc).publish(workSubject(names, kind, runId), body, { headers: h });
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# dead letter test\n');
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: `sqlite:///${join(dir, 'state.db')}`,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
    };
    delete env.FLUJO_PROJECT_ROOT;
    worker = spawn(process.execPath, [CLI, 'worker', '--max-deliver', '2'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    worker.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
    for (let i = 0; i < 300 && !log.includes('worker started'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(log).toContain('worker started');
  });

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await jsm?.streams.delete(names.stream).catch(() => {});
    await jsm?.streams.delete(names.deadStream).catch(() => {});
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the worker creates the dead-letter stream beside the work queue', async () => {
    const info = await jsm.streams.info(names.deadStream);
    expect(info.config.subjects).toEqual([`${namespace}.dead.>`]);
    expect(info.config.retention).toBe('limits');
    expect(info.config.max_age).toBe(30 * 86_400 * 1e9);
  });

  it('keeps a message given up after its last delivery, body unchanged, with why, whose run, and how many deliveries', async () => {
    // A resume whose run never started: looked for again, then given up when deliveries run out.
    const runId = 'never-started';
    const body = '{"input":{"approved":true},"answered_by":"ops"}';
    const outcome = nextResult(runId);
    await publish('resume', runId, body, 'answer-7');
    const result = await outcome;
    const subject = `${namespace}.dead.resume.${runId}`;
    expect(result).toMatchObject({
      kind: 'resume',
      run_id: runId,
      error: { code: 'RUN_NOT_FOUND' },
      dead_letter: { subject, stream: names.deadStream },
    });

    const dead = await jsm.streams.getMessage(names.deadStream, { last_by_subj: subject });
    expect(dead).not.toBeNull();
    expect(new TextDecoder().decode(dead!.data)).toBe(body);
    const h = (k: string) => dead!.header.get(k);
    expect(h('Flujo-Run-Id')).toBe(runId);
    expect(h('Flujo-Kind')).toBe('resume');
    expect(h('Flujo-Deliveries')).toBe('2');
    expect(h('Flujo-Error-Code')).toBe('RUN_NOT_FOUND');
    expect(h('Flujo-Reason')).toMatch(
      /^gave up after the last delivery \(2\): .*no run never-started/,
    );
    expect(h('Flujo-Work-Subject')).toBe(workSubject(names, 'resume', runId));
    expect(h('Flujo-Work-Msg-Id')).toBe('answer-7');
    expect(Number.isNaN(Date.parse(h('Flujo-Dead-At')))).toBe(false);
    // Gone from the work queue: the reconciler's look at it sees only live work.
    expect(await queuedFor(jsm, names, runId)).toBe(0);
    expect(logs()).toContainEqual(
      expect.objectContaining({
        run_id: runId,
        dead_letter: subject,
        msg: 'work message given up after its last delivery; kept as a dead letter',
      }),
    );
  }, 30_000);

  it('flujo resume --fleet of a message given up says it is kept as a dead letter, and how to send it again', async () => {
    const runId = 'never-started-cli';
    const r = await spawnCli(['resume', runId, '--fleet', '--input', '{"approved":true}'], {
      cwd: dir,
      env: { FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('[RUN_NOT_FOUND]');
    expect(r.stderr).toContain(
      `the message is kept as a dead letter in ${names.deadStream}: find it with: flujo fleet dead-letters list --run ${runId}, and once the cause is fixed publish it again with: flujo fleet dead-letters retry SEQ (refused by the fleet)`,
    );
  }, 30_000);

  it('does not keep a message refused on its merits: its publisher was told why', async () => {
    const runId = 'bad-body';
    const outcome = nextResult(runId);
    await publish('cancel', runId, '{"why":"typo"}', 'cancel-bad');
    expect(await outcome).toMatchObject({ error: { code: 'USAGE' } });
    expect(
      await jsm.streams.getMessage(names.deadStream, {
        last_by_subj: `${namespace}.dead.cancel.${runId}`,
      }),
    ).toBeNull();
    expect(await queuedFor(jsm, names, runId)).toBe(0);
  });

  it('leaves the message in the work stream when the dead-letter stream cannot take it', async () => {
    await jsm.streams.delete(names.deadStream);
    const runId = 'no-dead-stream';
    const outcome = nextResult(runId);
    await publish('resume', runId, '{}', 'resume-nds');
    const result = await outcome;
    expect(result).toMatchObject({ error: { code: 'RUN_NOT_FOUND' } });
    expect(result).not.toHaveProperty('dead_letter');
    expect(await queuedFor(jsm, names, runId)).toBe(1);
    expect(
      logs().some(
        (l) => l.run_id === runId && String(l.msg).startsWith('could not store the dead letter'),
      ),
    ).toBe(true);
  }, 30_000);
});

describe.skipIf(!up)('flujo worker: messages JetStream stopped delivering', () => {
  const namespace = `deadadv_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-dead-advisory-'));
  const workers: { child: ChildProcess; log: () => string }[] = [];
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  function startWorker() {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: `sqlite:///${join(dir, 'state.db')}`,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
    };
    delete env.FLUJO_PROJECT_ROOT;
    const args = [CLI, 'worker', '--max-deliver', '1', '--ack-wait', '1', '--reconcile-after', '0'];
    const child = spawn(process.execPath, args, {
      cwd: dir,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let text = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (text += s));
    const w = { child, log: () => text };
    workers.push(w);
    return w;
  }

  async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false && v !== null) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# dead letter advisory test\n');
    writeFileSync(
      join(dir, 'hang.mjs'),
      `import { definePipeline, step } from '${DIST}dsl/builder.js';\n` +
        `export default definePipeline('hang', step('hang', () => new Promise((r) => setTimeout(r, 60000)))).plan;\n`,
    );
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await jsm?.streams.delete(names.stream).catch(() => {});
    await jsm?.streams.delete(names.deadStream).catch(() => {});
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a message whose only delivery died with its worker, from the max-deliveries advisory', async () => {
    const a = startWorker();
    const b = startWorker();
    await until('both workers', () =>
      a.log().includes('worker started') && b.log().includes('worker started') ? true : undefined,
    );
    const runId = 'owner-died';
    const h = headers();
    h.set('Nats-Msg-Id', 'start-owner-died');
    await jetstream(nc).publish(workSubject(names, 'start', runId), '{"pipeline":"hang.mjs"}', {
      headers: h,
    });
    const owner = await until('a worker to take it', () =>
      workers.find((w) => w.log().includes(`"run_id":"${runId}","kind":"start","delivery":1`)),
    );
    owner.child.kill('SIGKILL');
    const survivor = workers.find((w) => w !== owner)!;
    const subject = `${namespace}.dead.start.${runId}`;
    const dead = await until('the dead letter', () =>
      jsm.streams.getMessage(names.deadStream, { last_by_subj: subject }).catch(() => null),
    );
    expect(new TextDecoder().decode(dead.data)).toBe('{"pipeline":"hang.mjs"}');
    expect(dead.header.get('Flujo-Error-Code')).toBe('MAX_DELIVERIES');
    expect(dead.header.get('Flujo-Deliveries')).toBe('1');
    expect(dead.header.get('Flujo-Work-Msg-Id')).toBe('start-owner-died');
    expect(dead.header.get('Flujo-Reason')).toMatch(
      /^JetStream stopped delivering it after 1 deliveries/,
    );
    await until('the work queue to drop it', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
    expect(survivor.log()).toContain('work message out of deliveries; kept as a dead letter');
  }, 60_000);
});
