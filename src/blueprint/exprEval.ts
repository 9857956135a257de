/**
 * Tree-walking evaluator. There is no eval and no way to reach a JS function: names resolve
 * to own keys of the scope, members go through exprData's own-property reader, and a call is
 * only ever `len(x)` or one of the allow-listed string/dict methods, implemented here on
 * primitives. Every node visited costs one step, and strings/lists built by operators are
 * size-checked before they are allocated.
 */
import type { Node } from './exprParser.js';
import { startPos, staticPath } from './exprWalk.js';
import { callMethod } from './exprMethods.js';
import { contains, equal, lengthOf, member, order, pyType, truthy } from './exprData.js';
import { ExpressionError, TemplateLimitError } from './templateErrors.js';
import { ENGINE_FLAGS, recordedWith } from '../dsl/engineFlags.js';

export interface EvalLimits {
  /** Nodes visited per evaluation (per render, for templates). Default 10 000. */
  maxSteps?: number;
  /** Longest string or list an operator or method may build. Default 1 000 000. */
  maxValueLength?: number;
}

export interface EvalCtx {
  src: string;
  steps: number;
  maxSteps: number;
  maxValue: number;
  /** Expressions reject names not in scope; templates treat them as undefined. */
  unknownNames: 'error' | 'undefined';
  /** Last lookup that produced undefined: what undefined-variable reports name. */
  undef: { path: string; pos: number } | undefined;
  filter?: (name: string, v: unknown, args: unknown[], pos: number) => unknown;
}

export const DEFAULT_MAX_STEPS = 10_000;
export const DEFAULT_MAX_VALUE = 1_000_000;

export function evalNode(n: Node, scope: Readonly<Record<string, unknown>>, c: EvalCtx): unknown {
  if (++c.steps > c.maxSteps) {
    throw new TemplateLimitError('evaluation steps', c.maxSteps, 'evaluating the expression');
  }
  const ev = (x: Node): unknown => evalNode(x, scope, c);
  switch (n.t) {
    case 'lit':
      return n.v;
    case 'name': {
      if (Object.hasOwn(scope, n.n) && n.n !== '__proto__') return scope[n.n];
      if (c.unknownNames === 'error') {
        const known = Object.keys(scope).join(', ') || 'none';
        throw new ExpressionError(`unknown name '${n.n}' (names in scope: ${known})`, c.src, n.pos);
      }
      return missing(n, c);
    }
    case 'attr':
    case 'index': {
      const v = member(ev(n.o), n.t === 'attr' ? n.key : ev(n.i));
      return v === undefined ? missing(n, c) : v;
    }
    case 'call':
      return call(n, scope, c);
    case 'not':
      return !truthy(ev(n.e));
    case 'neg': {
      const v = ev(n.e);
      if (typeof v !== 'number') fail(c, `cannot negate ${pyType(v)}`, n.pos);
      return -v;
    }
    case 'bool': {
      let v: unknown;
      for (const e of n.es) {
        v = ev(e);
        if (truthy(v) === (n.op === 'or')) return v;
      }
      return v;
    }
    case 'cmp': {
      let l = ev(n.first);
      for (const { op, e } of n.rest) {
        const r = ev(e);
        if (!compare(op, l, r, c)) return false;
        l = r;
      }
      return true;
    }
    case 'bin':
      return arith(n.op, ev(n.l), ev(n.r), n.pos, c);
    case 'cond':
      return truthy(ev(n.test)) ? ev(n.then) : ev(n.else);
    case 'list':
      // A missing item is None, as in Flujo's evaluator (and a list the ledger can record).
      return n.items.map((x) => ev(x) ?? null);
    case 'dict': {
      const o = Object.create(null) as Record<string, unknown>;
      for (const [k, v] of n.entries) {
        const key = ev(k);
        if (typeof key !== 'string' && typeof key !== 'number') {
          fail(c, `dict keys must be strings, not ${pyType(key)}`, k.pos);
        }
        Object.defineProperty(o, String(key), { value: ev(v), enumerable: true, writable: true });
      }
      return o;
    }
    case 'filter': {
      const v = ev(n.e);
      if (!c.filter) fail(c, 'filters are only allowed in templates', n.pos);
      return c.filter(n.name, v, n.args.map(ev), n.pos);
    }
  }
}

function missing(n: Node, c: EvalCtx): undefined {
  const pos = startPos(n);
  c.undef = { path: staticPath(n) ?? c.src.slice(pos, n.pos).trim(), pos };
  return undefined;
}

/** Values a comparison may visit per evaluation step: an expression's 10 000 steps allow 10^5. */
const VISITS_PER_STEP = 10;

