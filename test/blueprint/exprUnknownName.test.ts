/**
 * An expression that reads a name no run has in scope (`ctx.x == 1`) is a V-T5 error for a new
 * run (ADR 131): evaluating it fails the run with EXPRESSION_ERROR (a state machine's `when`:
 * the rule never matches), wherever the evaluation reaches it. It was a warning, and `run`
 * started. A template's unknown name stays a warning: it renders as undefined. For the pipeline
 * of a run already recorded it is a warning saying a new run is refused (ADR 106), and the plan
 * is the one the run was recorded with.
 */
import { posix } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const load = (main: string, recordedRun = false) =>
  loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: {
      read: (f) => {
        if (posix.normalize(f) !== '/p/main.yaml') throw new Error(`ENOENT: ${f}`);
        return main;
      },
      exists: (f) => posix.normalize(f) === '/p/main.yaml',
    },
    ...(recordedRun ? { recordedRun } : {}),
  });

const said = (fs: readonly { rule_id: string; line: number; column: number; message: string }[]) =>
  fs.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.message}`);

/** A run that pauses, then takes a branch by a condition whose unknown name it never reaches. */
const SHORT = `version: "0.1"
name: short
steps:
  - name: ask
    agent: { id: flujo.builtins.ask_user, params: { question: "go?" } }
  - kind: conditional
    name: pick
    condition_expression: "resume_input == 'yes' or ctx.go"
    branches:
      true:
        - name: yes
          agent: { id: flujo.builtins.stringify }
          input: "went"
      false:
        - name: no
          agent: { id: flujo.builtins.stringify }
          input: "stayed"
`;

/** The fingerprint the loader before this change (cb02e76) gave SHORT's plan. */
const SHORT_AT_CB02E76 = '462d6d7f64041656dfd70e1007fe6f5526bc1243e2f0302a393f77a5c60d2f4b';

const EVERYWHERE = `version: "0.1"
name: everywhere
steps:
  - kind: conditional
    name: c
    condition_expression: "ctx.x == 1"
    branches:
      true: [{ name: t, agent: { id: flujo.builtins.stringify }, input: "{{ ctx.y }}" }]
      false: [{ name: f, agent: { id: flujo.builtins.stringify } }]
  - kind: loop
    name: l
    loop:
      body: [{ name: b, agent: { id: flujo.builtins.stringify } }]
      exit_expression: "iteration > 1 and contxt.done"
  - kind: conditional
    name: c2
    condition_expression: "iteration > 1"
    branches:
      true: [{ name: t2, agent: { id: flujo.builtins.stringify } }]
  - kind: StateMachine
    name: m
    start_state: a
    end_states: [z]
    states:
      a: [{ name: sa, agent: { id: flujo.builtins.stringify } }]
    transitions:
      - { from: a, on: success, to: z, when: "ctx.x == 1" }
      - { from: a, on: success, to: z }
`;

const ERRORS = [
  "V-T5 6:27 unknown name 'ctx': an expression fails where it reads it",
  "V-T5 14:24 unknown name 'contxt': an expression fails where it reads it",
  "V-T5 17:27 'iteration' is only bound in a loop's exit_expression and propagation template: an expression fails where it reads it",
  "V-T5 27:46 unknown name 'ctx': an expression fails where it reads it",
];

describe('an unknown name in an expression', () => {
  beforeAll(initFastHash);

  it('is a V-T5 error for a new run, in a condition, an exit expression and a when', () => {
    const r = load(EVERYWHERE);
    expect(r.plan).toBeUndefined();
    expect(r.exitCode).toBe(4);
    expect(said(r.errors)).toEqual(ERRORS);
    // A template's unknown name renders as undefined: still a warning.
    expect(said(r.warnings)).toEqual(["V-T5 8:73 unknown template variable 'ctx'"]);
  });

  it("is suppressed by '# flujo: ignore V-T5', for a name the author knows is never reached", () => {
    const r = load(SHORT.replace(`"resume_input == 'yes' or ctx.go"`, '$& # flujo: ignore V-T5'));
    expect(r.errors).toEqual([]);
    expect(r.plan).toBeDefined();
  });

  it('is a warning saying a new run is refused for a run already recorded, whose plan is unchanged', () => {
    const r = load(EVERYWHERE, true);
    expect(r.errors).toEqual([]);
    for (const e of ERRORS) expect(said(r.warnings)).toContain(`${e} (a new run is refused)`);
  });

  it('a run recorded before with such a condition resumes and replays as it ran', async () => {
    expect(said(load(SHORT).errors)).toEqual([
      "V-T5 8:27 unknown name 'ctx': an expression fails where it reads it",
    ]);
    const loaded = load(SHORT, true);
    expect(planFingerprint(loaded.plan!)).toBe(SHORT_AT_CB02E76);
    const plan = await withBlueprintCode(loaded);
    const { engine } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
    const paused = await engine.run(plan, 'x');
    expect(paused.status).toBe('paused');
    const done = await engine.resume(plan, paused.runId, { humanInput: 'yes' });
    expect(done).toMatchObject({ status: 'completed', output: 'went' });
    expect(await engine.replay(plan, paused.runId)).toMatchObject({ identical: true });
  });
});
