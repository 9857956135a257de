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
 * The encoder (./codecWrite.ts, with its key order and remembered key sets in ./codecKeys.ts)
 * and the checking decoder (./codecRead.ts) share their limits (./codecLimits.ts); this module
 * is the one place the rest of the engine imports them from.
 * Tests cross-check both directions against an independent encoder written from the RFC and
 * against cbor-x's decoder, and hold the writer's fast paths to the bytes of the general path.
 */

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

export type { EncodedBatch } from './codecBatch.js';
export { compareKeys, fixedKeys, type FixedKeys } from './codecKeys.js';
export { decodeCanonical } from './codecRead.js';
export { encodeCanonical, encodeCanonicalScratch, encodeFixedBatch } from './codecWrite.js';

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
