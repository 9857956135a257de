import { readFileSync } from 'node:fs';

import { beforeAll, describe, expect, it } from 'vitest';

import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { NondeterminismError } from '../../src/errors.js';
import { fromHex, genesisHash, initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { verifyRun, type VerifiableRow } from '../../src/events/verify.js';
import { ordersLedger } from '../fixtures/ledgers/generate.js';
import { ORDERS_RUN_ID, ordersPipeline } from '../fixtures/pipelines/orders.js';

interface Fixture {
  runId: string;
  events: { seq: number; type: string; body: string; hash: string }[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/ledgers/orders.json', import.meta.url), 'utf8'),
) as Fixture;

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
