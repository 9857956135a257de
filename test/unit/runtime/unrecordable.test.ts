/**
 * Decisions the ledger cannot record end the run, recorded (ADR 115). A value nested near the
 * codec's limit passes its own check and is then gathered, one level deeper each time, by more
 * maps or parallels than that check left room for: a value pipeline code returns (measured where
 * its own decision records it), or a reply passed on unchanged into five later parallels. Before,
 * the gatherer's commit threw LEDGER_ENCODE out of engine.run and left the run `running`, and
 * every resume decided the same commit again. Now the fact is recorded with a RunFailed
 * (DECISION_NOT_RECORDABLE) in place of its decisions; a refold makes that RunFailed again from
 * the decisions it makes, and refuses one the decisions do not call for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { openState, type State } from '../../../src/adapters/ledger/state.js';
import { definePipeline, map, parallel, sequence, step } from '../../../src/dsl/builder.js';
import { decodeCanonical, encodeCanonical } from '../../../src/events/codec.js';
import type { NewEvent } from '../../../src/events/catalogue.js';
import { emptyHead } from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../../support/services.js';

const nested = (d: number): unknown => (d === 0 ? 1 : { a: nested(d - 1) });

/** Five maps, each over the list holding the value it is given. */
const maps = (n: number, inner: unknown): unknown =>
  n === 0 ? inner : map(`m${n}`, maps(n - 1, inner) as never, { items: (x: unknown) => [x] });

/** A value map items code returns (measured at its own decision), gathered by six maps. */
const gatheredCode = (d: number) =>
  definePipeline(
    'gathered-code',
    sequence(
      step('a', () => 1),
      map('m', maps(5, sequence()) as never, { items: () => [nested(d)] }) as never,
    ),
  ).plan;

/** A top-level reply passed on unchanged (empty sequences) into five nested parallels. */
const passedOn = (d: number) =>
  definePipeline(
    'passed-on',
    sequence(
      step('i', () => nested(d)),
      parallel('p1', {
        b: parallel('p2', {
          b: parallel('p3', { b: parallel('p4', { b: parallel('p5', { b: sequence() }) }) }),
        }),
      }),
    ),
  ).plan;

describe('decisions the ledger cannot record', () => {
  it('end the run as failed, recorded after the fact that led to them; one level less completes', async () => {
    const cases = [
      { plan: gatheredCode(249), fits: gatheredCode(248), fact: 'AgentResponded', step: '0' },
      { plan: passedOn(250), fits: passedOn(249), fact: 'AgentResponded', step: '0' },
    ];
    for (const c of cases) {
      const ledger = createMemoryLedger();
      const engine = createEngine({ ledger });
      const r = await engine.run(c.plan, 'x');
      expect(r).toMatchObject({ status: 'failed', error: { code: 'DECISION_NOT_RECORDABLE' } });
      expect(r.error?.message).toMatch(
        /^the run's next StepCompleted \(step ("[^"]+" at )?1[^)]*\) cannot be/,
      );
      expect(r.error?.message).toContain('nested deeper than 256 levels');
      // The path inside the value is cut, not 250 segments long.
      expect(r.error!.message.length).toBeLessThan(600);
      const rows = await ledger.read(r.runId);
      expect(rows.slice(-2).map((x) => x.type)).toEqual([c.fact, 'RunFailed']);
      expect((await ledger.head(r.runId))?.terminal).toBe(true);
      // What the run recorded is what a refold makes: the RunFailed is the one it makes too.
      const replayed = await engine.replay(c.plan, r.runId);
      expect(replayed).toMatchObject({ identical: true, events: rows.length });
      // The step whose reply led to the decisions was still running (its completion is one of
      // them): it failed with the run.
      expect(r.steps.find((s) => s.path === c.step)).toMatchObject({
        status: 'failed',
        error: { code: 'DECISION_NOT_RECORDABLE' },
      });
      // A resume reports the run as it ended (before, it decided the same commit and threw).
      expect(await engine.resume(c.plan, r.runId)).toMatchObject({
        status: 'failed',
        error: { code: 'DECISION_NOT_RECORDABLE' },
      });
      expect(await ledger.read(r.runId)).toHaveLength(rows.length);
      expect((await engine.run(c.fits, 'x')).status).toBe('completed');
    }
  });

  it('a refold refuses such a RunFailed where the decisions can be recorded, or one that says otherwise', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, newRunId: () => 'deep-1' });
    const plan = passedOn(250);
    const r = await engine.run(plan, 'x');
    expect(r.status).toBe('failed');
    let rows = ledger.unsafeRows('deep-1');
    const failedAt = rows.findIndex((x) => x.type === 'RunFailed');
    const replyAt = failedAt - 1;
    const original = [...rows];

    // The reply made shallow: the machine's decisions now fit, so the RunFailed is a divergence.
    const reply = decodeCanonical(rows[replyAt]!.body) as { data: { output: unknown } };
    reply.data.output = nested(3);
    rows[replyAt] = { ...rows[replyAt]!, body: encodeCanonical(reply) };
    ledger.unsafeReseal('deep-1');
    expect(await engine.replay(plan, 'deep-1')).toMatchObject({
      identical: false,
      firstDivergence: {
        seq: failedAt + 1,
        expected: { type: 'StepCompleted' },
        recorded: { type: 'RunFailed' },
      },
    });

    // Its message changed: not the RunFailed these decisions make.
    rows = ledger.unsafeRows('deep-1'); // a reseal makes a new list
    rows.splice(0, rows.length, ...original);
    const failed = decodeCanonical(rows[failedAt]!.body) as {
      data: { error: { message: string } };
    };
    failed.data.error.message = 'something else';
    rows[failedAt] = { ...rows[failedAt]!, body: encodeCanonical(failed) };
    ledger.unsafeReseal('deep-1');
    const changed = await engine.replay(plan, 'deep-1');
    expect(changed).toMatchObject({ identical: false, firstDivergence: { seq: failedAt + 1 } });
    expect(changed.firstDivergence?.expected).toMatchObject({ type: 'StepCompleted' });
    // As recorded, it replays identical again.
    rows = ledger.unsafeRows('deep-1');
    rows.splice(0, rows.length, ...original);
    ledger.unsafeReseal('deep-1');
    expect(await engine.replay(plan, 'deep-1')).toMatchObject({ identical: true });
  });
});

