/**
 * A step using a registered hitl skill checks its answer against the skill's declared
 * `hitl.inputSchema` when it declares no schema of its own (ADR 95), in runs recorded with the
 * engine flag `hitl-skill-answer-schema`; a run recorded before keeps asking with `{}` and taking
 * any answer, and resumes under the same blueprint without --allow-changed-pipeline.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { loadBlueprint, type SkillCatalog } from '../../src/blueprint/loader.js';
import { catalogOf } from '../../src/cli/agents.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import type { HitlNode, Plan, PlanNode } from '../../src/dsl/ir.js';
import { fromHex, initFastHash, toHex } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { NondeterminismError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import type { Skill } from '../../src/skills/types.js';
import {
  HITL_SKILL_RUN_ID,
  approveSkill,
  hitlSkillEngine,
  hitlSkillPlan,
  hitlSkillRegistry,
} from '../fixtures/pipelines/hitlSkill.js';
import { appendAsRecorded, memoryLedgerOf } from '../support/appendAsRecorded.js';
import { rejected } from '../support/rejected.js';

const STEP = (id: string, schemaLines = '') => `version: "0.1"
name: approval
steps:
  - name: approve
    agent: { id: ${id}, params: { question: "Approve?" } }
${schemaLines}`;

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-hitl-skill-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function load(text: string, skills?: SkillCatalog) {
  const file = join(dir, `b${(n += 1)}.yaml`);
  writeFileSync(file, text);
  return loadBlueprint(file, {
    files: nodeBlueprintFiles,
    root: dir,
    ...(skills ? { skills } : {}),
  });
}
async function planOf(text: string, skills?: SkillCatalog): Promise<Plan> {
  const loaded = load(text, skills);
  expect(loaded.errors).toEqual([]);
  return withBlueprintCode(loaded);
}
const steps = (p: Plan) => (p.ir.root as unknown as { steps?: PlanNode[] }).steps ?? [p.ir.root];
const first = (p: Plan) => steps(p)[0] as HitlNode;
const withSkill = (hitl: Skill['hitl']) =>
  createSkillRegistry({ skills: [{ ...approveSkill, hitl }] });

describe('the loader applies a hitl skill’s declared answer schema', () => {
  it('the node carries it beside inputSchema {}, from the registry or the CLI’s catalog', async () => {
    for (const skills of [hitlSkillRegistry(), catalogOf(hitlSkillRegistry())]) {
      const node = first(await planOf(STEP('acme.approve'), skills));
      expect(node).toMatchObject({
        kind: 'hitl',
        message: 'Approve?',
        inputSchema: {},
        skillAnswerSchema: { type: 'boolean' },
      });
      expect(node).not.toHaveProperty('answerSchema');
    }
  });

  it('a step’s own input_schema or output_schema wins', async () => {
    for (const key of ['input_schema', 'output_schema']) {
      const node = first(
        await planOf(STEP('acme.approve', `    ${key}: { type: string }\n`), hitlSkillRegistry()),
      );
      expect(node).toMatchObject({ inputSchema: {}, answerSchema: { type: 'string' } });
      expect(node).not.toHaveProperty('skillAnswerSchema');
    }
  });

  it('ask_user declares {} (any answer): its plan is what it was, with or without the registry', async () => {
    const registry = createSkillRegistry();
    expect(registry.get('flujo.builtins.ask_user')?.hitl?.inputSchema).toEqual({});
    const bare = await planOf(STEP('flujo.builtins.ask_user'));
    const withRegistry = await planOf(STEP('flujo.builtins.ask_user'), catalogOf(registry));
    expect(first(withRegistry)).not.toHaveProperty('skillAnswerSchema');
    expect(planFingerprint(withRegistry)).toBe(planFingerprint(bare));
    // Nor does a skill of its own that declares {}.
    const anyAnswer = await planOf(
      STEP('acme.approve'),
      withSkill({ messageParam: 'question', inputSchema: {} }),
    );
    expect(first(anyAnswer)).not.toHaveProperty('skillAnswerSchema');
  });

  it('a declared schema that does not compile is V-K4 at the skill id', () => {
    const bad = withSkill({ messageParam: 'question', inputSchema: { type: 'boolen' } });
    const loaded = load(STEP('acme.approve'), bad);
    expect(loaded.plan).toBeUndefined();
    expect(loaded.errors).toMatchObject([
      {
        rule_id: 'V-K4',
        line: 5,
        message: expect.stringContaining(`skill 'acme.approve' declares a hitl.inputSchema`),
      },
    ]);
    // The step's own schema is used instead, and the skill's is not consulted.
    expect(load(STEP('acme.approve', `    input_schema: { type: string }\n`), bad).errors).toEqual(
      [],
    );
  });
});

describe('a run of a hitl skill step checks the answer against the skill’s schema', () => {
  it('the pause shows it; a wrong answer is refused and recorded nowhere; a right one completes', async () => {
    const plan = await hitlSkillPlan();
    const ledger = createMemoryLedger();
    const engine = hitlSkillEngine(ledger);
    const run = await engine.run(plan, 'refund #88', { runId: 'today' });
    expect(run.status).toBe('paused');
    expect(run.pause).toMatchObject({
      message: 'Approve the refund?',
      inputSchema: { type: 'boolean' },
    });
    const events = await engine.events('today');
    const started = events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started.data.engine.flags).toContain(ENGINE_FLAGS.hitlSkillAnswerSchema);
    expect(events.find((e) => e.type === 'HumanInputRequested')?.data).toMatchObject({
      inputSchema: { type: 'boolean' },
    });
    const before = (await ledger.read('today')).length;
    for (const wrong of ['yes', 1, { approved: true }]) {
      const e = await rejected(engine.resume(plan, 'today', { humanInput: wrong }));
      expect(e.code).toBe('HUMAN_INPUT_REJECTED');
    }
    expect((await ledger.read('today')).length).toBe(before);
    const done = await engine.resume(plan, 'today', { humanInput: false });
    expect(done).toMatchObject({ status: 'completed', output: 'false' });
  });
});

interface Fixture {
  runId: string;
  events: { seq: number; type: string; body: string; hash: string }[];
}
const fixture = JSON.parse(
  readFileSync(
    new URL('../fixtures/ledgers/hitl-skill-before-adr95.json', import.meta.url),
    'utf8',
  ),
) as Fixture;
const recorded = (): LedgerEvent[] =>
  fixture.events.map((e) => decodeRecord(fixture.runId, e.seq, fromHex(e.body)));

/** The events with RunStarted's flags replaced, as an engine with those flags recorded them. */
const withFlags = (events: LedgerEvent[], flags: readonly string[]) =>
  events.map((e) =>
    e.type === 'RunStarted'
      ? ({ ...e, data: { ...e.data, engine: { ...e.data.engine, flags } } } as LedgerEvent)
      : e,
  );

