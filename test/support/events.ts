import type { NewEvent } from '../../src/events/catalogue.js';
import type { LedgerEvent } from '../../src/events/envelope.js';

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

/** The events with `flag` left out of RunStarted, as an engine before that flag recorded them. */
export const withoutFlag = (events: LedgerEvent[], flag: string): LedgerEvent[] =>
  events.map((e) =>
    e.type === 'RunStarted'
      ? ({
          ...e,
          data: {
            ...e.data,
            engine: { ...e.data.engine, flags: e.data.engine.flags.filter((f) => f !== flag) },
          },
        } as LedgerEvent)
      : e,
  );
