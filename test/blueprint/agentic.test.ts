/** kind: agentic_loop: a planner's commands run tools, ask a human, and finish, all recorded. */
import { describe, expect, it } from 'vitest';

import { runFixture } from './support.js';

const commands = [
  { type: 'run_agent', agent_name: 'search', input_data: 'owls' },
  { type: 'ask_human', question: 'Short or long?' },
  { type: 'run_agent', agent_name: 'nope', input_data: 1 },
  { type: 'finish', final_answer: 'Owls live in trees' },
];

describe('kind: agentic_loop', () => {
  it('runs registry tools, pauses for ask_human, logs every turn and ends on finish', async () => {
    let turn = 0;
    const { run, engine, plan, calls } = await runFixture(
      'fixtures/agentic_loop/plan.yaml',
      'about owls',
      {
        'test:planner': () => commands[turn++],
        'test:search': (x) => `found ${String(x)}`,
      },
    );
    expect(run.status).toBe('paused');
    expect(run.pause?.message).toBe('Short or long?');
    const done = await engine.resume(plan, run.runId, { humanInput: 'short' });
    expect(done.status).toBe('completed');
    expect(done.output).toBe('FINAL: Owls live in trees');
    const planner = calls.filter((c) => c.agent === 'test:planner');
    expect(planner).toHaveLength(4);
    expect(planner[0]!.input).toEqual({ goal: 'about owls', command_log: [] });
    expect(planner[3]!.input).toMatchObject({
      goal: 'about owls',
      command_log: [
        { turn: 0, generated_command: commands[0], execution_result: 'found owls' },
        { turn: 1, generated_command: commands[1], execution_result: 'short' },
        {
          turn: 2,
          generated_command: commands[2],
          execution_result: "unknown agent 'nope'; the registry has: search, shout",
        },
      ],
    });
    expect(calls.filter((c) => c.agent === 'test:search').map((c) => c.input)).toEqual(['owls']);
    expect(await engine.replay(plan, run.runId)).toMatchObject({ identical: true });
  });

  it('fails with MAX_LOOPS when the planner never finishes', async () => {
    const { run } = await runFixture('fixtures/agentic_loop/plan.yaml', 'x', {
      'test:planner': () => ({ type: 'run_agent', agent_name: 'shout', input_data: 'hey' }),
    });
    expect(run.status).toBe('failed');
    expect(JSON.stringify(run.error)).toMatch(/MAX_LOOPS/);
  });
});
