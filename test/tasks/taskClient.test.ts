import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { definePipeline, hitl, parallel, sequence, step } from '../../src/dsl/builder.js';
import { EngineError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createTaskClient } from '../../src/tasks/index.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-tasks-'));
const schema = uniqueSchema('tasks');
const pgUp = await postgresReachable();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (pgUp) await dropSchema(schema);
});

const approval = definePipeline(
  'approval',
  sequence(
    step('prepare', (x: { amount: number }) => x.amount),
    hitl('approve', {
      message: 'Approve the payment?',
      schema: z.object({ ok: z.boolean(), note: z.string().optional() }),
    }),
    step('book', (a: { ok: boolean }) => (a.ok ? 'booked' : 'dropped')),
  ),
);

const stores: [string, string, boolean][] = [
  ['memory', 'memory://', true],
  ['sqlite', 'sqlite:///tasks.db', true],
  ['postgres', `${PG_URL}?schema=${schema}`, pgUp],
];

describe.each(stores)('TaskClient over %s', (_name, uri, enabled) => {
  it.skipIf(!enabled)(
    'lists paused tasks with their question, rejects a bad answer, resumes, cancels and keeps watermarks',
    async () => {
      const state: State = await openState(uri, { projectRoot: dir });
      let n = 0;
      const engine = createEngine({
        ledger: state.ledger,
        newRunId: () => `task-${++n}`,
        worker: 'w',
      });
      const tasks = createTaskClient({
        ledger: state.ledger,
        readModels: state.readModels,
        engine,
        planFor: async () => approval.plan,
      });
      const a = await engine.run(approval.plan, { amount: 5 });
      const b = await engine.run(approval.plan, { amount: 7 });
      expect((await tasks.listTasks({ status: 'paused' })).map((t) => t.runId)).toEqual([
        b.runId,
        a.runId,
      ]);
      expect(await tasks.listTasks({ status: 'paused', limit: 1, offset: 1 })).toHaveLength(1);
      const t = await tasks.getTask(a.runId);
      expect(t?.pending).toMatchObject({
        path: '1',
        step: 'approve',
        message: 'Approve the payment?',
        inputSchema: { required: ['ok'] },
      });

      const bad = await tasks.resumeTask(a.runId, { ok: 'yes' }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(EngineError);
      expect(bad).toMatchObject({
        code: 'HUMAN_INPUT_REJECTED',
        details: { reasons: [expect.stringContaining('/ok')] },
      });
      expect((await tasks.getTask(a.runId))?.status).toBe('paused');

      const done = await tasks.resumeTask(a.runId, { ok: true }, { answeredBy: 'ana' });
      expect(done).toMatchObject({ status: 'completed', output: 'booked' });
      expect(await tasks.getTask(a.runId)).toMatchObject({ status: 'completed', pending: null });
      expect(await state.readModels.hitl({ runId: a.runId })).toMatchObject([
        { status: 'answered', answer: { ok: true }, answeredBy: 'ana' },
      ]);
      await expect(tasks.resumeTask(a.runId, { ok: true })).rejects.toMatchObject({
        code: 'RUN_NOT_RESUMABLE',
      });

      expect(await tasks.cancelTask(b.runId, 'too late')).toMatchObject({ status: 'cancelled' });
      expect((await tasks.listTasks({ pipeline: 'approval' })).map((r) => r.status)).toEqual([
        'cancelled',
        'completed',
      ]);
      await expect(tasks.getTask('nope')).resolves.toBeNull();
      await expect(tasks.cancelTask('nope')).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });

      await tasks.setSystemState('watermark', { pos: 42, at: 'x' });
      expect(await tasks.getSystemState('watermark')).toEqual({ pos: 42, at: 'x' });
      expect(await tasks.getSystemState('missing')).toBeNull();
      await state.close();
      if (uri !== 'memory://') {
        const again = await openState(uri, { projectRoot: dir });
        expect(await again.readModels.getSystemState('watermark')).toEqual({ pos: 42, at: 'x' });
        await again.close();
      }
    },
  );
});

describe('TaskClient with several open questions', () => {
  it('lists them oldest first and answers the one named by its path', async () => {
    const state: State = await openState('memory://', { projectRoot: dir });
    const engine = createEngine({ ledger: state.ledger, worker: 'w' });
    const two = definePipeline(
      'two',
      parallel('both', {
        a: hitl('qa', { message: 'A?', schema: z.string() }),
        b: hitl('qb', { message: 'B?', schema: z.object({ n: z.number() }) }),
      }),
    );
    const tasks = createTaskClient({
      ledger: state.ledger,
      readModels: state.readModels,
      engine,
      planFor: async () => two.plan,
    });
    const run = await engine.run(two.plan, null);
    const task = await tasks.getTask(run.runId);
    expect(task?.questions.map((q) => q.step)).toEqual(['qa', 'qb']);
    expect(task?.pending?.step).toBe('qa');
    const after = await tasks.resumeTask(
      run.runId,
      { n: 1 },
      { question: task!.questions[1]!.path },
    );
    expect(after.pause?.step).toBe('qa');
    expect((await tasks.getTask(run.runId))?.questions.map((q) => q.step)).toEqual(['qa']);
    await state.close();
  });
});
