/**
 * ADR 148's rule, on recorded steps and on lines as they come: a step recorded as a sequence that
 * ended with no step under its path is presented as a passthrough.
 */
import { describe, expect, it } from 'vitest';

import { passthroughPaths } from '../../src/dsl/passthrough.js';
import { liveKinds, type KindOf } from '../../src/lens/liveKinds.js';

const s = (path: string, kind = 'sequence', status = 'completed') => ({ path, kind, status });

describe('passthroughPaths', () => {
  it('takes ended sequences with no step under them, the root only when it is the only step', () => {
    const steps = [
      s('.'),
      s('0', 'step'),
      s('1'),
      s('2'),
      s('2/0', 'step'),
      s('3', 'conditional'),
      s('3/true'),
      s('4/body@1'),
      s('4/body@2'),
      s('4/body@2/0', 'step'),
      s('5', 'sequence', 'failed'),
      s('6', 'sequence', 'running'),
    ];
    expect([...passthroughPaths(steps)]).toEqual(['1', '3/true', '4/body@1', '5']);
    expect([...passthroughPaths([s('.')])]).toEqual(['.']);
    expect([...passthroughPaths([s('.', 'step')])]).toEqual([]);
  });

  it('a sequence whose only steps are the engine helpers still has steps', () => {
    expect([...passthroughPaths([s('0'), s('0/0'), s('0/1', 'step')])]).toEqual(['0/0']);
  });
});

describe('liveKinds', () => {
  const make = () =>
    liveKinds<KindOf>(
      (l) => l,
      (l, kind) => ({ ...l, kind }),
    );
  const sched = (path: string, kind = 'sequence'): KindOf => ({
    event: 'StepScheduled',
    path,
    kind,
  });
  const done = (path: string): KindOf => ({ event: 'StepCompleted', path });

  it('holds a sequence and what follows until its end (a passthrough) or a step under it', () => {
    const k = make();
    expect(k.push(sched('0', 'step'))).toEqual([sched('0', 'step')]);
    expect(k.push(sched('1'))).toEqual([]);
    expect(k.push({ event: 'BranchSelected', path: '9' })).toEqual([]);
    expect(k.push(done('1'))).toEqual([
      sched('1', 'passthrough'),
      { event: 'BranchSelected', path: '9' },
      done('1'),
    ]);
    expect(k.push(sched('2'))).toEqual([]);
    expect(k.push(sched('2/0', 'step'))).toEqual([sched('2'), sched('2/0', 'step')]);
  });

  it('lets a held sequence go as recorded when the run rests, or on flush', () => {
    const k = make();
    k.push(sched('1'));
    expect(k.push({ event: 'RunPaused', path: '1' })).toEqual([
      sched('1'),
      { event: 'RunPaused', path: '1' },
    ]);
    k.push(sched('2'));
    expect(k.flush()).toEqual([sched('2')]);
    expect(k.flush()).toEqual([]);
  });

  it('a nested empty sequence decides its parent, then itself', () => {
    const k = make();
    k.push(sched('1'));
    expect(k.push(sched('1/0'))).toEqual([sched('1')]);
    expect(k.push(done('1/0'))).toEqual([sched('1/0', 'passthrough'), done('1/0')]);
  });
});