function compare(op: string, l: unknown, r: unknown, c: EvalCtx): boolean {
  let visits = 0;
  const tick = () => {
    if (++visits % VISITS_PER_STEP === 0 && ++c.steps > c.maxSteps)
      throw new TemplateLimitError('evaluation steps', c.maxSteps, 'comparing values');
  };
  switch (op) {
    case '==':
      return equal(l, r, 0, tick);
    case '!=':
      return !equal(l, r, 0, tick);
    case 'in':
      return contains(r, l, tick);
    case 'not in':
      return !contains(r, l, tick);
    case 'is':
      return l === r || (l == null && r == null);
    case 'is not':
      return !(l === r || (l == null && r == null));
  }
  const o = order(l, r);
  if (o === undefined) return false;
  return op === '<' ? o < 0 : op === '<=' ? o <= 0 : op === '>' ? o > 0 : o >= 0;
}

function arith(op: string, l: unknown, r: unknown, pos: number, c: EvalCtx): unknown {
  if (typeof l === 'number' && typeof r === 'number') return numeric(op, l, r, pos, c);
  if (op === '+' && typeof l === 'string' && typeof r === 'string') {
    sized(c, l.length + r.length, pos);
    return l + r;
  }
  if (op === '+' && Array.isArray(l) && Array.isArray(r)) {
    sized(c, l.length + r.length, pos);
    return [...l, ...r];
  }
  if (op === '*') {
    const [seq, k] = typeof r === 'number' ? [l, r] : [r, l];
    if (
      typeof k === 'number' &&
      Number.isInteger(k) &&
      (typeof seq === 'string' || Array.isArray(seq))
    ) {
      const times = Math.max(0, k);
      sized(c, seq.length * times, pos);
      if (typeof seq === 'string') return seq.repeat(times);
      const out: unknown[] = [];
      for (let i = 0; i < times; i++) out.push(...seq);
      return out;
    }
  }
  return fail(c, `unsupported operand types for ${op}: ${pyType(l)} and ${pyType(r)}`, pos);
}

/**
 * `+ - * / // %` on numbers, Python's way. In runs recorded with `non-finite-arithmetic-fails`
 * (ADR 131) a result that is not finite is an error here, naming the operation: a run records
 * finite numbers only, and Python's `inf` would otherwise print, compare, or fail the run at the
 * ledger with no word of the expression. `%` then takes the sign of its right operand without
 * adding the operands (`1e308 % 1.7e308` overflowed to NaN). Before the flag, as it was.
 */
function numeric(op: string, l: number, r: number, pos: number, c: EvalCtx): number {
  if ((op === '/' || op === '//' || op === '%') && r === 0) fail(c, 'division by zero', pos);
  const finite = recordedWith(ENGINE_FLAGS.nonFiniteArithmeticFails);
  let v: number;
  switch (op) {
    case '+':
      v = l + r;
      break;
    case '-':
      v = l - r;
      break;
    case '*':
      v = l * r;
      break;
    case '/':
      v = l / r;
      break;
    case '//':
      v = Math.floor(l / r);
      break;
    default:
      v = finite ? pyMod(l, r) : ((l % r) + r) % r;
  }
  if (finite && !Number.isFinite(v))
    fail(c, `${l} ${op} ${r} is ${v}, not a finite number: a run records finite numbers only`, pos);
  return v;
}

/** Python's `l % r` for r != 0: the sign of r, 0 (never -0) when it divides. */
function pyMod(l: number, r: number): number {
  const m = l % r;
  if (m === 0) return 0;
  return m < 0 !== r < 0 ? m + r : m;
}

function call(
  n: Extract<Node, { t: 'call' }>,
  scope: Readonly<Record<string, unknown>>,
  c: EvalCtx,
): unknown {
  const args = (): unknown[] => n.args.map((a) => evalNode(a, scope, c));
  const f = n.f;
  if (f.t === 'name' && f.n === 'len') {
    const a = args();
    if (a.length !== 1) fail(c, `len() takes exactly one argument (${a.length} given)`, n.pos);
    const len = lengthOf(a[0]);
    if (len === undefined) fail(c, `object of type ${pyType(a[0])} has no len()`, n.pos);
    return len;
  }
  if (f.t === 'attr') {
    const recv = evalNode(f.o, scope, c);
    const res = callMethod(recv, f.key, args(), c.maxValue);
    if (res.ok) return res.value;
    return fail(c, res.error, f.pos);
  }
  const what = f.t === 'name' ? `'${f.n}'` : 'this value';
  return fail(
    c,
    `${what} is not callable: only len(x) and the allow-listed string/dict methods may be called`,
    f.pos,
  );
}

export function sized(c: EvalCtx, length: number, pos: number): void {
  if (length > c.maxValue) {
    throw new TemplateLimitError(
      'value length',
      c.maxValue,
      `the value built at offset ${pos} (${length})`,
    );
  }
}

function fail(c: EvalCtx, msg: string, pos: number): never {
  throw new ExpressionError(msg, c.src, pos);
}
