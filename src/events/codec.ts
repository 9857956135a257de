/**
 * The canonical CBOR codec: one logical value, one byte string.
 *
 * Profile: RFC 8949 §4.2.1 core deterministic encoding — shortest integer and length headers,
 * definite lengths, map keys sorted by their encoded bytes (shorter first, then bytewise) — except
 * that every non-integer number is a float64. Safe integers (and int64 `bigint`s) are integers.
 * The data model is plain JSON-like data plus `Uint8Array` and int64 `bigint`; anything else is
 * refused with the path to the offending value, never silently changed.
 *
 * The encoder writes bytes directly, and the decoder checks canonical form in the same pass that
 * reads the value. A general CBOR library cannot do either: cbor-x has no canonical mode, and
 * canonicalising for it then re-encoding to check cost 3-5x more per event (docs/adr/0001).
 * Encoder and decoder share one set of canonical rules and stay in this one file, the only one
 * that speaks CBOR, however long that makes it.
 * Tests cross-check both directions against an independent encoder written from the RFC and
 * against cbor-x's decoder. The writer's fast paths (remembered key sets, fixed key sets, whole
 * batches in one array) exist because sealing is on every step's path (docs/adr/0033); tests hold
 * each to the bytes of the general path. This file is over 400 lines on purpose: the writer (with
 * its fast paths) and the checking reader are the two halves of one byte-level spec, kept side by
 * side so a change to one is read next to the other.
 *
 * Over 400 lines: one deterministic encoder and decoder with its fast paths (remembered key sets,
 * scratch views), whose byte-exactness codec.test.ts checks as a unit.
 */
import { LedgerEncodeError } from '../errors.js';

/** A value that can be recorded. Objects are plain, keys are strings, numbers are finite. */
export type Recordable =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly Recordable[]
  | { readonly [key: string]: Recordable | undefined };

const MAX_DEPTH = 256;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TWO_32 = 0x1_0000_0000;

// ---------------------------------------------------------------------------------------------
// Encoding

/** Thrown while walking; gathers the path segments as it unwinds, joined only on failure. */
class PathFailure {
  readonly segments: (string | number)[] = [];
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

const textEncoder = new TextEncoder();
let buf = new Uint8Array(16 * 1024);
let view = new DataView(buf.buffer);
let pos = 0;

function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  let size = buf.length * 2;
  while (size < pos + n) size *= 2;
  const next = new Uint8Array(size);
  next.set(buf.subarray(0, pos));
  buf = next;
  view = new DataView(buf.buffer);
}

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < TWO_32 ? 5 : 9;
}

/** Writes a major type with argument n, 0 <= n <= 2^53 - 1, in its shortest form. */
function writeHead(major: number, n: number): void {
  ensure(9);
  const m = major << 5;
  if (n < 24) buf[pos++] = m | n;
  else if (n < 0x100) {
    buf[pos++] = m | 24;
    buf[pos++] = n;
  } else if (n < 0x10000) {
    buf[pos++] = m | 25;
    buf[pos++] = n >>> 8;
    buf[pos++] = n & 0xff;
  } else if (n < TWO_32) {
    buf[pos++] = m | 26;
    view.setUint32(pos, n);
    pos += 4;
  } else {
    buf[pos++] = m | 27;
    view.setUint32(pos, Math.floor(n / TWO_32));
    view.setUint32(pos + 4, n >>> 0);
    pos += 8;
  }
}

function writeString(s: string): void {
  const len = s.length;
  ensure(len * 3 + 9);
  if (len > 32) return writeLongString(s, len);
  // Short strings (most keys and many values): copy ASCII here, header known up front.
  const hs = headSize(len);
  let i = 0;
  const start = pos + hs;
  for (; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    buf[start + i] = c;
  }
  if (i === len) {
    writeHead(3, len);
    pos += len;
    return;
  }
  writeLongString(s, len);
}

/** Native UTF-8 encoding: reserve the largest header, encode, then close any gap. */
function writeLongString(s: string, len: number): void {
  if (!s.isWellFormed()) throw new PathFailure('string has a lone surrogate');
  const maxHs = headSize(len * 3);
  const written = textEncoder.encodeInto(s, buf.subarray(pos + maxHs)).written;
  const realHs = headSize(written);
  if (realHs !== maxHs) buf.copyWithin(pos + realHs, pos + maxHs, pos + maxHs + written);
  writeHead(3, written);
  pos += written;
}

