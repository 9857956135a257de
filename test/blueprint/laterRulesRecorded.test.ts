/**
 * The load rules this session added refuse new runs only (ADR 106), and compile a run's plan as the
 * loader before them did (ADR 84). An unused import that is missing or broken (21f4949), a config
 * key a passthrough, ask_user or loop does not take (5db5502), a count that is not a whole number
 * (5db5502) and a literal no run can record in a branch not taken (032f841) are errors for a new
 * run, and warnings saying so for the pipeline of a run already recorded, which compiles to the
 * plan 0df3266 compiled: the counts floored as they were. A step read as `steps.x[0]` is kept
 * under ADR 123's flag (keepOutput, which planBefore knows), not recorded (c9d9fb1 recorded it, so
 * a run recorded before got PLAN_CHANGED on resume).
 */
import { posix } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import type { Plan, PlanNode } from '../../src/dsl/ir.js';
import { allNodes, mapTree } from '../../src/dsl/nodes.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { fingerprintsBefore } from '../../src/runtime/planBefore.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const LATER = `version: "0.1"
name: later
imports:
  gone: ./missing.yaml
  broken: ./broken.yaml
agents:
  c: { model: "openai:gpt-4o", system_prompt: "x", max_retries: 1.5 }
steps:
  - name: start
    config: { foo: 1 }
  - name: ask
    agent: { id: flujo.builtins.ask_user, params: { question: "go?" } }
    config: { foo: 1 }
  - name: direct
    uses: agents.c
  - kind: conditional
    name: pick
    condition_expression: "{{ context.k == 0 }}"
    branches:
      true:
        - name: never
          agent: { id: flujo.builtins.passthrough }
          input: "{{ 1e400 }}"
      false:
        - name: other
          agent: { id: flujo.builtins.passthrough }
  - kind: loop
    name: lp
    config: { foo: 1 }
    loop:
      body: [{ name: inner, agent: { id: flujo.builtins.passthrough } }]
      max_loops: 2.5
  - kind: loop
    name: chat
    loop:
      conversation: true
      history_management: { strategy: truncate_turns, max_turns: 2.5 }
      max_loops: 2
      body: [{ name: talk, uses: agents.c, config: { max_retries: 2.5 } }]
  - kind: StateMachine
    name: sm
    start_state: s1
    end_states: [done]
    max_transitions: 0
    states:
      s1: [{ name: s1a, agent: { id: flujo.builtins.passthrough } }]
    transitions:
      - { from: s1, on: success, to: done }
  - kind: StateMachine
    name: sm2
    start_state: s1
    end_states: [done]
    max_transitions: 0.5
    states:
      s1: [{ name: s2a, agent: { id: flujo.builtins.passthrough } }]
    transitions:
      - { from: s1, on: success, to: done }
  - kind: map
    name: m
    map:
      iterable_input: 5
      body: [{ name: b, agent: { id: flujo.builtins.passthrough } }]
`;

const BROKEN = `version: "0.1"
name: broken
steps:
  - name: k
    agent: { id: flujo.builtins.passthrough }
    bogus: 1
`;

/** The fingerprint 0df3266's loader (before 5db5502, 21f4949, 032f841) gave LATER's plan. */
const LATER_AT_0DF3266 = 'ff92fd31ab5d6467ea9a79264d4dc5a12d81774f4daeb4d93d7be2415e221e58';

const SUBSCRIPT = `version: "0.1"
name: subscripts
steps:
  - name: x
    agent: { id: flujo.builtins.passthrough }
    input: [7, 8]
  - name: w
    agent: { id: flujo.builtins.passthrough }
    input: { "k y": "KY" }
  - name: y
    agent: { id: flujo.builtins.passthrough }
    input: '{{ steps.x[0] }} {{ steps.w["k y"] }}'
`;

/** The fingerprint 0df3266's loader (before c9d9fb1) gave SUBSCRIPT's plan: no record on x, w. */
const SUBSCRIPT_AT_0DF3266 = 'ccb2836602230f865d83c30d232fe1f109f3ae3af3899d6e0056a7c88bc35a9e';

