/**
 * The canonical CBOR encoder: writes bytes directly into one scratch buffer (the profile is
 * described in ./codec.ts). Its fast paths (remembered key sets, fixed key sets, whole batches
 * in one array) exist because sealing is on every step's path (docs/adr/0033); codec.test.ts
 * holds each to the bytes of the general path. Everything that writes into the scratch buffer is
 * here, since only this module may move its position.
 */
import { LedgerEncodeError } from '../errors.js';
import { batchOut, type EncodedBatch } from './codecBatch.js';
import { compareKeys, shapeOf, type FixedKeys } from './codecKeys.js';
import { INT64_MIN, MAX_DEPTH, MAX_SAFE, TWO_32, UINT64_MAX } from './codecLimits.js';
import { formatPath, PathFailure } from './codecPath.js';

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

/**
 * Encodes a value to its one canonical byte string. Throws LedgerEncodeError with a path.
 * `depth`: the levels the value will sit under in its record (a snapshot's data sits under the
 * event envelope, a reply's output under the envelope and the data): the bytes are the same, but
 * a value nested too deep for the record is refused here too, where it can be handled.
 */
export function encodeCanonical(value: unknown, depth = 0): Uint8Array {
  pos = 0;
  writeTop(value, depth);
  return buf.slice(0, pos);
}

/**
 * encodeCanonical without the copy out: a view of the encoder's scratch, overwritten by the next
 * encode. Only for bytes hashed at once and dropped (request hashes), where the copy (an off-heap
 * allocation past 64 bytes) would cost more than the hashing.
 */
export function encodeCanonicalScratch(value: unknown, depth = 0): Uint8Array {
  pos = 0;
  writeTop(value, depth);
  return buf.subarray(0, pos);
}

function writeTop(value: unknown, depth: number): void {
  try {
    writeValue(value, depth);
  } catch (e) {
    if (e instanceof PathFailure) throw new LedgerEncodeError(formatPath(e.segments), e.reason);
    throw e;
  }
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
  return batchOut(buf, pos, ends, spare);
}
