/**
 * `steps[...]` sees every step a template can name (ADR 123): a literal subscript
 * (`steps['x-y']`, `steps["sp ace"]`) or `context.step_outputs[...]` keeps that step's output, and
 * a read of `steps` or `context.step_outputs` whole or by a computed name (`steps[context.which]`,
 * `steps | tojson`) keeps every step's. Before, only the names written as `steps.<name>` were kept:
 * the rest rendered empty with no error, and validate said their outputs were not read (V-A5).
 * Gated by the engine flag `step-outputs-kept-for-every-read`: a run recorded before it refolds,
 * replays and resumes as it ran.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { allNodes } from '../../src/dsl/nodes.js';
import type { Plan, PlanNode } from '../../src/dsl/ir.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { NondeterminismError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';
import { fingerprintsBefore } from '../../src/runtime/planBefore.js';
import { appendAsRecorded } from '../support/appendAsRecorded.js';
import { withoutFlag } from '../support/events.js';
import { scriptedAgents } from '../support/given.js';
import { load, runFixture, skillScript } from './support.js';

const FLAG = ENGINE_FLAGS.stepOutputsKeptForEveryRead;
const SUBSCRIPT = 'fixtures/templates/steps_subscript.yaml';
const NAMED = 'fixtures/templates/steps_named.yaml';

const kept = (p: Plan) => [...allNodes(p.ir.root)].filter((n) => n.keepOutput).map((n) => n.name);
const eventsOf = async (ledger: ReturnType<typeof createMemoryLedger>, runId: string) =>
  (await ledger.read(runId)).map((r) => decodeRecord(runId, r.seq, r.body));
/** What the loader before ADR 123 compiled: the same plan without keepOutput. */
const before123 = (p: Plan): Plan => {
  const strip = (n: PlanNode): PlanNode => {
    const { keepOutput: _, ...rest } = n as PlanNode & { keepOutput?: true };
    const out = rest as Record<string, unknown>;
    if (Array.isArray(out.steps)) out.steps = (out.steps as PlanNode[]).map(strip);
    return out as unknown as PlanNode;
  };
  return { ...p, ir: { ...p.ir, root: strip(p.ir.root) } };
};

describe('steps[...] sees the steps a template names however it names them', () => {
  beforeAll(initFastHash);

  it('validates without V-T5 or V-A5, and keeps the outputs read by a subscript or a whole read', () => {
    for (const rel of [SUBSCRIPT, NAMED]) {
      const r = load(rel);
      const found = r.findings.map((f) => `${f.rule_id} ${f.message}`);
      expect(
        found.filter((f) => /^V-(T5|A5)/.test(f)),
        rel,
      ).toEqual([]);
    }
    // A subscript keeps the step it names (and the context's step_outputs[...] too).
    expect(kept(load(NAMED).plan!)).toEqual(['x-y', 'sp ace']);
    // A computed name or a whole `steps` keeps every step but the pipeline itself.
    expect(kept(load(SUBSCRIPT).plan!)).toEqual(['x-y', 'plain', 'sp ace', 'ask', 'last']);
  });

  it('renders them in a new run, which records the flag', async () => {
    const { run, engine, plan, ledger } = await runFixture(SUBSCRIPT, 'in', {}, { which: 'plain' });
    expect(run.status).toBe('paused');
    const done = await engine.resume(plan, run.runId, { humanInput: 'yes' });
    expect(done.status).toBe('completed');
    // In the order a snapshot gives the keys back (shorter first): a run resumed from its snapshot
    // and its replay from the events then list them alike (see ADR 123 on key order).
    const outputs = { 'x-y': 'XY', plain: 'P', 'sp ace': 'SP', ask: 'yes' };
    const view = Object.fromEntries(
      Object.entries(outputs).map(([k, v]) => [k, { output: v, result: v, value: v }]),
    );
    const { all, ...rest } = done.output as { all: string };
    expect(rest).toStrictEqual({ hy: 'XY', sp: 'SP', dyn: 'P', outs: outputs });
    expect(JSON.parse(all)).toStrictEqual(view);
    const events = await eventsOf(ledger as never, run.runId);
    const started = events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started.data.engine.flags).toEqual([...CURRENT_ENGINE_FLAGS]);
    expect(started.data.engine.flags).toContain(FLAG);
    const replay = await engine.replay(plan, run.runId);
    expect(replay, JSON.stringify(replay).slice(0, 600)).toMatchObject({ identical: true });
    // The same events claiming no flag diverge where the outputs were read: the gate decides.
    expect(() => refold(compilePlan(plan), withoutFlag(events, FLAG))).toThrow(NondeterminismError);
  });

  it('a run recorded before the flag rendered them empty, replays so and resumes without allowChangedPlan', async () => {
    const plan = await withBlueprintCode(load(SUBSCRIPT));
    const oldPlan = before123(plan);
    expect(kept(oldPlan)).toEqual([]);
    expect(planFingerprint(oldPlan)).not.toBe(planFingerprint(plan));
    expect(fingerprintsBefore(plan)).toContainEqual({
      fingerprint: planFingerprint(oldPlan),
      lacks: [FLAG],
    });
    const agents = () => scriptedAgents(skillScript).port as never;
    const first = createMemoryLedger();
    await createEngine({ ledger: first, agents: agents() }).run(oldPlan, 'in', {
      runId: 'old',
      context: { which: 'plain' },
    });
    // As an engine before the flag recorded it: RunStarted without the flag, and no snapshot,
    // whose machine context would hold the flags of the engine that ran it here.
    const old = withoutFlag(await eventsOf(first, 'old'), FLAG).filter(
      (e) => e.type !== 'SnapshotTaken',
    );
    expect(refold(compilePlan(plan), old).status).toBe('paused');
    const ledger = createMemoryLedger();
    await appendAsRecorded(ledger, 'old', old);
    const engine = createEngine({ ledger, agents: agents() });
    expect((await engine.replay(plan, 'old')).identical).toBe(true);
    const done = await engine.resume(plan, 'old', { humanInput: 'yes' });
    expect(done).toMatchObject({
      status: 'completed',
    });
    // Undefined, hy, sp, dyn and outs are left out of the mapping.
    expect(done.output).toStrictEqual({ all: '{}' });
  });
});

describe('a root name followed by a subscript is that name (V-T5)', () => {
  it('previous_step[0], steps["a/b"], context["k x"] and this[0] in #each are not unknown variables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-subscript-'));
    try {
      writeFileSync(
        join(dir, 'b.yaml'),
        `version: "0.1"
name: sub
steps:
  - name: a/b
    agent: { id: flujo.builtins.passthrough }
    input: [1, 2]
  - name: first
    agent: { id: flujo.builtins.passthrough }
    input: "{{ previous_step[0] }} {{ context['k x'] }} {{#each previous_step}}{{ this[0] }}{{/each}}"
  - name: other
    agent: { id: flujo.builtins.passthrough }
    input: '{{ previous_step }} {{ steps["a/b"].output }} {{ steps["nope/x"].output }}'
`,
      );
      const r = loadBlueprint(join(dir, 'b.yaml'), { files: nodeBlueprintFiles, root: dir });
      const found = r.findings.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.message}`);
      // Before: V-T5 unknown template variable 'previous_step[0]', 'context["k x"]', 'this[0]'
      // and 'steps["a/b"]', and nothing said of the step that is not there.
      expect(found.filter((f) => /^V-T[45]/.test(f))).toEqual([
        `V-T4 12:12 'steps.nope/x' names no step that runs before this one`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
