/**
 * The compatibility corpus (ADR 84): runs recorded by earlier releases
 * (test/fixtures/compat/<release>/, written by test/fixtures/compat/generate.ts against that
 * release's checkout) verify, replay offline, resume and show as they did under today's code.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import type { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { fromHex, genesisHash, initFastHash, toHex } from '../../src/events/chain.js';
import { encodeCanonical } from '../../src/events/codec.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { verifyRun, type VerifiableRow } from '../../src/events/verify.js';
import { runDetailJson, stepJson } from '../../src/lens/rows.js';
import { foldingReadModels } from '../../src/projections/memory.js';
import { createEngine } from '../../src/runtime/engine.js';
import { compatAgents, type HexRow } from '../fixtures/compat/generate.js';
import {
  afterAdr78,
  corpus,
  essentials,
  markersAddedSince,
  planOf,
  releases,
} from './compatCorpus.js';
import { memoryLedgerOf } from '../support/appendAsRecorded.js';

const decode = (runId: string, rows: HexRow[]) =>
  rows.map((r) => decodeRecord(runId, r.seq, fromHex(r.body)));

/**
 * The recorded rows in a memory ledger, appended commit by commit as the old engine did (one `at`
 * per commit): the stored bytes and hashes must come out the same, or today's codec re-encodes
 * an old event differently.
 */
async function ledgerOf(runId: string, rows: HexRow[]) {
  const events = decode(runId, rows);
  const ledger = await memoryLedgerOf(runId, events);
  const stored = await ledger.read(runId);
  expect(stored.map((r) => [r.seq, r.type, toHex(r.body), toHex(r.hash)])).toEqual(
    rows.map((r) => [r.seq, r.type, r.body, r.hash]),
  );
  return { ledger, events };
}

/** What `lens show --json` says of a run, in the parts every release shows. */
async function shown(ledger: ReturnType<typeof createMemoryLedger>, runId: string) {
  const rm = foldingReadModels(ledger);
  const run = runDetailJson((await rm.getRun(runId))!);
  const steps = (await rm.steps(runId)).filter((s) => s.path !== '.').map(stepJson);
  return { run, steps };
}

describe('compatibility corpus: runs recorded by earlier releases', () => {
  beforeAll(initFastHash);

  it('holds ledgers of at least two releases', () => {
    expect(releases.length).toBeGreaterThanOrEqual(2);
    expect(corpus.length).toBeGreaterThanOrEqual(12);
  });

  describe.each(corpus)('$release/$file', ({ release, ledger: l }) => {
    const all = [...l.events, ...(l.resumed?.events ?? [])];

    /** Resumes the stored run with its recorded answer and clock; the release's output expected. */
    async function resumeAsRecorded(ledger: Awaited<ReturnType<typeof ledgerOf>>['ledger']) {
      const r = l.resumed!;
      let t = decode(l.runId, r.events.slice(0, 1))[0]!.at - 1;
      const engine = createEngine({
        ledger,
        agents: compatAgents as never,
        clock: { now: () => (t += 1) },
        worker: 'compat',
      });
      const done = await engine.resume(await planOf(l.scenario), l.runId, {
        humanInput: r.answer,
        answeredBy: r.answeredBy,
      });
      expect({ status: done.status, output: done.output }).toEqual(r.result);
    }

    it('verifies as a hash chain', () => {
      let prev = genesisHash(l.runId);
      const rows: VerifiableRow[] = all.map((e) => {
        const row = {
          runId: l.runId,
          seq: e.seq,
          prev,
          hash: fromHex(e.hash),
          body: fromHex(e.body),
        };
        prev = row.hash;
        return row;
      });
      expect(verifyRun(l.runId, rows)).toMatchObject({ ok: true, events: all.length });
    });

    it('was started with the pipeline today loads from the same blueprint', async () => {
      const [started] = decode(l.runId, l.events.slice(0, 1)) as [
        Extract<LedgerEvent, { type: 'RunStarted' }>,
      ];
      expect(started.data.pipeline.fingerprint).toBe(planFingerprint(await planOf(l.scenario)));
    });

    it('replays offline to every recorded decision, as recorded and as resumed', async () => {
      const plan = await planOf(l.scenario);
      for (const rows of l.resumed ? [l.events, all] : [l.events]) {
        const { ledger } = await ledgerOf(l.runId, rows);
        const r = await createEngine({ ledger }).replay(plan, l.runId);
        expect(r.firstDivergence).toBeUndefined();
        expect(r).toMatchObject({ identical: true, events: rows.length });
      }
    });

    it('shows the status and steps the recording release showed', async () => {
      for (const [rows, old] of [
        [l.events, l.lens],
        ...(l.resumed ? [[all, l.resumed.lens] as const] : []),
      ] as const) {
        const { ledger } = await ledgerOf(l.runId, rows);
        const now = await shown(ledger, l.runId);
        if ('error' in old) {
          // The old lens could not show it (a bigint before ADR 79): today's shows the recorded output.
          expect(now.run).toMatchObject({ status: l.result.status, output: l.result.output });
          continue;
        }
        expect(essentials(now)).toEqual(afterAdr78(essentials(old)));
      }
    });

    it.runIf(l.resumed !== undefined)(
      'resumes from its pause to the output and events the recording release produced',
      async () => {
        const r = l.resumed!;
        const { ledger } = await ledgerOf(l.runId, l.events);
        await resumeAsRecorded(ledger);
        const after = await ledger.read(l.runId, { fromSeq: l.events.length + 1 });
        const now = after.map((x) => decodeRecord(l.runId, x.seq, x.body));
        const added = markersAddedSince(release);
        if (!now.some((e) => added.has(e.type))) {
          expect(after.map((x) => [x.seq, x.type, toHex(x.body)])).toEqual(
            r.events.map((x) => [x.seq, x.type, x.body]),
          );
          return;
        }
        // ADR 78: today's engine also records the steps an ended branch left unfinished (and,
        // for a release before ADR 45, the question it withdrew); every other event is the
        // release's, in its order, the same but for its seq.
        const same = (es: LedgerEvent[]) =>
          es
            .filter((e) => !added.has(e.type))
            .map((e) => [e.type, e.at, toHex(encodeCanonical({ type: e.type, data: e.data }))]);
        expect(same(now)).toEqual(same(decode(l.runId, r.events)));
        expect(now.length).toBeGreaterThan(r.events.length);
      },
    );

    it.runIf(l.resumed !== undefined)(
      'resumes to the same output when it refolds from the first event (no snapshot)',
      async () => {
        // The release's rows up to its pause, without the snapshot that closes them: resume has
        // to refold every recorded decision (as after an allowed plan change, ADR 47).
        const rows = l.events.filter((e) => e.type !== 'SnapshotTaken');
        expect(rows.length).toBe(l.events.length - 1);
        const { ledger } = await ledgerOf(l.runId, rows);
        await resumeAsRecorded(ledger);
      },
    );
  });
});
