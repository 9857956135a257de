import { readFileSync } from 'node:fs';

import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  activeHashImpl,
  genesisHash,
  initFastHash,
  linkHash,
  toHex,
  useHashImpl,
} from '../../../src/events/chain.js';
import { emptyHead, sealBatch } from '../../../src/events/envelope.js';
import { verifyRun } from '../../../src/events/verify.js';
import { GOLDEN_AT, GOLDEN_RUN_ID, goldenEvents } from '../../fixtures/golden/events.js';

interface Vectors {
  runId: string;
  genesis: string;
  events: { seq: number; type: string; body: string; hash: string }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../../fixtures/golden/vectors.json', import.meta.url), 'utf8'),
) as Vectors;

describe('hash chain', () => {
  beforeAll(initFastHash);
  afterEach(() => useHashImpl('wasm'));

  it('uses the WASM BLAKE3 once it is loaded', () => {
    expect(activeHashImpl()).toBe('wasm');
  });

  it.each(['noble', 'wasm'] as const)('reproduces the golden vectors with %s', (impl) => {
    useHashImpl(impl);
    expect(activeHashImpl()).toBe(impl);
    expect(toHex(genesisHash(GOLDEN_RUN_ID))).toBe(vectors.genesis);
    const sealed = sealBatch(emptyHead(GOLDEN_RUN_ID), goldenEvents, GOLDEN_AT);
    expect(
      sealed.map((r) => ({ seq: r.seq, type: r.type, body: toHex(r.body), hash: toHex(r.hash) })),
    ).toEqual(vectors.events);
  });

  it('verifies the golden ledger from its stored bytes alone', () => {
    let prev = genesisHash(GOLDEN_RUN_ID);
    const rows = vectors.events.map((e) => {
      const body = new Uint8Array(Buffer.from(e.body, 'hex'));
      const row = {
        runId: GOLDEN_RUN_ID,
        seq: e.seq,
        prev,
        hash: new Uint8Array(Buffer.from(e.hash, 'hex')),
        body,
      };
      prev = row.hash;
      return row;
    });
    expect(verifyRun(GOLDEN_RUN_ID, rows)).toMatchObject({ ok: true, events: 6, headSeq: 6 });
  });

  it('gives the same BLAKE3 from noble and WASM on any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.uint8Array({ maxLength: 4096 }), (a, b) => {
        useHashImpl('noble');
        const n = toHex(linkHash(a, b));
        useHashImpl('wasm');
        expect(toHex(linkHash(a, b))).toBe(n);
      }),
      { numRuns: 300 },
    );
  });

  it('matches the published BLAKE3 test vector for the empty input', () => {
    // From the BLAKE3 reference test_vectors.json: input length 0.
    for (const impl of ['noble', 'wasm'] as const) {
      useHashImpl(impl);
      expect(toHex(linkHash(new Uint8Array(), new Uint8Array()))).toBe(
        'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
      );
    }
  });

  it('gives every run its own genesis', () => {
    expect(toHex(genesisHash('a'))).not.toBe(toHex(genesisHash('b')));
  });
});
