/**
 * The order templates, expressions and rendered messages list a dict's keys in, in runs
 * recorded with the engine flag `object-keys-in-order` (ADR 126): by code point, as Jinja's
 * `tojson` sorts them. The order a run added keys in is not kept by a snapshot (the ledger stores
 * a map's keys shorter first), so listing them as added made a run resumed from one differ from
 * the same run uninterrupted, and from its refold.
 */
import { byCodePoint } from '../events/codecKeys.js';
import { isPlainObject } from '../plainObject.js';

export { byCodePoint };

/** `keys` sorted by code point, in place; not sorted again when they already are. */
export function sortedKeys(keys: string[]): string[] {
  for (let i = 1; i < keys.length; i++)
    if (byCodePoint(keys[i - 1] as string, keys[i] as string) > 0) return keys.sort(byCodePoint);
  return keys;
}

/**
 * `JSON.stringify(v, null, indent)` with every plain object's keys sorted by code point (a
 * rendered message or system prompt, history text). Written out, not through a sorted copy: an
 * object puts integer-like keys first in numeric order whatever order they were added in.
 */
export function sortedJson(v: unknown, indent?: number): string | undefined {
  const gap = indent ? ' '.repeat(indent) : '';
  const write = (x: unknown, pad: string): string | undefined => {
    const inner = pad + gap;
    const wrap = (open: string, parts: string[], close: string) =>
      parts.length === 0
        ? `${open}${close}`
        : gap
          ? `${open}\n${inner}${parts.join(`,\n${inner}`)}\n${pad}${close}`
          : `${open}${parts.join(',')}${close}`;
    if (Array.isArray(x))
      return wrap(
        '[',
        x.map((i) => write(i, inner) ?? 'null'),
        ']',
      );
    if (!isPlainObject(x)) return JSON.stringify(x);
    const parts: string[] = [];
    for (const k of sortedKeys(Object.keys(x))) {
      const s = write(x[k], inner);
      if (s !== undefined) parts.push(`${JSON.stringify(k)}:${gap ? ' ' : ''}${s}`);
    }
    return wrap('{', parts, '}');
  };
  return write(v, '');
}
