/**
 * An answer sent through the fleet while its run still has other work out (ADR 133): a parallel
 * whose one branch has a slow call out and whose other asks a question. The worker driving the
 * run is alive, so the engine's refusal is temporary: the answer message is tried again with
 * backoff and taken once the run rests (the call made once), and its sender is told so in the
 * fleet's words — never to take the run up without an answer, which would take a live worker's
 * run over and send its call again. Tries that run out keep a dead letter saying why, which a
 * retry answers once the run pauses. Real processes (the built CLI), the shared NATS JetStream, a
 * SQLite ledger in the project.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fleetNames, resultsSubject, type FleetNames } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { createFleetClient, type FleetResult } from '../../src/fleet/client.js';
import { runCli, spawnCli } from '../e2e/cli.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until, type WorkerProcess } from './workerProcess.js';

const up = await natsReachable();

describe.skipIf(!up)('flujo worker: an answer sent while its run still has work out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-fleet-answer-running-'));
  const stateUri = `sqlite:///${join(dir, 'state.db')}`;
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const spaces: FleetNames[] = [];
  const workers: WorkerProcess[] = [];
  let nc: NatsConnection;

  const envOf = (namespace: string): NodeJS.ProcessEnv => ({
    NO_COLOR: '1',
    FLUJO_STATE_URI: stateUri,
    FLUJO_NATS_URL: NATS_URL,
    FLUJO_NATS_NAMESPACE: namespace,
  });

  /** A worker of its own namespace (so its --max-deliver is the consumer's), once it is up. */
  async function fleet(name: string, ...args: string[]) {
    const namespace = `answerrun_${name}_${tag}`;
    const names = fleetNames(namespace);
    spaces.push(names);
    const env = envOf(namespace);
    const worker = spawnWorker(['--ack-wait', '2', '--reconcile-after', '0', ...args], {
      cwd: dir,
      env: { ...process.env, ...env },
    });
    workers.push(worker);
    await until('the worker to start', () =>
      worker.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    return { names, env, worker, client: await createFleetClient(nc, { namespace }) };
  }

  /** Everything the workers publish on the run's results subject, from now on. */
  function results(names: FleetNames, runId: string) {
    const seen: (FleetResult & { message?: number; retrying?: number; kind?: string })[] = [];
    const sub = nc.subscribe(resultsSubject(names, runId));
    void (async () => {
      for await (const m of sub) seen.push(m.json());
    })();
    return { seen, stop: () => sub.unsubscribe() };
  }

  async function events(runId: string) {
    const state = await openState(stateUri, { projectRoot: dir });
    try {
      const rows = await state.ledger.read(runId);
      return rows.map((r) => decodeRecord(runId, r.seq, r.body));
    } finally {
      await state.close();
    }
  }

  /** Starts the run through the fleet and waits until it asks, with its slow call out. */
  async function startAsking(client: { start: (o: object) => Promise<unknown> }, runId: string) {
    await client.start({ runId, pipeline: 'ph.yaml', input: runId });
    await until(
      'the question, with the slow call out',
      async () =>
        existsSync(join(dir, `${runId}.calls`)) &&
        (await events(runId)).some((e) => e.type === 'HumanInputRequested'),
      30_000,
      100,
    );
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'flujo.toml'), '# test\n');
    // `slow` logs each call to <run>.calls, then waits until the test writes <run>.gate.
    writeFileSync(
      join(dir, 'm.mjs'),
      `import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
export async function slow(x) {
  const dir = ${JSON.stringify(dir)};
  appendFileSync(join(dir, x + '.calls'), 'slow\\n');
  await new Promise((r) => { const t = setInterval(() => { if (existsSync(join(dir, x + '.gate'))) { clearInterval(t); r(); } }, 10); });
  return x + ' done';
}
`,
    );
    writeFileSync(
      join(dir, 'ph.yaml'),
      `name: ph
steps:
  - kind: parallel
    name: fan
    branches:
      a: [{ name: slow1, uses: ./m.mjs#slow, input: '{{ context.initial_prompt }}' }]
      b: [{ kind: hitl, name: q, message: "q?", input_schema: { type: string } }]
  - { name: fin, agent: { id: flujo.builtins.stringify }, input: '{{ previous_step }}' }
`,
    );
    nc = await connect({ servers: NATS_URL });
  });

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    const jsm = await jetstreamManager(nc);
    for (const names of spaces) {
      await jsm.streams.delete(names.stream).catch(() => {});
      await jsm.streams.delete(names.deadStream).catch(() => {});
    }
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is tried again while the slow call is out and taken once the run rests; the call is made once, and `resume --fleet --wait` says why it has no outcome yet', async () => {
    const { names, env, worker, client } = await fleet('taken');
    const runId = 'wait-1';
    const seen = results(names, runId);
    await startAsking(client, runId);

    // The sender waits 3 s: the answer was tried (once or twice: 2 s apart), refused, and will
    // be tried again.
    const early = await spawnCli(
      ['resume', '--fleet', '--input', '"yes"', runId, '--wait', '3', '--json'],
      { cwd: dir, env },
    );
    expect(early.code).toBe(1);
    const said = JSON.parse(early.stdout) as { error: { code: string; message: string } };
    expect(said.error.code).toBe('FLEET_NO_RESULT');
    expect(said.error.message).toMatch(
      /^no outcome on run wait-1 within 3000 ms: run wait-1 is still running on a worker: its work at step "slow1" \(a call in flight\) is out, so the run is not waiting for an answer yet and the answer was not recorded\. The answer is tried again until the run pauses \(try [12] of 20; the next in [24] s\); if that worker died, the fleet takes the run up .*; the message stays queued/,
    );
    expect(said.error.message).not.toMatch(/without an answer|without --input/);
    expect(early.stderr).toContain('FLEET_NO_RESULT');
    const [note] = seen.seen.filter((r) => r.retrying !== undefined);
    expect(note).toMatchObject({
      kind: 'resume',
      run_id: runId,
      status: 'running',
      retry_in_ms: 2_000,
      error: { code: 'RUN_NOT_RESUMABLE' },
    });
    expect(seen.seen.some((r) => r.message !== undefined)).toBe(false);
    expect((await events(runId)).some((e) => e.type === 'HumanInputReceived')).toBe(false);

    // The call returns: the run rests, and the answer's next try takes it.
    writeFileSync(join(dir, `${runId}.gate`), '');
    const done = await until(
      'the answer taken',
      () => seen.seen.find((r) => r.kind === 'resume' && r.message === note!.retrying),
      60_000,
      100,
    );
    seen.stop();
    expect(done).toMatchObject({ run_id: runId, status: 'completed' });
    expect(seen.seen.find((r) => r.kind === 'start')).toMatchObject({ status: 'paused' });
    expect(readFileSync(join(dir, `${runId}.calls`), 'utf8')).toBe('slow\n');
    const recorded = await events(runId);
    const answers = recorded.filter((e) => e.type === 'HumanInputReceived');
    expect(answers).toHaveLength(1);
    expect(answers[0]!.data).toMatchObject({ input: 'yes' });
    expect(recorded.filter((e) => e.type === 'RunClaimed')).toHaveLength(2);
    const tried = worker.logs().filter((l) => l.run_id === runId && l.kind === 'resume');
    expect(tried.some((l) => l.outcome === 'retry' && l.code === 'RUN_NOT_RESUMABLE')).toBe(true);
    expect(tried.some((l) => l.outcome === 'term')).toBe(false);
    const dead = runCli(['fleet', 'dead-letters', 'list', '--run', runId, '--json'], {
      cwd: dir,
      env,
    });
    expect(JSON.parse(dead.stdout)).toEqual([]);
    const verify = runCli(['lens', 'verify', runId, '--json', '--state-uri', stateUri], {
      cwd: dir,
    });
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  }, 120_000);

  it('tries that run out keep a dead letter saying why and what to do; retried once the run pauses, it answers the run', async () => {
    const { env, client } = await fleet('outlasted', '--max-deliver', '2');
    const runId = 'wait-2';
    await startAsking(client, runId);

    const given = await client.resume(runId, { input: 'late', wait: 30_000 });
    expect(given.result).toMatchObject({
      run_id: runId,
      status: 'running',
      error: { code: 'RUN_NOT_RESUMABLE' },
      dead_letter: { stream: expect.any(String) },
    });
    const message = given.result!.error!.message;
    expect(message).toMatch(
      /^run wait-2 was still running on a worker at each of 2 tries of this answer over 2 s \(its work at step "slow1" \(a call in flight\) was out at the last\), so the answer was never recorded: .*raise --max-deliver.*flujo lens show wait-2; once it pauses, retry this dead letter/,
    );
    expect(message).not.toMatch(/without an answer|without --input/);
    const listed = runCli(['fleet', 'dead-letters', 'list', '--run', runId, '--json'], {
      cwd: dir,
      env,
    });
    const kept = JSON.parse(listed.stdout) as { seq: number; code: string; reason: string }[];
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ code: 'RUN_NOT_RESUMABLE' });
    expect(kept[0]!.reason).toContain('was still running on a worker at each of 2 tries');
    expect((await events(runId)).some((e) => e.type === 'HumanInputReceived')).toBe(false);

    writeFileSync(join(dir, `${runId}.gate`), '');
    await until(
      'the run to pause',
      async () => (await events(runId)).some((e) => e.type === 'RunPaused'),
      30_000,
      100,
    );
    const retried = runCli(['fleet', 'dead-letters', 'retry', String(kept[0]!.seq)], {
      cwd: dir,
      env,
    });
    expect(retried.code).toBe(0);
    await until(
      'the run to complete',
      async () => (await events(runId)).some((e) => e.type === 'RunCompleted'),
      30_000,
      100,
    );
    const answers = (await events(runId)).filter((e) => e.type === 'HumanInputReceived');
    expect(answers.map((e) => (e.data as { input: unknown }).input)).toEqual(['late']);
    expect(readFileSync(join(dir, `${runId}.calls`), 'utf8')).toBe('slow\n');
  }, 120_000);
});