function writeNumber(n: number): void {
  if (Number.isSafeInteger(n)) {
    if (n >= 0)
      writeHead(0, n); // also -0, which is the integer 0
    else writeHead(1, -1 - n);
    return;
  }
  if (!Number.isFinite(n)) throw new PathFailure(`non-finite number ${n}`);
  ensure(9);
  buf[pos++] = 0xfb;
  view.setFloat64(pos, n);
  pos += 8;
}

function writeBigint(n: bigint): void {
  if (n >= -MAX_SAFE && n <= MAX_SAFE) return writeNumber(Number(n));
  if (n < INT64_MIN || n > UINT64_MAX) throw new PathFailure('bigint outside int64');
  ensure(9);
  buf[pos++] = n >= 0n ? 0x1b : 0x3b;
  view.setBigUint64(pos, n >= 0n ? n : -1n - n);
  pos += 8;
}

/** Byte length of s in UTF-8 (s is well-formed or the caller will refuse it). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      if (c < 0x800) {
        n += 1;
      } else if (c >= 0xd800 && c <= 0xdbff) {
        n += 2; // a surrogate pair: 2 units, 4 bytes
        i++;
      } else {
        n += 2;
      }
    }
  }
  return n;
}

// Map keys are mostly the same few property names; remember their UTF-8 lengths (bounded).
const keyLengths = new Map<string, number>();
function keyLength(k: string): number {
  let n = keyLengths.get(k);
  if (n === undefined) {
    n = utf8Length(k);
    if (keyLengths.size >= 4096) keyLengths.clear();
    if (k.length <= 64) keyLengths.set(k, n);
  }
  return n;
}

/** RFC 8949 key order: by encoded length, then bytewise (= by code point for equal lengths). */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const la = keyLength(a);
  const lb = keyLength(b);
  if (la !== lb) return la - lb;
  for (let i = 0; ; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca !== cb) {
      // UTF-16 units sort like code points except surrogates (which stand for > U+FFFF).
      if (ca >= 0xd800) ca += ca <= 0xdfff ? 0x2000 : -0x800;
      if (cb >= 0xd800) cb += cb <= 0xdfff ? 0x2000 : -0x800;
      return ca - cb;
    }
  }
}

/**
 * A key set seen before: its keys in canonical order and their encoded bytes. Objects recorded
 * by the engine come in a few dozen shapes, and sorting their keys (a comparison costs two
 * length lookups) was a fifth of encoding; a hit replaces the sort and the key writes with a
 * lookup, a compare per key and a copy. Only key sets that cannot fail are kept (no __proto__,
 * no lone surrogate), so every refusal still comes from the general path, with the same path.
 */
interface Shape {
  /** The keys as Object.keys gave them: a hit must match every one, in order. */
  readonly keys: readonly string[];
  readonly sorted: readonly string[];
  /** Each sorted key's CBOR text header and UTF-8 bytes, back to back; ends[i] closes key i. */
  readonly bytes: readonly number[];
  readonly ends: readonly number[];
}

const MAX_SHAPE_KEYS = 32;
const MAX_SHAPES = 1024;
// Bucketed by the last key: engine payloads share their first key ('path') far more often.
const shapes = new Map<string, Shape[]>();
let shapeCount = 0;
// Key sets seen once. A key set gets a Shape only when it comes back, so data whose key sets
// never repeat (a dictionary keyed by ids) costs a lookup on top of the general path, not a
// Shape built and thrown away each time (which measured 4x the general path).
const seenOnce = new Map<string, string[][]>();
let seenCount = 0;

function shapeOf(keys: readonly string[]): Shape | null {
  const n = keys.length;
  if (n === 0 || n > MAX_SHAPE_KEYS) return null;
  const last = keys[n - 1] as string;
  const bucket = shapes.get(last);
  if (bucket !== undefined) {
    for (const s of bucket) if (sameKeys(s.keys, keys)) return s;
  }
  if (!seenBefore(last, keys)) return null;
  const shape = makeShape(keys);
  if (shape === null) return null;
  if (shapeCount >= MAX_SHAPES) {
    shapes.clear();
    shapeCount = 0;
  }
  const b = shapes.get(last);
  if (b === undefined) shapes.set(last, [shape]);
  else b.push(shape);
  shapeCount++;
  return shape;
}

