import { describe, expect, it } from 'vitest';

import { prefixEnd } from '../../../src/adapters/ledger/common.js';

/** UTF-8 byte order, as SQLite's BINARY and Postgres' "C" collation compare. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('prefixEnd: the bound of an index range holding exactly the ids a prefix begins', () => {
  it('moves the last code point one up', () => {
    expect(prefixEnd('3fa2')).toBe('3fa3');
    expect(prefixEnd('ab%')).toBe('ab&');
    expect(prefixEnd('é')).toBe('ê');
    expect(prefixEnd('\u{ffff}')).toBe('\u{10000}');
  });

  it('skips the surrogates and drops code points that cannot move up', () => {
    expect(prefixEnd('a\u{d7ff}')).toBe('a\u{e000}');
    expect(prefixEnd('a\u{10ffff}')).toBe('b');
    expect(prefixEnd('a\u{10ffff}\u{10ffff}')).toBe('b');
    expect(prefixEnd('\u{10ffff}')).toBeUndefined();
    expect(prefixEnd('')).toBeUndefined();
  });

  it('bounds every id the prefix begins and no other, in byte order', () => {
    const ids = [
      'ab',
      'ab-1',
      'ab\u{ffff}',
      'ab\u{10ffff}x',
      'ac',
      'aa\u{10ffff}',
      'a',
      'b',
      'ab\0',
    ];
    for (const prefix of ['ab', 'a', 'ab\u{10ffff}', 'aa']) {
      const end = prefixEnd(prefix) as string;
      for (const id of ids) {
        const inRange = byBytes(id, prefix) >= 0 && byBytes(id, end) < 0;
        expect({ id, prefix, inRange }).toEqual({ id, prefix, inRange: id.startsWith(prefix) });
      }
    }
  });
});
