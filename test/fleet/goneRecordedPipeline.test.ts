/**
 * A fleet worker refuses a run whose recorded pipeline file is gone (moved, renamed), as the
 * local `flujo resume` does (ADR 138, ADR 146): it never takes the project's pipeline.yaml in its
 * place. A resume is refused with CONFIG_INVALID naming the file and how to take the run up, and
 * nothing is recorded; the reconciler leaves a quiet running run whose file is gone, saying so
 * once, and adopts it once the file is back. Real processes (the built CLI), the shared NATS, a
 * Postgres ledger in its own schema, a fake OpenAI server.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor } from '../../src/adapters/nats/work.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { CLI, runCli } from '../e2e/cli.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
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

/** Pauses for a person, then a step reads the answer. */
const ASKS = `version: "0.1"
name: asks
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

/** One model call: a run killed during it is left `running`, with no event for a while. */
const CALLS = `version: "0.1"
name: calls
agents:
  writer:
    model: "openai:gpt-4o-mini"
    system_prompt: "Answer in one word."
steps:
  - name: call
    uses: agents.writer
    input: "{{ context.initial_prompt }}"
`;

describe.skipIf(!up)('flujo worker: a run whose recorded pipeline file is gone', () => {
  const schema = uniqueSchema('gonefile');
  const uri = `${PG_URL}?schema=${schema}`;
  const namespace = `gonefile_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-worker-gone-'));
  const fleetEnv = {
    FLUJO_STATE_URI: uri,
    FLUJO_NATS_URL: NATS_URL,
    FLUJO_NATS_NAMESPACE: namespace,
  };
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env: fleetEnv });
  let nc: NatsConnection;
  let state: State;
  let fake: FakeLlm;
  let worker: WorkerProcess;
  let reconciling: WorkerProcess | undefined;

  const startWorker = (reconcileAfter: string) =>
    spawnWorker(['--ack-wait', '2', '--reconcile-after', reconcileAfter], {
      cwd: dir,
      env: {
        ...process.env,
        NO_COLOR: '1',
        ...fleetEnv,
        OPENAI_API_KEY: 'sk-test-fleet-0123456789',
        OPENAI_BASE_URL: fake.openaiUrl,
      },
    });
  const ready = (w: WorkerProcess) =>
    until('the worker to start', () =>
      w.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );

  const events = async (runId: string) => (await state.ledger.read(runId)).length;

  beforeAll(async () => {
    // The project's own pipeline.yaml: a different pipeline, which must never stand in.
    expect(runCli(['init', '--yes'], { cwd: dir }).code).toBe(0);
    mkdirSync(join(dir, 'moved'));
    fake = await startFakeLlm();
    nc = await connect({ servers: NATS_URL });
    state = await openState(uri, { projectRoot: dir });
    // No reconciler here: the reconciler's worker starts once its run is set up (below).
    worker = startWorker('0');
    await ready(worker);
  }, 60_000);

  afterAll(async () => {
    for (const w of [worker, reconciling]) w?.child.kill('SIGKILL');
    await Promise.all([worker?.exited, reconciling?.exited]);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc?.close();
    await state?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('resume --fleet of a paused run whose file was moved is refused with CONFIG_INVALID naming it; nothing is recorded', async () => {
    writeFileSync(join(dir, 'a.yaml'), ASKS);
    const paused = cli('run', 'a.yaml', '--input', 'x', '--run-id', 'gone-1', '--json');
    expect(JSON.parse(paused.stdout)).toMatchObject({ status: 'paused' });
    renameSync(join(dir, 'a.yaml'), join(dir, 'moved', 'a.yaml'));
    const before = await events('gone-1');

    const answer = cli('resume', 'gone-1', '--fleet', '--input', '{"ok":true}', '--json');
    // Before: PLAN_CHANGED against pipeline.yaml, advising --allow-changed-pipeline.
    expect(answer.code).toBe(2);
    const refused = JSON.parse(answer.stdout) as { error: { code: string; message: string } };
    expect(refused).toMatchObject({ run_id: 'gone-1', error: { code: 'CONFIG_INVALID' } });
    expect(refused.error.message).toContain(
      `run gone-1 started from a.yaml, which is no longer in the worker's project ${dir}`,
    );
    expect(refused.error.message).toContain(
      'flujo resume gone-1 --pipeline PATH --input … (add --allow-changed-pipeline if it changed)',
    );
    // And the fleet's way for an answer (ADR 149): a resume naming the file.
    expect(refused.error.message).toContain(
      'or through the fleet: flujo resume gone-1 --pipeline PATH --input … --fleet',
    );
    expect(refused.error.message).not.toContain('--run-id');
    expect(answer.stderr).toContain('refused by the fleet');

    // Before: continued under pipeline.yaml, an unrelated pipeline.
    const changed = cli(
      'resume',
      'gone-1',
      '--fleet',
      '--input',
      '{"ok":true}',
      '--allow-changed-pipeline',
      '--json',
    );
    expect(changed.code).toBe(2);
    expect(JSON.parse(changed.stdout)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
    expect(await events('gone-1')).toBe(before);
    // Refused, not retried, and no dead letter.
    expect(await queuedFor(await jetstreamManager(nc), names, 'gone-1')).toBe(0);
    const jsm = await jetstreamManager(nc);
    expect(
      (await jsm.streams.info(names.deadStream).catch(() => undefined))?.state.messages ?? 0,
    ).toBe(0);

    // The run taken up with the moved file, as the refusal says (locally).
    const local = runCli(
      ['resume', 'gone-1', '--pipeline', 'moved/a.yaml', '--input', '{"ok":true}', '--json'],
      { cwd: dir, env: { FLUJO_STATE_URI: uri } },
    );
    expect(JSON.parse(local.stdout)).toMatchObject({ status: 'completed', output: 'ok=true' });
  }, 60_000);

  it('the reconciler leaves a quiet running run whose file is gone, says so once, and adopts it once the file is back', async () => {
    writeFileSync(join(dir, 'c.yaml'), CALLS);
    fake.script({ text: 'never sent', delayMs: 60_000 }, { text: 'Adopted' });
    const calls = fake.requests.length;
    const runId = 'gone-2';
    // A plain `flujo run` (no queue message), killed while its model call is in flight.
    const run = spawn(process.execPath, [CLI, 'run', 'c.yaml', '--run-id', runId, '--input', 'x'], {
      cwd: dir,
      env: {
        ...process.env,
        FLUJO_STATE_URI: uri,
        OPENAI_API_KEY: 'sk-test-fleet-0123456789',
        OPENAI_BASE_URL: fake.openaiUrl,
      },
      stdio: 'ignore',
    });
    await until('the model call', () => (fake.requests.length > calls ? true : undefined));
    renameSync(join(dir, 'c.yaml'), join(dir, 'moved', 'c.yaml'));
    run.kill('SIGKILL');
    await new Promise((r) => run.on('close', r));
    const before = await events(runId);

    // Started now, so that it cannot adopt the run before its file is moved.
    const w = (reconciling = startWorker('1'));
    await ready(w);
    const left = () => w.logs().filter((l) => l.run_id === runId && l.file === 'c.yaml');
    await until('the reconciler to leave the run', () => (left().length > 0 ? true : undefined));
    // Several reconciler rounds (every 250 ms) later: said once, nothing queued or recorded.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(left()).toHaveLength(1);
    expect(left()[0]).toMatchObject({ level: 40 });
    expect(String(left()[0]!.err)).toContain(
      `run ${runId} started from c.yaml, which is no longer in the worker's project ${dir}`,
    );
    // The fleet's way: a resume naming the file (ADR 149; was `flujo run PATH --run-id RUN --fleet`).
    expect(String(left()[0]!.err)).toContain(`flujo resume ${runId} --pipeline PATH --fleet`);
    const received = (l: Record<string, unknown>) =>
      l.run_id === runId && l.msg === 'work message received';
    expect([...w.logs(), ...worker.logs()].some(received)).toBe(false);
    expect(await events(runId)).toBe(before);

    // A resume without an answer is refused in the same words, and says the fleet's way too.
    const bare = cli('resume', runId, '--fleet', '--json');
    expect(bare.code).toBe(2);
    const refused = JSON.parse(bare.stdout) as { error: { code: string; message: string } };
    expect(refused.error.code).toBe('CONFIG_INVALID');
    expect(refused.error.message).toContain(
      `pass the pipeline with: flujo resume ${runId} --pipeline PATH (add --allow-changed-pipeline if it changed), or through the fleet: flujo resume ${runId} --pipeline PATH --fleet`,
    );
    expect(await events(runId)).toBe(before);

    // Back where the run recorded it: adopted, and it completes.
    renameSync(join(dir, 'moved', 'c.yaml'), join(dir, 'c.yaml'));
    const last = await until(
      'the adopted run to complete',
      async () => {
        const rows = await state.ledger.read(runId);
        const end = decodeRecord(runId, rows.at(-1)!.seq, rows.at(-1)!.body);
        return end.type === 'RunCompleted' ? end : undefined;
      },
      30_000,
      100,
    );
    expect(last.data).toMatchObject({ output: 'Adopted' });
  }, 60_000);
});