/** True on the second sighting of a key set; remembers the first (bounded like the shapes). */
function seenBefore(last: string, keys: readonly string[]): boolean {
  const bucket = seenOnce.get(last);
  if (bucket !== undefined) {
    for (const k of bucket) if (sameKeys(k, keys)) return true;
  }
  if (seenCount >= MAX_SHAPES * 4) {
    seenOnce.clear();
    seenCount = 0;
  }
  // A copy: the general path sorts its keys array in place.
  if (bucket === undefined) seenOnce.set(last, [keys.slice()]);
  else bucket.push(keys.slice());
  seenCount++;
  return false;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function makeShape(keys: readonly string[]): Shape | null {
  for (const k of keys) {
    if (k === '__proto__' || k.length > 64 || !k.isWellFormed()) return null;
  }
  const sorted = keys.slice().sort(compareKeys);
  const bytes: number[] = [];
  const ends: number[] = [];
  for (const k of sorted) {
    const utf8 = textEncoder.encode(k);
    // Keys are at most 64 UTF-16 units, so at most 192 bytes: a one- or two-byte header.
    if (utf8.length < 24) bytes.push(0x60 | utf8.length);
    else bytes.push(0x78, utf8.length);
    for (const byte of utf8) bytes.push(byte);
    ends.push(bytes.length);
  }
  return { keys: keys.slice(), sorted, bytes, ends };
}

function writeObject(o: Record<string, unknown>, depth: number): void {
  const keys = Object.keys(o);
  const shape = shapeOf(keys);
  if (shape === null) return writeObjectGeneral(o, keys, depth);
  // Same header-then-patch scheme as the general path below.
  const headerAt = pos;
  writeHead(5, keys.length);
  const entriesAt = pos;
  const { sorted, bytes, ends } = shape;
  let count = 0;
  let i = 0;
  let from = 0;
  try {
    for (; i < sorted.length; i++) {
      const to = ends[i] as number;
      const v = o[sorted[i] as string];
      if (v !== undefined) {
        ensure(to - from);
        for (let j = from; j < to; j++) buf[pos++] = bytes[j] as number;
        writeValue(v, depth + 1);
        count++;
      }
      from = to;
    }
  } catch (e) {
    if (e instanceof PathFailure) e.segments.push(sorted[i] as string);
    throw e;
  }
  if (count !== keys.length) patchMapHeader(headerAt, entriesAt, count);
}

function writeObjectGeneral(o: Record<string, unknown>, keys: string[], depth: number): void {
  for (let i = 1; i < keys.length; i++) {
    if (compareKeys(keys[i - 1] as string, keys[i] as string) > 0) {
      keys.sort(compareKeys);
      break;
    }
  }
  // Write the header for every key, then patch it if some values were undefined (rare), which
  // saves a second pass of property reads.
  const headerAt = pos;
  writeHead(5, keys.length);
  const entriesAt = pos;
  let count = 0;
  let k = '';
  try {
    for (k of keys) {
      const v = o[k];
      if (v === undefined) continue; // an absent optional field, as in JSON
      if (k === '__proto__') throw new PathFailure('key __proto__ is refused');
      writeString(k);
      writeValue(v, depth + 1);
      count++;
    }
  } catch (e) {
    if (e instanceof PathFailure) e.segments.push(k);
    throw e;
  }
  if (count !== keys.length) patchMapHeader(headerAt, entriesAt, count);
}

/** Rewrites a map header written for more entries than were (some values were undefined). */
function patchMapHeader(headerAt: number, entriesAt: number, count: number): void {
  const end = pos;
  const shift = entriesAt - headerAt - headSize(count);
  buf.copyWithin(entriesAt - shift, entriesAt, end);
  pos = headerAt;
  writeHead(5, count);
  pos = end - shift;
}

function writeArray(a: readonly unknown[], depth: number): void {
  writeHead(4, a.length);
  let i = 0;
  try {
    for (; i < a.length; i++) {
      if (!(i in a)) throw new PathFailure('sparse array');
      const v = a[i];
      if (v === undefined) throw new PathFailure('undefined in array');
      writeValue(v, depth + 1);
    }
  } catch (e) {
    if (e instanceof PathFailure) e.segments.push(i);
    throw e;
  }
}

function writeValue(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
      return writeString(v);
    case 'number':
      return writeNumber(v);
    case 'boolean':
      ensure(1);
      buf[pos++] = v ? 0xf5 : 0xf4;
      return;
    case 'bigint':
      return writeBigint(v);
    case 'object':
      break;
    default:
      throw new PathFailure(`${typeof v} cannot be recorded`);
  }
  if (v === null) {
    ensure(1);
    buf[pos++] = 0xf6;
    return;
  }
  if (depth >= MAX_DEPTH) throw new PathFailure(`nested deeper than ${MAX_DEPTH}`);
  if (v instanceof Uint8Array) {
    writeHead(2, v.length);
    ensure(v.length);
    buf.set(v, pos);
    pos += v.length;
    return;
  }
  if (Array.isArray(v)) return writeArray(v, depth);
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new PathFailure(`${name} is not plain data`);
  }
  writeObject(v as Record<string, unknown>, depth);
}

