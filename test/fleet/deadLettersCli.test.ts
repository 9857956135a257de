/**
 * `flujo fleet dead-letters list | show | retry | purge | log` (ADR 80) on the real NATS, in a
 * namespace of its own: dead letters stored as the workers store them (publishDeadLetter), read
 * back, one published again and run by a real `flujo worker`, one purged; each action recorded
 * on `<ns>.dead.log.<action>.<run>`; bad ids and an unknown one refused with what to do, and a
 * spent record (ADR 86) refused naming what it stands for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ensureWorkQueue,
  fleetNames,
  resultsSubject,
  workSubject,
} from '../../src/adapters/nats/work.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { publishDeadLetter } from '../../src/fleet/deadLetter.js';
import { recordSpent, spentSubject } from '../../src/fleet/spent.js';
import type { FleetResult } from '../../src/fleet/client.js';
import { CLI, runCli } from '../e2e/cli.js';
import { NATS_URL, natsReachable } from '../support/services.js';

const up = await natsReachable();

describe.skipIf(!up)('flujo fleet dead-letters', () => {
  const namespace = `dlcli_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  const dir = mkdtempSync(join(tmpdir(), 'flujo-dead-letters-cli-'));
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let worker: ChildProcess | undefined;
  const env = { FLUJO_NATS_URL: NATS_URL, FLUJO_NATS_NAMESPACE: namespace, USER: 'ops-test' };
  const cli = (...args: string[]) => runCli(['fleet', 'dead-letters', ...args], { cwd: dir, env });
  const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

  /** A dead letter as a worker stores it after the last delivery of a work message. */
  async function deadLetter(
    kind: 'start' | 'resume',
    runId: string,
    body: string,
    code: string,
    seq: number,
  ) {
    const subject = workSubject(names, kind, runId);
    const h = headers();
    h.set('Nats-Msg-Id', `${kind}:${runId}`);
    const js = jetstream(nc);
    return publishDeadLetter(
      js,
      names,
      { subject, seq, data: new TextEncoder().encode(body), headers: h, deliveries: 3 },
      { kind, runId, reason: `gave up after the last delivery (3): ${code}`, code },
      () => Date.parse('2026-12-06T10:00:00Z'),
    );
  }

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    expect(runCli(['init', '--yes'], { cwd: dir }).code).toBe(0);
  });

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await jsm.streams.delete(names.stream).catch(() => {});
    await jsm.streams.delete(names.deadStream).catch(() => {});
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists nothing, exit 0, where no worker of the namespace has run', () => {
    const r = cli('list', '--json');
    expect(r.code).toBe(0);
    expect(json(r)).toEqual([]);
    expect(cli('list').stderr).toContain(`no dead letters in ${names.deadStream}`);
  });

  it('refuses a spent record (ADR 86) by name: whose work message it stands for, its holder, how to look at it', async () => {
    await ensureWorkQueue(jsm, names);
    const js = jetstream(nc);
    // A work message JetStream stopped delivering while worker w-spent handled it, recorded as
    // the worker records it (no worker runs yet in this namespace: the message stays queued).
    const work = await js.publish(workSubject(names, 'start', 'held-1'), '{"input":"x"}');
    const since = Date.parse('2026-12-06T11:00:00Z');
    await recordSpent(js, names, {
      seq: work.seq,
      runId: 'held-1',
      kind: 'start',
      worker: 'w-spent',
      since,
    });
    const info = await jsm.streams.info(names.deadStream, {
      subjects_filter: spentSubject(names, work.seq, 'held-1'),
    });
    const recSeq = info.state.last_seq;

    const shown = cli('show', String(recSeq));
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain('DEAD_LETTER_NOT_FOUND');
    expect(shown.stderr).toContain(`message ${recSeq} is a spent record, not a dead letter`);
    expect(shown.stderr).toContain(`work message ${work.seq} (start of run held-1)`);
    expect(shown.stderr).toContain('worker w-spent since 2026-12-06T11:00:00.000Z');
    expect(shown.stderr).toContain(`it is still in ${names.stream}`);
    expect(shown.stderr).toContain(`nats stream get ${names.deadStream} ${recSeq}`);
    expect(shown.stderr).toContain(`nats stream get ${names.stream} ${work.seq}`);
    expect(shown.stderr).not.toContain('not <ns>.dead.<kind>.<run>');

    // A retry of it is refused the same way, and publishes nothing (it would race its holder).
    const before = (await jsm.streams.info(names.stream)).state.last_seq;
    const retried = cli('retry', String(recSeq));
    expect(retried.code).toBe(1);
    expect(retried.stderr).toContain('is a spent record');
    expect((await jsm.streams.info(names.stream)).state.last_seq).toBe(before);

    // Its message settled (gone from the work queue) while the record is still there.
    await jsm.streams.deleteMessage(names.stream, work.seq, false);
    const after = cli('show', String(recSeq), '--json');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(`it is no longer in ${names.stream}`);
    expect(after.stderr).not.toContain(`nats stream get ${names.stream} ${work.seq}`);
    await jsm.streams.purge(names.deadStream, { filter: spentSubject(names, work.seq, 'held-1') });
  }, 60_000);

  it('lists, shows, retries and purges dead letters, recording each action', async () => {
    await ensureWorkQueue(jsm, names);
    await deadLetter('start', 'start-1', '{"input":"Ada"}', 'LEDGER_STORE', 6);
    await deadLetter('resume', 'order 1', '{"input":{"approved":true}}', 'RUN_NOT_FOUND', 7);

    const listed = cli('list', '--json');
    expect(listed.code).toBe(0);
    const all = json<Record<string, unknown>[]>(listed);
    // Newest first, with what the headers say.
    expect(all.map((d) => d.run_id)).toEqual(['order 1', 'start-1']);
    expect(all[0]).toMatchObject({
      kind: 'resume',
      code: 'RUN_NOT_FOUND',
      deliveries: 3,
      dead_at: '2026-12-06T10:00:00.000Z',
      work_subject: workSubject(names, 'resume', 'order 1'),
      work_seq: 7,
      work_msg_id: 'resume:order 1',
    });
    expect(String(all[0]!.reason)).toContain('RUN_NOT_FOUND');
    const [resumeSeq, startSeq] = all.map((d) => d.seq as number);
    expect(json<unknown[]>(cli('list', '--run', 'start-1', '--json'))).toHaveLength(1);
    expect(json<unknown[]>(cli('list', '--kind', 'resume', '--json'))).toHaveLength(1);
    const text = cli('list');
    expect(text.stdout).toContain(`${startSeq}\t2026-12-06T10:00:00.000Z\tstart\tstart-1`);

    const shown = cli('show', String(resumeSeq), '--json');
    expect(shown.code).toBe(0);
    expect(json(shown)).toMatchObject({ run_id: 'order 1', body: { input: { approved: true } } });

    // Retry: the body as it was, on its work subject, taken by a real worker.
    const outcome = (async () => {
      const sub = nc.subscribe(resultsSubject(names, 'start-1'), { max: 1 });
      for await (const m of sub) return m.json<FleetResult>();
      throw new Error('closed');
    })();
    const retried = cli('retry', String(startSeq), '--note', 'ledger back', '--json');
    expect(retried.code).toBe(0);
    const rec = json<Record<string, unknown> & { work: { seq: number; subject: string } }>(retried);
    expect(rec).toMatchObject({
      action: 'retry',
      by: 'ops-test',
      note: 'ledger back',
      dead_letter: { seq: startSeq, run_id: 'start-1', kind: 'start', code: 'LEDGER_STORE' },
      work: { subject: workSubject(names, 'start', 'start-1'), duplicate: false },
    });
    expect(retried.stderr).toContain(`retried dead letter ${startSeq}`);
    const queued = await jsm.streams.getMessage(names.stream, { seq: rec.work.seq });
    expect(new TextDecoder().decode(queued!.data)).toBe('{"input":"Ada"}');
    expect(queued!.header.get('Flujo-Retried-From')).toBe(`${names.deadStream}:${startSeq}`);
    worker = spawn(process.execPath, [CLI, 'worker', '--reconcile-after', '0'], {
      cwd: dir,
      env: { ...process.env, ...env, NO_COLOR: '1' },
      stdio: 'ignore',
    });
    expect(await outcome).toMatchObject({ run_id: 'start-1', status: 'paused' });
    // The run records that it came from a retried dead letter, and who retried it (ADR 87).
    const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
    try {
      const first = (await state.ledger.read('start-1'))[0]!;
      expect(decodeRecord('start-1', first.seq, first.body)).toMatchObject({
        type: 'RunStarted',
        data: { retried: { deadLetter: `${names.deadStream}:${startSeq}`, by: 'ops-test' } },
      });
    } finally {
      await state.close();
    }

    // Purge: gone, with its digest recorded, not its body.
    const purged = cli('purge', String(resumeSeq), '--by', 'alice', '--json');
    expect(purged.code).toBe(0);
    expect(json(purged)).toMatchObject({
      action: 'purge',
      by: 'alice',
      dead_letter: {
        seq: resumeSeq,
        run_id: 'order 1',
        body_sha256: createHash('sha256').update('{"input":{"approved":true}}').digest('hex'),
      },
    });
    expect(purged.stdout).not.toContain('approved');
    expect(json(cli('list', '--json'))).toEqual([]);

    // What was done, oldest first; the records are not dead letters.
    const log = json<Record<string, unknown>[]>(cli('log', '--json'));
    expect(log.map((l) => [l.action, (l.dead_letter as { seq: number }).seq, l.by])).toEqual([
      ['retry', startSeq, 'ops-test'],
      ['purge', resumeSeq, 'alice'],
    ]);
    const onlyStart = json<unknown[]>(cli('log', '--run', 'start-1', '--json'));
    expect(onlyStart).toHaveLength(1);

    // Acting again on one that is gone, or on a record: exit 1, saying what to do.
    const again = cli('retry', String(startSeq));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('DEAD_LETTER_NOT_FOUND');
    expect(again.stderr).toContain('flujo fleet dead-letters list');
    const record = cli('purge', String(log[0]!.seq));
    expect(record.code).toBe(1);
    expect(record.stderr).toContain('not <ns>.dead.<kind>.<run>');
  }, 60_000);

  it('refuses a bad id (exit 2) and an unreachable NATS (exit 2)', () => {
    const bad = cli('retry', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('USAGE');
    expect(bad.stderr).toContain('dead-letters list');
    const kind = cli('list', '--kind', 'stop');
    expect(kind.code).toBe(2);
    const off = runCli(['fleet', 'dead-letters', 'list'], {
      cwd: dir,
      env: { FLUJO_NATS_URL: 'nats://127.0.0.1:1' },
    });
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('NATS_UNREACHABLE');
  });
});
