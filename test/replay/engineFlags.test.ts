/**
 * Behaviour changes are gated by the flags a run records (ADR 84): a new run records today's, and
 * a run recorded without a flag refolds with the behaviour from before it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { NondeterminismError } from '../../src/errors.js';
import { createEngine } from '../../src/runtime/engine.js';
import { BLUEPRINTS, compatAgents } from '../fixtures/compat/generate.js';

async function recorded(name: string, input: string, context?: Record<string, unknown>) {
  const loaded = loadBlueprint(join(BLUEPRINTS, `${name}.yaml`), {
    files: nodeBlueprintFiles,
    root: BLUEPRINTS,
  });
  const plan = await withBlueprintCode(loaded);
  const ledger = createMemoryLedger();
  const engine = createEngine({ ledger, agents: compatAgents as never, worker: 'flags' });
  const run = await engine.run(plan, input, {
    runId: `flags-${name}`,
    ...(context ? { context } : {}),
  });
  const events = (await ledger.read(run.runId)).map((r) => decodeRecord(run.runId, r.seq, r.body));
  return { plan, events };
}

/** The same events as if an engine before the flags had recorded the run's start. */
const withFlags = (events: LedgerEvent[], flags: string[]) =>
  events.map((e) =>
    e.type === 'RunStarted'
      ? ({ ...e, data: { ...e.data, engine: { ...e.data.engine, flags } } } as LedgerEvent)
      : e,
  );

const divergence = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof NondeterminismError) return e;
    throw e;
  }
  return undefined;
};

const TWO_ASKS = `version: "0.1"
name: two_asks
steps:
  - kind: hitl
    name: first
    message: "{{ context }}"
  - kind: hitl
    name: second
    message: "{{ previous_step }}"
`;

describe('engine flags (ADR 84)', () => {
  beforeAll(initFastHash);

  it("a new run records today's engine flags in its RunStarted", async () => {
    const { events } = await recorded('flow', 'go');
    const started = events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started.data.engine.flags).toEqual([...CURRENT_ENGINE_FLAGS]);
    expect(started.data.engine.flags).toContain(ENGINE_FLAGS.hitlMessageIndented);
    expect(started.data.engine.flags).toContain(ENGINE_FLAGS.contextViewHidesEngineKeys);
  });

  it('a new run resumed from its snapshot by another engine keeps deciding with its flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-flags-'));
    try {
      writeFileSync(join(dir, 'two.yaml'), TWO_ASKS);
      const plan = await withBlueprintCode(
        loadBlueprint(join(dir, 'two.yaml'), { files: nodeBlueprintFiles, root: dir }),
      );
      const ledger = createMemoryLedger();
      const first = await createEngine({ ledger, worker: 'a' }).run(plan, 'go', { runId: 'two' });
      expect(first.status).toBe('paused');
      // Another engine (another process) resumes from the snapshot the pause recorded.
      const next = await createEngine({ ledger, worker: 'b' }).resume(plan, 'two', {
        humanInput: { qty: 2, tags: ['a'] },
      });
      expect(next.status).toBe('paused');
      const asked = (await ledger.read('two'))
        .map((r) => decodeRecord('two', r.seq, r.body))
        .filter((e) => e.type === 'HumanInputRequested')
        .map((e) => (e.data as { message: string }).message);
      expect(asked).toEqual([
        JSON.stringify({ initial_prompt: 'go' }, null, 2),
        JSON.stringify({ qty: 2, tags: ['a'] }, null, 2),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a hitl message of a run recorded without hitl-message-indented refolds compact', async () => {
    const { plan, events } = await recorded('hitl_object', 'pen');
    const asked = events.find((e) => e.type === 'HumanInputRequested')!;
    const message = (asked.data as { message: string }).message;
    expect(message).toBe(JSON.stringify(JSON.parse(message), null, 2));
    const machine = compilePlan(plan);
    expect(refold(machine, events).status).toBe('paused');
    // Without the flag the fold asks for the compact message the old engine recorded.
    const compact = JSON.stringify(JSON.parse(message));
    const old = withFlags(events, []).map((e) =>
      e.seq === asked.seq ? ({ ...e, data: { ...e.data, message: compact } } as LedgerEvent) : e,
    );
    expect(divergence(() => refold(machine, old))).toBeUndefined();
    expect(divergence(() => refold(machine, withFlags(events, [])))).toMatchObject({
      seq: asked.seq,
    });
  });

  it("a run recorded without context-view-hides-engine-keys renders the context's __ keys", async () => {
    const { plan, events } = await recorded('context_prompt', 'go', { items: ['a', 'b'] });
    const machine = compilePlan(plan);
    const last = events.filter((e) => e.type === 'AgentCallRequested').at(-1)!;
    expect(Object.keys(last.data.input as object)).not.toContain('__cache');
    expect(refold(machine, events).status).toBe('completed');
    // The same run as an engine before the flag decides it: the map's first prompt shows
    // __map_items, so the recorded (hiding) call is a divergence.
    const d = divergence(() => refold(machine, withFlags(events, [])));
    expect(d?.expected).toMatchObject({ type: 'AgentCallRequested' });
    expect(JSON.stringify(d?.expected)).toContain('__map_items');
    // Flags are read per run: a run with them, refolded after, still hides the keys.
    expect(divergence(() => refold(machine, events))).toBeUndefined();
  });
});
