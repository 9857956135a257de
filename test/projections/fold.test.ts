import { describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead, sealBatch, type SealedRecord } from '../../src/events/envelope.js';
import { initFastHash } from '../../src/events/chain.js';
import { changesOfRecords } from '../../src/projections/fold.js';
import { canonicalJson, preview } from '../../src/projections/preview.js';
import type { AppendRequest, LedgerStore } from '../../src/ports.js';
import { runMix } from './scenario.js';

await initFastHash();

/** Every append of the scenario's runs: the records as sealed and the events they came from. */
async function batches(): Promise<
  { records: readonly SealedRecord[]; events: readonly NewEvent[] }[]
> {
  const ledger = createMemoryLedger();
  const seen: { records: readonly SealedRecord[]; events: readonly NewEvent[] }[] = [];
  const tapped: LedgerStore = Object.assign(Object.create(ledger) as LedgerStore, {
    async append(req: AppendRequest) {
      const res = await ledger.append(req);
      seen.push({ records: res.records, events: req.events });
      return res;
    },
  });
  await runMix(tapped);
  return seen;
}

describe('the inline fold (ADR 63)', () => {
  it('makes from the appended events the changes rebuild makes from the stored bytes', async () => {
    const all = await batches();
    expect(all.length).toBeGreaterThan(20);
    for (const { records, events } of all)
      expect(changesOfRecords(records, { events })).toEqual(changesOfRecords(records));
  });

  it('never decodes the bodies it was given the events of (a reply no change reads)', async () => {
    const events: NewEvent[] = [
      {
        type: 'AgentResponded',
        data: {
          path: '0',
          attempt: 1,
          key: 'k',
          output: { text: 'a long reply' },
          usage: { input: 1, output: 2 },
          costMicros: 3,
          model: 'm',
          latencyMs: 4,
        },
      },
    ];
    const [sealed] = sealBatch(emptyHead('r'), events, 1_000) as [SealedRecord];
    const garbled = { ...sealed, body: new Uint8Array([0xff, 0x00]) };
    expect(() => changesOfRecords([garbled])).toThrow(/CBOR/);
    expect(changesOfRecords([garbled], { events }).map((c) => `${c.p}.${c.op}`)).toEqual([
      'runs.usage',
      'steps.replied',
      'costs.call',
      'runs.head',
    ]);
  });

  it('previews an integer bigint as the number the ledger reads it back as', () => {
    expect(canonicalJson({ n: 5n, m: [-(2n ** 53n) + 1n] })).toBe(
      '{"m":[-9007199254740991],"n":5}',
    );
    expect(preview(2n ** 53n - 1n)).toBe('9007199254740991');
    // The stored bytes of such a value decode to a number: both paths preview it the same.
    const events: NewEvent[] = [{ type: 'StepCompleted', data: { path: '0', output: { n: 7n } } }];
    const records = sealBatch(emptyHead('r'), events, 1_000);
    expect(changesOfRecords(records, { events })).toEqual(changesOfRecords(records));
    expect(changesOfRecords(records, { events })[0]).toMatchObject({ outputPreview: '{"n":7}' });
  });
});
