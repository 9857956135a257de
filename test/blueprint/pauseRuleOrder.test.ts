/**
 * A StateMachine state that asked a person leaves by its first matching `on: pause` rule, and a
 * matching rule back to the state itself counts (ADR 134, engine flag `first-pause-rule-wins`):
 * the state stays, no later pause rule is tried, and its success or failure rules apply. Before,
 * a rule back to the state was skipped, `when` and all, so a later pause rule moved the machine
 * on; a run recorded so still resumes and replays as it ran.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import type { Plan } from '../../src/dsl/ir.js';
import { NondeterminismError } from '../../src/errors.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import type { AgentPort } from '../../src/ports.js';
import type { Engine } from '../../src/runtime/engine.js';
import type { LedgerStore } from '../../src/ports.js';
import { withoutFlag } from '../support/events.js';
import { harness, scriptedAgents, trace } from '../support/given.js';
import { skillScript } from './support.js';

const FLAG = ENGINE_FLAGS.firstPauseRuleWins;
const BEFORE = CURRENT_ENGINE_FLAGS.filter((f) => f !== FLAG);

/** The QA's machine: a pause rule back to `clarify` when the answer is not clear, then one on. */
const machine = (when: string, more = '') => `version: "0.1"
name: smp
steps:
  - kind: StateMachine
    name: sm
    start_state: clarify
    end_states: [done]
    states:
      clarify: [{ kind: hitl, name: ask, message: "clear?", input_schema: { type: object, properties: { clear: { type: boolean } }, required: [clear] } }]
      review: [{ name: rv, agent: { id: flujo.builtins.stringify }, input: 'reviewed' }]
      done: []
    transitions:
      - { from: clarify, on: pause, to: clarify, when: ${JSON.stringify(when)} }
      - { from: clarify, on: pause, to: review }${more}
      - { from: review, on: success, to: done }
`;
/** With a success rule back to the state: staying, the state is entered again and asks again. */
const ASK_AGAIN = machine(
  'previous_step.clear == False',
  '\n      - { from: clarify, on: success, to: clarify }',
);

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-pause-rules-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function planOf(text: string): Promise<Plan> {
  const file = join(dir, `b${(n += 1)}.yaml`);
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  return withBlueprintCode(loaded);
}

/**
 * Given the blueprint, started by an engine recording `flags`, when each answer is given in turn
 * (by today's engine, which reads the flags the run recorded), the run and its events.
 */
async function given(text: string, answers: unknown[], flags = CURRENT_ENGINE_FLAGS) {
  const plan = await planOf(text);
  const { engine, ledger } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
  const today = [...CURRENT_ENGINE_FLAGS];
  const current = CURRENT_ENGINE_FLAGS as string[];
  current.splice(0, current.length, ...flags);
  let r;
  try {
    r = await engine.run(plan, 'go');
  } finally {
    current.splice(0, current.length, ...today);
  }
  for (const humanInput of answers) {
    expect(r.status).toBe('paused');
    r = await engine.resume(plan, r.runId, { humanInput });
  }
  return { run: r, plan, engine, events: await eventsOf(ledger, r.runId) };
}

const eventsOf = async (ledger: LedgerStore, runId: string): Promise<LedgerEvent[]> =>
  (await ledger.read(runId)).map((e) => decodeRecord(runId, e.seq, e.body));

const asked = (events: LedgerEvent[]) =>
  trace(events).filter((t) => t.startsWith('HumanInputRequested'));
const ran = (events: LedgerEvent[]) =>
  trace(events).filter((t) => t.startsWith('AgentCallRequested'));

const replays = async (engine: Engine, plan: Plan, runId: string) =>
  expect(await engine.replay(plan, runId)).toMatchObject({ identical: true });

const diverges = (plan: Plan, events: LedgerEvent[]) => {
  try {
    refold(compilePlan(plan), withoutFlag(events, FLAG));
  } catch (e) {
    return e instanceof NondeterminismError;
  }
  return false;
};

describe('the first matching pause rule wins, a rule back to the state included', () => {
  it("a matching rule back to the state keeps it there: the later rule is not taken, the state's success rule applies", async () => {
    const { run, plan, engine, events } = await given(ASK_AGAIN, [
      { clear: false },
      { clear: true },
    ]);
    expect(run.error).toBeUndefined();
    expect(run).toMatchObject({ status: 'completed', output: 'reviewed' });
    // Asked twice: the first answer kept the machine in clarify, whose success rule re-entered it.
    expect(asked(events)).toEqual([
      'HumanInputRequested 0/clarify@1',
      'HumanInputRequested 0/clarify@2',
    ]);
    expect(ran(events)).toEqual(['AgentCallRequested 0/review@3']);
    await replays(engine, plan, run.runId);
    expect(diverges(plan, events)).toBe(true);
  });

  it("the QA's machine: staying in clarify with no success rule fails with NO_TRANSITION, not review", async () => {
    for (const when of ['previous_step.clear == False', 'True']) {
      const { run, plan, engine, events } = await given(machine(when), [{ clear: false }]);
      expect(run.status).toBe('failed');
      expect(run.error).toMatchObject({
        code: 'NO_TRANSITION',
        message:
          'sm: no transition from state clarify on success, and context.next_state is not set',
      });
      expect(ran(events)).toEqual([]);
      await replays(engine, plan, run.runId);
    }
  });

  it('a rule back to the state whose when does not match lets the next pause rule move on', async () => {
    const { run, events } = await given(ASK_AGAIN, [{ clear: true }]);
    expect(run).toMatchObject({ status: 'completed', output: 'reviewed' });
    expect(asked(events)).toEqual(['HumanInputRequested 0/clarify@1']);
  });

  it('a rule back to the state after the matching rule does not hold the machine', async () => {
    const text = machine('True').replace(
      /( {6}- \{ from: clarify, on: pause, to: clarify.*\n)( {6}- \{ from: clarify, on: pause, to: review \}\n)/,
      '$2$1',
    );
    expect(text).toMatch(/to: review \}\n.*to: clarify/);
    const { run } = await given(text, [{ clear: false }]);
    expect(run).toMatchObject({ status: 'completed', output: 'reviewed' });
  });
});

describe('a run recorded before first-pause-rule-wins', () => {
  it('skips the rule back to the state, as it did, resumed and replayed by today’s engine', async () => {
    const { run, plan, engine, events } = await given(ASK_AGAIN, [{ clear: false }], BEFORE);
    expect((events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>).data.engine.flags).toEqual(
      BEFORE,
    );
    expect(run).toMatchObject({ status: 'completed', output: 'reviewed' });
    expect(asked(events)).toEqual(['HumanInputRequested 0/clarify@1']);
    expect(ran(events)).toEqual(['AgentCallRequested 0/review@2']);
    await replays(engine, plan, run.runId);
    expect(refold(compilePlan(plan), events).status).toBe('completed');
  });
});
