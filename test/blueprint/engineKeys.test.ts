/**
 * Context keys the engine keeps (answers, step outputs, map items, the cache) through a parallel's
 * join, whatever the user's merge strategy (ADR 58), and loops whose exit is `agent_finished`
 * with outputs that are not objects.
 */
import { describe, expect, it } from 'vitest';

import { runJson } from '../../src/runtime/resultJson.js';
import { runFixture } from './support.js';

describe('engine-kept context keys across a parallel join', () => {
  it('two branches that each ask a person: both answers are taken, the run completes', async () => {
    const { run, engine, plan } = await runFixture('fixtures/parallel/two_questions.yaml', 'go');
    expect(run.status).toBe('paused');
    const first = await engine.resume(plan, run.runId, { humanInput: 'hello' });
    expect(first.status).toBe('paused');
    const done = await engine.resume(plan, run.runId, { humanInput: { n: 5 } });
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(done.output).toBe(JSON.stringify({ a: 'hello', b: { n: 5 } }));
  });

  it.each(['error_on_conflict', 'keep_first', 'overwrite'])(
    'steps.<name>.output of both branches is readable after a %s join',
    async (strategy) => {
      const { run } = await runFixture(`fixtures/parallel/engine_keys_${strategy}.yaml`, 'go');
      expect(run.error).toBeUndefined();
      expect(run.output).toBe('A+B');
    },
  );

  it('no_merge keeps nothing of the branches, engine keys included', async () => {
    const { run } = await runFixture('fixtures/parallel/engine_keys_no_merge.yaml', 'go');
    expect(run.output).toBe('+');
  });

  it('a parallel in a loop: each round reads the outputs of that round, not the first', async () => {
    const { run } = await runFixture('fixtures/loop/parallel_each_round.yaml', 'go');
    expect(run.output).toEqual(['A0/B0', 'A1/B1', 'A2/B2']);
  });

  it("an import keeps its child's step outputs and answers out of the parent's context", async () => {
    const { run, engine, plan } = await runFixture('fixtures/imports/leak/parent.yaml', 'go');
    expect(run.status).toBe('paused');
    const done = await engine.resume(plan, run.runId, { humanInput: 'child-answer' });
    expect(done.output).toBe('steps.greet.output=parent greet; resume_input=');
  });

  it('maps in two branches of an error_on_conflict parallel do not conflict over their items', async () => {
    const { run } = await runFixture(
      'fixtures/parallel/engine_keys_maps.yaml',
      'go',
      {},
      {
        items: [1, 2],
      },
    );
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ a: ['1', '2'], b: ['1', '2'] });
  });
});

describe('stop_when: agent_finished', () => {
  it('an iteration whose output is text is simply not finished: the loop goes on to max_loops', async () => {
    const { run } = await runFixture('fixtures/loop/stop_when_text.yaml', 'x');
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('MAX_LOOPS');
  });
});

describe('StateMachine on: pause', () => {
  it('a state that asked a person leaves by its pause transition once answered', async () => {
    const { run, engine, plan } = await runFixture('fixtures/state_machine/on_pause.yaml', 'in');
    expect(run.status).toBe('paused');
    const done = await engine.resume(plan, run.runId, { humanInput: 'ok' });
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(done.output).toBe('s2 saw ok');
  });

  it.each([
    ['a hitl then a step', 'once_then_step', undefined, 'after s ok'],
    ['a loop that asked in its first round only', 'inloop', { k: 0 }, 'took the pause rule'],
    ['a map whose items ask', 'viamap', { items: [1] }, 'took the pause rule'],
  ] as const)(
    'a state that asked anywhere inside (%s) takes its pause rule',
    async (_what, file, context, output) => {
      const fixture = `fixtures/state_machine/on_pause_${file}.yaml`;
      const { run, engine, plan } = await runFixture(fixture, 'go', {}, context);
      let now = run;
      for (let i = 0; i < 3 && now.status === 'paused'; i++)
        now = await engine.resume(plan, run.runId, { humanInput: 'ok' });
      expect(now.error).toBeUndefined();
      expect(now.output).toBe(output);
    },
  );

  it("a machine entered again (in a loop) does not count an earlier round's answer", async () => {
    const fixture = 'fixtures/state_machine/on_pause_machine_in_loop.yaml';
    const { run, engine, plan } = await runFixture(fixture, 'go', {}, { k: 0 });
    expect(run.status).toBe('paused');
    const done = await engine.resume(plan, run.runId, { humanInput: 'ok' });
    expect(done.error).toBeUndefined();
    expect(done.output).toEqual(['pause rule', 'success rule']);
  });

  it('a pause rule back to the asking state keeps it there: answered, its success rule applies', async () => {
    const { run, engine, plan } = await runFixture(
      'fixtures/state_machine/on_pause_self.yaml',
      'in',
    );
    expect(run.status).toBe('paused');
    const done = await engine.resume(plan, run.runId, { humanInput: 'cohort A' });
    expect(done.status).toBe('completed');
    expect(done.output).toBe('found cohort A');
  });
});

describe('several open questions', () => {
  it('lists them, and answers the one named by its path, in any order', async () => {
    const { run, engine, plan } = await runFixture('fixtures/parallel/two_questions.yaml', 'go');
    expect(run.questions?.map((q) => q.step)).toEqual(['qa', 'qb']);
    const [qa, qb] = run.questions!;
    const json = runJson(run);
    expect(json.pause).toMatchObject({ step: 'qa', path: qa!.path, message: 'A?' });
    expect(json.questions).toHaveLength(2);

    await expect(
      engine.resume(plan, run.runId, { humanInput: 1, question: 'no/such/path' }),
    ).rejects.toThrow(`no open question at "no/such/path"; open: ${qa!.path}, ${qb!.path}`);
    const first = await engine.resume(plan, run.runId, {
      humanInput: { n: 7 },
      question: qb!.path,
    });
    expect(first.status).toBe('paused');
    expect(first.pause?.step).toBe('qa');
    expect(first.questions).toBeUndefined(); // one left
    const done = await engine.resume(plan, run.runId, { humanInput: 'late', question: qa!.path });
    expect(done.output).toBe(JSON.stringify({ a: 'late', b: { n: 7 } }));
  });
});
