/**
 * `flujo resume RUN --fleet --pipeline PATH` (ADR 149): the resume message names a file, relative
 * to the worker's project as a start's does, and the worker resumes the run under it instead of
 * the file the run recorded. A paused run whose file was renamed is answered through the fleet;
 * the recorded plan must still match unless --allow-changed-pipeline; a nameless blueprint keeps
 * its recorded name (ADR 142); a path outside the worker's project, or missing there, is refused
 * as a start's is. Real processes (the built CLI), the shared NATS, a SQLite ledger.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { fleetNames, queuedFor } from '../../src/adapters/nats/work.js';
import { runCli } from '../e2e/cli.js';
import { NATS_URL, natsReachable } from '../support/services.js';
import { spawnWorker, until, type WorkerProcess } from './workerProcess.js';

const up = await natsReachable();

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

const ANSWER = '{"ok":true}';

interface Refusal {
  readonly run_id: string;
  readonly status?: string;
  readonly error: { readonly code: string; readonly message: string };
}

describe.skipIf(!up)('flujo resume --fleet --pipeline', () => {
  const namespace = `resumepipe_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-resume-pipeline-'));
  const uri = `sqlite:///${join(dir, 'state.db')}`;
  const env = { FLUJO_STATE_URI: uri, FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace };
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env });
  let nc: NatsConnection;
  let worker: WorkerProcess;
  let state: State;

  /** A run of `file` paused at its question (a local run into the ledger the worker shares). */
  const paused = (file: string, runId: string) => {
    const r = cli('run', file, '--input', 'x', '--run-id', runId, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ run_id: runId, status: 'paused' });
  };
  const events = async (runId: string) => (await state.ledger.read(runId)).length;

  beforeAll(async () => {
    // The project's own pipeline.yaml: a different pipeline, which must never stand in.
    expect(runCli(['init', '--yes'], { cwd: dir }).code).toBe(0);
    mkdirSync(join(dir, 'moved'));
    nc = await connect({ servers: NATS_URL });
    worker = spawnWorker([], { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env } });
    await until('the worker to start', () =>
      worker.logs().some((l) => String(l.msg).startsWith('worker started')) ? true : undefined,
    );
    state = await openState(uri, { projectRoot: dir });
  }, 60_000);

  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await worker?.exited;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc?.close();
    await state?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a paused run whose file was renamed, naming the new file; the refusal without it says so', async () => {
    writeFileSync(join(dir, 'a.yaml'), ASKS);
    paused('a.yaml', 'rp-1');
    renameSync(join(dir, 'a.yaml'), join(dir, 'moved', 'a2.yaml'));

    // Without --pipeline: refused, and the words name the fleet way for an answer now.
    const bare = cli('resume', 'rp-1', '--fleet', '--input', ANSWER, '--json');
    expect(bare.code).toBe(2);
    const refused = JSON.parse(bare.stdout) as Refusal;
    expect(refused.error.code).toBe('CONFIG_INVALID');
    expect(refused.error.message).toContain(
      `or through the fleet: flujo resume rp-1 --pipeline PATH --input … --fleet (PATH relative to the worker's project)`,
    );

    const r = cli(
      'resume',
      'rp-1',
      '--fleet',
      '--pipeline',
      'moved/a2.yaml',
      '--input',
      ANSWER,
      '--json',
    );
    // Before: USAGE, exit 2, "--pipeline names a file here; … drop --pipeline or --fleet".
    expect(r.stderr).not.toContain('drop --pipeline or --fleet');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      run_id: 'rp-1',
      status: 'completed',
      output: 'ok=true',
    });
  }, 60_000);

  it('refuses a changed file with PLAN_CHANGED, recording nothing, unless --allow-changed-pipeline', async () => {
    writeFileSync(join(dir, 'b.yaml'), ASKS);
    paused('b.yaml', 'rp-2');
    // Changed: the step after the question says something else.
    writeFileSync(join(dir, 'b2.yaml'), ASKS.replace("'ok={{", "'changed ok={{"));
    const before = await events('rp-2');

    const answer = (...more: string[]) =>
      cli('resume', 'rp-2', '--fleet', '--pipeline', 'b2.yaml', '--input', ANSWER, ...more);
    const changed = answer('--json');
    expect(changed.code).toBe(1);
    const refused = JSON.parse(changed.stdout) as Refusal;
    expect(refused).toMatchObject({ run_id: 'rp-2', error: { code: 'PLAN_CHANGED' } });
    // The CLI's words, as a local resume says them (the engine's name no flag).
    expect(refused.error.message).toContain(
      'resume with the pipeline the run started with, or add --allow-changed-pipeline to continue under this one',
    );
    expect(changed.stderr).toContain('refused by the fleet');
    expect(await events('rp-2')).toBe(before);
    expect(await queuedFor(await jetstreamManager(nc), names, 'rp-2')).toBe(0);

    const allowed = answer('--allow-changed-pipeline', '--json');
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({
      status: 'completed',
      output: 'changed ok=true',
    });
  }, 60_000);

  it('keeps the recorded name of a nameless blueprint under its new file name (ADR 142)', async () => {
    writeFileSync(join(dir, 'n1.yaml'), ASKS.replace('name: asks\n', ''));
    paused('n1.yaml', 'rp-3');
    renameSync(join(dir, 'n1.yaml'), join(dir, 'n2.yaml'));
    const r = cli(
      'resume',
      'rp-3',
      '--fleet',
      '--pipeline',
      'n2.yaml',
      '--input',
      ANSWER,
      '--json',
    );
    // Named after its new file, it would be PLAN_CHANGED.
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', output: 'ok=true' });
  }, 60_000);

  it('refuses a path outside the worker project, or missing there, as a start is refused', async () => {
    writeFileSync(join(dir, 'c.yaml'), ASKS);
    paused('c.yaml', 'rp-4');
    const before = await events('rp-4');
    const outside = join(tmpdir(), 'x.yaml');
    for (const path of ['../x.yaml', outside, 'moved/../../x.yaml', 'nope.yaml']) {
      const resumed = cli('resume', 'rp-4', '--fleet', '--pipeline', path, '--input', ANSWER);
      const started = cli('run', path, '--fleet', '--run-id', `rp-4-start-${path.length}`);
      expect(resumed.code).toBe(2);
      expect(started.code).toBe(2);
      const said = (stderr: string) => /error: \[CONFIG_INVALID\] (.*)/.exec(stderr)?.[1];
      expect(said(resumed.stderr)).toBeDefined();
      expect(said(resumed.stderr)).toBe(said(started.stderr));
      expect(said(resumed.stderr)).toContain(
        path === 'nope.yaml'
          ? `pipeline file nope.yaml does not exist in the worker's project ${dir}`
          : `pipeline ${JSON.stringify(path)} is outside the worker's project ${dir}: name a file relative to it`,
      );
    }
    expect(await events('rp-4')).toBe(before);
    // Still paused, and answered from its own file.
    const r = cli('resume', 'rp-4', '--fleet', '--input', ANSWER, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'completed', output: 'ok=true' });
  }, 90_000);
});
