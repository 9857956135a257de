/** kind: cache: the wrapped step runs once per distinct input; hits are recorded branch choices. */
import { describe, expect, it } from 'vitest';

import { decodeRecord } from '../../src/events/envelope.js';
import { runFixture } from './support.js';

describe('kind: cache', () => {
  it('runs the wrapped step once per distinct input and serves repeats from the run cache', async () => {
    const { run, calls, ledger, engine, plan } = await runFixture(
      'fixtures/cache/map.yaml',
      null,
      { 'test:slow': (x) => `slow(${String(x)})` },
      { items: ['a', 'b', 'a', 'b', 'c'] },
    );
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(['slow(A)', 'slow(B)', 'slow(A)', 'slow(B)', 'slow(C)']);
    expect(calls.map((c) => c.input)).toEqual(['A', 'B', 'C']);
    const events = (await ledger.read(run.runId)).map((r) => decodeRecord(r.runId, r.seq, r.body));
    const choices = events
      .filter((e) => e.type === 'BranchSelected')
      .map((e) => (e.data as { branch: string }).branch);
    expect(choices).toEqual(['miss', 'miss', 'hit', 'hit', 'miss']);
    // The cache is part of the recorded context: replay reaches the same hits with no cache of its own.
    expect(await engine.replay(plan, run.runId)).toMatchObject({ identical: true });
  });
});
