/**
 * An ask_user step's `input_schema` / `output_schema` checks the answer as a hitl step's does
 * (ADR 90), for runs recorded with the engine flag `ask-user-answer-schema`; a run recorded
 * before keeps asking with `{}` and taking any answer, when resumed, replayed or refolded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import type { HitlNode, Plan, PlanNode } from '../../src/dsl/ir.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { NondeterminismError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';
import { memoryLedgerOf } from '../support/appendAsRecorded.js';
import { rejected } from '../support/rejected.js';

const ASK = (schemaLines: string) => `version: "0.1"
name: ask_count
steps:
  - name: count
    agent: { id: flujo.builtins.ask_user, params: { question: "How many?" } }
${schemaLines}`;

const INPUT = `    input_schema: { type: integer, minimum: 1 }\n`;
const OUTPUT = `    output_schema: { type: integer, minimum: 1 }\n`;

let dir: string;
beforeAll(() => {
  initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-ask-user-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function load(text: string) {
  const file = join(dir, `b${(n += 1)}.yaml`);
  writeFileSync(file, text);
  return loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
}
async function planOf(text: string): Promise<Plan> {
  const loaded = load(text);
  expect(loaded.errors).toEqual([]);
  return withBlueprintCode(loaded);
}
const root = (p: Plan) => (p.ir.root as unknown as { steps: PlanNode[] }).steps[0] as HitlNode;

describe('ask_user answers are checked against the schema the step declares', () => {
  for (const [key, lines] of [
    ['input_schema', INPUT],
    ['output_schema', OUTPUT],
  ] as const) {
    it(`${key}: the pause shows it, a wrong answer is refused and recorded nowhere, a right one is the output`, async () => {
      const plan = await planOf(ASK(lines));
      expect(root(plan)).toMatchObject({
        kind: 'hitl',
        inputSchema: {},
        answerSchema: { type: 'integer', minimum: 1 },
      });
      const ledger = createMemoryLedger();
      const engine = createEngine({ ledger });
      const run = await engine.run(plan, 'go', { runId: `ask-${key}` });
      expect(run.status).toBe('paused');
      const asked = (await engine.events(run.runId)).find((e) => e.type === 'HumanInputRequested');
      expect(asked?.data).toMatchObject({
        message: 'How many?',
        inputSchema: { type: 'integer', minimum: 1 },
      });
      const before = (await ledger.read(run.runId)).length;
      for (const wrong of ['three', 0, { n: 3 }]) {
        const e = await rejected(engine.resume(plan, run.runId, { humanInput: wrong }));
        expect(e.code).toBe('HUMAN_INPUT_REJECTED');
      }
      expect((await ledger.read(run.runId)).length).toBe(before);
      const done = await engine.resume(plan, run.runId, { humanInput: 3 });
      expect(done).toMatchObject({ status: 'completed', output: 3 });
    });
  }

  it('without a schema the step asks with {} and takes any answer, and its plan is as before', async () => {
    const plan = await planOf(ASK(''));
    expect(root(plan)).not.toHaveProperty('answerSchema');
    expect(root(plan).inputSchema).toEqual({});
    const engine = createEngine({ ledger: createMemoryLedger() });
    const run = await engine.run(plan, 'go');
    const done = await engine.resume(plan, run.runId, { humanInput: 'three' });
    expect(done).toMatchObject({ status: 'completed', output: 'three' });
  });

  it('both schemas, or one that does not compile, are refused when the blueprint loads (V-K4)', () => {
    const both = load(ASK(INPUT + OUTPUT));
    expect(both.plan).toBeUndefined();
    expect(both.errors).toMatchObject([
      { rule_id: 'V-K4', line: 7, message: expect.stringContaining('not both') },
    ]);
    const bad = load(ASK(`    input_schema: { type: integr }\n`));
    expect(bad.errors).toMatchObject([
      { rule_id: 'V-K4', line: 6, message: expect.stringContaining('input_schema is not a valid') },
    ]);
  });
});

/** The events with RunStarted's flags replaced, as an engine with those flags recorded them. */
const withFlags = (events: LedgerEvent[], flags: readonly string[]) =>
  events.map((e) =>
    e.type === 'RunStarted'
      ? ({ ...e, data: { ...e.data, engine: { ...e.data.engine, flags } } } as LedgerEvent)
      : e,
  );

const ledgerOf = memoryLedgerOf;

