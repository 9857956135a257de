/**
 * JSON text for values that may hold a `bigint` (ADR 79). The ledger records integers up to
 * int64 exactly and decodes those beyond Number.MAX_SAFE_INTEGER as `bigint`, which
 * `JSON.stringify` refuses. In every JSON Flujo writes (previews, `--json`, reports, the web
 * lens) a bigint is its exact number text: `{"n": 1152921504606846977}` — valid JSON, read exactly
 * by Python and by big-number-aware parsers (a plain `JSON.parse` rounds it to the nearest double).
 */
import { randomUUID } from 'node:crypto';

/**
 * `JSON.stringify` with each bigint written as its exact integer text. `bigints`: whether the
 * value holds one, when the caller already knows (it is then not walked to find out).
 */
export function jsonText(
  value: unknown,
  indent?: number,
  bigints = holdsBigint(value),
): string | undefined {
  if (!bigints) return JSON.stringify(value, null, indent);
  // A token no string can hold by chance marks where a bigint's digits go.
  const token = `\u0001bigint-${randomUUID()}\u0001`;
  const quoted = JSON.stringify(token).slice(1, -1);
  const text = JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === 'bigint' ? `${token}${v.toString()}${token}` : v),
    indent,
  );
  return text?.replace(new RegExp(`"${escapeRe(quoted)}(-?\\d+)${escapeRe(quoted)}"`, 'g'), '$1');
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function holdsBigint(v: unknown, depth = 0): boolean {
  if (typeof v === 'bigint') return true;
  if (v === null || typeof v !== 'object' || depth > 200 || v instanceof Uint8Array) return false;
  if (Array.isArray(v)) return v.some((x) => holdsBigint(x, depth + 1));
  for (const k in v)
    if (Object.prototype.hasOwnProperty.call(v, k))
      if (holdsBigint((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A string, or a number literal: integers beyond the safe range are read as bigint. */
const LEXEME = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** `JSON.parse` reading an integer beyond Number.MAX_SAFE_INTEGER as its exact bigint. */
export function parseJsonText(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  const token = `\u0001bigint-${randomUUID()}\u0001`;
  const marked = text.replace(LEXEME, (m) => {
    if (m.startsWith('"') || !/^-?\d+$/.test(m)) return m;
    const n = BigInt(m);
    return n > MAX_SAFE || n < -MAX_SAFE ? JSON.stringify(`${token}${m}`) : m;
  });
  return JSON.parse(marked, (_k, v: unknown) =>
    typeof v === 'string' && v.startsWith(token) ? BigInt(v.slice(token.length)) : v,
  );
}

/**
 * The first integer literal of JSON `text` (strings skipped) beyond Number.MAX_SAFE_INTEGER, which
 * `JSON.parse` rounds to the nearest double; undefined when there is none.
 */
export function inexactInteger(text: string): string | undefined {
  if (!/\d{16}/.test(text)) return undefined;
  for (const [m] of text.matchAll(LEXEME)) {
    if (m.startsWith('"') || !/^-?\d+$/.test(m)) continue;
    const n = BigInt(m);
    if (n > MAX_SAFE || n < -MAX_SAFE) return m;
  }
  return undefined;
}
