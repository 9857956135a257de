/**
 * When a run ends, what it left open ends with it (ADR 46): a cancelled or failed run's steps
 * still running are `cancelled` / `failed`, and the questions it still waited on are `withdrawn`,
 * in every read model (memory, SQLite, Postgres), in a rebuild, in the run's result, its audit
 * report and its trace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { definePipeline, hitl, parallel, sequence, step } from '../../src/dsl/builder.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead } from '../../src/events/envelope.js';
import { readRunEvents } from '../../src/lens/events.js';
import { buildReport } from '../../src/lens/report.js';
import { reportHtml, reportMarkdown } from '../../src/lens/reportRender.js';
import { buildTrace, type Span } from '../../src/lens/trace.js';
import { createEngine } from '../../src/runtime/engine.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

/** Paused on a question in one branch while the other branch has finished. */
const asking = definePipeline(
  'asking',
  sequence(
    step('a', (x: number) => x + 1),
    parallel('par', {
      h: hitl('ask', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
      k: step('k', (x: number) => x * 2),
    }),
  ),
).plan;

/** Plan code (an input mapper) throws after the first step finished: PLAN_CODE_FAILED. */
const planCode = definePipeline(
  'plan-code',
  sequence(
    step('a', (x: number) => x),
    step('b', (x: number) => x, {
      input: () => {
        throw new Error('mapper broke');
      },
    }),
  ),
).plan;

/** The same inside a nested sequence, which is running when the mapper throws. */
const planCodeNested = definePipeline(
  'plan-code-nested',
  sequence(
    step('a', (x: number) => x),
    sequence(
      step('b', (x: number) => x),
      step('c', (x: number) => x, {
        input: () => {
          throw new Error('mapper broke');
        },
      }),
    ),
  ),
).plan;

const reachable = await postgresReachable();
const schema = uniqueSchema('runend');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (reachable) await dropSchema(schema);
});

const stores: [string, () => Promise<State>][] = [
  ['memory', () => openState('memory://', { projectRoot: '/' })],
  [
    'SQLite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'flujo-runend-'));
      dirs.push(dir);
      return openState('sqlite:///state.db', { projectRoot: dir });
    },
  ],
];
if (reachable)
  stores.push(['Postgres', () => openState(`${PG_URL}?schema=${schema}`, { projectRoot: '/' })]);

const stepStatus = async (s: State, runId: string) =>
  Object.fromEntries(
    (await s.readModels.steps(runId)).map((r) => [r.path, [r.status, r.errorCode]]),
  );
const hitlStatus = async (s: State, runId: string) =>
  (await s.readModels.hitl({ runId })).map((h) => [h.path, h.status]);

describe.each(stores)('a run that ends leaves nothing open (%s)', (name, open) => {
  it('a cancelled run: its running steps are cancelled and its question withdrawn; rebuild agrees', async () => {
    const state = await open();
    try {
      const engine = createEngine({ ledger: state.ledger, newRunId: () => `c-${name}` });
      const paused = await engine.run(asking, 1);
      expect(paused.status).toBe('paused');
      expect(await hitlStatus(state, paused.runId)).toEqual([['1/h', 'pending']]);
      expect(await state.readModels.hitl({ status: 'pending' })).toHaveLength(1);

      const r = await engine.cancel(paused.runId, 'not needed');
      expect(r.status).toBe('cancelled');
      expect(r.steps.map((s) => [s.path, s.status])).toEqual([
        ['0', 'completed'],
        ['1/h', 'cancelled'],
        ['1/k', 'completed'],
      ]);
      const steps = {
        '.': ['cancelled', null],
        '0': ['completed', null],
        '1': ['cancelled', null],
        '1/h': ['cancelled', null],
        '1/k': ['completed', null],
      };
      expect(await stepStatus(state, r.runId)).toEqual(steps);
      expect(await hitlStatus(state, r.runId)).toEqual([['1/h', 'withdrawn']]);
      expect(await state.readModels.hitl({ status: 'pending' })).toEqual([]);
      const ended = (await state.readModels.steps(r.runId)).find((s) => s.path === '1/h');
      expect(ended?.endedAt).not.toBeNull();

      await state.rebuild();
      expect(await stepStatus(state, r.runId)).toEqual(steps);
      expect(await hitlStatus(state, r.runId)).toEqual([['1/h', 'withdrawn']]);
    } finally {
      await state.close();
    }
  });

  it('a run failed by plan code: the enclosing pipeline step fails with the run', async () => {
    const state = await open();
    try {
      const engine = createEngine({ ledger: state.ledger, newRunId: () => `f-${name}` });
      const r = await engine.run(planCode, 1);
      expect(r.status).toBe('failed');
      expect(r.error?.code).toBe('PLAN_CODE_FAILED');
      const steps = { '.': ['failed', 'PLAN_CODE_FAILED'], '0': ['completed', null] };
      expect(await stepStatus(state, r.runId)).toEqual(steps);
      await state.rebuild();
      expect(await stepStatus(state, r.runId)).toEqual(steps);
    } finally {
      await state.close();
    }
  });

  it('a run recorded before withdrawals (ADR 45) shows no pending question once it ended', async () => {
    const state = await open();
    try {
      const runId = `old-${name}`;
      const events: NewEvent[] = [
        {
          type: 'RunStarted',
          data: {
            pipeline: { name: 'old', fingerprint: 'f' },
            input: 1,
            engine: { version: '0', flags: [] },
          },
        },
        { type: 'HumanInputRequested', data: { path: '0', message: 'left', inputSchema: {} } },
        { type: 'RunCompleted', data: { output: 1 } },
      ];
      await state.ledger.append({ runId, expected: emptyHead(runId), events, at: 1 });
      expect(await hitlStatus(state, runId)).toEqual([['0', 'withdrawn']]);
      await state.rebuild();
      expect(await hitlStatus(state, runId)).toEqual([['0', 'withdrawn']]);
    } finally {
      await state.close();
    }
  });
});

