/**
 * The only callable things in the expression language: a fixed allow-list of string and dict
 * methods, implemented here on primitives and own keys. The receiver's own properties are never
 * looked up as functions, so data cannot smuggle a callable in.
 */
import { isPlainObject, keysOf, ownKey, pyType } from './exprData.js';
import { TemplateLimitError } from './templateErrors.js';

export type MethodResult = { ok: true; value: unknown } | { ok: false; error: string };

export const STRING_METHODS = [
  'lower',
  'upper',
  'strip',
  'lstrip',
  'rstrip',
  'startswith',
  'endswith',
  'replace',
  'split',
  'join',
] as const;
export const DICT_METHODS = ['get', 'keys', 'values', 'items'] as const;

function tooLong(length: number, max: number, what: string): void {
  if (length > max)
    throw new TemplateLimitError('value length', max, `the string ${what} would build`);
}

const ok = (value: unknown): MethodResult => ({ ok: true, value });
const err = (error: string): MethodResult => ({ ok: false, error });

function stripChars(s: string, chars: unknown, left: boolean, right: boolean): string {
  // A set, not `chars.includes` per character: that was O(n·m), 16 s for strings of 10^6.
  const set = new Set((typeof chars === 'string' ? chars : ' \t\n\r\f\v').split(''));
  let a = 0;
  let b = s.length;
  if (left) while (a < b && set.has(s[a] ?? '')) a++;
  if (right) while (b > a && set.has(s[b - 1] ?? '')) b--;
  return s.slice(a, b);
}

function arity(name: string, args: unknown[], min: number, max: number): string | undefined {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    return `.${name}() takes ${want} argument(s) (${args.length} given)`;
  }
  return undefined;
}

function affixes(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return undefined;
}

function stringMethod(s: string, name: string, a: unknown[], maxValue: number): MethodResult {
  const bad = (n: number, m: number) => arity(name, a, n, m);
  switch (name) {
    case 'lower':
      return bad(0, 0) ? err(bad(0, 0) as string) : ok(s.toLowerCase());
    case 'upper':
      return bad(0, 0) ? err(bad(0, 0) as string) : ok(s.toUpperCase());
    case 'strip':
    case 'lstrip':
    case 'rstrip':
      if (bad(0, 1)) return err(bad(0, 1) as string);
      return ok(stripChars(s, a[0], name !== 'rstrip', name !== 'lstrip'));
    case 'startswith':
    case 'endswith': {
      if (bad(1, 1)) return err(bad(1, 1) as string);
      const xs = affixes(a[0]);
      if (!xs) return err(`.${name}() needs a string or a list of strings, not ${pyType(a[0])}`);
      return ok(xs.some((x) => (name === 'startswith' ? s.startsWith(x) : s.endsWith(x))));
    }
    case 'replace': {
      if (bad(2, 2)) return err(bad(2, 2) as string);
      const [from, to] = a;
      if (typeof from !== 'string' || typeof to !== 'string') {
        return err('.replace() needs two strings');
      }
      const count = from === '' ? s.length + 1 : s.split(from).length - 1;
      tooLong(s.length + count * (to.length - from.length), maxValue, '.replace()');
      return ok(s.split(from).join(to));
    }
    case 'split': {
      if (bad(0, 1)) return err(bad(0, 1) as string);
      const sep = a[0];
      if (sep === undefined || sep === null) return ok(s.split(/\s+/).filter((x) => x !== ''));
      if (typeof sep !== 'string' || sep === '') return err('.split() needs a non-empty string');
      return ok(s.split(sep));
    }
    case 'join': {
      if (bad(1, 1)) return err(bad(1, 1) as string);
      const xs = a[0];
      if (!Array.isArray(xs) || !xs.every((x) => typeof x === 'string')) {
        return err('.join() needs a list of strings');
      }
      const total = xs.reduce((n: number, x: string) => n + x.length + s.length, 0);
      tooLong(total, maxValue, '.join()');
      return ok(xs.join(s));
    }
  }
  return err(`'${name}' is not an allowed string method (allowed: ${STRING_METHODS.join(', ')})`);
}

function dictMethod(d: Record<string, unknown>, name: string, a: unknown[]): MethodResult {
  switch (name) {
    case 'get': {
      const bad = arity(name, a, 1, 2);
      if (bad) return err(bad);
      const k = a[0];
      const key = typeof k === 'number' ? String(k) : k;
      if (typeof key !== 'string') return err(`.get() needs a string key, not ${pyType(k)}`);
      const v = ownKey(d, key);
      return ok(v === undefined ? (a.length > 1 ? a[1] : null) : v);
    }
    case 'keys':
    case 'values':
    case 'items': {
      const bad = arity(name, a, 0, 0);
      if (bad) return err(bad);
      const ks = keysOf(d);
      if (name === 'keys') return ok(ks);
      if (name === 'values') return ok(ks.map((k) => ownKey(d, k)));
      return ok(ks.map((k) => [k, ownKey(d, k)]));
    }
  }
  return err(`'${name}' is not an allowed dict method (allowed: ${DICT_METHODS.join(', ')})`);
}

/** Calls `recv.name(...args)` if, and only if, it is on the allow-list for the receiver's type. */
export function callMethod(
  recv: unknown,
  name: string,
  args: unknown[],
  maxValue: number,
): MethodResult {
  if (typeof recv === 'string') return stringMethod(recv, name, args, maxValue);
  if (isPlainObject(recv)) return dictMethod(recv, name, args);
  // A missing dict reads as an empty one: `context.scratchpad.get('k', d)` is `d` until a step
  // writes the scratchpad (Flujo's context always has one), as a missing key is None.
  if ((recv === undefined || recv === null) && name === 'get')
    return dictMethod(Object.create(null) as Record<string, unknown>, name, args);
  return err(
    `cannot call .${name}() on ${pyType(recv)}: only the allow-listed string methods (${STRING_METHODS.join(', ')}) and dict methods (${DICT_METHODS.join(', ')}) may be called`,
  );
}
