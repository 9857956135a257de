/**
 * An answer refused on its last try because its run still had work out (ADR 133): if the run
 * has paused since that try, the worker takes the answer once more (a retry at once) instead of
 * keeping it as a dead letter; a run still running keeps it as a `RUN_NOT_RESUMABLE` dead letter
 * saying why. Decided by failureOutcome against a real engine over a ledger; the JetStream
 * message is reduced to the delivery count it reads.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import type { WorkMessage } from '../../../src/adapters/nats/work.js';
import { definePipeline, hitl, sequence, step } from '../../../src/dsl/builder.js';
import { EngineError, ErrorCode } from '../../../src/errors.js';
import { failureOutcome, type FailureDeps } from '../../../src/fleet/failure.js';
import type { Held } from '../../../src/fleet/spent.js';
import { createEngine } from '../../../src/runtime/engine.js';

const MAX_DELIVER = 3;
const logged: { level: string; msg: string }[] = [];
const log = {
  info: (_: object, msg: string) => logged.push({ level: 'info', msg }),
  warn: (_: object, msg: string) => logged.push({ level: 'warn', msg }),
  error: (_: object, msg: string) => logged.push({ level: 'error', msg }),
};

/** The try that was refused: the engine's words when the run had `0/a` out. */
const refusal = new EngineError(ErrorCode.RUN_NOT_RESUMABLE, 'run r is running: 0/a is out', {
  details: { status: 'running', outstanding: ['0/a'] },
});

/** The message on its last delivery (no earlier copies, no absorbed redelivery). */
const lastTry = (): Held => ({
  msg: { info: { deliveryCount: MAX_DELIVER }, headers: undefined, seq: 7 } as unknown as JsMsg,
  absorbed: 0,
  spent: false,
});

const answer = (runId: string): WorkMessage => ({
  kind: 'resume',
  runId,
  body: { input: { ok: true } },
});

describe('failureOutcome: an answer refused on its last try while its run had work out', () => {
  it('takes the answer once more when the run has paused since that try', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    const plan = definePipeline(
      'ask',
      hitl('q', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    ).plan;
    const { runId, status } = await engine.run(plan, null);
    expect(status).toBe('paused');
    const deps: FailureDeps = { engine, log, maxDeliver: MAX_DELIVER };
    const settled = await failureOutcome(deps, answer(runId), refusal, lastTry(), MAX_DELIVER);
    expect(settled.outcome).toEqual({ kind: 'retry', delayMs: 0 });
    expect(settled.outcome).not.toHaveProperty('dead');
  });

  it('keeps it as a RUN_NOT_RESUMABLE dead letter while the run still runs', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const plan = definePipeline(
      'busy',
      sequence(
        step('wait', async (x: unknown) => {
          await gate;
          return x;
        }),
        hitl('q', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
      ),
    ).plan;
    const running = engine.run(plan, null, { runId: 'busy-1' });
    await expect
      .poll(async () => (await engine.result('busy-1').catch(() => null))?.status)
      .toBe('running');
    const deps: FailureDeps = { engine, log, maxDeliver: MAX_DELIVER };
    const settled = await failureOutcome(deps, answer('busy-1'), refusal, lastTry(), MAX_DELIVER);
    expect(settled.outcome).toMatchObject({
      kind: 'term',
      dead: { kind: 'resume', runId: 'busy-1', code: 'RUN_NOT_RESUMABLE' },
    });
    const reason = settled.outcome.kind === 'term' ? settled.outcome.reason : '';
    expect(reason).toMatch(
      /^gave up after the last delivery \(3\): RUN_NOT_RESUMABLE: run busy-1 was still running on a worker at each of 3 tries/,
    );
    expect(reason).toContain('its work at 0/a was out at the last');
    release();
    await expect(running).resolves.toMatchObject({ status: 'paused' });
  });
});
