/**
 * The fleet, end to end: real `flujo worker` processes (the built CLI) pulling from a real NATS
 * JetStream work queue, running against a real Postgres ledger, calling a fake OpenAI server
 * through the real SDK. Each suite has its own NATS namespace and Postgres schema.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor, resultsSubject } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient, type FleetClient, type FleetResult } from '../../src/fleet/client.js';
import { CLI, runCli, spawnCli } from '../e2e/cli.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import {
  NATS_URL,
  PG_URL,
  dropSchema,
  natsReachable,
  postgresReachable,
  uniqueSchema,
} from '../support/services.js';
import { spawnWorker, until as waitUntil, type WorkerProcess } from './workerProcess.js';

const up = (await postgresReachable()) && (await natsReachable());

const MODEL_PIPELINE = [
  'version: "0.1"',
  'name: ask',
  'agents:',
  '  writer:',
  '    model: "openai:gpt-4o-mini"',
  '    system_prompt: "Answer in one word."',
  'steps:',
  '  - name: ask',
  '    uses: agents.writer',
  '    input: "{{ context.initial_prompt }}"',
  '',
].join('\n');

describe.skipIf(!up)('flujo worker: runs started, answered and cancelled over NATS', () => {
  const schema = uniqueSchema('fleet');
  const uri = `${PG_URL}?schema=${schema}`;
  const namespace = `fleettest_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  let project: string;
  let fake: FakeLlm;
  let nc: NatsConnection;
  let client: FleetClient;
  let state: State;
  const workers: WorkerProcess[] = [];

  function startWorker(...args: string[]): WorkerProcess {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      FLUJO_STATE_URI: uri,
      FLUJO_NATS_URL: NATS_URL,
      FLUJO_NATS_NAMESPACE: namespace,
      OPENAI_API_KEY: 'sk-test-fleet-0123456789',
      OPENAI_BASE_URL: fake.openaiUrl,
    };
    const w = spawnWorker(['--ack-wait', '2', ...args], { cwd: project, env: env });
    workers.push(w);
    return w;
  }

  const until = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
    waitUntil(what, probe, 30_000, 50);

  const ready = (w: WorkerProcess) =>
    until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );

  async function events(runId: string) {
    const rows = await state.ledger.read(runId);
    return rows.map((r) => ({ ...decodeRecord(runId, r.seq, r.body), hash: r.hash }));
  }

  /** The outcome the workers publish for the next message about `runId`. */
  function nextResult(runId: string, match: (r: FleetResult) => boolean = () => true) {
    const sub = nc.subscribe(resultsSubject(names, runId));
    return (async () => {
      for await (const m of sub) {
        const r = m.json<FleetResult>();
        if (match(r)) {
          sub.unsubscribe();
          return r;
        }
      }
      throw new Error('subscription closed');
    })();
  }

  /** Starts a model run and SIGSTOPs the worker that took it, once its model call is made. */
  async function startAndStall(runId: string, calls: number): Promise<WorkerProcess> {
    await client.start({ runId, pipeline: 'model.yaml', input: 'x' });
    await until('the model call', () => (fake.requests.length > calls ? true : undefined));
    const received = (w: WorkerProcess) =>
      w.logs().some((l) => l.run_id === runId && l.msg === 'work message received');
    const owner = await until('the owner', () =>
      workers.find((w) => w.child.exitCode === null && received(w)),
    );
    owner.child.kill('SIGSTOP');
    return owner;
  }

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'flujo-fleet-'));
    expect(runCli(['init', '--yes'], { cwd: project }).code).toBe(0);
    writeFileSync(join(project, 'model.yaml'), MODEL_PIPELINE);
    fake = await startFakeLlm();
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
    await fake?.close();
    rmSync(project, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('starts a run from a message, refuses a bad answer without recording it, completes with a good one, and publishes every committed event', async () => {
    const w = startWorker('--max-deliver', '3');
    await ready(w);
    const runId = 'welcome-1';
    const live: { seq: number; type: string; hash: string }[] = [];
    const sub = client.events(runId);
    void (async () => {
      for await (const m of sub) live.push(m.json());
    })();

    const started = await client.start({ runId, input: 'Ada', wait: 20_000 });
    expect(started).toMatchObject({ runId, duplicate: false });
    expect(started.result).toMatchObject({
      run_id: runId,
      status: 'paused',
      pause: { step: 'approve' },
    });
    const pausedAt = (await state.ledger.head(runId))!.seq;

    const refused = await client.resume(runId, { input: { approved: 1 }, wait: 20_000 });
    expect(refused.result).toMatchObject({
      status: 'paused',
      error: { code: 'HUMAN_INPUT_REJECTED' },
    });
    expect(refused.result!.error!.message).toContain('/approved must be boolean');
    expect((await state.ledger.head(runId))!.seq).toBe(pausedAt);

    const done = await client.resume(runId, {
      input: { approved: true },
      answeredBy: 'ops@example.com',
      wait: 20_000,
    });
    expect(done.result).toMatchObject({
      status: 'completed',
      output: 'Published: Hello, Ada! Welcome to Flujo.',
    });
    const recorded = await events(runId);
    expect(recorded.find((e) => e.type === 'HumanInputReceived')?.data).toMatchObject({
      by: 'ops@example.com',
    });

    // Every committed event went out on <ns>.events.<run>, once, in order, with its chain hash.
    await until('the live events', () => (live.length >= recorded.length ? true : undefined));
    sub.unsubscribe();
    expect(live.map((e) => e.seq)).toEqual(recorded.map((e) => e.seq));
    expect(live.map((e) => e.type)).toEqual(recorded.map((e) => e.type));
    expect(live.map((e) => e.hash)).toEqual(
      recorded.map((e) => Buffer.from(e.hash).toString('hex')),
    );
    const verify = runCli(['lens', 'verify', runId, '--json', '--state-uri', uri], {
      cwd: project,
    });
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, runs_checked: 1 });
  });

  it('takes a start published twice as one run', async () => {
    const runId = 'twice-1';
    const first = await client.start({ runId, input: 'Bo', wait: 20_000 });
    const again = await client.start({ runId, input: 'Bo', wait: 20_000 });
    expect(first.result).toMatchObject({ status: 'paused' });
    expect(again).toMatchObject({ duplicate: true, seq: first.seq });
    // The run as it stands (test/fleet/duplicate.test.ts): a duplicate that waits is reported.
    expect(again.result).toMatchObject({ run_id: runId, status: 'paused' });
    const types = (await events(runId)).map((e) => e.type);
    expect(types.filter((t) => t === 'RunStarted')).toHaveLength(1);
  });

  it('refuses a message it cannot act on, says why, and keeps working', async () => {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const bad = nextResult('bad-1');
    await js.publish(`${namespace}.work.start.bad-1`, '{"inptu": "typo"}');
    expect((await bad).error).toMatchObject({ code: 'USAGE' });
    expect((await bad).error!.message).toContain('inptu');

    const outside = await client.start({
      runId: 'outside-1',
      pipeline: '../../etc/passwd.yaml',
      wait: 20_000,
    });
    expect(outside.result!.error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(outside.result!.error!.message).toContain('outside');

    const missing = await client.start({ runId: 'missing-1', pipeline: 'nope.yaml', wait: 20_000 });
    expect(missing.result!.error!.message).toContain('nope.yaml does not exist');

    // A resume for a run nobody started is looked for a few times (its start may be late), then refused.
    const unknown = await client.resume('never-started', { wait: 20_000 });
    expect(unknown.result!.error).toMatchObject({ code: 'RUN_NOT_FOUND' });

    // Refused messages leave the queue; nothing was recorded for them.
    for (const id of ['bad-1', 'outside-1', 'missing-1', 'never-started'])
      expect([id, await queuedFor(jsm, names, id)]).toEqual([id, 0]);
    expect(await state.ledger.head('outside-1')).toBeNull();
    // The worker is still serving.
    const ok = await client.start({ runId: 'after-bad-1', input: 'Cy', wait: 20_000 });
    expect(ok.result).toMatchObject({ status: 'paused' });
  }, 30_000);

  it('cancels a paused run by message', async () => {
    const runId = 'cancel-1';
    await client.start({ runId, input: 'Di', wait: 20_000 });
    const cancelled = await client.cancel(runId, { reason: 'no longer needed', wait: 20_000 });
    expect(cancelled.result).toMatchObject({ status: 'cancelled' });
    const last = (await events(runId)).at(-1)!;
    expect(last.type).toBe('RunCancelled');
    expect(last.data).toMatchObject({ reason: 'no longer needed' });
  });

  it('a worker killed during a model call: the message comes back to another worker, which finishes the run repeating only that call, with the same idempotency key', async () => {
    const [first] = workers;
    fake.script({ text: 'never sent', delayMs: 60_000 }, { text: 'Hello' });
    const calls = fake.requests.length;
    const runId = 'killed-1';
    const outcome = nextResult(runId, (r) => r.status === 'completed');
    await client.start({ runId, pipeline: 'model.yaml', input: 'greet' });
    await until('the model call', () => (fake.requests.length > calls ? true : undefined));
    first!.child.kill('SIGKILL');
    await first!.exited;
    // The run is mid-call in the ledger, and its message is still queued (not acked).
    expect((await events(runId)).at(-1)!.type).not.toBe('RunCompleted');
    expect(await queuedFor(await jetstreamManager(nc), names, runId)).toBe(1);

    const second = startWorker('--reconcile-after', '1');
    const result = await outcome;
    expect(result).toMatchObject({ status: 'completed', output: 'Hello' });
    const made = fake.requests.slice(calls);
    expect(made).toHaveLength(2);
    expect(made[0]!.headers['idempotency-key']).toBeTruthy();
    expect(made[1]!.headers['idempotency-key']).toBe(made[0]!.headers['idempotency-key']);
    // The run had a queued message, so the reconciler left it to the redelivery.
    expect(
      second.logs().some((l) => l.run_id === runId && String(l.msg).includes('re-enqueued')),
    ).toBe(false);
    const claims = (await events(runId)).filter((e) => e.type === 'RunClaimed');
    expect(claims.map((c) => (c.data as { epoch: number }).epoch)).toEqual([1, 2]);
  }, 40_000);

  it('the reconciler re-enqueues a running run whose owner went silent and that has no message', async () => {
    const second = workers.at(-1)!;
    fake.script({ text: 'never sent', delayMs: 60_000 }, { text: 'Adopted' });
    const calls = fake.requests.length;
    const runId = 'orphan-1';
    // A plain `flujo run` (no queue message), killed while its model call is in flight.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      FLUJO_STATE_URI: uri,
      OPENAI_API_KEY: 'sk-test-fleet-0123456789',
      OPENAI_BASE_URL: fake.openaiUrl,
    };
    const cli = spawn(
      process.execPath,
      [CLI, 'run', 'model.yaml', '--run-id', runId, '--input', 'x'],
      { cwd: project, env, stdio: 'ignore' },
    );
    await until('the model call', () => (fake.requests.length > calls ? true : undefined));
    cli.kill('SIGKILL');
    await new Promise((r) => cli.on('close', r));

    await until('the adopted run to complete', async () =>
      (await events(runId)).at(-1)?.type === 'RunCompleted' ? true : undefined,
    );
    expect((await events(runId)).at(-1)!.data).toMatchObject({ output: 'Adopted' });
    expect(
      second.logs().some((l) => l.run_id === runId && String(l.msg).includes('re-enqueued')),
    ).toBe(true);
  }, 40_000);

  it('SIGTERM stops a worker at once, exit 0; the run it was driving goes to the next worker', async () => {
    const second = workers.at(-1)!;
    fake.script({ text: 'never sent', delayMs: 60_000 }, { text: 'Handed over' });
    const calls = fake.requests.length;
    const runId = 'handover-1';
    const outcome = nextResult(runId, (r) => r.status === 'completed');
    await client.start({ runId, pipeline: 'model.yaml', input: 'x' });
    await until('the model call', () => (fake.requests.length > calls ? true : undefined));
    const t0 = Date.now();
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2_000);
    startWorker();
    expect(await outcome).toMatchObject({ status: 'completed', output: 'Handed over' });
    expect(fake.requests.length - calls).toBe(2);
  }, 40_000);

  it('a stalled worker (SIGSTOP past the ack wait) is taken over; when it wakes, its late reply is fenced and it records nothing', async () => {
    const zombie = startWorker();
    await ready(zombie);
    fake.script({ text: 'late', delayMs: 2_500 }, { text: 'fresh' });
    const calls = fake.requests.length;
    const runId = 'zombie-1';
    const outcome = nextResult(runId, (r) => r.status === 'completed');
    const owner = await startAndStall(runId, calls);
    // Its heartbeats stop: after the ack wait another worker gets the message and takes over.
    expect(await outcome).toMatchObject({ status: 'completed', output: 'fresh' });
    owner.child.kill('SIGCONT');
    await until('the stalled worker to notice', () =>
      owner.logs().some((l) => l.run_id === runId && String(l.msg).startsWith('run taken over'))
        ? true
        : undefined,
    );
    const recorded = await events(runId);
    expect(recorded.filter((e) => e.type === 'AgentResponded')).toHaveLength(1);
    expect(recorded.at(-1)!.type).toBe('RunCompleted');
    expect(
      recorded
        .filter((e) => e.type === 'RunClaimed')
        .map((e) => (e.data as { epoch: number }).epoch),
    ).toEqual([1, 2]);
    expect(fake.requests.length - calls).toBe(2);
    const verify = runCli(['lens', 'verify', runId, '--json', '--state-uri', uri], {
      cwd: project,
    });
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  }, 40_000);

  it('two answers racing for one question: one is recorded, the other is told it was not', async () => {
    const runId = 'race-1';
    await client.start({ runId, input: 'Eve', wait: 20_000 });
    const [a, b] = await Promise.all([
      client.resume(runId, { input: { approved: true }, answeredBy: 'a', wait: 20_000 }),
      client.resume(runId, { input: { approved: false }, answeredBy: 'b', wait: 20_000 }),
    ]);
    const outcomes = [a.result!, b.result!];
    // The loser's outcome carries the run's status too (paused, or completed by then) and an error.
    const won = outcomes.filter((r) => !r.error);
    const lost = outcomes.filter((r) => r.error);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ status: 'completed' });
    expect(lost).toHaveLength(1);
    expect(['LEDGER_CONFLICT', 'RUN_NOT_RESUMABLE']).toContain(lost[0]!.error!.code);
    expect(lost[0]!.error!.message).toMatch(/not recorded/);
    const answers = (await events(runId)).filter((e) => e.type === 'HumanInputReceived');
    expect(answers).toHaveLength(1);
  });

  it('flujo run / resume / cancel --fleet publish for the workers and report their outcome as a local run would', () => {
    const env = { FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace };
    const cli = (...args: string[]) => runCli(args, { cwd: project, env });
    const started = cli('run', '--fleet', '--input', 'Ada', '--run-id', 'cli-1', '--json');
    expect(started.code).toBe(0);
    const paused = JSON.parse(started.stdout) as Record<string, unknown>;
    expect(paused).toMatchObject({ run_id: 'cli-1', status: 'paused', pause: { step: 'approve' } });
    expect(paused).not.toHaveProperty('message');

    // Without an answer: refused naming the question and how to answer it, as locally.
    const bare = cli('resume', 'cli-1', '--fleet', '--json');
    expect(bare.code).toBe(1);
    expect(JSON.parse(bare.stdout)).toEqual({
      run_id: 'cli-1',
      status: 'paused',
      error: {
        code: 'RUN_NOT_RESUMABLE',
        message: expect.stringContaining(
          `is paused for human input at step "approve": Publish this greeting? Hello, Ada! Welcome to Flujo.; answer it: flujo resume --fleet --input '{"approved":true}' cli-1`,
        ),
      },
    });
    expect(bare.stderr).toContain('answer it: flujo resume --fleet --input');

    const refused = cli('resume', 'cli-1', '--fleet', '--input', '{"approved":1}', '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      status: 'paused',
      error: { code: 'HUMAN_INPUT_REJECTED' },
    });
    expect(refused.stderr).toContain('refused by the fleet');

    const done = cli('resume', 'cli-1', '--fleet', '--input', '{"approved":true}');
    expect(done.code).toBe(0);
    expect(done.stdout.trim()).toBe('Published: Hello, Ada! Welcome to Flujo.');
    expect(done.stderr).toContain('completed by the fleet');

    const late = cli('cancel', 'cli-1', '--fleet', '--json');
    expect(late.code).toBe(1);
    // The same object and next step as `flujo cancel` here (was: no "See it with" line).
    // The ledger through the environment: a --state-uri given here would be repeated in the
    // printed next step (ADR 144), where the fleet's command was given none.
    const here = runCli(['cancel', 'cli-1', '--json'], {
      cwd: project,
      env: { FLUJO_STATE_URI: uri },
    });
    expect(here.code).toBe(1);
    expect(JSON.parse(late.stdout)).toEqual(JSON.parse(here.stdout));
    expect(JSON.parse(late.stdout)).toMatchObject({
      status: 'completed',
      error: {
        code: 'RUN_NOT_RESUMABLE',
        message: expect.stringMatching(
          /nothing was recorded\. See it with: flujo lens show cli-1$/,
        ),
      },
    });
    // The text, from this call's stderr: a second cancel would be the same message, taken once.
    expect(late.stderr).toContain(
      `${here.stderr.trim()} (refused by the fleet)`.replace(/^error: /, ''),
    );
    expect(here.stderr).toMatch(/nothing was recorded\. See it with: flujo lens show cli-1\n$/);

    const queued = cli('run', '--fleet', '--wait', '0', '--run-id', 'cli-2', '--json');
    expect(queued.code).toBe(0);
    expect(JSON.parse(queued.stdout)).toEqual({ run_id: 'cli-2', status: 'queued' });

    // An invalid blueprint: its findings, as `flujo run --json` here gives them.
    writeFileSync(
      join(project, 'bad.yaml'),
      'version: "0.1"\nname: bad\nsteps:\n  - name: a\n    agent: { id: no.such.skill }\n',
    );
    const invalid = cli('run', 'bad.yaml', '--fleet', '--json');
    expect(invalid.code).toBe(4);
    const local = JSON.parse(cli('run', 'bad.yaml', '--json').stdout) as { error: object };
    expect(JSON.parse(invalid.stdout)).toMatchObject({
      error: {
        code: 'BLUEPRINT_INVALID',
        errors: [{ rule_id: 'V-A6', file: 'bad.yaml', line: 5, column: 18 }],
      },
    });
    expect(JSON.parse(invalid.stdout).error.errors).toEqual(
      (local.error as { errors: unknown }).errors,
    );

    const missing = cli('run', 'nope.yaml', '--fleet', '--json');
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout).error).toMatchObject({ code: 'CONFIG_INVALID' });

    const noNats = runCli(['run', '--fleet', '--input', 'x'], {
      cwd: project,
      env: { FLUJO_NATS_URL: 'nats://127.0.0.1:1' },
    });
    expect(noNats.code).toBe(2);
    expect(noNats.stderr).toContain('NATS_UNREACHABLE');
  });

  // ADR 116: Node fires a setTimeout longer than 2^31 - 1 ms after 1 ms. Before the fleet client
  // waited in chunks (src/runtime/longTimer.ts), a --wait above 2,147,483 s ended at once with
  // FLEET_NO_RESULT, while the worker was still running the run.
  it('run --fleet --wait beyond 24.8 days waits for the outcome: it is still waiting 2 s into a slow run, then reports it completed', async () => {
    fake.script({ text: 'Patient', delayMs: 5_000 });
    const calls = fake.requests.length;
    const runId = 'long-wait-1';
    const within = <T>(ms: number, p: Promise<T>) =>
      Promise.race([p, new Promise<'still running'>((r) => setTimeout(r, ms, 'still running'))]);
    // The worker's own outcome, awaited at the end even on a failure, so that the next test does
    // not start while this run's model call is still in flight.
    const outcome = nextResult(runId, (r) => r.status === 'completed');
    const env = { FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace };
    const args = ['run', 'model.yaml', '--fleet', '--wait', '3000000', '--input', 'x'];
    const exited = spawnCli([...args, '--run-id', runId, '--json'], { cwd: project, env });
    try {
      await until('the model call', () => (fake.requests.length > calls ? true : undefined));
      // The model answers 5 s after its call: 2 s into it, the CLI must still be waiting.
      expect(await within(2_000, exited)).toBe('still running');
      const done = await within(20_000, exited);
      expect(done).not.toBe('still running');
      const { code, stdout, stderr } = done as Awaited<typeof exited>;
      expect(code, stderr).toBe(0);
      expect(stderr).not.toContain('TimeoutOverflowWarning');
      expect(JSON.parse(stdout)).toMatchObject({
        run_id: runId,
        status: 'completed',
        output: 'Patient',
      });
    } finally {
      await within(20_000, outcome);
    }
  }, 60_000);

  it("a client leaves the workers' ack wait alone", async () => {
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.consumers.info(names.stream, names.consumer)).config.ack_wait;
    expect(before).toBe(2_000_000_000); // the workers' --ack-wait 2
    await createFleetClient(nc, { namespace });
    expect((await jsm.consumers.info(names.stream, names.consumer)).config.ack_wait).toBe(before);
  });

  it('a start published again for a paused run reports it paused (its work is done)', async () => {
    const runId = 'again-1';
    await client.start({ runId, input: 'Fay', wait: 20_000 });
    // Another message id: as after the de-duplication window, or from another publisher.
    const outcome = nextResult(runId);
    await jetstream(nc).publish(`${namespace}.work.start.${runId}`, '{"input":"Fay"}', {
      msgID: 'start-again',
    });
    expect(await outcome).toMatchObject({ status: 'paused', pause: { step: 'approve' } });
    expect((await events(runId)).filter((e) => e.type === 'RunStarted')).toHaveLength(1);
  });

  it('a cancel handled by the worker driving the run stops its model call at once', async () => {
    fake.script({ text: 'too late', delayMs: 20_000 });
    const calls = fake.requests.length;
    const aborted = fake.aborted();
    const runId = 'cancel-mid-call';
    const started = nextResult(runId, (r) => r.kind === 'start');
    await client.start({ runId, pipeline: 'model.yaml', input: 'x' });
    await until('the model call', () => (fake.requests.length > calls ? true : undefined));
    const t0 = Date.now();
    const cancelled = await client.cancel(runId, { reason: 'stop', wait: 20_000 });
    expect(cancelled.result).toMatchObject({ status: 'cancelled' });
    expect(await started).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(10_000);
    await until('the call to be aborted', () => (fake.aborted() > aborted ? true : undefined));
  }, 30_000);

  it('a run whose output is too big for one NATS message: the outcome comes without it, and every event still goes out', async () => {
    const big = 'x'.repeat(1_200_000);
    fake.script({ text: big });
    const runId = 'big-1';
    const live: { seq: number; type: string; data_truncated?: boolean }[] = [];
    const sub = client.events(runId);
    void (async () => {
      for await (const m of sub) live.push(m.json());
    })();
    const r = await client.start({ runId, pipeline: 'model.yaml', input: 'x', wait: 20_000 });
    expect(r.result).toMatchObject({ status: 'completed', output_truncated: true });
    expect(r.result).not.toHaveProperty('output');
    const recorded = await events(runId);
    expect((recorded.at(-1)!.data as { output: string }).output).toHaveLength(big.length);
    await until('the live events', () => (live.length >= recorded.length ? true : undefined));
    sub.unsubscribe();
    expect(live.map((e) => e.type)).toEqual(recorded.map((e) => e.type));
    expect(live.find((e) => e.type === 'AgentResponded')).toMatchObject({ data_truncated: true });
  }, 30_000);

  it('a stalled worker that wakes while the new owner is still driving leaves the message to it', async () => {
    const jsm = await jetstreamManager(nc);
    fake.script({ text: 'late', delayMs: 2_500 }, { text: 'slow but sure', delayMs: 4_000 });
    const calls = fake.requests.length;
    const runId = 'zombie-2';
    const outcome = nextResult(runId, (r) => r.status === 'completed');
    const owner = await startAndStall(runId, calls);
    // Another worker takes it over after the ack wait and starts its own (slow) call.
    await until('the second call', () => (fake.requests.length > calls + 1 ? true : undefined));
    owner.child.kill('SIGCONT');
    await until('the woken worker to step back', () =>
      owner.logs().some((l) => l.run_id === runId && l.outcome === 'leave') ? true : undefined,
    );
    // The new owner still holds the message: nobody acked it from under it.
    expect(await queuedFor(jsm, names, runId)).toBe(1);
    expect(await outcome).toMatchObject({ status: 'completed', output: 'slow but sure' });
    await until('the message to be acked', async () =>
      (await queuedFor(jsm, names, runId)) === 0 ? true : undefined,
    );
  }, 40_000);
});
