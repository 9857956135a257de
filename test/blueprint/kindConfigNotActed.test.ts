/**
 * Only a basic step that calls an agent, a skill or a module acts on a step's `config`
 * (`max_retries`, `timeout_s` / `timeout`). Every other kind takes the keys and drops them: a
 * parallel, dynamic_router, conditional, loop, map, state machine, cache, agentic_loop or hitl
 * step, and a basic step that asks a person (`ask_user`) or has no agent (a passthrough). They
 * validated with no finding (a loop with `max_retries: 3, timeout_s: 1`: 0 warnings). Each is a
 * V-K5 warning at the key now, saying why and where the key works (ADR 141, as ADR 140 for an
 * import step); the plan is what it was, so a recorded run's pipeline loads as before.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const load = (text: string, recordedRun = false) =>
  loadBlueprint('/p/t.yaml', {
    root: '/p',
    files: { read: () => text, exists: () => true },
    ...(recordedRun ? { recordedRun } : {}),
  });

const said = (
  fs: readonly {
    rule_id: string;
    line: number;
    column: number;
    severity: string;
    message: string;
  }[],
) => fs.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.severity} ${f.message}`);

const B = '{ name: b, agent: { id: flujo.builtins.stringify } }';
const KEYS = `    config:
      max_retries: 3
      timeout_s: 1
      timeout: 1
`;
/** A step at line 5 (`head` its first two lines), its config keys at lines 8-10, column 7. */
const blueprint = (head: string, rest: string, keys = KEYS) => `version: "0.1"
name: t
agents: { p: { model: "test:p" } }
steps:
${head}
${keys}${rest}
`;
const kind = (k: string) => `  - kind: ${k}\n    name: a`;

/** Each step that acts on no config key: its first lines, the rest, why each key does nothing. */
const CASES: [string, string, string, string, string][] = [
  [
    'parallel',
    kind('parallel'),
    `    branches: { x: [${B}] }`,
    "a parallel step does not retry its branches; set max_retries on the branches' steps",
    "a parallel step does not time its branches out; set timeout_s on the branches' steps",
  ],
  [
    'dynamic_router',
    kind('dynamic_router'),
    `    router: { router_agent: agents.p, branches: { x: [${B}] } }`,
    "a dynamic_router step does not retry its router agent or branches; set max_retries on the branches' steps",
    "a dynamic_router step does not time its router agent or branches out; set timeout_s on the branches' steps",
  ],
  [
    'conditional',
    kind('conditional'),
    `    condition_expression: "'x'"\n    branches: { x: [${B}] }`,
    "a conditional step does not retry its branches; set max_retries on the branches' steps",
    "a conditional step does not time its branches out; set timeout_s on the branches' steps",
  ],
  [
    'loop',
    kind('loop'),
    `    loop: { body: [${B}], max_loops: 2 }`,
    "a loop step does not retry its body; set max_retries on the body's steps",
    "a loop step does not time its body out; set timeout_s on the body's steps",
  ],
  [
    'map',
    kind('map'),
    `    map: { iterable_input: items, body: [${B}] }`,
    "a map step does not retry its body; set max_retries on the body's steps",
    "a map step does not time its body out; set timeout_s on the body's steps",
  ],
  ...['StateMachine', 'state_machine'].map((k): [string, string, string, string, string] => [
    k,
    kind(k),
    `    start_state: s\n    end_states: [done]\n    states: { s: [${B}], done: [] }\n    transitions: [{ from: s, on: success, to: done }]`,
    "a state machine does not retry its states; set max_retries on the states' steps",
    "a state machine does not time its states out; set timeout_s on the states' steps",
  ]),
  [
    'cache',
    kind('cache'),
    `    wrapped_step: ${B}`,
    "a cache step does not retry its wrapped step; set max_retries in wrapped_step's config",
    "a cache step does not time its wrapped step out; set timeout_s in wrapped_step's config",
  ],
  [
    'agentic_loop',
    kind('agentic_loop'),
    `    planner: agents.p\n    registry: { t: agents.p }`,
    'an agentic loop does not retry its planner or tools; set max_retries on the agents they name (agents: <name>: max_retries)',
    'an agentic loop does not time its planner or tools out; set timeout on the agents they name (agents: <name>: timeout)',
  ],
  [
    'hitl',
    kind('hitl'),
    `    message: "ok?"`,
    'a step that asks a person is not retried: it pauses until it is answered',
    'a step that asks a person waits for its answer without a timeout',
  ],
  [
    'ask_user',
    `  - name: a\n    agent: { id: flujo.builtins.ask_user, params: { question: "ok?" } }`,
    '',
    'a step that asks a person is not retried: it pauses until it is answered',
    'a step that asks a person waits for its answer without a timeout',
  ],
  [
    'a passthrough',
    `  - name: a\n    input: "x"`,
    '',
    'a step with no agent or uses passes its input through: there is nothing to retry',
    'a step with no agent or uses passes its input through: there is nothing to time out',
  ],
];

