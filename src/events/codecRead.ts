/**
 * The canonical CBOR decoder: reads a value and checks, in the same pass, that its bytes are the
 * one canonical spelling ./codecWrite.ts would write (the profile is described in ./codec.ts).
 */
import { INT64_MIN, MAX_DEPTH, MAX_SAFE, TWO_32 } from './codecLimits.js';

const textDecoder = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  readonly b: Uint8Array;
  readonly view: DataView;
  constructor(b: Uint8Array) {
    this.b = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  fail(why: string): never {
    throw new Error(`not canonical CBOR at byte ${this.pos}: ${why}`);
  }

  need(n: number): void {
    if (this.pos + n > this.b.length) this.fail('truncated');
  }

  /** Reads the argument of an initial byte; refuses non-shortest forms and indefinite lengths. */
  arg(info: number): number | bigint {
    if (info < 24) return info;
    const v = this.view;
    const p = this.pos;
    switch (info) {
      case 24: {
        this.need(1);
        const n = this.b[p] as number;
        this.pos += 1;
        if (n < 24) this.fail('integer or length not in its shortest form');
        return n;
      }
      case 25: {
        this.need(2);
        const n = v.getUint16(p);
        this.pos += 2;
        if (n < 0x100) this.fail('integer or length not in its shortest form');
        return n;
      }
      case 26: {
        this.need(4);
        const n = v.getUint32(p);
        this.pos += 4;
        if (n < 0x10000) this.fail('integer or length not in its shortest form');
        return n;
      }
      case 27: {
        this.need(8);
        const n = v.getBigUint64(p);
        this.pos += 8;
        if (n < BigInt(TWO_32)) this.fail('integer or length not in its shortest form');
        return n <= MAX_SAFE ? Number(n) : n;
      }
      default:
        return this.fail(info === 31 ? 'indefinite length' : `reserved additional info ${info}`);
    }
  }

  length(info: number): number {
    const n = this.arg(info);
    if (typeof n === 'bigint' || n > this.b.length) this.fail('length exceeds the input');
    return n as number;
  }

  text(info: number): string {
    const len = this.length(info);
    this.need(len);
    const start = this.pos;
    this.pos += len;
    if (len < 64) {
      // Short ASCII strings (most keys) are cheaper to build here than through TextDecoder.
      let s = '';
      for (let i = start; i < start + len; i++) {
        const c = this.b[i] as number;
        if (c >= 0x80) return this.utf8(start, len);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.utf8(start, len);
  }

  utf8(start: number, len: number): string {
    try {
      return textDecoder.decode(this.b.subarray(start, start + len));
    } catch {
      this.pos = start;
      return this.fail('invalid UTF-8');
    }
  }

  item(depth: number): unknown {
    this.need(1);
    const ib = this.b[this.pos++] as number;
    const major = ib >> 5;
    const info = ib & 31;
    switch (major) {
      case 0:
        return this.arg(info);
      case 1: {
        const n = this.arg(info);
        // -1 - n is a safe integer only while n < 2^53 - 1; -2^53 and below are bigints.
        if (typeof n === 'number' && n < Number.MAX_SAFE_INTEGER) return -1 - n;
        const big = BigInt(n);
        if (big > -1n - INT64_MIN) this.fail('negative integer below int64');
        return -1n - big;
      }
      case 2: {
        const len = this.length(info);
        this.need(len);
        const out = this.b.slice(this.pos, this.pos + len);
        this.pos += len;
        return out;
      }
      case 3:
        return this.text(info);
      case 4: {
        if (depth >= MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH}`);
        const len = this.length(info);
        const out = new Array<unknown>(len);
        for (let i = 0; i < len; i++) out[i] = this.item(depth + 1);
        return out;
      }
      case 5:
        return this.map(info, depth);
      case 6:
        return this.fail('tags are not allowed');
      default:
        return this.simple(info);
    }
  }

  map(info: number, depth: number): Record<string, unknown> {
    if (depth >= MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH}`);
    const len = this.length(info);
    const out: Record<string, unknown> = {};
    let prevStart = -1;
    let prevEnd = -1;
    for (let i = 0; i < len; i++) {
      const keyStart = this.pos;
      this.need(1);
      const kb = this.b[this.pos++] as number;
      if (kb >> 5 !== 3) this.fail('map key is not a text string');
      const key = this.text(kb & 31);
      const keyEnd = this.pos;
      if (prevStart >= 0 && compareBytes(this.b, prevStart, prevEnd, keyStart, keyEnd) >= 0) {
        this.pos = keyStart;
        this.fail('map keys are not in canonical order, or repeat');
      }
      if (key === '__proto__') this.fail('key __proto__ is refused');
      prevStart = keyStart;
      prevEnd = keyEnd;
      out[key] = this.item(depth + 1);
    }
    return out;
  }

  simple(info: number): unknown {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 27: {
        this.need(8);
        const f = this.view.getFloat64(this.pos);
        if (!Number.isFinite(f)) this.fail('non-finite float');
        if (Number.isSafeInteger(f)) this.fail('a float64 holding a safe integer');
        this.pos += 8;
        return f;
      }
      default:
        return this.fail(
          info === 25 || info === 26 ? 'floats must be float64' : `simple value ${info}`,
        );
    }
  }
}

function compareBytes(b: Uint8Array, as: number, ae: number, bs: number, be: number): number {
  const la = ae - as;
  const lb = be - bs;
  const n = Math.min(la, lb);
  for (let i = 0; i < n; i++) {
    const d = (b[as + i] as number) - (b[bs + i] as number);
    if (d !== 0) return d;
  }
  return la - lb;
}

/**
 * Decodes bytes that must be the canonical encoding of a value: a second spelling (non-shortest
 * header, unsorted or repeated keys, a tag, an indefinite length, a narrower float, undefined,
 * invalid UTF-8, trailing bytes) is refused. Throws a plain Error; callers add run and seq.
 */
export function decodeCanonical(bytes: Uint8Array): unknown {
  // A store column that holds text where bytes belong (a SQLite TEXT value): said so, not
  // `First argument to DataView constructor must be an ArrayBuffer`.
  if (!(bytes instanceof Uint8Array))
    throw new Error(
      `the stored value is ${typeof bytes === 'string' ? 'text' : typeof bytes}, not bytes`,
    );
  const r = new Reader(bytes);
  const value = r.item(0);
  if (r.pos !== bytes.length) r.fail('trailing bytes');
  return value;
}
