/**
 * Engine flags are per run (ADR 84), though plan code reads them from a module-level value that
 * src/actors/pure.ts sets for the span of each transition. Two runs with different flags driven
 * at once by one engine — an old run resumed beside a new one — must each decide with their own:
 * their transitions interleave at every await (agent calls, appends), never inside one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { fromHex, initFastHash } from '../../src/events/chain.js';
import { encodeCanonical } from '../../src/events/codec.js';
import { decodeRecord, emptyHead, type Head, type LedgerEvent } from '../../src/events/envelope.js';
import type { AgentPort, LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import {
  BLUEPRINTS,
  COMPAT_DIR,
  compatAgents,
  type CompatLedger,
} from '../fixtures/compat/generate.js';

const OLD = JSON.parse(
  readFileSync(join(COMPAT_DIR, 'a449bcd', 'context_prompt.json'), 'utf8'),
) as CompatLedger;
const decoded = OLD.events.map((r) => decodeRecord(OLD.runId, r.seq, fromHex(r.body)));
/** The release's run cut at its first commit: the cache's agent call in flight, as after a crash. */
const CUT = decoded.findIndex((e) => e.at !== decoded[0]!.at);

/** Every call (and so every transition after it) waits a few turns: the two runs interleave. */
const yielding: AgentPort = {
  async call(req, signal) {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    return compatAgents.call(req as never, signal);
  },
};

async function planOf() {
  const loaded = loadBlueprint(join(BLUEPRINTS, `${OLD.scenario}.yaml`), {
    files: nodeBlueprintFiles,
    root: BLUEPRINTS,
  });
  return withBlueprintCode(loaded);
}

/** The old run's rows up to CUT, appended as that release committed them. */
async function withOldRun(ledger: LedgerStore) {
  let head: Head = emptyHead(OLD.runId);
  const batch: NewEvent[] = decoded
    .slice(0, CUT)
    .map((e) => ({ type: e.type, data: e.data }) as NewEvent);
  head = (
    await ledger.append({ runId: OLD.runId, expected: head, events: batch, at: decoded[0]!.at })
  ).head;
  return head;
}

/** Each event but the markers, as bytes; a reply's latency (the clock between) left out. */
const decisions = (es: readonly LedgerEvent[]) =>
  es
    .filter((e) => !['RunClaimed', 'RunResumed', 'SnapshotTaken'].includes(e.type))
    .map((e) => {
      const { latencyMs: _, ...data } = e.data as Record<string, unknown>;
      const bytes = encodeCanonical({ type: e.type, data });
      return `${e.type} ${Buffer.from(bytes).toString('hex')}`;
    });

const NEW_ID = 'flags-new-run';

describe('engine flags with two runs at once (ADR 84)', () => {
  beforeAll(initFastHash);

  it('an old run resumed beside a new one in the same engine: each records with its own flags', async () => {
    const plan = await planOf();
    expect(CUT).toBeGreaterThan(1);

    // Alone: the new run as today's engine records it.
    const solo = createEngine({ ledger: createMemoryLedger(), agents: yielding, worker: 'w' });
    const alone = await solo.run(plan, OLD.input, { runId: NEW_ID, context: OLD.context! });
    const aloneEvents = await solo.events(NEW_ID);

    // Together: one engine resumes the release's run (the rest decided live, with no flags)
    // while it starts the new run; their transitions alternate at every call.
    const ledger = createMemoryLedger();
    await withOldRun(ledger);
    const engine = createEngine({ ledger, agents: yielding, worker: 'w' });
    const order: string[] = [];
    const tracked = (id: string, p: Promise<{ status: string; output?: unknown }>) =>
      p.then((r) => (order.push(id), r));
    const [old, now] = await Promise.all([
      tracked('old', engine.resume(plan, OLD.runId)),
      tracked('new', engine.run(plan, OLD.input, { runId: NEW_ID, context: OLD.context! })),
    ]);

    // The old run ends as its release ended it, every decision after the cut the release's.
    expect({ status: old.status, output: old.output }).toEqual(OLD.result);
    const oldEvents = await engine.events(OLD.runId);
    expect(decisions(oldEvents.slice(CUT))).toEqual(decisions(decoded.slice(CUT)));
    expect(JSON.stringify(old.output)).toContain('__map_items');

    // The new run records what it records alone: today's flags, no engine keys in its prompts.
    expect({ status: now.status, output: now.output }).toEqual({
      status: alone.status,
      output: alone.output,
    });
    expect(JSON.stringify(now.output)).not.toContain('__map_items');
    expect(decisions(await engine.events(NEW_ID))).toEqual(decisions(aloneEvents));

    // The two really overlapped: the new run appended while the old one was still running.
    const rows = await ledger.readAll();
    const firstNew = rows.findIndex((r) => r.runId === NEW_ID);
    const lastOld = rows.map((r) => r.runId).lastIndexOf(OLD.runId);
    expect(firstNew).toBeLessThan(lastOld);

    // And each replays as recorded under its own flags.
    expect(await engine.replay(plan, OLD.runId)).toMatchObject({ identical: true });
    expect(await engine.replay(plan, NEW_ID)).toMatchObject({ identical: true });
  });
});
