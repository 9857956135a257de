/**
 * The canonical CBOR codec: the only file that imports cbor-x.
 *
 * cbor-x has no canonical mode, so values are canonicalised first: object keys are sorted in
 * RFC 8949 §4.2.1 order (shorter UTF-8 key first, then bytewise) and handed to cbor-x as `Map`s
 * (it writes a Map's entries in iteration order, with the shortest length header when
 * `variableMapSize` is on, and without tag 259 when `useTag259ForMaps` is off). Integers use the
 * shortest CBOR integer form (cbor-x would write integers of 2^32 and above as float64, so those
 * go in as bigint); every other finite number, including integral doubles beyond 2^53, is a float64. The data model that may enter the
 * ledger is plain JSON-like data plus `Uint8Array` and int64 `bigint`; anything else is refused
 * with the path to the offending value, never silently changed. See docs/adr/0001.
 */
import { Decoder, Encoder } from 'cbor-x';

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
const TWO_POW_32 = 2 ** 32;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
// eslint-disable-next-line no-control-regex -- ASCII is exactly U+0000..U+007F
const ASCII = /^[\x00-\x7f]*$/;

const encoder = new Encoder({
  useRecords: false,
  tagUint8Array: false,
  pack: false,
  variableMapSize: true,
  useTag259ForMaps: false,
  useFloat32: 0,
  // Keep Maps as Maps on the way in; the decoder below turns maps into objects.
  mapsAsObjects: false,
} as ConstructorParameters<typeof Encoder>[0]);
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

const utf8 = new TextEncoder();

/** RFC 8949 deterministic order for text keys: by encoded length, then bytewise. */
function compareKeys(a: string, b: string): number {
  if (ASCII.test(a) && ASCII.test(b)) {
    if (a.length !== b.length) return a.length - b.length;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const ab = utf8.encode(a);
  const bb = utf8.encode(b);
  if (ab.length !== bb.length) return ab.length - bb.length;
  for (let i = 0; i < ab.length; i++) {
    const d = (ab[i] as number) - (bb[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

function canonicalNumber(n: number, path: string): number | bigint {
  if (!Number.isFinite(n)) throw new LedgerEncodeError(path, `non-finite number ${n}`);
  // Safe integers are CBOR integers; every other number (fractions, and doubles too large to be
  // exact integers, such as 1e300) is a float64. So each number has exactly one spelling.
  if (!Number.isSafeInteger(n)) return n;
  if (n === 0) return 0; // folds -0
  return n >= TWO_POW_32 || n < -TWO_POW_32 ? BigInt(n) : n;
}

function canonicalBigint(n: bigint, path: string): number | bigint {
  if (n < INT64_MIN || n > UINT64_MAX) throw new LedgerEncodeError(path, 'bigint outside int64');
  if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return canonicalNumber(Number(n), path);
  }
  return n;
}

function canonicalString(s: string, path: string): string {
  if (!s.isWellFormed()) throw new LedgerEncodeError(path, 'string has a lone surrogate');
  return s;
}

const child = (path: string, key: string) => (path ? `${path}.${key}` : key);

function canonicalise(value: unknown, path: string, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return canonicalString(value, path);
    case 'number':
      return canonicalNumber(value, path);
    case 'boolean':
      return value;
    case 'bigint':
      return canonicalBigint(value, path);
    case 'object':
      break;
    default:
      throw new LedgerEncodeError(path, `${typeof value} cannot be recorded`);
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) throw new LedgerEncodeError(path, `nested deeper than ${MAX_DEPTH}`);
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new LedgerEncodeError(`${path}[${i}]`, 'sparse array');
      const item: unknown = value[i];
      if (item === undefined) throw new LedgerEncodeError(`${path}[${i}]`, 'undefined in array');
      out[i] = canonicalise(item, `${path}[${i}]`, depth + 1);
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new LedgerEncodeError(path, `${name} is not plain data`);
  }
  const keys = Object.keys(value);
  for (const k of keys) {
    if (k === '__proto__') throw new LedgerEncodeError(child(path, k), 'key __proto__ is refused');
    canonicalString(k, child(path, k));
  }
  keys.sort(compareKeys);
  const out = new Map<string, unknown>();
  for (const k of keys) {
    const v: unknown = (value as Record<string, unknown>)[k];
    if (v === undefined) continue; // an absent optional field, as in JSON
    out.set(k, canonicalise(v, child(path, k), depth + 1));
  }
  return out;
}

/** Encodes a value to its one canonical byte string. Throws LedgerEncodeError with a path. */
export function encodeCanonical(value: unknown): Uint8Array {
  const prepared = canonicalise(value, '', 0);
  // cbor-x returns a view into its shared buffer; copy so stored bytes never alias it.
  return Uint8Array.prototype.slice.call(encoder.encode(prepared));
}

function normaliseDecoded(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = normaliseDecoded(value[i]);
    return value;
  }
  const rec = value as Record<string, unknown>;
  for (const k of Object.keys(rec)) rec[k] = normaliseDecoded(rec[k]);
  return rec;
}

/**
 * Decodes bytes and proves they are canonical: the value re-encodes to exactly the same bytes.
 * That rejects duplicate keys, indefinite lengths, tags, floats narrower than float64 and any
 * other second spelling of a value. Throws a plain Error; callers add run and seq.
 */
export function decodeCanonical(bytes: Uint8Array): unknown {
  const value = normaliseDecoded(decoder.decode(bytes));
  let again: Uint8Array;
  try {
    again = encodeCanonical(value);
  } catch (e) {
    throw new Error(`not canonical: ${(e as Error).message}`, { cause: e });
  }
  if (!bytesEqual(again, bytes)) throw new Error('not canonical: a value has a second encoding');
  return value;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