describe.each(stores)('a completed run recorded before StepAbandoned (%s)', (name, open) => {
  it('shows the step its branch left as cancelled, STEP_ABANDONED, not running (ADR 78)', async () => {
    const state = await open();
    try {
      const runId = `left-${name}`;
      const events: NewEvent[] = [
        {
          type: 'RunStarted',
          data: {
            pipeline: { name: 'old', fingerprint: 'f' },
            input: 1,
            engine: { version: '0', flags: [] },
          },
        },
        { type: 'StepScheduled', data: { path: '0', name: 'fan', kind: 'parallel' } },
        { type: 'StepScheduled', data: { path: '0/a', name: 'a', kind: 'step' } },
        { type: 'StepScheduled', data: { path: '0/b', name: 'b', kind: 'step' } },
        {
          type: 'StepFailed',
          data: { path: '0/b', error: { code: 'X', message: 'x', retryable: false } },
        },
        {
          type: 'StepFailed',
          data: { path: '0', error: { code: 'X', message: 'x', retryable: false } },
        },
        { type: 'RunCompleted', data: { output: 1 } },
      ];
      await state.ledger.append({ runId, expected: emptyHead(runId), events, at: 1 });
      const expected = {
        '0': ['failed', 'X'],
        '0/a': ['cancelled', 'STEP_ABANDONED'],
        '0/b': ['failed', 'X'],
      };
      expect(await stepStatus(state, runId)).toEqual(expected);
      await state.rebuild();
      expect(await stepStatus(state, runId)).toEqual(expected);
      const engine = createEngine({ ledger: state.ledger });
      expect((await engine.result(runId)).steps.map((s) => [s.path, s.status])).toEqual([
        ['0/a', 'cancelled'],
        ['0/b', 'failed'],
      ]);
    } finally {
      await state.close();
    }
  });
});

describe('the audit report and the trace of an ended run', () => {
  const openSpans = (s: Span): Span[] => [
    ...(s.end_time === null ? [s] : []),
    ...s.children.flatMap(openSpans),
  ];

  it('a cancelled run: question withdrawn, paused step cancelled, every span closed', async () => {
    const state = await openState('memory://', { projectRoot: '/' });
    const engine = createEngine({ ledger: state.ledger, newRunId: () => 'rc' });
    await engine.run(asking, 1);
    const paused = buildTrace(await readRunEvents(state.ledger, 'rc'));
    expect(openSpans(paused).length).toBeGreaterThan(0); // a paused run is still open
    await engine.cancel('rc');
    const events = await readRunEvents(state.ledger, 'rc');
    const report = buildReport(events, await verifyStoredRun(state.ledger, 'rc'));
    expect(report.decisions.map((d) => d.status)).toEqual(['withdrawn']);
    expect(Object.fromEntries(report.steps.map((s) => [s.path, s.status]))).toEqual({
      '0': 'completed',
      '1': 'cancelled',
      '1/h': 'cancelled',
      '1/k': 'completed',
    });
    expect(reportMarkdown(report)).toContain('**withdrawn**');
    expect(reportMarkdown(report)).not.toContain('pending');
    expect(reportHtml(report)).toContain('<td>withdrawn</td>');
    const trace = buildTrace(events);
    expect(openSpans(trace)).toEqual([]);
    const ask = trace.children.flatMap((c) => c.children).find((s) => s.name === 'ask');
    expect(ask?.attributes['flujo.cancelled']).toBe(true);
  });

  it('a run failed by plan code: the report and trace carry the run error to what was open', async () => {
    const state = await openState('memory://', { projectRoot: '/' });
    const engine = createEngine({ ledger: state.ledger, newRunId: () => 'rf' });
    const r = await engine.run(planCodeNested, 1);
    expect(r.error?.code).toBe('PLAN_CODE_FAILED');
    const events = await readRunEvents(state.ledger, 'rf');
    const report = buildReport(events, await verifyStoredRun(state.ledger, 'rf'));
    expect(report.steps.map((s) => [s.path, s.status, s.error?.code])).toEqual([
      ['0', 'completed', undefined],
      ['1', 'failed', 'PLAN_CODE_FAILED'],
      ['1/0', 'completed', undefined],
    ]);
    expect(await stepStatus(state, 'rf')).toEqual({
      '.': ['failed', 'PLAN_CODE_FAILED'],
      '0': ['completed', null],
      '1': ['failed', 'PLAN_CODE_FAILED'],
      '1/0': ['completed', null],
    });
    const trace = buildTrace(events);
    expect(openSpans(trace)).toEqual([]);
    const inner = trace.children.find((s) => s.attributes['flujo.step.id'] === '1');
    expect(inner).toMatchObject({ status: 'failed' });
    expect(inner?.attributes['flujo.error']).toMatchObject({ code: 'PLAN_CODE_FAILED' });
  });
});
