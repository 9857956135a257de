import { readFileSync } from 'node:fs';

import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  activeHashImpl,
  contentHash,
  genesisHash,
  initFastHash,
  linkHash,
  linkHashInto,
  toHex,
  useHashImpl,
} from '../../../src/events/chain.js';
import { emptyHead, sealBatch } from '../../../src/events/envelope.js';
import { verifyRun } from '../../../src/events/verify.js';
import { GOLDEN_AT, GOLDEN_RUN_ID, goldenEvents } from '../../fixtures/golden/events.js';

const IMPLS = ['noble', 'wasm', 'js', 'auto'] as const;

/**
 * From the BLAKE3 reference test_vectors/test_vectors.json (hash mode, first 32 bytes), input
 * bytes i % 251: both edges of one chunk (1024 bytes) and the first input past it.
 */
const PUBLISHED: [number, string][] = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
];

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
  afterEach(() => useHashImpl('auto'));

  it('hashes one chunk in JS and longer inputs in WASM by default, with WASM loaded', () => {
    expect(activeHashImpl()).toBe('auto');
    useHashImpl('wasm');
    expect(activeHashImpl()).toBe('wasm');
  });

  it.each(IMPLS)('reproduces the golden vectors with %s', (impl) => {
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

  it('gives the same BLAKE3 from noble, WASM and the one-chunk JS on any input', () => {
    const agree = (a: Uint8Array, b: Uint8Array) => {
      useHashImpl('noble');
      const n = toHex(linkHash(a, b));
      for (const impl of ['wasm', 'js', 'auto'] as const) {
        useHashImpl(impl);
        expect(toHex(linkHash(a, b))).toBe(n);
        const out = new Uint8Array(40).fill(0xee);
        linkHashInto(a, b, out, 5);
        expect(toHex(out.subarray(5, 37))).toBe(n);
        expect([...out.subarray(0, 5), ...out.subarray(37)]).toEqual(Array(8).fill(0xee));
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.uint8Array({ maxLength: 4096 }), agree),
      { numRuns: 300 },
    );
    // Every length around the block and chunk edges, where padding and flags change.
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 32 }),
        fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 950, max: 1060 })),
        fc.integer(),
        (a, len, seed) =>
          agree(
            a,
            new Uint8Array(len).map((_, i) => (i * 131 + seed) & 0xff),
          ),
      ),
      { numRuns: 500 },
    );
  });

  it.each(IMPLS)('matches the published BLAKE3 test vectors with %s', (impl) => {
    useHashImpl(impl);
    for (const [len, hash] of PUBLISHED) {
      const input = new Uint8Array(len).map((_, i) => i % 251);
      // Split two ways: the hashers see (prev, body) pairs, not one buffer.
      for (const cut of [0, Math.min(32, len)]) {
        expect(toHex(linkHash(input.subarray(0, cut), input.subarray(cut)))).toBe(hash);
      }
    }
  });

  it('hashes contents to hex the same way whichever implementation runs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
        useHashImpl('noble');
        const want = toHex(nobleBlake3(b));
        for (const impl of IMPLS) {
          useHashImpl(impl);
          expect(contentHash(b)).toBe(want);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('writes hex the same way as Node for any length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'));
      }),
    );
  });

  it('gives every run its own genesis', () => {
    expect(toHex(genesisHash('a'))).not.toBe(toHex(genesisHash('b')));
  });
});