describe('a run recorded before hitl-skill-answer-schema (2ce0079, ADR 95)', () => {
  const pausedAt = () => recorded().findIndex((e) => e.type === 'RunPaused') + 1;

  it('was recorded asking with {} and without the flag', () => {
    const events = recorded();
    const started = events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    // Today's flags but this one and those added since (ADR 109 on).
    const since: string[] = [
      ENGINE_FLAGS.mapItemKeepsOnlyOutput,
      ENGINE_FLAGS.hitlSkillMessageParam,
      ENGINE_FLAGS.runInputRecordedOnce,
      ENGINE_FLAGS.stepOutputsKeptForEveryRead,
      ENGINE_FLAGS.objectKeysInOrder,
      ENGINE_FLAGS.nonFiniteArithmeticFails,
      ENGINE_FLAGS.firstPauseRuleWins,
    ];
    expect(started.data.engine.flags).toEqual(
      CURRENT_ENGINE_FLAGS.filter(
        (f) => f !== ENGINE_FLAGS.hitlSkillAnswerSchema && !since.includes(f),
      ),
    );
    expect(events.find((e) => e.type === 'HumanInputRequested')?.data).toMatchObject({
      inputSchema: {},
    });
  });

  it('refolds through today’s plan as recorded; the same events claiming the flag diverge at the question', async () => {
    const machine = compilePlan(await hitlSkillPlan());
    expect(refold(machine, recorded()).status).toBe('completed');
    let divergence: unknown;
    try {
      refold(machine, withFlags(recorded(), CURRENT_ENGINE_FLAGS));
    } catch (e) {
      divergence = e;
    }
    expect(divergence).toBeInstanceOf(NondeterminismError);
    const asked = recorded().find((e) => e.type === 'HumanInputRequested')!;
    expect(divergence).toMatchObject({ seq: asked.seq });
  });

  it('replays identically, and resumes under the same blueprint without allowChangedPlan to the bytes it recorded', async () => {
    const plan = await hitlSkillPlan();
    const events = recorded();
    const upTo = pausedAt();
    const ledger = createMemoryLedger();
    const head = await appendAsRecorded(ledger, HITL_SKILL_RUN_ID, events.slice(0, upTo));
    expect(toHex(head.hash)).toBe(fixture.events[upTo - 1]!.hash);
    const replayed = await createEngine({ ledger }).replay(plan, HITL_SKILL_RUN_ID);
    expect(replayed.identical).toBe(true);
    expect(replayed.firstDivergence).toBeUndefined();
    const engine = hitlSkillEngine(ledger, events[upTo]!.at - 1);
    const done = await engine.resume(plan, HITL_SKILL_RUN_ID, {
      humanInput: true,
      answeredBy: 'auditor',
    });
    expect(done).toMatchObject({ status: 'completed', output: 'true' });
    const rows = await ledger.read(HITL_SKILL_RUN_ID, { fromSeq: upTo + 1 });
    expect(rows.map((r) => [r.seq, r.type, toHex(r.body)])).toEqual(
      fixture.events.slice(upTo).map((e) => [e.seq, e.type, e.body]),
    );
  });

  it('its question took any answer; it still does', async () => {
    const ledger = await memoryLedgerOf(HITL_SKILL_RUN_ID, recorded().slice(0, pausedAt()));
    const done = await hitlSkillEngine(ledger).resume(await hitlSkillPlan(), HITL_SKILL_RUN_ID, {
      humanInput: 'yes',
    });
    expect(done).toMatchObject({ status: 'completed', output: 'yes' });
  });

  it('a run with the flag whose blueprint gained the schema since, or a plan changed elsewhere, is still refused', async () => {
    const plan = await hitlSkillPlan();
    // Recorded today while acme.approve declared {} (so its node had no schema): a change.
    const anyAnswer = withSkill({ messageParam: 'question', inputSchema: {} });
    const at = fileURLToPath(new URL('../fixtures/blueprints/hitlSkill/', import.meta.url));
    const loaded = loadBlueprint(join(at, 'refund.yaml'), {
      files: nodeBlueprintFiles,
      root: at,
      skills: anyAnswer,
    });
    const without = await withBlueprintCode(loaded);
    expect(planFingerprint(without)).not.toBe(planFingerprint(plan));
    const flagged = createMemoryLedger();
    await createEngine({ ledger: flagged }).run(without, 'x', { runId: 'flagged' });
    await expect(
      createEngine({ ledger: flagged }).resume(plan, 'flagged', { humanInput: true }),
    ).rejects.toMatchObject({ code: 'PLAN_CHANGED' });
    // Recorded before the flag, but the plan's revision changed too.
    const ledger = await memoryLedgerOf(HITL_SKILL_RUN_ID, recorded().slice(0, pausedAt()));
    const revised: Plan = { ...plan, ir: { ...plan.ir, revision: 'two' } as Plan['ir'] };
    await expect(
      createEngine({ ledger }).resume(revised, HITL_SKILL_RUN_ID, { humanInput: true }),
    ).rejects.toMatchObject({ code: 'PLAN_CHANGED' });
  });
});

