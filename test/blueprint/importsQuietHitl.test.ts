/**
 * `propagate_hitl: false` on an import: wherever the child's hitl step sits (a parallel branch,
 * a map item, a conditional branch, a state machine, a router branch, a loop, a nested import),
 * the child stops there without asking and the import step's output is `{}` (Flujo's
 * ImportStep answers a suppressed pause with an empty success). The same children under the
 * default `propagate_hitl: true` pause and resume as before. Each quiet run refolds identically.
 */
import { describe, expect, it } from 'vitest';

import { explainPlan } from '../../src/blueprint/describe.js';
import type { Plan, PlanNode } from '../../src/dsl/ir.js';
import type { AgentPort } from '../../src/ports.js';
import { runJson } from '../../src/runtime/resultJson.js';
import { harness, scriptedAgents } from '../support/given.js';
import { load, runFixture } from './support.js';

const QUIET = 'fixtures/imports/quiet/quiet.yaml';
const LOUD = 'fixtures/imports/quiet/loud.yaml';
const script = {
  'test:chooser': () => 'asks',
  'test:forger': () => {
    throw Object.assign(new Error('not a question'), {
      code: 'HITL_NOT_PROPAGATED',
      retryable: false,
    });
  },
  'test:boom': () => {
    throw Object.assign(new Error('boom'), { code: 'BOOM', retryable: false });
  },
};

async function quiet(which: string) {
  const { run, engine, plan } = await runFixture(QUIET, which, script);
  const events = await engine.events(run.runId);
  const replay = await engine.replay(plan, run.runId);
  return { run, events, replay };
}

describe('imports with propagate_hitl: false stop the child at its hitl step, wherever it is', () => {
  it.each([
    ['parallel'], // a branch of a parallel (on_branch_failure: propagate)
    ['parallel_ignore'], // a branch of a parallel with on_branch_failure: ignore
    ['map'], // a map item
    ['conditional'], // a conditional branch
    ['state_machine'], // a state, with a `from: '*', on: failure` rule in the machine
    ['router'], // a branch the dynamic router chose
    ['loop'], // a loop body (worked before)
    ['nested'], // a nested import (propagate_hitl: true, on_failure: skip) asking in a parallel
  ])('in a %s: the import gives {} and the run never pauses', async (which) => {
    const { run, events, replay } = await quiet(which);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('completed');
    expect(run.output).toBe('quiet gave {}');
    expect(events.filter((e) => e.type === 'HumanInputRequested')).toHaveLength(0);
    expect(replay.identical).toBe(true);
  });

  it('a nested import with propagate_hitl: false answers {} itself and its parent goes on', async () => {
    const { run, replay } = await quiet('nested_quiet');
    expect(run.error).toBeUndefined();
    expect(run.output).toBe('quiet gave "inner gave {}"');
    expect(replay.identical).toBe(true);
  });

  it('the step that was not asked is recorded as stopped there, with a code of its own', async () => {
    const { events } = await quiet('parallel');
    const failed = events.filter((e) => e.type === 'StepFailed');
    const codes = failed.map((e) => (e.data as { error: { code: string } }).error.code);
    // The hitl step, its branch and the child up to the import's catch: none is NO_BRANCH.
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(['HITL_NOT_PROPAGATED']));
  });

  it('a completed quiet run: the unasked step says why, its sibling is abandoned, nothing runs', async () => {
    // ADR 78: before, the parallel's other branch stayed `running` in the completed run, and
    // run --json listed the unasked hitl step as `failed` with no reason.
    for (const which of ['parallel', 'parallel_ignore', 'nested']) {
      const { run, events } = await quiet(which);
      expect(run.status).toBe('completed');
      expect(run.steps.filter((s) => s.status === 'running')).toEqual([]);
      const question = run.steps.find((s) => s.name === 'question');
      expect(question?.status).toBe('failed');
      expect(question?.error?.code).toBe('HITL_NOT_PROPAGATED');
      const plain = run.steps.find((s) => s.name === 'plain_step');
      expect(plain).toMatchObject({ status: 'cancelled', error: { code: 'STEP_ABANDONED' } });
      const abandoned = events.filter((e) => e.type === 'StepAbandoned');
      expect(abandoned.map((e) => (e.data as { path: string }).path)).toEqual([
        expect.stringMatching(/\/plain$/),
      ]);
      const json = runJson(run) as { steps: { name: string; status: string; error?: unknown }[] };
      expect(json.steps.find((s) => s.name === 'question')).toMatchObject({
        status: 'failed',
        error: { code: 'HITL_NOT_PROPAGATED', message: expect.stringContaining('was not asked') },
      });
      expect(json.steps.find((s) => s.name === 'plain_step')).toMatchObject({
        status: 'cancelled',
        error: { code: 'STEP_ABANDONED' },
      });
      expect(json.steps.find((s) => s.name === 'after')).not.toHaveProperty('error');
    }
  });

  it.each([
    ['parallel_skip'], // on_failure: skip takes failures, not a question
    ['parallel_default'], // on_failure: continue_with_default, the same
    ['parallel_mapped'], // updates_context + outputs: {} and nothing mapped back
  ])('with %s the import still gives {}', async (which) => {
    const { run, replay } = await quiet(which);
    expect(run.error).toBeUndefined();
    expect(run.output).toBe('quiet gave {}');
    expect(replay.identical).toBe(true);
  });

  it('on_failure still decides what a failing child does', async () => {
    const skipped = await quiet('fails_skip');
    expect(skipped.run.status).toBe('completed');
    expect(skipped.run.output).toBe('quiet gave "fails_skip"');
    const aborted = await quiet('fails_abort');
    expect(aborted.run.status).toBe('failed');
    expect(aborted.run.error?.code).toBe('BOOM');
    expect(aborted.replay.identical).toBe(true);
  });
});

