/**
 * A run's input is recorded once (ADR 110): in a run recorded with the engine flag
 * `run-input-recorded-once`, `RunStarted.context` leaves out an `initial_prompt` equal to the
 * input, and the run's context takes it from `input`. What templates render from the context, the
 * decisions recorded and the lens report's context are those of a run recorded before the flag,
 * which held the input twice and still refolds as it was recorded.
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
import type { Plan } from '../../src/dsl/ir.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { buildReport } from '../../src/lens/report.js';
import { createEngine } from '../../src/runtime/engine.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { createSkillAgents } from '../../src/skills/agents.js';
import { createSkillRegistry } from '../../src/skills/registry.js';

const FLAG = ENGINE_FLAGS.runInputRecordedOnce;
const BLUEPRINT = `version: "0.1"
name: once
steps:
  - name: show
    agent: { id: flujo.builtins.stringify }
    input: "{{ context.initial_prompt }} for {{ context.who }}: {{ context | tojson }}"
`;

let dir: string;
let plan: Plan;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-input-once-'));
  writeFileSync(join(dir, 'once.yaml'), BLUEPRINT);
  const loaded = loadBlueprint(join(dir, 'once.yaml'), { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  plan = await withBlueprintCode(loaded);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A run as `flujo run --input … --context '{"who":"ada"}'` starts it: the input is initial_prompt. */
async function recorded(input: unknown, runId: string, engineFlags = CURRENT_ENGINE_FLAGS) {
  const flags = CURRENT_ENGINE_FLAGS as string[];
  const today = [...flags];
  // An engine before ADR 110: today's flags without it (the engine records and acts on these).
  flags.splice(0, flags.length, ...engineFlags);
  try {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, agents: createSkillAgents(createSkillRegistry()) });
    const run = await engine.run(plan, input, {
      runId,
      context: { who: 'ada', initial_prompt: input },
    });
    const rows = await ledger.read(runId);
    const events = rows.map((r) => decodeRecord(runId, r.seq, r.body));
    const report = buildReport(events, await verifyStoredRun(ledger, runId));
    return {
      rows,
      events,
      report,
      status: run.status,
      output: (run as { output?: unknown }).output,
    };
  } finally {
    flags.splice(0, flags.length, ...today);
  }
}
const before = CURRENT_ENGINE_FLAGS.filter((f) => f !== FLAG);

const started = (events: LedgerEvent[]) =>
  (events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>).data;
const asked = (events: LedgerEvent[]) =>
  events.find((e) => e.type === 'AgentCallRequested')?.data as { input: unknown };

describe('a run records its input once (ADR 110)', () => {
  it('a new run leaves initial_prompt out of RunStarted.context; an old run held it twice', async () => {
    const now = await recorded('order 7', 'now');
    expect(started(now.events).engine.flags).toContain(FLAG);
    expect(started(now.events)).toMatchObject({ input: 'order 7', context: { who: 'ada' } });
    expect(started(now.events).context).not.toHaveProperty('initial_prompt');
    const old = await recorded('order 7', 'old', before);
    expect(started(old.events).engine.flags).not.toContain(FLAG);
    expect(started(old.events).context).toEqual({ who: 'ada', initial_prompt: 'order 7' });
  });

  it('templates render the same context-derived value for a new run and an old one', async () => {
    for (const input of ['order 7', { qty: 2, item: 'pen', 0: 'zero' }]) {
      const now = await recorded(input, 'now');
      const old = await recorded(input, 'old', before);
      expect([now.status, old.status]).toEqual(['completed', 'completed']);
      const text = asked(now.events).input;
      expect(text).toBe(asked(old.events).input);
      expect(now.output).toEqual(old.output);
      if (typeof input === 'string')
        expect(text).toBe('order 7 for ada: {"initial_prompt": "order 7", "who": "ada"}');
      // Each refolds to the decisions it recorded (the old one as its engine did).
      expect(refold(compilePlan(plan), now.events).status).toBe('completed');
      expect(refold(compilePlan(plan), old.events).status).toBe('completed');
      // The lens report shows the same context, keys in the same order.
      expect(JSON.stringify(now.report.run.context)).toBe(JSON.stringify(old.report.run.context));
      expect(now.report.run.context).toEqual({ who: 'ada', initial_prompt: input });
    }
  });

  it('an input of 1 MB makes a RunStarted of about 1 MB, not 2', async () => {
    // (The step's template then fails on its bound: only RunStarted matters here.)
    const big = 'x'.repeat(1_000_000);
    const now = await recorded(big, 'now');
    const old = await recorded(big, 'old', before);
    expect(now.rows[0]!.body.length).toBeLessThan(1_100_000);
    expect(old.rows[0]!.body.length).toBeGreaterThan(2_000_000);
  });

  it('the engine measures the context as recorded, without the copy of the input', async () => {
    const ledger = createMemoryLedger();
    const agents = createSkillAgents(createSkillRegistry());
    const engine = createEngine({ ledger, agents, maxInputBytes: 4096 });
    const near = 'x'.repeat(4090); // 4,093 bytes as recorded: the context with it would be over
    await expect(
      engine.run(plan, near, { runId: 'near', context: { initial_prompt: near } }),
    ).resolves.toBeDefined();
    expect((await ledger.read('near')).length).toBeGreaterThan(0);
    // A different initial_prompt is recorded, so it is measured.
    await expect(
      engine.run(plan, 'x', { runId: 'other-big', context: { initial_prompt: near, who: 'a' } }),
    ).rejects.toMatchObject({ code: 'USAGE' });
    expect(await ledger.read('other-big')).toEqual([]);
  });

  it('a context whose initial_prompt is not the input keeps it', async () => {
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, agents: createSkillAgents(createSkillRegistry()) });
    await engine.run(plan, 'order 7', { runId: 'other', context: { initial_prompt: 'other' } });
    const events = (await ledger.read('other')).map((r) => decodeRecord('other', r.seq, r.body));
    expect(started(events).context).toEqual({ initial_prompt: 'other' });
    expect(asked(events).input).toBe('other for : {"initial_prompt": "other"}');
  });
});