const BEFORE = CURRENT_ENGINE_FLAGS.filter((f) => f !== ENGINE_FLAGS.askUserAnswerSchema);

describe('a run recorded before ask-user-answer-schema (ADR 90)', () => {
  it('new runs record the flag', async () => {
    expect(CURRENT_ENGINE_FLAGS).toContain(ENGINE_FLAGS.askUserAnswerSchema);
    const plan = await planOf(ASK(INPUT));
    const engine = createEngine({ ledger: createMemoryLedger() });
    const run = await engine.run(plan, 'go');
    const started = (await engine.events(run.runId))[0]!;
    expect(started.type === 'RunStarted' && started.data.engine.flags).toContain(
      'ask-user-answer-schema',
    );
  });

  it('resumes under today’s plan taking any answer, and replays and refolds as recorded', async () => {
    const today = await planOf(ASK(INPUT));
    // What the loader before this change compiled from the same blueprint: no answerSchema.
    const { answerSchema: _dropped, ...oldAsk } = root(today);
    const old: Plan = {
      ...today,
      ir: { ...today.ir, root: { ...today.ir.root, steps: [oldAsk] } as PlanNode },
    };
    expect(planFingerprint(old)).not.toBe(planFingerprint(today));

    // The run as the engine before the flag recorded it: paused, asking with {}.
    const first = createMemoryLedger();
    const paused = await createEngine({ ledger: first }).run(old, 'go', { runId: 'old-ask' });
    expect(paused.status).toBe('paused');
    const recorded = withFlags(
      (await first.read('old-ask')).map((r) => decodeRecord('old-ask', r.seq, r.body)),
      BEFORE,
    );
    const asked = recorded.find((e) => e.type === 'HumanInputRequested')!;
    expect(asked.data).toMatchObject({ inputSchema: {} });

    // Refolded against today's plan it asks as recorded; the same events claiming the flag would
    // ask with the schema (the gate is what keeps it).
    const machine = compilePlan(today);
    expect(refold(machine, recorded).status).toBe('paused');
    let divergence: unknown;
    try {
      refold(machine, withFlags(recorded, CURRENT_ENGINE_FLAGS));
    } catch (e) {
      divergence = e;
    }
    expect(divergence).toBeInstanceOf(NondeterminismError);
    expect(divergence).toMatchObject({ seq: asked.seq });

    const ledger = await ledgerOf('old-ask', recorded);
    const engine = createEngine({ ledger });
    const replayed = await engine.replay(today, 'old-ask');
    expect(replayed.firstDivergence).toBeUndefined();
    expect(replayed.identical).toBe(true);
    // Its question took any answer; it still does. The blueprint did not change, so the resume
    // needs no --allow-changed-pipeline: its fingerprint is today's plan's without answerSchema.
    const done = await engine.resume(today, 'old-ask', { humanInput: 'three' });
    expect(done).toMatchObject({ status: 'completed', output: 'three' });
  });

  it('a run with the flag, or a plan that changed in anything else, is still refused', async () => {
    const today = await planOf(ASK(INPUT));
    const { answerSchema: _dropped, ...oldAsk } = root(today);
    const old: Plan = {
      ...today,
      ir: { ...today.ir, root: { ...today.ir.root, steps: [oldAsk] } as PlanNode },
    };
    // Recorded under a plan with no schema, by an engine that has the flag: adding input_schema
    // since is a change of pipeline.
    const flagged = createMemoryLedger();
    await createEngine({ ledger: flagged }).run(old, 'go', { runId: 'flagged' });
    await expect(
      createEngine({ ledger: flagged }).resume(today, 'flagged', { humanInput: 3 }),
    ).rejects.toMatchObject({ code: 'PLAN_CHANGED' });
    // Recorded before the flag, but the plan also changed elsewhere (its revision).
    const first = createMemoryLedger();
    await createEngine({ ledger: first }).run(old, 'go', { runId: 'old-ask' });
    const recorded = withFlags(
      (await first.read('old-ask')).map((r) => decodeRecord('old-ask', r.seq, r.body)),
      BEFORE,
    );
    const ledger = await ledgerOf('old-ask', recorded);
    const revised: Plan = { ...today, ir: { ...today.ir, revision: 'two' } as Plan['ir'] };
    await expect(
      createEngine({ ledger }).resume(revised, 'old-ask', { humanInput: 'three' }),
    ).rejects.toMatchObject({ code: 'PLAN_CHANGED' });
  });
});
