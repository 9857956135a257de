/**
 * `maxCallsInFlight` (ADR 41): at most that many calls of a run whose outcome is not yet
 * recorded. A call past the cap starts only once an earlier call's reply is committed, in the
 * order the calls were decided, with its timeout counted from its own start; calls the machine
 * leaves while they wait never start and are recorded as aborted; the run decides exactly what
 * an uncapped run decides.
 */
import { describe, expect, it, vi } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import {
  agentStep,
  definePipeline,
  map,
  parallel,
  sequence,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import type { AgentPort } from '../../../src/ports.js';
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
        // quick waits 400 ms behind slow; its 200 ms timeout must not count that wait.
        slow: step('slow', async () => {
          await sleep(400);
          return 'slow';
        }),
        quick: step(
          'quick',
          async () => {
            await sleep(1);
            return 'quick';
          },
          { timeoutMs: 200 },
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

  it('re-issues the calls a crash left in flight one at a time when resumed with a cap of 1', async () => {
    const ledger = createMemoryLedger();
    const plan = definePipeline(
      'crash',
      parallel('fan', {
        a: agentStep<string>('a', 'm:a'),
        b: agentStep<string>('b', 'm:b'),
        c: agentStep<string>('c', 'm:c'),
      }),
    ).plan;
    // The first process starts all three calls and "dies" with none of them answered.
    const started: string[] = [];
    const hanging: AgentPort = {
      call: (req) => (started.push(req.key), new Promise<never>(() => {})),
    };
    void createEngine({ ledger, agents: hanging }).run(plan, 'in', { runId: 'c1' });
    await vi.waitFor(() => expect(started).toHaveLength(3));
    // The second resumes from the ledger with a cap of 1.
    let running = 0;
    let most = 0;
    const order: string[] = [];
    const answering: AgentPort = {
      async call(req) {
        running += 1;
        most = Math.max(most, running);
        order.push(req.key);
        await sleep(5);
        running -= 1;
        return { output: req.agent, usage: { input: 1, output: 1 }, costMicros: 0, model: 'm' };
      },
    };
    const engine = createEngine({ ledger, agents: answering, maxCallsInFlight: 1 });
    const r = await engine.resume(plan, 'c1');
    expect(r).toMatchObject({
      status: 'completed',
      output: { a: 'm:a', b: 'm:b', c: 'm:c' },
    });
    expect(most).toBe(1);
    expect(order.sort()).toEqual([...started].sort()); // the same keys, each once
  });

  it('refuses a cap that is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => createEngine({ ledger: createMemoryLedger(), maxCallsInFlight: bad })).toThrow(
        /maxCallsInFlight must be a whole number from 1 to 2\^53 - 1/,
      );
  });
});
