/**
 * The state file a2e5cd7 wrote (SQLite ledger schema v1, test/fixtures/compat/a2e5cd7/state.db),
 * opened by today's `openState` as `flujo` would (it migrates a copy): the runs it holds are the
 * rows of the a2e5cd7 corpus, its two paused runs replay identically though their hitl messages
 * list an object's keys in the order a2e5cd7 wrote (ADR 93), and each resumes from the file to
 * the output and events a2e5cd7's own resume produced.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fromHex, initFastHash, toHex } from '../../src/events/chain.js';
import { encodeCanonical } from '../../src/events/codec.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { createEngine } from '../../src/runtime/engine.js';
import { compatAgents } from '../fixtures/compat/generate.js';
import { stateFilePath } from '../fixtures/compat/generateSqlite.js';
import { corpus, markersAddedSince, planOf } from './compatCorpus.js';

const RELEASE = 'a2e5cd7';
const paused = corpus.filter((c) => c.release === RELEASE && c.ledger.resumed);

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-compat-state-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function openCopy() {
  const p = join(dir, `p${++n}`);
  mkdirSync(join(p, '.flujo'), { recursive: true });
  copyFileSync(stateFilePath(RELEASE), join(p, '.flujo', 'state.db'));
  return openState('sqlite:///.flujo/state.db', { projectRoot: p });
}

describe(`${RELEASE}'s state file, paused runs`, () => {
  it('holds the two paused runs of the corpus, row for row', async () => {
    expect(paused.map((c) => c.file)).toEqual(['hitl_object.json', 'paused_parallel.json']);
    const st = await openCopy();
    try {
      for (const { ledger: l } of paused) {
        const rows = await st.ledger.read(l.runId);
        expect(rows.map((r) => [r.seq, r.type, toHex(r.body), toHex(r.hash)])).toEqual(
          l.events.map((r) => [r.seq, r.type, r.body, r.hash]),
        );
      }
    } finally {
      await st.close();
    }
  });

  it.each(paused)('$file replays identically and resumes to its release’s events', async (c) => {
    const l = c.ledger;
    const r = l.resumed!;
    const st = await openCopy();
    try {
      const plan = await planOf(l.scenario);
      expect(await createEngine({ ledger: st.ledger }).replay(plan, l.runId)).toMatchObject({
        identical: true,
        events: l.events.length,
      });
      let t = decodeRecord(l.runId, r.events[0]!.seq, fromHex(r.events[0]!.body)).at - 1;
      const engine = createEngine({
        ledger: st.ledger,
        agents: compatAgents as never,
        clock: { now: () => (t += 1) },
        worker: 'compat',
      });
      const done = await engine.resume(plan, l.runId, {
        humanInput: r.answer,
        answeredBy: r.answeredBy,
      });
      expect({ status: done.status, output: done.output }).toEqual(r.result);
      // The release's own events, in order; today's markers (ADR 78, ADR 45) move their seq on.
      const added = markersAddedSince(RELEASE);
      const same = (es: LedgerEvent[]) =>
        es
          .filter((e) => !added.has(e.type))
          .map((e) => [e.type, e.at, toHex(encodeCanonical({ type: e.type, data: e.data }))]);
      const now = await st.ledger.read(l.runId, { fromSeq: l.events.length + 1 });
      expect(same(now.map((x) => decodeRecord(l.runId, x.seq, x.body)))).toEqual(
        same(r.events.map((x) => decodeRecord(l.runId, x.seq, fromHex(x.body)))),
      );
      expect(await engine.replay(plan, l.runId)).toMatchObject({ identical: true });
    } finally {
      await st.close();
    }
  });
});
