import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { compiledSchema, schemaProblem } from '../../../src/dsl/jsonSchema.js';
import { createEngine } from '../../../src/runtime/engine.js';

const plan = definePipeline(
  'approve',
  sequence(
    step('draft', (x: string) => `draft of ${x}`),
    hitl('approve', {
      message: 'approve?',
      schema: z.object({ approved: z.boolean(), note: z.unknown().optional() }),
    }),
  ),
).plan;

async function paused() {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger });
  const r = await engine.run(plan, 'memo');
  expect(r.status).toBe('paused');
  return { ledger, engine, runId: r.runId, head: (await ledger.head(r.runId))?.seq };
}

const nested = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('answers a paused run cannot take', () => {
  it('an answer nested past what the ledger records breaks the schema: rejected with its reasons, nothing recorded', async () => {
    const { ledger, engine, runId, head } = await paused();
    await expect(engine.resume(plan, runId, { humanInput: nested(100_000) })).rejects.toMatchObject(
      {
        code: 'HUMAN_INPUT_REJECTED',
        details: { reasons: ['(input) must be object'] },
      },
    );
    expect((await ledger.head(runId))?.seq).toBe(head);
  });

  it('an answer the schema allows but the ledger cannot record: rejected naming where, nothing recorded', async () => {
    const { ledger, engine, runId, head } = await paused();
    const answer = { approved: true, note: nested(300) };
    await expect(engine.resume(plan, runId, { humanInput: answer })).rejects.toMatchObject({
      code: 'HUMAN_INPUT_REJECTED',
      message: expect.stringMatching(/cannot be recorded: .*humanInput\.note/),
    });
    expect((await ledger.head(runId))?.seq).toBe(head);
    const done = await engine.resume(plan, runId, { humanInput: { approved: true } });
    expect(done).toMatchObject({ status: 'completed', output: { approved: true } });
  });

  it('an answer for a run that has ended is refused, not silently dropped', async () => {
    const { ledger, engine, runId } = await paused();
    await engine.resume(plan, runId, { humanInput: { approved: true } });
    const head = (await ledger.head(runId))?.seq;
    await expect(
      engine.resume(plan, runId, { humanInput: { approved: false } }),
    ).rejects.toMatchObject({
      code: 'RUN_NOT_RESUMABLE',
      message: expect.stringContaining('is completed'),
    });
    expect((await ledger.head(runId))?.seq).toBe(head);
    // Without an answer, resuming an ended run still just reports it.
    expect(await engine.resume(plan, runId)).toMatchObject({ status: 'completed' });
  });
});

describe('an answer schema with a format', () => {
  it("is checked without Ajv's console warning (zod's .email(): its pattern checks it)", async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const asks = definePipeline(
        'email',
        hitl('ask', { message: 'Your email?', schema: z.string().email() }),
      );
      const engine = createEngine({ ledger: createMemoryLedger(), newRunId: () => 'email-1' });
      expect(await engine.run(asks.plan, null)).toMatchObject({ status: 'paused' });
      await expect(
        engine.resume(asks.plan, 'email-1', { humanInput: 'not an email' }),
      ).rejects.toMatchObject({ code: 'HUMAN_INPUT_REJECTED' });
      expect(
        await engine.resume(asks.plan, 'email-1', { humanInput: 'ada@example.com' }),
      ).toMatchObject({ status: 'completed', output: 'ada@example.com' });
      // Before: 'unknown format "email" ignored in schema at path "#"' on each compile.
      expect([...warn.mock.calls, ...log.mock.calls]).toEqual([]);
    } finally {
      warn.mockRestore();
      log.mockRestore();
    }
  });
});

describe('compiled answer schemas are kept for the process (ADR 53)', () => {
  it('an engine created for one resume checks the answer with the schema another engine compiled', async () => {
    const first = await paused();
    await first.engine.resume(plan, first.runId, { humanInput: { approved: true } });
    const { ledger, runId, head } = await paused();
    const compile = vi.spyOn(Ajv2020.prototype, 'compile');
    try {
      const fresh = createEngine({ ledger });
      // Still checked: a wrong answer is refused and records nothing.
      await expect(
        fresh.resume(plan, runId, { humanInput: { approved: 'yes' } }),
      ).rejects.toMatchObject({ code: 'HUMAN_INPUT_REJECTED' });
      expect((await ledger.head(runId))?.seq).toBe(head);
      const done = await createEngine({ ledger }).resume(plan, runId, {
        humanInput: { approved: false },
      });
      expect(done).toMatchObject({ status: 'completed', output: { approved: false } });
      expect(compile).not.toHaveBeenCalled();
    } finally {
      compile.mockRestore();
    }
  });

  it('two schemas with the same $id are each compiled and checked as they are', () => {
    const a = { $id: 'urn:flujo:test:answer', type: 'object', required: ['a'] };
    const b = { $id: 'urn:flujo:test:answer', type: 'object', required: ['b'] };
    expect(schemaProblem(a)).toBeNull();
    expect(schemaProblem(b)).toBeNull();
    expect(compiledSchema(a)({ a: 1 })).toBe(true);
    expect(compiledSchema(b)({ a: 1 })).toBe(false);
    expect(compiledSchema(b)({ b: 1 })).toBe(true);
  });
});
