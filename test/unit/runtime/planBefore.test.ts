/**
 * The fingerprints an earlier release computed for a plan (src/runtime/planBefore.ts) leave out
 * the gated fields of hitl nodes only: user data that happens to read `kind: 'hitl'` (here a
 * step's `input:` constant) was hashed as it is by every release, and stays in.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { loadBlueprint } from '../../../src/blueprint/loader.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../../src/dsl/engineFlags.js';
import { planFingerprint } from '../../../src/dsl/fingerprint.js';
import type { HitlNode, Plan, PlanNode } from '../../../src/dsl/ir.js';
import { initFastHash } from '../../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../../src/events/envelope.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { fingerprintsBefore } from '../../../src/runtime/planBefore.js';
import { memoryLedgerOf } from '../../support/appendAsRecorded.js';

/** `count` has ADR 90's field; `note`'s input constant holds both gated names as user data. */
const DATA = `version: "0.1"
name: data
steps:
  - name: count
    agent: { id: flujo.builtins.ask_user, params: { question: "How many?" } }
    input_schema: { type: integer }
  - name: note
    agent: { id: flujo.builtins.ask_user, params: { question: "Note?" } }
    input: { kind: hitl, answerSchema: { type: string }, skillAnswerSchema: { type: boolean } }
`;

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-plan-before-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function planOf(text: string): Promise<Plan> {
  const file = join(dir, 'b.yaml');
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  return withBlueprintCode(loaded);
}
const steps = (p: Plan) => (p.ir.root as unknown as { steps: PlanNode[] }).steps;
const withSteps = (p: Plan, s: PlanNode[]): Plan => ({
  ...p,
  ir: { ...p.ir, root: { ...p.ir.root, steps: s } as PlanNode },
});
/** The plan as a loader before ADR 90 compiled it: `count` without its answerSchema. */
const before90 = (p: Plan) => {
  const [count, note] = steps(p) as [HitlNode, PlanNode];
  const { answerSchema: _a, ...rest } = count;
  return withSteps(p, [rest as PlanNode, note]);
};
const withFlags = (events: LedgerEvent[], flags: readonly string[]) =>
  events.map((e) =>
    e.type === 'RunStarted'
      ? ({ ...e, data: { ...e.data, engine: { ...e.data.engine, flags } } } as LedgerEvent)
      : e,
  );
const NEITHER = CURRENT_ENGINE_FLAGS.filter(
  (f) => f !== ENGINE_FLAGS.askUserAnswerSchema && f !== ENGINE_FLAGS.hitlSkillAnswerSchema,
);
async function recordedBefore90(plan: Plan) {
  const first = createMemoryLedger();
  await createEngine({ ledger: first }).run(plan, 'x', { runId: 'r' });
  const events = (await first.read('r')).map((r) => decodeRecord('r', r.seq, r.body));
  return memoryLedgerOf('r', withFlags(events, NEITHER));
}

describe('fingerprints before the answer schemas', () => {
  it('leave out the fields of hitl nodes and keep user data that holds kind: hitl', async () => {
    const plan = await planOf(DATA);
    expect(steps(plan)[1]).toMatchObject({
      input: { template: { kind: 'hitl', answerSchema: { type: 'string' } } },
    });
    expect(fingerprintsBefore(plan)).toEqual([
      {
        fingerprint: planFingerprint(before90(plan)),
        lacks: [ENGINE_FLAGS.askUserAnswerSchema],
      },
    ]);
  });

  it('are none for a plan whose only kind: hitl objects with those keys are user data', async () => {
    const plan = await planOf(DATA.replace('    input_schema: { type: integer }\n', ''));
    expect(steps(plan)[0]).not.toHaveProperty('answerSchema');
    expect(fingerprintsBefore(plan)).toEqual([]);
  });

  it('resume a run recorded before ADR 90 and refuse one whose user data differed', async () => {
    const plan = await planOf(DATA);
    const same = await recordedBefore90(before90(plan));
    await expect(
      createEngine({ ledger: same }).resume(plan, 'r', { humanInput: 'three' }),
    ).resolves.toMatchObject({ status: 'paused' });
    // The same pipeline but for the input constant, which lacked both keys: another pipeline.
    const [count, note] = steps(before90(plan)) as [PlanNode, PlanNode];
    const other = withSteps(plan, [count, { ...note, input: { template: { kind: 'hitl' } } }]);
    const changed = await recordedBefore90(other);
    await expect(
      createEngine({ ledger: changed }).resume(plan, 'r', { humanInput: 'three' }),
    ).rejects.toMatchObject({ code: 'PLAN_CHANGED' });
  });
});
