/**
 * Waits longer than one setTimeout keeps (ADR 116). Node fires a setTimeout of more than
 * 2^31 - 1 ms (24.8 days) after 1 ms. A step's timeout, a retry's backoff (doubled per attempt),
 * an agent's deadline (`agent_timeout`) and `--fleet --wait` can be longer: each now waits in
 * timers of at most that much, one after the other.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { definePipeline, step } from '../../../src/dsl/builder.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { MAX_TIMEOUT_MS, longTimer, oneTimerMs } from '../../../src/runtime/longTimer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('longTimer', () => {
  // Fake timers and a fake monotonic clock: a stalled event loop on a loaded machine cannot make
  // a chunk fire late and look early (review).
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once, after the whole delay, through timers no longer than the chunk', () => {
    const fired: number[] = [];
    const started = performance.now();
    longTimer(() => fired.push(performance.now() - started), 90, 20);
    vi.advanceTimersByTime(89);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([90]);
    vi.advanceTimersByTime(500);
    expect(fired).toHaveLength(1);
    // Within one chunk: one timer.
    const once: number[] = [];
    longTimer(() => once.push(1), 5, 20);
    vi.advanceTimersByTime(5);
    expect(once).toEqual([1]);
  });

  it('a cancel in a later chunk stops it', () => {
    let fired = 0;
    const t = longTimer(() => fired++, 60, 15);
    vi.advanceTimersByTime(40);
    t.cancel();
    vi.advanceTimersByTime(100);
    expect(fired).toBe(0);
  });

  it('a wall-clock step does not end it early', () => {
    let fired = 0;
    longTimer(() => fired++, 100, 20);
    vi.setSystemTime(Date.now() + 1_000_000);
    vi.advanceTimersByTime(60);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(40);
    expect(fired).toBe(1);
  });

  it('hands a library one timer of at most 2^31 - 1 ms', () => {
    expect(oneTimerMs(1000)).toBe(1000);
    expect(oneTimerMs(2 ** 31)).toBe(MAX_TIMEOUT_MS);
  });
});

describe('an engine wait longer than 24.8 days', () => {
  it('a step timeout of 2^31 ms does not time the attempt out at once', async () => {
    const plan = definePipeline(
      'long-timeout',
      step('slow', async () => (await sleep(30), 'done'), { timeoutMs: 2 ** 31 }),
    ).plan;
    const r = await createEngine({ ledger: createMemoryLedger() }).run(plan, null);
    // Before: failed with TIMEOUT after 1 ms.
    expect(r).toMatchObject({ status: 'completed', output: 'done' });
  });

  it('a backoff of 2^32 ms waits (the retry is not made at once) and a cancel ends the wait', async () => {
    let calls = 0;
    const plan = definePipeline(
      'long-backoff',
      step(
        'flaky',
        () => {
          calls++;
          if (calls === 1) throw Object.assign(new Error('try again'), { retryable: true });
          return 'ok';
        },
        { retries: 1, backoffMs: 2 ** 32 },
      ),
    ).plan;
    const engine = createEngine({ ledger: createMemoryLedger(), newRunId: () => 'long-1' });
    const run = engine.run(plan, null);
    // Waited for, not assumed after a fixed time: the backoff is recorded...
    await vi.waitFor(
      async () =>
        expect((await engine.events('long-1')).at(-1)).toMatchObject({
          type: 'TimerScheduled',
          data: { delayMs: 2 ** 32 },
        }),
      { timeout: 10_000, interval: 10 },
    );
    // ...and stays the last event. Before: the timer fired after 1 ms, the retry was made and the
    // run completed.
    await sleep(200);
    expect(calls).toBe(1);
    expect((await engine.events('long-1')).at(-1)).toMatchObject({ type: 'TimerScheduled' });
    await engine.cancel('long-1', 'test over');
    expect(await run).toMatchObject({ status: 'cancelled' });
    expect(calls).toBe(1);
  });
});
