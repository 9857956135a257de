import { describe, expect, it } from 'vitest';

import { definePipeline, sequence, stateMachine, step } from '../../../src/dsl/builder.js';
import { harness, trace } from '../../support/given.js';

describe('state machine', () => {
  it('follows the first matching transition, checking `when`, until an end state', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'sm',
      stateMachine(
        'review',
        {
          draft: step('write', (n: number) => n + 1),
          check: step('check', (n: number) => n),
          done: step('publish', (n: number) => `published v${n}`),
        },
        {
          start: 'draft',
          end: ['done'],
          transitions: [
            { from: 'draft', on: 'success', to: 'check' },
            {
              from: 'check',
              on: 'success',
              to: 'draft',
              when: (_ctx, o) => (o.last_output as number) < 3,
            },
            { from: 'check', on: 'success', to: 'done' },
          ],
        },
      ),
    );
    const r = await engine.run(p.plan, 0);
    expect(r.output).toBe('published v3');
    const visited = trace(await engine.events(r.runId))
      .filter((t) => t.startsWith('BranchSelected'))
      .map((t) => t.split(' ')[2]);
    expect(visited).toEqual(['draft', 'check', 'draft', 'check', 'draft', 'check', 'done']);
  });

  it('recovers from a failed state with an on-failure transition from any state', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'sm',
      stateMachine(
        'guarded',
        {
          risky: step('risky', () => {
            throw Object.assign(new Error('boom'), { retryable: false });
          }),
          recover: step('recover', () => 'recovered'),
        },
        {
          start: 'risky',
          end: ['recover'],
          transitions: [{ from: '*', on: 'failure', to: 'recover' }],
        },
      ),
    );
    expect(await engine.run(p.plan, null)).toMatchObject({
      status: 'completed',
      output: 'recovered',
    });
  });

  it('falls back to context.next_state, and ends in an end state that has no steps', async () => {
    const { engine } = harness();
    const p = definePipeline(
      'sm',
      stateMachine(
        'router',
        {
          a: step('a', () => ({ next_state: 'b' }), { updatesContext: true }),
          b: step('b', () => ({ next_state: 'finished' }), { updatesContext: true }),
        },
        { start: 'a', end: ['finished'], transitions: [] },
      ),
    );
    expect(await engine.run(p.plan, null)).toMatchObject({
      status: 'completed',
      output: { next_state: 'finished' },
    });
  });

  it('fails with NO_TRANSITION or MAX_TRANSITIONS instead of hanging', async () => {
    const { engine } = harness();
    const stuck = definePipeline(
      'sm',
      stateMachine('stuck', { a: step('a', () => 1) }, { start: 'a', end: ['z'], transitions: [] }),
    );
    expect(await engine.run(stuck.plan, null)).toMatchObject({
      status: 'failed',
      error: { code: 'NO_TRANSITION' },
    });
    const spin = definePipeline(
      'sm',
      stateMachine(
        'spin',
        { a: step('a', () => 1) },
        {
          start: 'a',
          end: ['z'],
          transitions: [{ from: 'a', on: 'success', to: 'a' }],
          maxVisits: 5,
        },
      ),
    );
    expect(await engine.run(spin.plan, null)).toMatchObject({
      status: 'failed',
      error: { code: 'MAX_TRANSITIONS' },
    });
  });

  it('refuses a transition to an undefined state when the plan compiles', async () => {
    const { engine } = harness();
    const bad = definePipeline(
      'sm',
      sequence(
        stateMachine(
          'bad',
          { a: step('a', () => 1) },
          { start: 'a', end: [], transitions: [{ from: 'a', on: 'success', to: 'nowhere' }] },
        ),
      ),
    );
    await expect(engine.run(bad.plan, null)).rejects.toThrow(/state "nowhere" is not defined/);
  });
});