describe('a plan with both kinds of answer schema, and runs recorded before either', () => {
  const TWO = `version: "0.1"
name: two_asks
steps:
  - name: how_many
    agent: { id: acme.approve, params: { question: "How many?" } }
    input_schema: { type: integer }
  - name: approve
    agent: { id: acme.approve, params: { question: "Approve?" } }
`;
  /** The plan as a loader before ADR 90 compiled it: neither field. */
  const strip = (p: Plan): Plan => {
    const bare = steps(p).map((s) => {
      const { answerSchema: _a, skillAnswerSchema: _s, ...rest } = s as HitlNode;
      return rest as PlanNode;
    });
    return { ...p, ir: { ...p.ir, root: { ...p.ir.root, steps: bare } as PlanNode } };
  };
  const recordedWith = async (plan: Plan, flags: readonly string[]) => {
    const first = createMemoryLedger();
    await createEngine({ ledger: first }).run(plan, 'x', { runId: 'r' });
    const events = (await first.read('r')).map((r) => decodeRecord('r', r.seq, r.body));
    return memoryLedgerOf('r', withFlags(events, flags));
  };

  it('a run recorded before ADR 90 resumes without allowChangedPlan; one claiming ADR 90’s flag is refused', async () => {
    const plan = await planOf(TWO, hitlSkillRegistry());
    expect(first(plan)).toHaveProperty('answerSchema');
    expect(steps(plan)[1]).toHaveProperty('skillAnswerSchema');
    const old = strip(plan);
    const neither = CURRENT_ENGINE_FLAGS.filter(
      (f) => f !== ENGINE_FLAGS.askUserAnswerSchema && f !== ENGINE_FLAGS.hitlSkillAnswerSchema,
    );
    const before90 = await recordedWith(old, neither);
    const paused = await createEngine({ ledger: before90 }).resume(plan, 'r', {
      humanInput: 'three',
    });
    expect(paused).toMatchObject({ status: 'paused', pause: { inputSchema: {} } });
    const done = await createEngine({ ledger: before90 }).resume(plan, 'r', { humanInput: 'no' });
    expect(done).toMatchObject({ status: 'completed', output: 'no' });
    // An engine with ADR 90 would have put the step's input_schema on the node: not this plan.
    const after90 = await recordedWith(
      old,
      CURRENT_ENGINE_FLAGS.filter((f) => f !== ENGINE_FLAGS.hitlSkillAnswerSchema),
    );
    await expect(
      createEngine({ ledger: after90 }).resume(plan, 'r', { humanInput: 3 }),
    ).rejects.toMatchObject({ code: 'PLAN_CHANGED' });
  });
});
