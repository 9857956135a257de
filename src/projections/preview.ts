/**
 * Bounded, canonical text for read models. Previews are canonical JSON (sorted keys) cut to a
 * fixed length, so every store holds the same bytes for the same event; text is made safe for
 * every store (Postgres `text` refuses NUL, and a cut must not split a surrogate pair).
 */
import { jsonText } from '../jsonText.js';

export const PREVIEW_CHARS = 200;

const isObj = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === 'object' && !Array.isArray(x);

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * JSON with sorted keys; `undefined` becomes null. A `bigint` the ledger records as an integer
 * (a safe one: the codec decodes it as a number) is that number, as it is once read back; one
 * beyond the safe range is its exact number text (ADR 79).
 */
export function canonicalJson(value: unknown): string {
  let big = false;
  const sort = (x: unknown): unknown =>
    typeof x === 'bigint'
      ? x >= -MAX_SAFE && x <= MAX_SAFE
        ? Number(x)
        : ((big = true), x)
      : Array.isArray(x)
        ? x.map(sort)
        : x instanceof Uint8Array
          ? { $bytes: x.length }
          : isObj(x)
            ? Object.fromEntries(
                Object.keys(x)
                  .sort()
                  .map((k) => [k, sort(x[k])]),
              )
            : x;
  const sorted = sort(value);
  return jsonText(sorted, undefined, big) ?? 'null';
}

/** NUL and lone surrogates become U+FFFD: every store keeps the same text. */
export function safeText(s: string): string {
  return s.replace(
    // eslint-disable-next-line no-control-regex
    /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}

/** At most `max` characters, ending in `…` when cut; never splits a surrogate pair. */
export function cut(s: string, max = PREVIEW_CHARS): string {
  if (s.length <= max) return s;
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return s.slice(0, end) + '…';
}

/** The canonical JSON of a value, bounded: what previews hold. */
export function preview(value: unknown, max = PREVIEW_CHARS): string {
  return cut(safeText(canonicalJson(value)), max);
}

/** Full canonical JSON, store-safe (HITL schemas and answers). */
export function fullJson(value: unknown): string {
  return safeText(canonicalJson(value));
}

/** The UTC day of an epoch-ms time, YYYY-MM-DD. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}
