/**
 * A request whose input the ledger cannot record ends the run recorded (ADR 115), like any
 * decision it cannot record. Plan code's returned strings are not checked where they are returned
 * (only objects are, ADR 40), so a string with a lone surrogate reached the request's hash, which
 * threw LEDGER_ENCODE out of engine.run and left the run running: every resume decided the same
 * request and threw again.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { refold } from '../../../src/actors/fold.js';
import { compilePlan } from '../../../src/actors/compile.js';
import { definePipeline, sequence, step } from '../../../src/dsl/builder.js';
import { initFastHash } from '../../../src/events/chain.js';
import { decodeRecord } from '../../../src/events/envelope.js';
import { memoryLedgerOf } from '../../support/appendAsRecorded.js';
import { harness, trace } from '../../support/given.js';

const LONE = 'a\uD800b';

/** A code step, then one whose input code returns a string with a lone surrogate. */
const plan = definePipeline(
  'lone-input',
  sequence(
    step('a', (x: unknown) => x),
    step('b', (x: unknown) => x, { input: () => LONE }),
  ),
).plan;

describe('a request whose input the ledger cannot record', () => {
  beforeAll(initFastHash);

  it('ends the run failed, recorded after the fact that led to it, and replays identically', async () => {
    // Given a run whose second step's input code returns a lone surrogate
    const { engine, ledger } = harness();
    // When it runs
    const r = await engine.run(plan, 'x');
    // Then it ends failed (it threw LEDGER_ENCODE and stayed running), naming the step and why
    expect(r).toMatchObject({
      status: 'failed',
      error: {
        code: 'DECISION_NOT_RECORDABLE',
        retryable: false,
      },
    });
    expect(r.error?.message).toMatch(
      /^the run's next AgentCallRequested \(step "b" at 1\) cannot be recorded: data\.input: string has a lone surrogate\./,
    );
    const events = (await ledger.read(r.runId)).map((e) => decodeRecord(r.runId, e.seq, e.body));
    // The reply of `a` is recorded, then the RunFailed in place of b's request.
    expect(trace(events).slice(-2)).toEqual(['AgentResponded 0', 'RunFailed']);
    expect((await ledger.head(r.runId))?.terminal).toBe(true);
    expect(await engine.replay(plan, r.runId)).toMatchObject({ identical: true });
    expect(refold(compilePlan(plan), events).status).toBe('failed');
  });

  it('a run an earlier engine left running there ends the same way when resumed', async () => {
    const { engine, ledger } = harness();
    const r = await engine.run(plan, 'x');
    const events = (await ledger.read(r.runId)).map((e) => decodeRecord(r.runId, e.seq, e.body));
    // Given what the earlier engine recorded: all but the batch whose request hash threw
    const left = events.slice(0, -2);
    expect(trace(left).at(-1)).toBe('AgentCallRequested 0');
    const stuck = await memoryLedgerOf(r.runId, left);
    const again = harness({ ledger: stuck }).engine;
    // When it is resumed, then it ends with the RunFailed a fresh run records
    const resumed = await again.resume(plan, r.runId);
    expect(resumed).toMatchObject({ status: 'failed', error: r.error });
    const after = (await stuck.read(r.runId)).map((e) => decodeRecord(r.runId, e.seq, e.body));
    expect(after.at(-1)?.data).toEqual(events.at(-1)?.data);
  });

  it('a well-formed string still makes the request', async () => {
    const fine = definePipeline(
      'fine-input',
      sequence(
        step('a', (x: unknown) => x),
        step('b', (x: unknown) => x, { input: () => 'a\uD83D\uDE00b' }),
      ),
    ).plan;
    const { engine } = harness();
    expect(await engine.run(fine, 'x')).toMatchObject({
      status: 'completed',
      output: 'a\uD83D\uDE00b',
    });
  });
});
