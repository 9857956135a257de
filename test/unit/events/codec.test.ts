import { Decoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { LedgerEncodeError } from '../../../src/errors.js';
import {
  decodeCanonical,
  encodeCanonical,
  encodeCanonicalScratch,
  encodeFixedBatch,
  fixedKeys,
} from '../../../src/events/codec.js';
import { goldenEvents } from '../../fixtures/golden/events.js';
import { referenceEncode } from '../../support/referenceCbor.js';

const hex = (b: Uint8Array | number[]) => Buffer.from(b).toString('hex');

/** Recordable values as fast-check arbitraries: what may enter the ledger. */
const recordable = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.string({ unit: 'grapheme' }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.string({ unit: 'grapheme', maxLength: 6 }).filter((k) => k !== '__proto__'),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

describe('canonical CBOR codec', () => {
  it('matches an independent RFC 8949 deterministic encoder byte for byte', () => {
    fc.assert(
      fc.property(recordable, (v) => {
        expect(hex(encodeCanonical(v))).toBe(hex(referenceEncode(normalise(v))));
      }),
      { numRuns: 1000 },
    );
    for (const e of goldenEvents)
      expect(hex(encodeCanonical(e))).toBe(hex(referenceEncode(normalise(e))));
  });

  it('gives the same bytes in the scratch view as in a copy, and the same refusals', () => {
    fc.assert(
      fc.property(recordable, (v) => {
        const copy = hex(encodeCanonical(v));
        expect(hex(encodeCanonicalScratch(v))).toBe(copy);
      }),
      { numRuns: 500 },
    );
    expect(() => encodeCanonicalScratch({ a: [1, undefined] })).toThrow(LedgerEncodeError);
  });

  it('round-trips every recordable value to the same bytes', () => {
    fc.assert(
      fc.property(recordable, (v) => {
        const bytes = encodeCanonical(v);
        expect(hex(encodeCanonical(decodeCanonical(bytes)))).toBe(hex(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('is read back identically by an independent decoder (cbor-x)', () => {
    const other = new Decoder({ useRecords: false, mapsAsObjects: true });
    fc.assert(
      fc.property(recordable, (v) => {
        const bytes = encodeCanonical(v);
        expect(normaliseForeign(other.decode(bytes))).toEqual(decodeCanonical(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('writes shortest headers for multi-byte strings at every length boundary', () => {
    for (const n of [
      7, 8, 11, 12, 23, 24, 85, 86, 127, 128, 255, 256, 21_845, 21_846, 65_535, 65_536,
    ]) {
      for (const ch of ['é', '€', '😀', 'a']) {
        const s = ch.repeat(Math.ceil(n / ch.length));
        expect(hex(encodeCanonical(s))).toBe(hex(referenceEncode(s)));
        expect(decodeCanonical(encodeCanonical(s))).toBe(s);
      }
    }
  });

  it('orders keys above U+FFFF after the rest of the BMP, as UTF-8 bytes do', () => {
    const keys = ['\uffff', '😀', '\ue000', 'zz', 'a'];
    const obj = Object.fromEntries(keys.map((k) => [k, 1]));
    expect(hex(encodeCanonical(obj))).toBe(hex(referenceEncode(obj)));
    expect(Object.keys(decodeCanonical(encodeCanonical(obj)) as object)).toEqual([
      'a',
      'zz',
      '\ue000',
      '\uffff',
      '😀',
    ]);
  });

  it('round-trips the edges of the integer range', () => {
    for (const v of [
      -(2n ** 53n),
      -(2n ** 63n),
      2n ** 53n,
      2n ** 64n - 1n,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      2 ** 32,
      -(2 ** 32) - 1,
    ]) {
      const bytes = encodeCanonical(v);
      expect(hex(bytes)).toBe(hex(referenceEncode(normalise(v))));
      expect(decodeCanonical(bytes)).toBe(normalise(v));
    }
  });

  it('encodes the same logical value identically whatever the key order', () => {
    const a = encodeCanonical({ b: 1, a: { y: [1, 2], x: 'é' }, '10': 0, '9': 1 });
    const b = encodeCanonical({ '9': 1, a: { x: 'é', y: [1, 2] }, '10': 0, b: 1 });
    expect(hex(a)).toBe(hex(b));
    // RFC 8949 order: shorter keys first, then bytewise.
    expect(Object.keys(decodeCanonical(a) as object)).toEqual(['9', '10', 'a', 'b']);
  });

  it('spells numbers one way: -0 as 0, safe integers as shortest ints, 5n as 5, others as float64', () => {
    expect(hex(encodeCanonical(-0))).toBe('00');
    expect(hex(encodeCanonical(5n))).toBe(hex(encodeCanonical(5)));
    expect(hex(encodeCanonical(2 ** 32))).toBe('1b0000000100000000');
    expect(hex(encodeCanonical(1.5))).toBe('fb3ff8000000000000');
    expect(hex(encodeCanonical(1e300))).toBe('fb7e37e43c8800759c');
    expect(decodeCanonical(encodeCanonical(2 ** 53 - 1))).toBe(2 ** 53 - 1);
    expect(decodeCanonical(encodeCanonical(2n ** 60n))).toBe(2n ** 60n);
  });

  it('drops undefined object fields like JSON does', () => {
    expect(hex(encodeCanonical({ a: 1, b: undefined }))).toBe(hex(encodeCanonical({ a: 1 })));
    // 24 keys need a 2-byte map header, 23 a 1-byte one: the header must shrink.
    const wide: Record<string, unknown> = Object.fromEntries(
      Array.from({ length: 24 }, (_, i) => [`k${i}`, i]),
    );
    const narrow = { ...wide };
    delete narrow.k5;
    wide.k5 = undefined;
    expect(hex(encodeCanonical({ x: [wide, 'tail'] }))).toBe(
      hex(encodeCanonical({ x: [narrow, 'tail'] })),
    );
    expect(hex(encodeCanonical(narrow))).toBe(hex(referenceEncode(narrow)));
  });

  it.each([
    ['NaN', { x: Number.NaN }, 'x'],
    ['Infinity', { x: [Infinity] }, 'x[0]'],
    ['undefined in an array', [1, undefined], '[1]'],
    ['a sparse array', [1, , 3], '[1]'], // eslint-disable-line no-sparse-arrays
    ['a Date', { when: new Date(0) }, 'when'],
    ['a Map', { m: new Map() }, 'm'],
    ['a class instance', { e: new Error('x') }, 'e'],
    ['a function', { f: () => 1 }, 'f'],
    ['a symbol', { s: Symbol('s') }, 's'],
    ['a lone surrogate', { s: 'a\ud800b' }, 's'],
    ['a lone surrogate in a key', { ['k\udc00']: 1 }, 'k\udc00'],
    ['a __proto__ key', JSON.parse('{"__proto__": {"polluted": true}}') as unknown, '__proto__'],
    ['a bigint beyond 64 bits', { n: 2n ** 64n }, 'n'],
  ])('refuses %s with the path to it', (_name, value, path) => {
    let err: unknown;
    try {
      encodeCanonical(value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LedgerEncodeError);
    expect((err as LedgerEncodeError).path).toBe(path);
  });

  it('refuses nesting deeper than 256 levels instead of overflowing the stack', () => {
    let v: unknown = 1;
    for (let i = 0; i < 300; i++) v = [v];
    expect(() => encodeCanonical(v)).toThrow(LedgerEncodeError);
  });

  it.each([
    ['a non-shortest integer', '1817'],
    ['a non-shortest length', '7900016161'.slice(0, 8)],
    ['duplicate map keys', 'a2616101616102'],
    ['unsorted map keys', 'a2616201616101'],
    ['an indefinite-length map', 'bf616101ff'],
    ['a tagged date', 'c11a5c1b1b00'],
    ['a float16', 'f93c00'],
    ['a float64 that is a safe integer', 'fb3ff0000000000000'],
    ['undefined', 'f7'],
    ['trailing bytes', '0102'],
    ['a truncated map', 'a26161'],
    ['a __proto__ key', 'a1695f5f70726f746f5f5f01'],
    ['invalid UTF-8', '62c328'],
    ['a UTF-8 encoded surrogate', '63eda080'],
    ['a float64 negative zero', 'fb8000000000000000'],
    ['a float64 NaN', 'fb7ff8000000000000'],
    ['a negative integer below int64', '3bffffffffffffffff'],
    ['a non-text map key', 'a10101'],
    ['a length beyond the input', '5bffffffffffffffff'],
  ])('rejects %s on decode', (_name, h) => {
    expect(() => decodeCanonical(Buffer.from(h, 'hex'))).toThrow();
  });

  it('decodes maps into objects whose prototype no key can reach', () => {
    const v = decodeCanonical(encodeCanonical({ constructor: 1, toString: 2 })) as Record<
      string,
      unknown
    >;
    expect(v.constructor).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

/** Keys drawn from a small pool, so key sets repeat (in any insertion order) across runs. */
const KEY_POOL = ['a', 'b', 'zz', 'path', 'output', '9', '10', 'é', '\ue000', '😀', 'costMicros'];
const repeatingObject = fc.letrec((tie) => ({
  obj: fc
    .array(
      fc.tuple(
        fc.constantFrom(...KEY_POOL),
        fc.oneof(
          { depthSize: 'small' },
          fc.constant(undefined),
          fc.integer(),
          fc.string({ maxLength: 40 }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          tie('obj'),
        ),
      ),
      { maxLength: 8 },
    )
    .map((entries) => Object.fromEntries(entries) as Record<string, unknown>),
})).obj;

describe('canonical CBOR codec: key sets seen before', () => {
  it('encodes repeated key sets exactly as the reference does, cold and warm', () => {
    fc.assert(
      fc.property(fc.array(repeatingObject, { minLength: 1, maxLength: 6 }), (objs) => {
        for (const o of objs) {
          const want = hex(referenceEncode(normalise(o)));
          // First sighting (general path), second (a shape is made), third (the shape is reused).
          for (let i = 0; i < 3; i++) expect(hex(encodeCanonical(o))).toBe(want);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('stays exact past the bound on remembered key sets', () => {
    // 3,000 distinct key sets, each seen three times, overflow the cache (1,024 shapes) and make
    // it start over.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3000; i++) {
        const o: Record<string, unknown> = { [`k${i}`]: i, z: round, [`${i % 7}`]: 'x' };
        if (i % 5 === 0) o.gap = undefined;
        expect(hex(encodeCanonical(o))).toBe(hex(referenceEncode(o)));
      }
    }
  });

  it.each([
    ['NaN', { x: 1 }, { x: Number.NaN }, 'x'],
    ['a Date', { a: 1, when: 2 }, { a: 1, when: new Date(0) }, 'when'],
    ['undefined in a nested array', { a: { b: [1] } }, { a: { b: [1, undefined] } }, 'a.b[1]'],
    ['a lone surrogate in a value', { s: 'ok', t: 1 }, { s: 'a\ud800b', t: 1 }, 's'],
  ])('refuses %s with the same path once its key set is known', (_name, good, bad, path) => {
    encodeCanonical(good);
    encodeCanonical(good);
    for (let i = 0; i < 2; i++) {
      let err: unknown;
      try {
        encodeCanonical(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LedgerEncodeError);
      expect((err as LedgerEncodeError).path).toBe(path);
    }
  });

  it.each([
    [
      'a __proto__ key',
      JSON.parse('{"a": 1, "__proto__": {"polluted": true}}') as unknown,
      '__proto__',
    ],
    ['a lone surrogate in a key', { a: 1, ['k\udc00']: 1 }, 'k\udc00'],
  ])('refuses %s however often its key set is seen', (_name, bad, path) => {
    for (let i = 0; i < 3; i++) {
      let err: unknown;
      try {
        encodeCanonical(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LedgerEncodeError);
      expect((err as LedgerEncodeError).path).toBe(path);
    }
  });
});

describe('canonical CBOR codec: fixed key sets', () => {
  const encodeOrError = (f: () => Uint8Array): string => {
    try {
      return hex(f());
    } catch (e) {
      return e instanceof LedgerEncodeError ? `refused at ${e.path}: ${e.message}` : String(e);
    }
  };

  it('encodes each row exactly as the object with those keys, omissions and refusals included', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...KEY_POOL), { minLength: 1 }),
        fc.array(
          fc.array(
            fc.oneof(
              recordable,
              fc.constant(undefined),
              fc.constant(Number.NaN),
              fc.constant([1, undefined]),
            ),
            { minLength: KEY_POOL.length, maxLength: KEY_POOL.length },
          ),
          { minLength: 1, maxLength: 4 },
        ),
        (keys, rows) => {
          const fixed = fixedKeys(keys);
          const objects = rows.map((r) => Object.fromEntries(keys.map((k, i) => [k, r[i]])));
          const want = objects.map((o) => encodeOrError(() => encodeCanonical(o)));
          const firstBad = want.findIndex((w) => w.startsWith('refused'));
          const got = encodeOrError(() => {
            const { bytes, ends } = encodeFixedBatch(fixed, rows, 3);
            expect(bytes.length).toBe((ends[ends.length - 1] as number) + 3);
            const parts = ends.map((end, i) => hex(bytes.subarray(ends[i - 1] ?? 0, end)));
            expect(parts).toEqual(want);
            return new Uint8Array();
          });
          expect(got).toBe(firstBad < 0 ? '' : want[firstBad]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('applies the same depth bound as the object', () => {
    const fixed = fixedKeys(['data']);
    for (let depth = 250; depth <= 258; depth++) {
      let v: unknown = 1;
      for (let i = 0; i < depth; i++) v = [v];
      const want = encodeOrError(() => encodeCanonical({ data: v }));
      const got = encodeOrError(() => encodeFixedBatch(fixed, [[v]], 0).bytes);
      expect(got).toBe(want);
    }
  });

  it('will not fix a key set it could not write', () => {
    expect(() => fixedKeys(['a', 'a'])).toThrow();
    expect(() => fixedKeys(['a', '__proto__'])).toThrow();
    expect(() => fixedKeys(['k\udc00'])).toThrow();
  });
});

/** cbor-x gives Buffers and bigints for 8-byte ints; map them to what our decoder returns. */
function normaliseForeign(v: unknown): unknown {
  if (typeof v === 'bigint') return normalise(v);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(normaliseForeign);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normaliseForeign(x)]));
}

/** What the production codec records for a value: bigints in the safe range become numbers. */
function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  }
  if (typeof v === 'number' && Object.is(v, -0)) return 0;
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(normalise);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
}
