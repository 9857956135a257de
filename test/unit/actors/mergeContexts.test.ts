/** A parallel's join over the context keys the engine keeps (ADR 58), at the level of mergeContexts. */
import { describe, expect, it } from 'vitest';

import { mergeContexts } from '../../../src/actors/data.js';

describe('mergeContexts and engine-kept keys', () => {
  it('takes each changed step output whole: an entry of an earlier round does not linger', () => {
    const base = { step_outputs: { o: { n: 0, extra: 'only in round 0' }, b1: 'B0' } };
    const a = { step_outputs: { o: { n: 1 }, b1: 'B0' } };
    const b = { step_outputs: { o: { n: 0, extra: 'only in round 0' }, b1: 'B1' } };
    for (const strategy of [
      'context_update',
      'overwrite',
      'keep_first',
      'error_on_conflict',
    ] as const)
      expect(mergeContexts(base, [a, b], strategy)).toEqual({
        ok: true,
        ctx: { step_outputs: { o: { n: 1 }, b1: 'B1' } },
      });
  });

  it('takes a new answer whole, never merged into the one before it', () => {
    const base = { resume_input: { approved: false, reason: 'too long' } };
    const a = { resume_input: { approved: true } };
    expect(mergeContexts(base, [a, base], 'context_update')).toEqual({
      ok: true,
      ctx: { resume_input: { approved: true } },
    });
  });

  it('no_merge keeps the base, engine keys included', () => {
    const base = { step_outputs: { x: 1 }, resume_input: 'a' };
    const a = { step_outputs: { x: 1, y: 2 }, resume_input: 'b' };
    expect(mergeContexts(base, [a], 'no_merge')).toEqual({ ok: true, ctx: base });
  });

  it('user keys still conflict as before', () => {
    const base = { step_outputs: {}, total: 0 };
    expect(
      mergeContexts(
        base,
        [
          { step_outputs: { a: 1 }, total: 1 },
          { step_outputs: { b: 2 }, total: 2 },
        ],
        'context_update',
      ),
    ).toEqual({ ok: false, key: 'total' });
  });
});
