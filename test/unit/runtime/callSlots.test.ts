/**
 * `maxCallsInFlight` (ADR 41): at most that many calls of a run whose outcome is not yet
 * recorded. A call past the cap starts only once an earlier call's reply is committed, in the
 * order the calls were decided, with its timeout counted from its own start; calls the machine
 * leaves while they wait never start and are recorded as aborted; the run decides exactly what
 * an uncapped run decides.
 */
import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  definePipeline,
  map,
  parallel,
  sequence,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Function steps that note when they run and what the ledger held when they started. */
function observed(ledger: ReturnType<typeof createMemoryLedger>, runId: () => string) {
  let running = 0;
  const log = { most: 0, order: [] as string[], repliedBefore: [] as number[] };
  const replies = async () =>
    (await ledger.read(runId())).filter((r) => r.type === 'AgentResponded').length;
  const body = (name: string, ms: number) =>
    step(name, async (x: number) => {
      log.repliedBefore.push(await replies());
      running += 1;
      log.most = Math.max(log.most, running);
      log.order.push(name);
      await sleep(ms);
      running -= 1;
      return x + name.length;
    });
  return { log, body };
}

describe('maxCallsInFlight', () => {
  it("starts a parallel's calls one at a time, each after the reply before it is recorded", async () => {
    const ledger = createMemoryLedger();
    const { log, body } = observed(ledger, () => 'p1');
    const plan = definePipeline(
      'par',
      parallel('fan', { a: body('aa', 15), b: body('bbb', 5), c: body('c', 10) }),
    ).plan;
    const capped = createEngine({ ledger, maxCallsInFlight: 1 });
    const r = await capped.run(plan, 1, { runId: 'p1' });
    expect(r).toMatchObject({ status: 'completed', output: { a: 3, b: 4, c: 2 } });
    expect(log.most).toBe(1);
    expect(log.order).toEqual(['aa', 'bbb', 'c']); // the order they were decided in
    expect(log.repliedBefore).toEqual([0, 1, 2]);
    expect((await capped.replay(plan, 'p1')).identical).toBe(true);

    // Uncapped, the same plan runs its branches at once and records the same decisions.
    const free = observed(createMemoryLedger(), () => 'p2');
    const freePlan = definePipeline(
      'par',
      parallel('fan', { a: free.body('aa', 15), b: free.body('bbb', 5), c: free.body('c', 10) }),
    ).plan;
    const r2 = await createEngine({ ledger: createMemoryLedger() }).run(freePlan, 1, {
      runId: 'p2',
    });
    expect(r2.output).toEqual(r.output);
    expect(free.log.most).toBe(3);
  });

  it('keeps a map with concurrency 5 to two calls at once', async () => {
    const ledger = createMemoryLedger();
    const { log, body } = observed(ledger, () => 'm1');
    const plan = definePipeline('map', map('each', body('item', 5), { concurrency: 5 })).plan;
    const r = await createEngine({ ledger, maxCallsInFlight: 2 }).run(plan, [1, 2, 3, 4, 5, 6], {
      runId: 'm1',
    });
    expect(r).toMatchObject({ status: 'completed', output: [5, 6, 7, 8, 9, 10] });
    expect(log.most).toBe(2);
  });

  it("counts a waiting call's timeout from its own start", async () => {
    const plan = definePipeline(
      'timeouts',
      parallel('fan', {
        slow: step('slow', async () => {
          await sleep(120);
          return 'slow';
        }),
        quick: step(
          'quick',
          async () => {
            await sleep(5);
            return 'quick';
          },
          { timeoutMs: 60 },
        ),
      }),
    ).plan;
    const r = await createEngine({ ledger: createMemoryLedger(), maxCallsInFlight: 1 }).run(
      plan,
      null,
    );
    expect(r).toMatchObject({ status: 'completed', output: { slow: 'slow', quick: 'quick' } });
  });

  it('never starts the calls a failed branch left waiting, and records them as aborted', async () => {
    const started: string[] = [];
    const fan = parallel('fan', {
      bad: step('bad', () => {
        started.push('bad');
        throw Object.assign(new Error('no'), { retryable: false });
      }),
      b: sequence(
        step('b1', (x: number) => (started.push('b1'), x)),
        step('b2', (x: number) => x),
      ),
      c: step('c', (x: number) => (started.push('c'), x)),
    });
    // A state machine that goes on after the parallel failed: the run outlives the release.
    const plan = definePipeline(
      'fails',
      stateMachine(
        'guard',
        { work: fan, recover: step('recover', () => 'recovered') },
        {
          start: 'work',
          end: ['recover'],
          transitions: [{ from: '*', on: 'failure', to: 'recover' }],
        },
      ),
    ).plan;
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, maxCallsInFlight: 1 });
    const r = await engine.run(plan, 1, { runId: 'f1' });
    expect(r).toMatchObject({ status: 'completed', output: 'recovered' });
    expect(started).toEqual(['bad']);
    const events = await engine.events('f1');
    const aborted = events
      .filter((e) => e.type === 'AgentFailed' && e.data.error.code === 'ABORTED')
      .map((e) => (e.data as { path: string }).path);
    expect(aborted).toHaveLength(2);
    expect(events.filter((e) => e.type === 'AgentResponded')).toHaveLength(1); // recover's
    expect((await engine.replay(plan, 'f1')).identical).toBe(true);
  });

  it('refuses a cap that is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => createEngine({ ledger: createMemoryLedger(), maxCallsInFlight: bad })).toThrow(
        /maxCallsInFlight must be a whole number of at least 1/,
      );
  });
});
