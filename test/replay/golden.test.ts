import { readFileSync } from 'node:fs';

import { beforeAll, describe, expect, it } from 'vitest';

import { compilePlan } from '../../src/actors/compile.js';
import { CURRENT_ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { refold } from '../../src/actors/fold.js';
import { NondeterminismError } from '../../src/errors.js';
import { fromHex, genesisHash, initFastHash, toHex } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { verifyRun, type VerifiableRow } from '../../src/events/verify.js';
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { createEngine } from '../../src/runtime/engine.js';
import { ordersLedger } from '../fixtures/ledgers/generate.js';
import { ORDERS_RUN_ID, goldenAgents, ordersPipeline } from '../fixtures/pipelines/orders.js';
import { appendAsRecorded } from '../support/appendAsRecorded.js';

interface Fixture {
  runId: string;
  events: { seq: number; type: string; body: string; hash: string }[];
}
const load = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../fixtures/ledgers/${name}`, import.meta.url), 'utf8'),
  ) as Fixture;
const fixture = load('orders.json');

const decoded = (): LedgerEvent[] =>
  fixture.events.map((e) => decodeRecord(fixture.runId, e.seq, fromHex(e.body)));

describe('golden ledger: orders-review', () => {
  beforeAll(initFastHash);

  it('is reproduced byte for byte, head hash included, by running the scenario again', async () => {
    const again = await ordersLedger();
    expect(again.events.map((e) => [e.seq, e.type, e.body])).toEqual(
      fixture.events.map((e) => [e.seq, e.type, e.body]),
    );
    expect(again.events.at(-1)?.hash).toBe(fixture.events.at(-1)?.hash);
  });

  it('verifies as a hash chain', () => {
    let prev = genesisHash(ORDERS_RUN_ID);
    const rows: VerifiableRow[] = fixture.events.map((e) => {
      const row = {
        runId: fixture.runId,
        seq: e.seq,
        prev,
        hash: fromHex(e.hash),
        body: fromHex(e.body),
      };
      prev = row.hash;
      return row;
    });
    expect(verifyRun(ORDERS_RUN_ID, rows)).toMatchObject({
      ok: true,
      events: fixture.events.length,
    });
  });

  it('refolds through the current pipeline to the recorded decisions', () => {
    expect(refold(compilePlan(ordersPipeline.plan), decoded()).status).toBe('completed');
  });

  it('raises NondeterminismError at the seq of a mutated decision', () => {
    const events = decoded();
    const i = events.findIndex((e) => e.type === 'BranchSelected');
    const mutated = events.map((e, j) =>
      j === i ? ({ ...e, data: { ...e.data, branch: 'auto' } } as LedgerEvent) : e,
    );
    let err: unknown;
    try {
      refold(compilePlan(ordersPipeline.plan), mutated);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NondeterminismError);
    expect(err).toMatchObject({
      seq: events[i]!.seq,
      expected: { type: 'BranchSelected', data: { branch: 'manual' } },
      recorded: { type: 'BranchSelected', data: { branch: 'auto' } },
    });
  });
});

/**
 * Appends a fixture's run as it stood when it paused, batch by batch as the engine did (one `at`
 * per commit, so every stored byte and hash is the old engine's), resumes it with today's engine
 * and expects the events it recorded then, byte for byte.
 */
async function resumesFromItsSnapshotAsRecorded(before: Fixture): Promise<void> {
  const events = before.events.map((e) => decodeRecord(before.runId, e.seq, fromHex(e.body)));
  const snap = events.find((e) => e.type === 'SnapshotTaken')!;
  const ledger = createMemoryLedger();
  const head = await appendAsRecorded(ledger, before.runId, events.slice(0, snap.seq));
  expect(head.hash).toEqual(fromHex(before.events[snap.seq - 1]!.hash));
  let t = events[snap.seq]!.at - 1;
  const engine = createEngine({
    ledger,
    agents: goldenAgents,
    clock: { now: () => (t += 1) },
    worker: 'golden',
  });
  const done = await engine.resume(ordersPipeline.plan, before.runId, {
    humanInput: { approved: true },
    answeredBy: 'auditor',
  });
  expect(done.status).toBe('completed');
  const rows = await ledger.read(before.runId, { fromSeq: snap.seq + 1 });
  expect(rows.map((r) => [r.seq, r.type, toHex(r.body)])).toEqual(
    before.events.slice(snap.seq).map((e) => [e.seq, e.type, e.body]),
  );
}

describe('golden ledger recorded before ADR 38 (its pause snapshot keeps finished steps)', () => {
  beforeAll(initFastHash);
  const before = load('orders-before-adr38.json');

  it('differs from the release after it only in that snapshot: every decision and fact is the same', () => {
    // Compared with orders-before-adr84.json, the golden ledger as it stood until runs recorded
    // their engine flags (ADR 84); today's differs from that one as the next describe says.
    const after = load('orders-before-adr84.json');
    const changed = before.events.filter((e, i) => e.body !== after.events[i]?.body);
    expect(changed.map((e) => e.type)).toEqual(['SnapshotTaken']);
  });

  it('resumes from its snapshot to the same events it recorded then', async () => {
    await resumesFromItsSnapshotAsRecorded(before);
  });
});

describe('golden ledger recorded before ADR 84 (no engine flags)', () => {
  beforeAll(initFastHash);
  const before = load('orders-before-adr84.json');
  const events = () => before.events.map((e) => decodeRecord(before.runId, e.seq, fromHex(e.body)));

  it("differs from today's only in RunStarted's engine flags and the snapshot's copy of them", () => {
    const old = events();
    const now = decoded();
    const changed = before.events.filter((e, i) => e.body !== fixture.events[i]?.body);
    expect(changed.map((e) => e.type)).toEqual(['RunStarted', 'SnapshotTaken']);
    const started = (es: LedgerEvent[]) => es[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started(old).data.engine.flags).toEqual([]);
    expect(started(now).data.engine.flags).toEqual([...CURRENT_ENGINE_FLAGS]);
    expect({ ...started(now).data, engine: started(old).data.engine }).toEqual(started(old).data);
  });

  it('refolds through the current pipeline to the decisions it recorded', () => {
    expect(refold(compilePlan(ordersPipeline.plan), events()).status).toBe('completed');
  });
});

// Golden ledgers kept from before a release added an engine flag: each lacks the flags named.
describe.each([
  {
    adr: 90,
    lacks: [
      'ask-user-answer-schema',
      'hitl-skill-answer-schema',
      'map-item-keeps-only-output',
      'hitl-skill-message-param',
      'run-input-recorded-once',
      'step-outputs-kept-for-every-read',
      'object-keys-in-order',
      'non-finite-arithmetic-fails',
      'first-pause-rule-wins',
    ],
  },
  {
    adr: 95,
    lacks: [
      'hitl-skill-answer-schema',
      'map-item-keeps-only-output',
      'hitl-skill-message-param',
      'run-input-recorded-once',
      'step-outputs-kept-for-every-read',
      'object-keys-in-order',
      'non-finite-arithmetic-fails',
      'first-pause-rule-wins',
    ],
  },
  {
    adr: 109,
    lacks: [
      'map-item-keeps-only-output',
      'hitl-skill-message-param',
      'run-input-recorded-once',
      'step-outputs-kept-for-every-read',
      'object-keys-in-order',
      'non-finite-arithmetic-fails',
      'first-pause-rule-wins',
    ],
  },
  {
    adr: 123,
    lacks: [
      'step-outputs-kept-for-every-read',
      'object-keys-in-order',
      'non-finite-arithmetic-fails',
      'first-pause-rule-wins',
    ],
  },
  {
    adr: 126,
    lacks: ['object-keys-in-order', 'non-finite-arithmetic-fails', 'first-pause-rule-wins'],
  },
  { adr: 131, lacks: ['non-finite-arithmetic-fails', 'first-pause-rule-wins'] },
  { adr: 134, lacks: ['first-pause-rule-wins'] },
])('golden ledger recorded before ADR $adr (engine flags without $lacks)', ({ adr, lacks }) => {
  beforeAll(initFastHash);
  const before = load(`orders-before-adr${adr}.json`);
  const events = () => before.events.map((e) => decodeRecord(before.runId, e.seq, fromHex(e.body)));

  it("differs from today's only in RunStarted's engine flags and the snapshot's copy of them", () => {
    const changed = before.events.filter((e, i) => e.body !== fixture.events[i]?.body);
    expect(changed.map((e) => e.type)).toEqual(['RunStarted', 'SnapshotTaken']);
    const started = (es: LedgerEvent[]) => es[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started(events()).data.engine.flags).toEqual(
      CURRENT_ENGINE_FLAGS.filter((f) => !lacks.includes(f)),
    );
  });

  it('refolds through the current pipeline to the decisions it recorded', () => {
    expect(refold(compilePlan(ordersPipeline.plan), events()).status).toBe('completed');
  });

  it('resumes from its snapshot to the same events it recorded then', async () => {
    await resumesFromItsSnapshotAsRecorded(before);
  });
});
