/**
 * A step using a hitl skill asks with the param the skill's `hitl.messageParam` names (ADR 111),
 * in runs recorded with the engine flag `hitl-skill-message-param`; a run recorded before keeps
 * asking with `params.question` (here: none, so the step's input) and resumes under the same
 * blueprint without allowChangedPlan. A hitl skill reached as an agent is SKILL_NOT_CALLABLE.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { loadBlueprint, type SkillCatalog } from '../../src/blueprint/loader.js';
import { placeOf } from '../../src/blueprint/sourceMap.js';
import { catalogOf } from '../../src/cli/agents.js';
import { loadPipelineFile } from '../../src/cli/pipelineFile.js';
import { loadConfig } from '../../src/config/load.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import type { HitlNode, Plan, PlanNode } from '../../src/dsl/ir.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { NondeterminismError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createSkillAgents } from '../../src/skills/agents.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import type { Skill } from '../../src/skills/types.js';
import { appendAsRecorded } from '../support/appendAsRecorded.js';
import { withoutFlag as withoutFlagOf } from '../support/events.js';

const FLAG = ENGINE_FLAGS.hitlSkillMessageParam;

let called = 0;
const shipSkill: Skill = {
  id: 'acme.ship',
  description: 'Asks a person whether to ship; the message is the `prompt` param.',
  kind: 'hitl',
  sideEffects: false,
  hitl: { messageParam: 'prompt', inputSchema: {} },
  run: () => {
    called += 1;
    return 'shipped';
  },
};
const registry = () => createSkillRegistry({ skills: [shipSkill] });

const BLUEPRINT = (params: string) => `version: "0.1"
name: ship
steps:
  - name: ask
    agent: { id: acme.ship, params: ${params} }
`;

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-hitl-message-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function planOf(text: string, skills?: SkillCatalog): Promise<Plan> {
  const file = join(dir, `b${(n += 1)}.yaml`);
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, {
    files: nodeBlueprintFiles,
    root: dir,
    ...(skills ? { skills } : {}),
  });
  expect(loaded.errors).toEqual([]);
  return withBlueprintCode(loaded);
}
const first = (p: Plan) =>
  ((p.ir.root as unknown as { steps?: PlanNode[] }).steps ?? [p.ir.root])[0] as HitlNode;

const withoutFlag = (events: LedgerEvent[]) => withoutFlagOf(events, FLAG);

async function paused(plan: Plan, runId: string) {
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, agents: createSkillAgents(registry()) });
  const run = await engine.run(plan, 'order 7', { runId });
  expect(run.status).toBe('paused');
  const events = (await ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));
  return { run, events };
}

describe('the loader takes a hitl skill’s message from the param it names (ADR 111)', () => {
  it('the node keeps params.question’s message and adds the named param’s as skillMessage', async () => {
    for (const skills of [registry(), catalogOf(registry())]) {
      const node = first(await planOf(BLUEPRINT('{ prompt: "Ship it?" }'), skills));
      expect(node).toMatchObject({
        kind: 'hitl',
        message: '',
        render: { template: '{{ previous_step }}' },
        skillMessage: { message: 'Ship it?' },
      });
      const templated = first(
        await planOf(BLUEPRINT('{ prompt: "Ship {{ previous_step }}?" }'), skills),
      );
      expect(templated.skillMessage).toMatchObject({
        render: { template: 'Ship {{ previous_step }}?' },
      });
    }
  });

  it('ask_user, a skill naming question, or params that give the same message keep their plan', async () => {
    const ask =
      'version: "0.1"\nname: a\nsteps:\n  - name: q\n    agent: { id: flujo.builtins.ask_user, params: { question: "Why?" } }\n';
    const bare = await planOf(ask);
    const withRegistry = await planOf(ask, catalogOf(createSkillRegistry()));
    expect(first(withRegistry)).not.toHaveProperty('skillMessage');
    expect(planFingerprint(withRegistry)).toBe(planFingerprint(bare));
    // prompt and question both "Same": the message is the same either way.
    const same = first(await planOf(BLUEPRINT('{ prompt: Same, question: Same }'), registry()));
    expect(same).toMatchObject({ message: 'Same' });
    expect(same).not.toHaveProperty('skillMessage');
  });
});

describe('review of ADR 111', () => {
  it('a step that writes only question: (all such a skill took before) keeps asking with it', async () => {
    const plan = await planOf(BLUEPRINT('{ question: "Ship it?" }'), registry());
    expect(first(plan)).toMatchObject({ kind: 'hitl', message: 'Ship it?' });
    expect(first(plan)).not.toHaveProperty('skillMessage');
    const { run } = await paused(plan, 'question-only');
    expect(run.pause).toMatchObject({ message: 'Ship it?' });
  });

  it("a failing template in the named param is placed at that param's line and column", async () => {
    const plan = await planOf(
      `version: "0.1"
name: ship
steps:
  - name: ask
    agent:
      id: acme.ship
      params:
        question: "Plain question"
        prompt: "Ship {{ previous_step | join(1, 2) }}?"
`,
      registry(),
    );
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, agents: createSkillAgents(registry()) });
    const run = await engine.run(plan, 'order 7', { runId: 'bad-prompt' });
    expect(run.status).toBe('failed');
    expect(run.error?.message).toContain('ask.message');
    // Before: no place (only params.question's message was mapped under the label).
    expect(placeOf(plan.ir, run.error!)).toMatchObject({ line: 9, label: 'ask.message' });
  });
});

describe('a run of a hitl skill step asks with the named param', () => {
  it('a new run records the flag and asks "Ship it?" (not its input)', async () => {
    const plan = await planOf(BLUEPRINT('{ prompt: "Ship it?" }'), registry());
    const { run, events } = await paused(plan, 'today');
    expect(run.pause).toMatchObject({ message: 'Ship it?' });
    expect((events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>).data.engine.flags).toEqual([
      ...CURRENT_ENGINE_FLAGS,
    ]);
    expect(events.find((e) => e.type === 'HumanInputRequested')?.data).toMatchObject({
      message: 'Ship it?',
    });
    // The same events claiming no flag diverge at the question: the gate decides.
    const asked = events.find((e) => e.type === 'HumanInputRequested')!;
    expect(() => refold(compilePlan(plan), withoutFlag(events))).toThrow(NondeterminismError);
    try {
      refold(compilePlan(plan), withoutFlag(events));
    } catch (e) {
      expect(e).toMatchObject({ seq: asked.seq });
    }
  });

  it('a run recorded before the flag asked with its input, refolds and resumes without allowChangedPlan', async () => {
    const plan = await planOf(BLUEPRINT('{ prompt: "Ship it?" }'), registry());
    // What the loader before ADR 111 compiled: the same node without skillMessage.
    const { skillMessage: _, ...oldNode } = first(plan);
    const oldPlan: Plan = {
      ...plan,
      ir: { ...plan.ir, root: { ...plan.ir.root, steps: [oldNode] } as never },
    };
    expect(planFingerprint(oldPlan)).not.toBe(planFingerprint(plan));
    const { events } = await paused(oldPlan, 'old');
    const old = withoutFlag(events);
    expect(old.find((e) => e.type === 'HumanInputRequested')?.data).toMatchObject({
      message: 'order 7',
    });
    expect(refold(compilePlan(plan), old).status).toBe('paused');
    const ledger = createMemoryLedger();
    await appendAsRecorded(ledger, 'old', old);
    const engine = createEngine({ ledger, agents: createSkillAgents(registry()) });
    expect((await engine.replay(plan, 'old')).identical).toBe(true);
    const done = await engine.resume(plan, 'old', { humanInput: 'yes' });
    expect(done).toMatchObject({ status: 'completed', output: 'yes' });
  });
});

describe('a hitl skill reached as an agent (ADR 111)', () => {
  it('fails the step with SKILL_NOT_CALLABLE, its run never called', async () => {
    called = 0;
    const plan = definePipeline('calls-hitl', agentStep('ship', 'skill:acme.ship')).plan;
    const engine = createEngine({
      ledger: createMemoryLedger(),
      agents: createSkillAgents(registry()),
    });
    const run = await engine.run(plan, 'x');
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'SKILL_NOT_CALLABLE' });
    expect(called).toBe(0);
  });
});

describe('a pipeline module calling a hitl skill as an agent is refused when loaded (ADR 111)', () => {
  const module = (agents: string[]) =>
    `export default { ir: ${JSON.stringify({
      version: 1,
      name: 'calls',
      root: {
        kind: 'sequence',
        name: 'calls',
        steps: agents.map((agent, i) => ({
          kind: 'step',
          name: `s${i}`,
          agent,
          retries: 0,
          backoffMs: 0,
        })),
      },
    })}, functions: { a: (x) => x } };\n`;

  it('SKILL_NOT_CALLABLE, exit 3, naming the file and the steps; ask_user from the project registry too', async () => {
    const cfg = loadConfig({ root: dir, env: {} });
    const file = join(dir, 'calls.mjs');
    writeFileSync(file, module(['fn:a', 'skill:acme.ship', 'skill:acme.ship']));
    const e = (await loadPipelineFile(file, cfg, registry()).catch((x: unknown) => x)) as {
      code: string;
      exitCode: number;
      message: string;
    };
    expect(e).toMatchObject({ code: 'SKILL_NOT_CALLABLE', exitCode: 3 });
    expect(e.message).toContain(`${file}: step s1 calls skill acme.ship, which is kind: hitl`);
    expect(e.message).toContain('(and 1 more step(s): s2)');
    // Without a registry given, the project's: builtins (ask_user is a hitl skill) and skills.yaml.
    const ask = join(dir, 'ask.mjs');
    writeFileSync(ask, module(['skill:flujo.builtins.ask_user']));
    await expect(loadPipelineFile(ask, cfg)).rejects.toMatchObject({
      code: 'SKILL_NOT_CALLABLE',
      exitCode: 3,
    });
    // A run already recorded (resume, replay) is not refused at load (ADR 106).
    await expect(
      loadPipelineFile(ask, cfg, undefined, { recordedRun: true }),
    ).resolves.toMatchObject({ file: ask });
    // A skill step of kind skill loads.
    const ok = join(dir, 'ok.mjs');
    writeFileSync(ok, module(['skill:flujo.builtins.stringify']));
    await expect(loadPipelineFile(ok, cfg)).resolves.toMatchObject({ file: ok });
  });
});
