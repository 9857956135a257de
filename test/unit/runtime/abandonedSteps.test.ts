/**
 * A step the run leaves unfinished is recorded so (ADR 78). When a branch fails its parallel (or
 * an item its map) and an enclosing state machine takes the failure, the run completes; the
 * siblings still in flight were abandoned. Before StepAbandoned nothing said so: they stayed
 * `running` in the run's result and the steps read model of a completed run, forever.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { openState } from '../../../src/adapters/ledger/state.js';
import {
  agentStep,
  definePipeline,
  hitl,
  map,
  parallel,
  sequence,
  stateMachine,
  step,
} from '../../../src/dsl/builder.js';
import type { Plan } from '../../../src/dsl/ir.js';
import type { AgentPort } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(Object.assign(new Error('aborted'), { code: 'ABORTED', retryable: false }));
    });
  });

/**
 * `m:bad` fails after 5 ms; `m:slow` answers only when aborted (its sibling's failure abandons it:
 * a 200 ms answer raced that failure's commit on a loaded machine); `m:item` does what its input
 * says; others answer at once.
 */
const agents: AgentPort = {
  async call(req, signal) {
    const what = req.agent === 'm:item' ? `m:${String(req.input)}` : req.agent;
    if (what === 'm:bad') {
      await sleep(5);
      throw Object.assign(new Error('bad'), { code: 'BAD', retryable: false });
    }
    if (what === 'm:slow') await sleep(60_000, signal);
    return {
      output: `${req.agent} done`,
      usage: { input: 1, output: 1 },
      costMicros: 0,
      model: 'm',
    };
  },
};

const recover = { start: 'work', end: ['recover'], transitions: [] } as const;
const caught = (name: string, work: Parameters<typeof stateMachine>[1]['work']) =>
  definePipeline(
    name,
    stateMachine(
      'sm',
      { work, recover: step('recover', () => 'recovered') },
      { ...recover, transitions: [{ from: 'work', on: 'failure', to: 'recover' }] },
    ),
  ).plan;

/** A parallel whose `bad` branch fails while `slow` (two steps) runs and `ask` waits on a person. */
const fanPlan = caught(
  'abandon-fan',
  parallel('fan', {
    slow: sequence(agentStep('s1', 'm:slow'), agentStep('s2', 'm:fast')),
    ask: hitl('ask', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
    bad: agentStep('bad', 'm:bad'),
  }),
);

/** A map of two items at once: the `bad` one fails the map while the `slow` one runs. */
const mapPlan = caught(
  'abandon-map',
  map('items', agentStep('per', 'm:item'), { items: () => ['slow', 'bad'], concurrency: 2 }),
);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function runOn(plan: Plan, runId: string) {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-abandon-'));
  dirs.push(dir);
  const state = await openState('sqlite:///state.db', { projectRoot: dir });
  const engine = createEngine({ ledger: state.ledger, agents, newRunId: () => runId });
  const run = await engine.run(plan, 'x');
  const events = await engine.events(runId);
  const rows = async () =>
    Object.fromEntries(
      (await state.readModels.steps(runId)).map((r) => [r.path, [r.status, r.errorCode]]),
    );
  return { state, engine, run, events, rows };
}

describe('steps a completed run left unfinished', () => {
  it('a parallel a branch failed, taken by a state machine: its siblings are recorded abandoned', async () => {
    const { state, engine, run, events, rows } = await runOn(fanPlan, 'fan');
    try {
      expect(run.status).toBe('completed');
      expect(run.output).toBe('recovered');
      const abandoned = events
        .filter((e) => e.type === 'StepAbandoned')
        .map((e) => [e.data.path, e.data.cause]);
      // The slow branch's running step and its branch, and the hitl step: all left when the
      // parallel failed, which is named as the cause.
      expect(abandoned).toEqual(
        expect.arrayContaining([
          ['work@1/slow/0', 'work@1'],
          ['work@1/slow', 'work@1'],
          ['work@1/ask', 'work@1'],
        ]),
      );
      expect(abandoned).toHaveLength(3);
      expect(events.filter((e) => e.type === 'HumanInputWithdrawn')).toHaveLength(1);
      // Recorded in the append of the fact that caused it, before the run's end.
      const at = events.findIndex((e) => e.type === 'StepAbandoned');
      expect(
        events
          .slice(0, at)
          .reverse()
          .find((e) => e.type === 'AgentFailed'),
      ).toBeDefined();

      expect(run.steps.filter((s) => s.status === 'running')).toEqual([]);
      expect(Object.fromEntries(run.steps.map((s) => [s.path, s.status]))).toMatchObject({
        'work@1/slow/0': 'cancelled',
        'work@1/ask': 'cancelled',
        'work@1/bad': 'failed',
        'recover@2': 'completed',
      });
      const expected = {
        'work@1/slow': ['cancelled', 'STEP_ABANDONED'],
        'work@1/slow/0': ['cancelled', 'STEP_ABANDONED'],
        'work@1/ask': ['cancelled', 'STEP_ABANDONED'],
        'work@1/bad': ['failed', 'BAD'],
        'work@1': ['failed', 'BAD'],
        'recover@2': ['completed', null],
      };
      expect(await rows()).toMatchObject(expected);
      expect(Object.values(await rows()).filter(([s]) => s === 'running')).toEqual([]);
      const slow = (await state.readModels.steps('fan')).find((s) => s.path === 'work@1/slow/0');
      expect(slow?.errorMessage).toContain('step work@1 ended while it ran');
      expect(slow?.endedAt).not.toBeNull();
      await state.rebuild();
      expect(await rows()).toMatchObject(expected);
      // A marker: the decisions refold as recorded.
      expect((await engine.replay(fanPlan, 'fan')).identical).toBe(true);
    } finally {
      await state.close();
    }
  });

  it('a map an item failed while another ran: the running item is recorded abandoned', async () => {
    const { state, engine, run, events, rows } = await runOn(mapPlan, 'map');
    try {
      expect(run.status).toBe('completed');
      expect(events.some((e) => e.type === 'StepAbandoned')).toBe(true);
      expect(run.steps.filter((s) => s.status === 'running')).toEqual([]);
      expect(Object.values(await rows()).filter(([s]) => s === 'running')).toEqual([]);
      expect((await engine.replay(mapPlan, 'map')).identical).toBe(true);
    } finally {
      await state.close();
    }
  });
});