const NOT_ACTED = "a: config: '%s' is accepted but not acted on by this engine: ";
const at = (line: number, key: string, why: string) =>
  `V-K5 ${line}:7 warning ${NOT_ACTED.replace('%s', key)}${why}`;
const findingsOf = (name: string, retry: string, time: string) => [
  ...(name === 'a passthrough'
    ? ["V-A1 5:5 warning step 'a' has no agent or uses: it passes its input through"]
    : []),
  at(8, 'max_retries', retry),
  at(9, 'timeout_s', time),
  at(10, 'timeout', time),
];

describe('config keys a step other than a basic agent step does not act on', () => {
  beforeAll(initFastHash);

  it.each(CASES)('%s: each is a V-K5 warning at the key (were no finding)', (name, ...c) => {
    const [head, rest, retry, time] = c;
    const r = load(blueprint(head, rest));
    expect(said(r.findings)).toEqual(findingsOf(name, retry, time));
    expect(r.errors).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it.each(CASES)('%s: the plan is as without them, for a recorded run too', (name, ...c) => {
    const [head, rest, retry, time] = c;
    const without = planFingerprint(load(blueprint(head, rest, '')).plan!);
    expect(planFingerprint(load(blueprint(head, rest)).plan!)).toBe(without);
    const recorded = load(blueprint(head, rest), true);
    expect(said(recorded.findings)).toEqual(findingsOf(name, retry, time));
    expect(planFingerprint(recorded.plan!)).toBe(without);
  });

  it('a basic step that calls an agent, a skill, a module or a model acts on them: quiet', () => {
    const r = load(`version: "0.1"
name: t
agents: { p: { model: "test:p" } }
steps:
  - { name: a, uses: agents.p, config: { max_retries: 2, timeout_s: 5 } }
  - { name: s, agent: { id: flujo.builtins.stringify }, config: { max_retries: 2, timeout: 5 } }
  - { name: m, uses: ./m.mjs#f, config: { max_retries: 0, timeout_s: 1 } }
  - { name: o, agent: "test:o", config: { max_retries: 1 } }
  - kind: loop
    name: l
    loop: { body: [{ name: b, agent: { id: flujo.builtins.stringify }, config: { max_retries: 2 } }], max_loops: 2 }
`);
    expect(said(r.findings)).toEqual([]);
  });
});

describe("a loop's max_retries in a real run", () => {
  let dir: string;
  beforeAll(async () => {
    await initFastHash();
    dir = mkdtempSync(join(tmpdir(), 'flujo-kind-config-'));
    // Fails on its first two calls, whatever calls it: a retry of the loop would pass the third.
    writeFileSync(
      join(dir, 'steps.mjs'),
      `import { appendFileSync, readFileSync } from 'node:fs';
const log = new URL('./calls.log', import.meta.url);
export async function flaky() {
  appendFileSync(log, 'call\\n');
  const n = readFileSync(log, 'utf8').trim().split('\\n').length;
  if (n < 3) throw new Error('flaky call ' + n);
  return 'ok on call ' + n;
}
`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (loopConfig: string, bodyConfig: string) => {
    rmSync(join(dir, 'calls.log'), { force: true });
    const file = join(dir, 'loop.yaml');
    writeFileSync(
      file,
      `version: "0.1"
name: spin
steps:
  - kind: loop
    name: spin
    ${loopConfig}
    loop:
      body: [{ name: f, uses: ./steps.mjs#flaky${bodyConfig} }]
      max_loops: 1
`,
    );
    const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
    const plan = await withBlueprintCode(loaded);
    const { engine } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
    const result = await engine.run(plan, 'x');
    const calls = readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n').length;
    return { findings: said(loaded.findings), result, calls };
  };

  it('is not acted on: the body step is tried as its own config says (twice), and the run fails', async () => {
    const r = await run('config: { max_retries: 3 }', '');
    expect(r.findings).toEqual([
      "V-K5 6:15 warning spin: config: 'max_retries' is accepted but not acted on by this engine: a loop step does not retry its body; set max_retries on the body's steps",
    ]);
    expect(r.result).toMatchObject({ status: 'failed' });
    expect(r.calls).toBe(2);
  });

  it("on the body's step, where the warning says, it is: the third call passes", async () => {
    const r = await run('input: x', ', config: { max_retries: 3 }');
    expect(r.findings).toEqual([]);
    expect(r.result).toMatchObject({ status: 'completed', output: 'ok on call 3' });
    expect(r.calls).toBe(3);
  });
});
