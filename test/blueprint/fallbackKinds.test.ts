/**
 * `fallback:` is for basic agent steps only (Flujo's "basic steps only"; docs/blueprints.md "one
 * basic step"). On any other step — a parallel, loop, map, conditional, router, state machine,
 * cache, agentic loop, hitl, a step asking a person, an import — nothing runs it: it passed
 * validation and the run failed without it. It is a V-K4 error at the key for a new run (ADR
 * 135); the pipeline of a run already recorded loads with it as a warning ending `(a new run is
 * refused)`, its plan (and fingerprint) unchanged, and runs as it did (ADR 106).
 */
import { posix } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord } from '../../src/events/envelope.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents, trace } from '../support/given.js';
import { skillScript } from './support.js';

const CHILD = `version: "0.1"
name: child
steps:
  - { name: inner, agent: { id: flujo.builtins.stringify } }
`;

const load = (main: string, recordedRun = false) => {
  const files: Record<string, string> = { '/p/main.yaml': main, '/p/child.yaml': CHILD };
  return loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: {
      read: (f) => {
        const text = files[posix.normalize(f)];
        if (text === undefined) throw new Error(`ENOENT: ${f}`);
        return text;
      },
      exists: (f) => posix.normalize(f) in files,
    },
    ...(recordedRun ? { recordedRun } : {}),
  });
};

const said = (fs: readonly { rule_id: string; line: number; column: number; message: string }[]) =>
  fs.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.message}`);

const FB = `fallback: { name: rescue, agent: { id: flujo.builtins.stringify }, input: 'rescued' }`;

/** Every kind of step but a basic agent step, each with a fallback (at column 5). */
const EVERY_KIND = `version: "0.1"
name: kinds
agents:
  chooser: { model: "test:chooser" }
  planner: { model: "test:planner" }
imports:
  child: ./child.yaml
steps:
  - kind: parallel
    name: fan
    branches:
      a: [{ name: pa, agent: { id: flujo.builtins.stringify } }]
    ${FB}
  - kind: loop
    name: again
    loop:
      body: [{ name: lb, agent: { id: flujo.builtins.stringify } }]
      max_loops: 2
    ${FB}
  - kind: map
    name: each
    map:
      iterable_input: items
      body: [{ name: mb, agent: { id: flujo.builtins.stringify } }]
    ${FB}
  - kind: conditional
    name: pick
    condition_expression: "True"
    branches:
      true: [{ name: ct, agent: { id: flujo.builtins.stringify } }]
    ${FB}
  - kind: dynamic_router
    name: route
    router:
      router_agent: agents.chooser
      branches:
        x: [{ name: rx, agent: { id: flujo.builtins.stringify } }]
    ${FB}
  - kind: state_machine
    name: sm
    start_state: a
    end_states: [z]
    states:
      a: [{ name: sa, agent: { id: flujo.builtins.stringify } }]
    transitions:
      - { from: a, on: success, to: z }
    ${FB}
  - kind: cache
    name: cached
    wrapped_step: { name: wrapped, agent: { id: flujo.builtins.stringify } }
    ${FB}
  - kind: agentic_loop
    name: solve
    planner: agents.planner
    registry: { shout: { id: flujo.builtins.stringify } }
    ${FB}
  - kind: hitl
    name: ask
    message: "ok?"
    ${FB}
  - name: ask_user
    agent: { id: flujo.builtins.ask_user, params: { question: "ok?" } }
    ${FB}
  - name: imported
    uses: imports.child
    ${FB}
  - name: plain
    agent: { id: flujo.builtins.stringify }
    ${FB}
`;

const NOT_RUN = (line: number, step: string, what: string) =>
  `V-K4 ${line}:5 ${step}: 'fallback' is for basic steps only: ${what} never runs it`;
const ERRORS = [
  NOT_RUN(13, 'fan', "a step of kind 'parallel'"),
  NOT_RUN(19, 'again', "a step of kind 'loop'"),
  NOT_RUN(25, 'each', "a step of kind 'map'"),
  NOT_RUN(31, 'pick', "a step of kind 'conditional'"),
  NOT_RUN(38, 'route', "a step of kind 'dynamic_router'"),
  NOT_RUN(47, 'sm', "a step of kind 'StateMachine'"),
  NOT_RUN(51, 'cached', "a step of kind 'cache'"),
  NOT_RUN(56, 'solve', "a step of kind 'agentic_loop'"),
  NOT_RUN(60, 'ask', "a step of kind 'hitl'"),
  NOT_RUN(63, 'ask_user', 'a step that asks a person'),
  NOT_RUN(66, 'imported', 'an import step'),
];

/** The QA's repro: a parallel whose only branch fails, with a fallback nothing runs. */
const PARALLEL = `version: "0.1"
name: fbk
steps:
  - kind: parallel
    name: fan
    branches:
      a: [{ name: bad, agent: { id: flujo.builtins.fail } }]
    ${FB}
`;

describe('fallback on a step that is not a basic agent step', () => {
  beforeAll(initFastHash);

  it('is a V-K4 error at the fallback key, for every kind that never runs it', () => {
    const r = load(EVERY_KIND);
    expect(r.plan).toBeUndefined();
    expect(r.exitCode).toBe(4);
    expect(said(r.errors)).toEqual(ERRORS);
    expect(r.errors[0]?.suggestion).toBe(
      'give the fallback to the basic step inside that may fail; or remove it',
    );
    expect(r.errors[10]?.suggestion).toContain("config.on_failure: 'skip'");
  });

  it('on a basic agent step stays valid and runs when the step fails', async () => {
    const r = load(`version: "0.1"
name: basic
steps:
  - name: bad
    agent: { id: flujo.builtins.fail }
    config: { max_retries: 0 }
    ${FB}
`);
    expect(r.errors).toEqual([]);
    const plan = await withBlueprintCode(r);
    const script = { ...skillScript, 'skill:flujo.builtins.fail': () => fails() };
    const { engine } = harness({ agents: scriptedAgents(script).port as AgentPort });
    expect(await engine.run(plan, 'x')).toMatchObject({ status: 'completed', output: 'rescued' });
  });

  it('is a warning saying a new run is refused for a run already recorded, its plan unchanged', async () => {
    const r = load(EVERY_KIND, true);
    expect(r.errors).toEqual([]);
    for (const e of ERRORS) expect(said(r.warnings)).toContain(`${e} (a new run is refused)`);
    // The plan is the one the key never reached: as without it.
    const without = load(PARALLEL.replace(`    ${FB}\n`, ''));
    const recorded = load(PARALLEL, true);
    expect(planFingerprint(recorded.plan!)).toBe(planFingerprint(without.plan!));
    expect(said(load(PARALLEL).errors)).toEqual([NOT_RUN(8, 'fan', "a step of kind 'parallel'")]);
    // And it runs as it was recorded: the branch fails the parallel, nothing is rescued.
    const plan = await withBlueprintCode(recorded);
    const script = { ...skillScript, 'skill:flujo.builtins.fail': () => fails() };
    const { engine, ledger } = harness({ agents: scriptedAgents(script).port as AgentPort });
    const run = await engine.run(plan, 'x');
    expect(run.status).toBe('failed');
    const events = (await ledger.read(run.runId)).map((e) =>
      decodeRecord(run.runId, e.seq, e.body),
    );
    expect(trace(events).filter((t) => t.startsWith('AgentCallRequested'))).toEqual([
      'AgentCallRequested 0/a',
    ]);
  });
});

function fails(): never {
  throw Object.assign(new Error('boom'), { retryable: false });
}
