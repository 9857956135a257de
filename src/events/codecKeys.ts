/**
 * Canonical map key order and the key sets the encoder remembers. RFC 8949 orders keys by their
 * encoded bytes (shorter first, then bytewise); ./codecWrite.ts writes keys in this order, and
 * its fast paths copy a remembered key set's bytes instead of sorting and writing each key.
 */
const textEncoder = new TextEncoder();

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
  return la !== lb ? la - lb : byCodePoint(a, b);
}

/** By code point (UTF-16 units sort so, but for surrogates, which stand for > U+FFFF). */
export function byCodePoint(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800) ca += ca <= 0xdfff ? 0x2000 : -0x800;
    if (cb >= 0xd800) cb += cb <= 0xdfff ? 0x2000 : -0x800;
    return ca - cb;
  }
  return a.length - b.length;
}

/**
 * A key set seen before: its keys in canonical order and their encoded bytes. Objects recorded
 * by the engine come in a few dozen shapes, and sorting their keys (a comparison costs two
 * length lookups) was a fifth of encoding; a hit replaces the sort and the key writes with a
 * lookup, a compare per key and a copy. Only key sets that cannot fail are kept (no __proto__,
 * no lone surrogate), so every refusal still comes from the general path, with the same path.
 */
export interface Shape {
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

export function shapeOf(keys: readonly string[]): Shape | null {
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

export function makeShape(keys: readonly string[]): Shape | null {
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
