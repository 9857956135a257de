/**
 * A hitl message recorded before ADR 40 lists an object's keys in the order its code built them
 * (ADR 93): a2e5cd7's hitl_object asked `{"item":"pen","qty":2,"tags":["a","b"]}` where today's
 * rendering gives `{"qty":2,"item":"pen",…}`. The fold takes the recorded text when it is the
 * same value in another key order, in a run that records none of ADR 84's flags, and nothing else:
 * these cases hold the edges of that rule (each replays identically if the rule is widened).
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { fromHex, initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { createEngine } from '../../src/runtime/engine.js';
import { corpus, planOf } from './compatCorpus.js';
import { memoryLedgerOf } from '../support/appendAsRecorded.js';

const old = corpus.find((c) => c.release === 'a2e5cd7' && c.file === 'hitl_object.json')!.ledger;
const RECORDED = '{"item":"pen","qty":2,"tags":["a","b"]}';

/** The release's rows up to its pause, each event passed through `edit`, re-chained. */
function eventsOf(edit: (e: LedgerEvent) => LedgerEvent = (e) => e): LedgerEvent[] {
  return old.events.map((r) => edit(decodeRecord(old.runId, r.seq, fromHex(r.body))));
}

async function replayOf(events: LedgerEvent[]) {
  const ledger = await memoryLedgerOf(old.runId, events);
  return createEngine({ ledger }).replay(await planOf(old.scenario), old.runId);
}

const withMessage = (message: string) => (e: LedgerEvent) =>
  e.type === 'HumanInputRequested' ? ({ ...e, data: { ...e.data, message } } as LedgerEvent) : e;

describe('a hitl message recorded with its keys in another order (ADR 93)', () => {
  beforeAll(initFastHash);

  it('is the message a2e5cd7 recorded, and today renders the keys in the ledger order', () => {
    const asked = eventsOf().find((e) => e.type === 'HumanInputRequested');
    expect(asked).toMatchObject({ seq: 9, data: { message: RECORDED } });
  });

  it('replays identically, and the refolded question keeps the recorded text', async () => {
    // Identical in every decision, and the replay says which message it took as recorded.
    const replayed = await replayOf(eventsOf());
    expect(replayed).toMatchObject({ identical: true });
    expect(replayed.asRecorded).toEqual([{ seq: 9, reason: 'message_key_order' }]);
    // The same run with today's message order is byte for byte: nothing taken as recorded.
    const today = await replayOf(eventsOf(withMessage('{"qty":2,"item":"pen","tags":["a","b"]}')));
    expect(today).toMatchObject({ identical: true });
    expect(today.asRecorded).toBeUndefined();
    const rows = eventsOf().filter((e) => e.type !== 'SnapshotTaken');
    const state = refold(compilePlan(await planOf(old.scenario)), rows);
    expect([...state.outstanding.human.values()].map((d) => d.message)).toEqual([RECORDED]);
  });

  it('still diverges in a run that records the flags (recorded since ADR 84, so after ADR 40)', async () => {
    // Made up: every flag but the indented message and the sorted keys (ADR 126), so today's
    // message is the compact text in the ledger's key order and only the flags tell this run
    // from a2e5cd7's.
    const flags = CURRENT_ENGINE_FLAGS.filter(
      (f) => f !== ENGINE_FLAGS.hitlMessageIndented && f !== ENGINE_FLAGS.objectKeysInOrder,
    );
    const flagged = eventsOf((e) =>
      e.type === 'RunStarted'
        ? ({ ...e, data: { ...e.data, engine: { ...e.data.engine, flags } } } as LedgerEvent)
        : e,
    );
    const r = await replayOf(flagged);
    expect(r).toMatchObject({ identical: false, firstDivergence: { seq: 9 } });
  });

  it('still diverges when the value differs, not only the order', async () => {
    const other = '{"item":"pan","qty":2,"tags":["a","b"]}';
    const r = await replayOf(eventsOf(withMessage(other)));
    expect(r).toMatchObject({ identical: false, firstDivergence: { seq: 9 } });
    const nested = '{"item":"pen","qty":2,"tags":["b","a"]}'; // a list's order is its value
    expect(await replayOf(eventsOf(withMessage(nested)))).toMatchObject({ identical: false });
  });

  it('still diverges when the text is laid out otherwise (only compact JSON, as it was written)', async () => {
    const spaced = '{"item": "pen", "qty": 2, "tags": ["a", "b"]}';
    const r = await replayOf(eventsOf(withMessage(spaced)));
    expect(r).toMatchObject({ identical: false, firstDivergence: { seq: 9 } });
  });

  it('still diverges when something else in the question differs', async () => {
    const r = await replayOf(
      eventsOf((e) =>
        e.type === 'HumanInputRequested'
          ? ({ ...e, data: { ...e.data, inputSchema: {} } } as LedgerEvent)
          : e,
      ),
    );
    expect(r).toMatchObject({ identical: false, firstDivergence: { seq: 9 } });
  });
});
