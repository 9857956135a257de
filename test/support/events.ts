import type { NewEvent } from '../../src/events/catalogue.js';

export const started = (name = 'demo'): NewEvent => ({
  type: 'RunStarted',
  data: {
    pipeline: { name, fingerprint: 'f'.repeat(64) },
    input: 'hello',
    engine: { version: '0.1.0', flags: [] },
  },
});

export const stepDone = (path: string, output: unknown = { ok: true }): NewEvent => ({
  type: 'StepCompleted',
  data: { path, output },
});

export const completed = (output: unknown = 'done'): NewEvent => ({
  type: 'RunCompleted',
  data: { output },
});

export const claimed = (epoch: number, worker = 'w1'): NewEvent => ({
  type: 'RunClaimed',
  data: { worker, epoch },
});

/** A deterministic clock for tests: starts at a fixed instant and ticks 1 ms per call. */
export function fakeClock(start = 1_764_000_000_000) {
  let t = start;
  return { now: () => t++ };
}