const load = (main: string, recordedRun: boolean) => {
  const files: Record<string, string> = { '/p/main.yaml': main, '/p/broken.yaml': BROKEN };
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

const node = (p: Plan, name: string): PlanNode => {
  const found = [...allNodes(p.ir.root)].find((n) => n.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
};

/** The rules added after 0df3266 that LATER meets: each an error for a new run. */
const LATER_RULES = [
  ['V-K1', 'broken.yaml', 6, "step 'k': unknown key 'bogus'"],
  ['V-I1', 'main.yaml', 4, 'does not exist'],
  ['V-I4', 'main.yaml', 5, "imported blueprint 'broken' has 1 error"],
  ['V-K1', 'main.yaml', 10, "start: config: unknown key 'foo'"],
  ['V-K1', 'main.yaml', 13, "ask: config: unknown key 'foo'"],
  ['TEMPLATE-001', 'main.yaml', 23, 'makes a value no run can record'],
  ['V-K1', 'main.yaml', 29, "lp: config: unknown key 'foo'"],
  ['V-K4', 'main.yaml', 32, 'lp: max_loops must be a whole number of at least 1, got 2.5'],
  ['V-K4', 'main.yaml', 37, 'chat: history_management.max_turns must be a whole number'],
  ['V-K4', 'main.yaml', 44, 'sm: max_transitions must be a whole number of at least 1, got 0'],
  ['V-K4', 'main.yaml', 53, 'sm2: max_transitions must be a whole number of at least 1, got 0.5'],
  ['V-K4', 'main.yaml', 61, 'm: iterable_input must be a context path'],
] as const;

const shown = (fs: readonly { rule_id: string; file: string; line: number; message: string }[]) =>
  fs.map((f) => [f.rule_id, posix.basename(f.file), f.line, f.message] as const);

describe('a rule added after runs were recorded refuses new runs only (ADR 106)', () => {
  beforeAll(initFastHash);

  it('each is an error for a new run', () => {
    const r = load(LATER, false);
    expect(r.plan).toBeUndefined();
    const errors = shown(r.errors);
    expect(errors).toHaveLength(LATER_RULES.length);
    for (const [rule, file, line, words] of LATER_RULES)
      expect(errors, `${rule} ${file}:${line}`).toContainEqual([
        rule,
        file,
        line,
        expect.stringContaining(words),
      ]);
    for (const f of r.errors) expect(f.message).not.toMatch(/a new run is refused/);
  });

  it('each is a warning saying a new run is refused for a run already recorded, whose plan is the one it was recorded with', () => {
    const r = load(LATER, true);
    expect(r.errors).toEqual([]);
    const warned = shown(r.warnings);
    for (const [rule, file, line, words] of LATER_RULES)
      expect(warned, `${rule} ${file}:${line}`).toContainEqual([
        rule,
        file,
        line,
        expect.stringMatching(
          new RegExp(
            `${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\(a new run is refused\\)$`,
          ),
        ),
      ]);
    // The plan 0df3266 compiled: a resume of a run it recorded is not PLAN_CHANGED.
    expect(planFingerprint(r.plan!)).toBe(LATER_AT_0DF3266);
  });

  it('counts compile as they did before 5db5502: floored, 0 transitions the default', () => {
    const p = load(LATER, true).plan!;
    expect(node(p, 'direct')).toMatchObject({ retries: 1 }); // agent max_retries 1.5
    expect(node(p, 'talk')).toMatchObject({ retries: 2 }); // config.max_retries 2.5
    expect(node(p, 'lp')).toMatchObject({ maxLoops: 2 });
    expect(node(p, 'sm')).not.toHaveProperty('maxVisits');
    expect(node(p, 'sm2')).toMatchObject({ maxVisits: 0 });
    expect(node(p, 'm')).toMatchObject({ items: { template: '{{ context.5 }}' } });
    expect(JSON.stringify(p.ir)).toContain('"op":"trim","maxTurns":2');
  });

  it('a max_retries of 1.5 (a warning, V-A7) retries once in a new run too, as before', () => {
    const r = load(
      `version: "0.1"
name: r
agents:
  c: { model: "openai:gpt-4o", system_prompt: "x", max_retries: 1.5 }
steps:
  - name: direct
    uses: agents.c
  - name: own
    uses: agents.c
    config: { max_retries: 0.5 }
`,
      false,
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((f) => f.rule_id)).toEqual(['V-A7', 'V-A7']);
    expect(node(r.plan!, 'direct')).toMatchObject({ retries: 1 });
    expect(node(r.plan!, 'own')).toMatchObject({ retries: 0 });
  });
});

describe('a step read as steps.x[0] or steps.x["k y"] (ADR 84, ADR 123)', () => {
  beforeAll(initFastHash);

  it('is kept under the flag, not recorded: the plan before c9d9fb1 is among its fingerprints before', () => {
    const plan = load(SUBSCRIPT, false).plan!;
    for (const name of ['x', 'w']) {
      expect(node(plan, name).record, name).toBeUndefined();
      expect(node(plan, name).keepOutput, name).toBe(true);
    }
    expect(fingerprintsBefore(plan)).toContainEqual({
      fingerprint: SUBSCRIPT_AT_0DF3266,
      lacks: [ENGINE_FLAGS.stepOutputsKeptForEveryRead],
    });
  });

  it("renders in a new run as it did with c9d9fb1's record", async () => {
    const plan = await withBlueprintCode(load(SUBSCRIPT, false));
    // c9d9fb1's plan: x and w recorded instead of kept under the flag.
    const recorded: Plan = {
      ...plan,
      ir: {
        ...plan.ir,
        root: mapTree(plan.ir.root, (n) => {
          if (!n.keepOutput) return n;
          const { keepOutput: _, ...rest } = n;
          return { ...rest, record: [`step_outputs.${n.name}`] } as PlanNode;
        }),
      },
    };
    const outputs: unknown[] = [];
    for (const p of [plan, recorded]) {
      const { engine } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
      const run = await engine.run(p, 'in');
      expect(run.status).toBe('completed');
      outputs.push(run.output);
    }
    // A step's view is { output, result, value }: x[0] and w["k y"] name none of them.
    expect(outputs).toEqual([' ', ' ']);
  });
});
