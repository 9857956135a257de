/**
 * Template filters (`{{ x | name(args) }}`). Flujo has join, upper, lower, length, tojson and
 * default; the rest are the small conveniences prompt authors reach for. An unknown filter is a
 * syntax error at parse time, so validation catches typos (rule V-T3).
 */
import { ENGINE_FLAGS, recordedWith } from '../dsl/engineFlags.js';
import { isPlainObject, keysOf, lengthOf, pyType } from './exprData.js';
import { TemplateLimitError } from './templateErrors.js';
import { toJson, toText } from './templateText.js';

export interface FilterEnv {
  max: number;
  fail(msg: string): never;
}
type Filter = (v: unknown, a: unknown[], env: FilterEnv) => unknown;

function tooLong(max: number, filter: string): never {
  throw new TemplateLimitError('output length', max, `the result of filter '${filter}'`);
}

function arity(name: string, a: unknown[], min: number, max: number, env: FilterEnv): void {
  if (a.length < min || a.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    env.fail(`filter '${name}' takes ${want} argument(s) (${a.length} given)`);
  }
}

const text =
  (name: string, f: (s: string) => string): Filter =>
  (v, a, env) => {
    arity(name, a, 0, 0, env);
    return f(toText(v, env.max));
  };

function toNumber(v: unknown, fallback: unknown, int: boolean): unknown {
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'boolean'
        ? Number(v)
        : typeof v === 'string' && v.trim() !== ''
          ? Number(v)
          : NaN;
  if (!Number.isFinite(n)) return fallback ?? 0;
  return int ? Math.trunc(n) : n;
}

export const FILTERS: Readonly<Record<string, Filter>> = {
  upper: text('upper', (s) => s.toUpperCase()),
  lower: text('lower', (s) => s.toLowerCase()),
  trim: text('trim', (s) => s.trim()),
  string: text('string', (s) => s),
  length: (v, a, env) => {
    arity('length', a, 0, 0, env);
    if (v === undefined || v === null) return 0;
    return (
      lengthOf(v) ?? env.fail(`filter 'length' needs a string, list or dict, not ${pyType(v)}`)
    );
  },
  join: (v, a, env) => {
    arity('join', a, 0, 1, env);
    const sep = toText(a[0] ?? '', env.max);
    if (v === undefined || v === null) return '';
    if (typeof v === 'string') return [...v].join(sep);
    if (!Array.isArray(v)) return env.fail(`filter 'join' needs a list, not ${pyType(v)}`);
    let size = 0;
    return v
      .map((x) => {
        const s = toText(x, env.max);
        size += s.length + sep.length;
        if (size > env.max) tooLong(env.max, 'join');
        return s;
      })
      .join(sep);
  },
  tojson: (v, a, env) => {
    arity('tojson', a, 0, 1, env);
    const indent = a[0];
    if (
      indent !== undefined &&
      (typeof indent !== 'number' || !Number.isInteger(indent) || indent < 0 || indent > 16)
    ) {
      env.fail("filter 'tojson' takes an indent between 0 and 16");
    }
    return toJson(v === undefined ? null : v, env.max, indent as number | undefined);
  },
  default: (v, a, env) => {
    arity('default', a, 1, 2, env);
    const useIt = v === undefined || v === null || (a[1] === true && (v === '' || v === false));
    return useIt ? a[0] : v;
  },
  first: (v, a, env) => {
    arity('first', a, 0, 0, env);
    if (Array.isArray(v)) return v[0];
    if (typeof v === 'string') return [...v][0];
    return undefined;
  },
  last: (v, a, env) => {
    arity('last', a, 0, 0, env);
    if (Array.isArray(v)) return v[v.length - 1];
    if (typeof v === 'string') return [...v].at(-1);
    return undefined;
  },
  round: (v, a, env) => {
    arity('round', a, 0, 1, env);
    const digits = a[0] ?? 0;
    if (typeof digits !== 'number' || !Number.isInteger(digits) || digits < 0 || digits > 15) {
      return env.fail("filter 'round' takes a number of digits between 0 and 15");
    }
    const n = toNumber(v, NaN, false) as number;
    if (!Number.isFinite(n)) return env.fail(`filter 'round' needs a number, not ${pyType(v)}`);
    const f = 10 ** digits;
    // A number too large to scale has no digits after the point to round (ADR 131; was Infinity).
    if (!Number.isFinite(n * f) && recordedWith(ENGINE_FLAGS.nonFiniteArithmeticFails)) return n;
    // Half away from zero, as Jinja's round (`common`): -2.5 is -3 (Math.round gives -2).
    return (Math.sign(n) * Math.round(Math.abs(n) * f)) / f;
  },
  replace: (v, a, env) => {
    arity('replace', a, 2, 2, env);
    const [from, to] = a.map((x) => toText(x, env.max)) as [string, string];
    const s = toText(v, env.max);
    if (from === '') return s;
    const count = s.split(from).length - 1;
    if (s.length + count * (to.length - from.length) > env.max) tooLong(env.max, 'replace');
    return s.split(from).join(to);
  },
  int: (v, a, env) => {
    arity('int', a, 0, 1, env);
    return toNumber(v, a[0], true);
  },
  float: (v, a, env) => {
    arity('float', a, 0, 1, env);
    return toNumber(v, a[0], false);
  },
  keys: (v, a, env) => {
    arity('keys', a, 0, 0, env);
    if (v === undefined || v === null) return [];
    if (!isPlainObject(v)) return env.fail(`filter 'keys' needs a dict, not ${pyType(v)}`);
    return keysOf(v);
  },
};

export const FILTER_NAMES: ReadonlySet<string> = new Set(Object.keys(FILTERS));