it('an agent that fails with the code of a hitl step that did not ask is an ordinary failure', async () => {
  // The child's parallel ignores the failing branch, as it ignores any failure of an agent.
  const { run, events } = await quiet('forged');
  expect(run.output).toBe('quiet gave {"plain": "plain forged"}');
  const forged = events.find(
    (e) => e.type === 'StepFailed' && (e.data as { path: string }).path.endsWith('/forger'),
  );
  expect((forged?.data as { error: { code: string } }).error.code).toBe('STEP_ERROR');
});

describe('imports with propagate_hitl: true (the default) are unaffected', () => {
  async function answered(which: string) {
    const { run, engine, plan } = await runFixture(LOUD, which, script);
    let cur = run;
    const messages: string[] = [];
    while (cur.status === 'paused') {
      messages.push(cur.pause?.message ?? '');
      cur = await engine.resume(plan, run.runId, { humanInput: 'yes' });
    }
    expect(cur.error).toBeUndefined();
    expect((await engine.replay(plan, run.runId)).identical).toBe(true);
    return { output: cur.output, messages };
  }

  it.each([
    // A branch's outputs in key order (ADR 126), as Jinja's tojson lists them.
    ['parallel', 'loud gave {"asks": "answered yes", "plain": "plain parallel"}', 1],
    ['parallel_ignore', 'loud gave {"asks": "answered yes", "plain": "plain parallel_ignore"}', 1],
    ['map', 'loud gave ["a answered yes", "b answered yes"]', 2],
    ['conditional', 'loud gave "answered yes"', 1],
    ['state_machine', 'loud gave "answered yes"', 1],
    ['router', 'loud gave {"asks": "answered yes"}', 1],
    ['loop', 'loud gave "answered yes"', 2],
    [
      'nested',
      'loud gave "inner gave {\\"asks\\": \\"answered yes\\", \\"plain\\": \\"plain nested\\"}"',
      1,
    ],
    ['nested_quiet', 'loud gave "inner gave {}"', 0],
  ])('in a %s: the run pauses, and the answer flows on', async (which, output, asks) => {
    const got = await answered(which);
    expect(got.output).toBe(output);
    expect(got.messages).toHaveLength(asks);
  });
});

describe('a hitl step that does not ask, in the plan IR', () => {
  it('fails the run with HITL_NOT_PROPAGATED when no state machine rule takes it', async () => {
    const plan: Plan = {
      ir: {
        version: 1,
        name: 'bare',
        root: {
          kind: 'parallel',
          name: 'fan',
          merge: 'context_update',
          onBranchFailure: 'ignore',
          branches: {
            a: { kind: 'hitl', name: 'q', message: 'Go on?', inputSchema: {}, propagate: false },
          },
        },
      },
      functions: {},
    };
    const { engine } = harness({ agents: scriptedAgents({}).port as AgentPort });
    const run = await engine.run(plan, 'x');
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('HITL_NOT_PROPAGATED');
    expect((await engine.replay(plan, run.runId)).identical).toBe(true);
  });

  it('a state machine passes it on past its failure rules and its last allowed visit', async () => {
    const ask: PlanNode = {
      kind: 'hitl',
      name: 'q',
      message: 'Go on?',
      inputSchema: {},
      propagate: false,
    };
    const inner: PlanNode = {
      kind: 'state_machine',
      name: 'inner',
      start: 'a',
      end: ['b'],
      maxVisits: 1,
      states: { a: ask },
      transitions: [{ from: '*', on: 'failure', to: 'b' }],
    };
    const plan: Plan = {
      ir: {
        version: 1,
        name: 'caught',
        root: {
          kind: 'state_machine',
          name: 'outer',
          start: 'child',
          end: ['stopped', 'done'],
          states: {
            child: inner,
            stopped: { kind: 'sequence', name: 'stopped', steps: [], input: { template: {} } },
          },
          transitions: [
            { from: 'child', on: 'success', to: 'done' },
            { from: 'child', on: 'hitl_not_propagated', to: 'stopped' },
          ],
        },
      },
      functions: {},
    };
    const { engine } = harness({ agents: scriptedAgents({}).port as AgentPort });
    const run = await engine.run(plan, 'x');
    expect(run.error).toBeUndefined();
    expect(run.output).toEqual({});
    expect((await engine.replay(plan, run.runId)).identical).toBe(true);
  });

  it('flujo explain says which hitl steps do not ask', () => {
    const text = explainPlan(load(QUIET).plan!.ir);
    expect(text).toContain(
      'question: does not ask (propagate_hitl: false); its import stops here with {}',
    );
    expect(text).toContain('Human input points: none');
    expect(explainPlan(load(LOUD).plan!.ir)).toContain('question: pauses for a human answer');
  });
});