function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i] as string | number;
    out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  }
  return out;
}

/** Encodes a value to its one canonical byte string. Throws LedgerEncodeError with a path. */
export function encodeCanonical(value: unknown): Uint8Array {
  pos = 0;
  writeTop(value);
  return buf.slice(0, pos);
}

/**
 * encodeCanonical without the copy out: a view of the encoder's scratch, overwritten by the next
 * encode. Only for bytes hashed at once and dropped (request hashes), where the copy (an off-heap
 * allocation past 64 bytes) would cost more than the hashing.
 */
export function encodeCanonicalScratch(value: unknown): Uint8Array {
  pos = 0;
  writeTop(value);
  return buf.subarray(0, pos);
}

function writeTop(value: unknown): void {
  try {
    writeValue(value, 0);
  } catch (e) {
    if (e instanceof PathFailure) throw new LedgerEncodeError(formatPath(e.segments), e.reason);
    throw e;
  }
}

/** Several encodings in one array: value i is bytes[ends[i - 1] ?? 0, ends[i]). */
export interface EncodedBatch {
  readonly bytes: Uint8Array;
  readonly ends: readonly number[];
}

// Small batches are cut from a shared slab, as Node's Buffer pool does: allocating an array
// over 64 bytes means a new off-heap buffer for V8, about 0.5 µs, more than encoding a small
// event. A view keeps its whole slab alive, so the slab is small (8 KB, Node's pool size) and a
// batch over a quarter of it gets an array of its own.
const SLAB_BYTES = 8 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * The batch so far, copied out once with `spare` zero bytes after it for the caller: a batch of
 * events is then one array (sealBatch keeps the chain hashes in the spare bytes), not one each.
 */
function batchOut(ends: number[], spare: number): EncodedBatch {
  const n = pos + spare;
  let bytes: Uint8Array;
  if (n > SLAB_BYTES / 4) bytes = new Uint8Array(n);
  else {
    if (slabUsed + n > SLAB_BYTES) {
      slab = new Uint8Array(SLAB_BYTES);
      slabUsed = 0;
    }
    // Each slab byte is handed out once, so the spare bytes are still zero.
    bytes = slab.subarray(slabUsed, slabUsed + n);
    slabUsed += n;
  }
  bytes.set(buf.subarray(0, pos));
  return { bytes, ends };
}

/**
 * A key set fixed in advance (the ledger envelope), for maps given as their values alone. It
 * skips listing, looking up and reading keys, about half the cost of a small map, and writes the
 * same bytes, with the same omissions and refusals, as the object with those keys.
 */
export interface FixedKeys {
  readonly shape: Shape;
  /** For each key in canonical order, the position of its value in a row. */
  readonly slots: readonly number[];
}

export function fixedKeys(keys: readonly string[]): FixedKeys {
  const shape = makeShape(keys);
  if (shape === null || new Set(keys).size !== keys.length) {
    throw new Error(`not a fixed key set: ${keys.join(', ')}`);
  }
  return { shape, slots: shape.sorted.map((k) => keys.indexOf(k)) };
}

/**
 * Encodes maps with `fixed`'s keys, each row holding its values in the keys' order, back to back
 * into one array. Each map's bytes are exactly encodeCanonical's for the object with those keys.
 */
export function encodeFixedBatch(
  fixed: FixedKeys,
  rows: readonly (readonly unknown[])[],
  spare: number,
): EncodedBatch {
  pos = 0;
  const ends: number[] = [];
  const { slots } = fixed;
  const { sorted, bytes, ends: keyEnds } = fixed.shape;
  for (const row of rows) {
    const headerAt = pos;
    writeHead(5, slots.length);
    const entriesAt = pos;
    let count = 0;
    let i = 0;
    let from = 0;
    try {
      for (; i < slots.length; i++) {
        const to = keyEnds[i] as number;
        const v = row[slots[i] as number];
        if (v !== undefined) {
          ensure(to - from);
          for (let j = from; j < to; j++) buf[pos++] = bytes[j] as number;
          writeValue(v, 1);
          count++;
        }
        from = to;
      }
    } catch (e) {
      if (e instanceof PathFailure) {
        e.segments.push(sorted[i] as string);
        throw new LedgerEncodeError(formatPath(e.segments), e.reason);
      }
      throw e;
    }
    if (count !== slots.length) patchMapHeader(headerAt, entriesAt, count);
    ends.push(pos);
  }
  return batchOut(ends, spare);
}

// ---------------------------------------------------------------------------------------------
// Decoding

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
  const r = new Reader(bytes);
  const value = r.item(0);
  if (r.pos !== bytes.length) r.fail('trailing bytes');
  return value;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
