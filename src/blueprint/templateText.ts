/**
 * How a value becomes text in a rendered template: None is empty, strings are themselves,
 * lists and dicts are JSON with Python's separators (`{"a": 1, "b": [1, 2]}`, what Flujo and
 * Jinja's tojson print). Serialisation reads only own keys of plain data and is bounded in
 * size and depth, so a huge or cyclic value is a limit error, not a hang.
 */
import { isPlainObject, keysOf, ownKey } from './exprData.js';
import { TemplateLimitError } from './templateErrors.js';

const MAX_JSON_DEPTH = 100;

export function toText(v: unknown, max: number): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v) || isPlainObject(v)) return toJson(v, max);
  return '';
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return Object.is(n, -0) ? '0' : String(n);
}

/** JSON text; `indent` pretty-prints like Python's json.dumps(indent=n). */
export function toJson(v: unknown, max: number, indent?: number): string {
  const parts: string[] = [];
  let size = 0;
  const push = (s: string): void => {
    size += s.length;
    if (size > max) throw new TemplateLimitError('output length', max, 'the JSON text');
    parts.push(s);
  };
  const nl = (d: number): string => (indent === undefined ? '' : '\n' + ' '.repeat(indent * d));
  const seen = new Set<unknown>();
  const walk = (x: unknown, d: number): void => {
    if (d > MAX_JSON_DEPTH) {
      throw new TemplateLimitError('nesting depth', MAX_JSON_DEPTH, 'the value serialised to JSON');
    }
    if (typeof x === 'string') return push(JSON.stringify(x));
    if (typeof x === 'number') return push(Number.isFinite(x) ? numberText(x) : 'null');
    if (typeof x === 'boolean') return push(String(x));
    if (typeof x === 'bigint') return push(x.toString());
    const isArr = Array.isArray(x);
    if (!isArr && !isPlainObject(x)) return push('null');
    if (seen.has(x))
      throw new TemplateLimitError('nesting depth', MAX_JSON_DEPTH, 'a cyclic value');
    seen.add(x);
    const sep = indent === undefined ? ', ' : ',';
    if (isArr) {
      push('[');
      x.forEach((item, i) => {
        if (i > 0) push(sep);
        push(nl(d + 1));
        walk(item, d + 1);
      });
      if (x.length > 0) push(nl(d));
      push(']');
    } else {
      const o = x as Record<string, unknown>;
      const keys = keysOf(o);
      push('{');
      keys.forEach((k, i) => {
        if (i > 0) push(sep);
        push(nl(d + 1));
        push(JSON.stringify(k) + ': ');
        walk(ownKey(o, k), d + 1);
      });
      if (keys.length > 0) push(nl(d));
      push('}');
    }
    seen.delete(x);
  };
  walk(v, 0);
  return parts.join('');
}
