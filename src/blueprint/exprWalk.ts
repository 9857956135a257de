/** Static views of an expression tree: the data paths and root names it reads. */
import type { Node } from './exprParser.js';

const IDENT = /^[A-Za-z_@][A-Za-z0-9_]*$/;

/**
 * `a.b[0]["k x"]` for a chain of names, attributes and literal indexes; undefined when any link
 * is computed (a call, a dynamic index...).
 */
export function staticPath(n: Node): string | undefined {
  if (n.t === 'name') return n.n;
  if (n.t === 'attr') {
    const base = staticPath(n.o);
    return base === undefined ? undefined : `${base}.${n.key}`;
  }
  if (n.t === 'index' && n.i.t === 'lit') {
    const base = staticPath(n.o);
    if (base === undefined) return undefined;
    const k = n.i.v;
    if (typeof k === 'number') return `${base}[${k}]`;
    if (typeof k === 'string')
      return IDENT.test(k) ? `${base}.${k}` : `${base}[${JSON.stringify(k)}]`;
  }
  return undefined;
}

/** Where the chain `n` starts in the source: `a` of `a.b[0].c`. */
export function startPos(n: Node): number {
  let x = n;
  while (x.t === 'attr' || x.t === 'index' || x.t === 'call') x = x.t === 'call' ? x.f : x.o;
  return x.pos;
}

function children(n: Node): Node[] {
  switch (n.t) {
    case 'lit':
    case 'name':
      return [];
    case 'attr':
      return [n.o];
    case 'index':
      return [n.o, n.i];
    // A method's name is not data: `x.lower()` reads `x`, not `x.lower`.
    case 'call':
      return [...(n.f.t === 'attr' ? [n.f.o] : n.f.t === 'name' ? [] : [n.f]), ...n.args];
    case 'not':
    case 'neg':
      return [n.e];
    case 'bool':
      return n.es;
    case 'cmp':
      return [n.first, ...n.rest.map((r) => r.e)];
    case 'bin':
      return [n.l, n.r];
    case 'cond':
      return [n.test, n.then, n.else];
    case 'list':
      return n.items;
    case 'dict':
      return n.entries.flat();
    case 'filter':
      return [n.e, ...n.args];
  }
}

/** Longest static data paths read by `n`, in source order (may repeat). */
export function collectPaths(n: Node, out: string[] = []): string[] {
  const p = staticPath(n);
  if (p !== undefined) out.push(p);
  else for (const c of children(n)) collectPaths(c, out);
  return out;
}

/** Root names read (excluding `len`, which is a function, not data). */
export function collectNames(n: Node, out: Set<string> = new Set()): Set<string> {
  if (n.t === 'name') out.add(n.n);
  for (const c of children(n)) collectNames(c, out);
  return out;
}

/**
 * The first literal in `n` that makes its value one no run can record: a number beyond the float
 * range (`1e400`, Infinity) or a dict literal's `__proto__` key, where it reaches the value (a
 * list or dict item, an operand of arithmetic, `and`/`or`, a branch of `a if c else b`), not
 * where it is only compared, indexed, measured or filtered. Its offset and what it is.
 */
export function unrecordableLiteral(n: Node): { pos: number; what: string } | undefined {
  if (n.t === 'lit' && typeof n.v === 'number' && !Number.isFinite(n.v))
    return { pos: n.pos, what: 'a number beyond the float range (it would be Infinity)' };
  if (n.t === 'dict')
    for (const [k] of n.entries)
      if (k.t === 'lit' && k.v === '__proto__') return { pos: k.pos, what: "the key '__proto__'" };
  const flows =
    n.t === 'list' || n.t === 'dict' || n.t === 'bin' || n.t === 'neg' || n.t === 'bool'
      ? children(n)
      : n.t === 'cond'
        ? [n.then, n.else]
        : [];
  for (const c of flows) {
    const found = unrecordableLiteral(c);
    if (found) return found;
  }
  return undefined;
}