describe('review of ADR 115', () => {
  it('a value whose keys are emoji: the message is cut between characters and recorded', async () => {
    // The path is cut at 120 characters: cut inside a surrogate pair, the RunFailed itself could
    // not be recorded and the run was left running again.
    const deep = (d: number): unknown => (d === 0 ? 1 : { '\u{1F600}': deep(d - 1) });
    const plan = definePipeline(
      'emoji',
      sequence(
        step('i', () => ({ xyz: deep(249) })),
        parallel('p1', {
          b: parallel('p2', {
            b: parallel('p3', { b: parallel('p4', { b: parallel('p5', { b: sequence() }) }) }),
          }),
        }),
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const r = await engine.run(plan, 'x');
    expect(r).toMatchObject({ status: 'failed', error: { code: 'DECISION_NOT_RECORDABLE' } });
    expect(r.error!.message.isWellFormed()).toBe(true);
    expect(r.error!.message).toContain('data.output.b.b.b.b.b.xyz');
    expect((await ledger.head(r.runId))?.terminal).toBe(true);
    expect(await engine.replay(plan, r.runId)).toMatchObject({ identical: true });
  });

  it('such a RunFailed after some of the decisions it stands for is a divergence', async () => {
    const plan = passedOn(250);
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, newRunId: () => 'real' });
    const r = await engine.run(plan, 'x');
    const events = await engine.events(r.runId);
    const failedAt = events.findIndex((e) => e.type === 'RunFailed');
    const reply = events[failedAt - 1] as Extract<
      (typeof events)[number],
      { type: 'AgentResponded' }
    >;
    // The same run with the step's completion (the batch's first decision) recorded before it.
    const forged = [
      ...events.slice(0, failedAt),
      { type: 'StepCompleted', data: { path: reply.data.path, output: reply.data.output } },
      events[failedAt]!,
    ].map((e) => ({ type: e.type, data: e.data }) as NewEvent);
    const other = createMemoryLedger();
    await other.append({ runId: 'real', expected: emptyHead('real'), events: forged, at: 1 });
    expect(await engine.replay(plan, 'real')).toMatchObject({ identical: true });
    const replayed = await createEngine({ ledger: other }).replay(plan, 'real');
    expect(replayed).toMatchObject({
      identical: false,
      firstDivergence: { seq: failedAt + 2, recorded: { type: 'RunFailed' } },
    });
  });
});

const reachable = await postgresReachable();
const schema = uniqueSchema('unrecordable');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (reachable) await dropSchema(schema);
});

const stores: [string, () => Promise<State>][] = [
  [
    'SQLite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'flujo-unrecordable-'));
      dirs.push(dir);
      return openState('sqlite:///state.db', { projectRoot: dir });
    },
  ],
];
if (reachable)
  stores.push(['Postgres', () => openState(`${PG_URL}?schema=${schema}`, { projectRoot: '/' })]);

describe.each(stores)('decisions the ledger cannot record (%s)', (name) => {
  it('the failed batch writes nothing; the run ends failed in the read models and verifies', async () => {
    const state = await stores.find(([n]) => n === name)![1]();
    try {
      const engine = createEngine({ ledger: state.ledger, newRunId: () => `deep-${name}` });
      const r = await engine.run(passedOn(250), 'x');
      expect(r.status).toBe('failed');
      const rows = await state.ledger.read(r.runId);
      // RunStarted with its decisions, then the reply with the RunFailed in one append: nothing
      // of the batch that could not be sealed.
      expect(rows.map((x) => x.type)).toEqual([
        'RunStarted',
        'RunClaimed',
        'StepScheduled',
        'StepScheduled',
        'AgentCallRequested',
        'AgentResponded',
        'RunFailed',
      ]);
      expect(await verifyStoredRun(state.ledger, r.runId)).toMatchObject({ ok: true, events: 7 });
      expect(await state.readModels.getRun(r.runId)).toMatchObject({
        status: 'failed',
        errorCode: 'DECISION_NOT_RECORDABLE',
        headSeq: 7,
      });
      const steps = await state.readModels.steps(r.runId);
      // The step whose reply led to the decisions: its completion is one of them, unrecorded.
      expect(steps.map((s) => [s.path, s.status, s.errorCode])).toEqual([
        ['.', 'failed', 'DECISION_NOT_RECORDABLE'],
        ['0', 'failed', 'DECISION_NOT_RECORDABLE'],
      ]);
      expect(await engine.replay(passedOn(250), r.runId)).toMatchObject({ identical: true });
    } finally {
      await state.close();
    }
  });
});
