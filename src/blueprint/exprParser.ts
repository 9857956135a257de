/**
 * Recursive-descent parser for Flujo's Python-subset expressions (precedence as in Python:
 * ternary < or < and < not < comparisons < + - < * / // % < unary - < postfix). Nesting is
 * bounded (MAX_PARSE_DEPTH counts both recursion and left-folded operator chains), so a hostile
 * expression gets a syntax error instead of a stack overflow in the parser or the evaluator.
 */
import type { Token } from './exprLexer.js';
import { TemplateSyntaxError } from './templateErrors.js';

export const MAX_PARSE_DEPTH = 64;

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | 'is' | 'is not';
export type BinOp = '+' | '-' | '*' | '/' | '//' | '%';

export type Node =
  | { t: 'lit'; v: string | number | boolean | null; pos: number }
  | { t: 'name'; n: string; pos: number }
  | { t: 'attr'; o: Node; key: string; pos: number }
  | { t: 'index'; o: Node; i: Node; pos: number }
  | { t: 'call'; f: Node; args: Node[]; pos: number }
  | { t: 'not'; e: Node; pos: number }
  | { t: 'neg'; e: Node; pos: number }
  | { t: 'bool'; op: 'and' | 'or'; es: Node[]; pos: number }
  | { t: 'cmp'; first: Node; rest: { op: CmpOp; e: Node }[]; pos: number }
  | { t: 'bin'; op: BinOp; l: Node; r: Node; pos: number }
  | { t: 'cond'; test: Node; then: Node; else: Node; pos: number }
  | { t: 'list'; items: Node[]; pos: number }
  | { t: 'dict'; entries: [Node, Node][]; pos: number }
  | { t: 'filter'; e: Node; name: string; args: Node[]; pos: number };

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'if', 'else', 'lambda']);
// A Map, not an object literal: `LITERALS['constructor']` on a plain object is Object itself.
const LITERALS: ReadonlyMap<string, boolean | null> = new Map([
  ['True', true],
  ['False', false],
  ['true', true],
  ['false', false],
  ['None', null],
  ['null', null],
]);
const CMP = new Set(['==', '!=', '<', '<=', '>', '>=']);

export class ExprParser {
  private i = 0;
  private depth = 0;
  private readonly src: string;
  private readonly toks: Token[];
  /** Filters (`| name(args)`) are allowed at the top of a template tag only. */
  private readonly filterNames: ReadonlySet<string> | undefined;

  constructor(src: string, toks: Token[], filterNames?: ReadonlySet<string>) {
    this.src = src;
    this.toks = toks;
    this.filterNames = filterNames;
  }

  /** Parses every token up to the end marker. */
  parseAll(): Node {
    const e = this.filterNames ? this.filtered() : this.ternary();
    const t = this.peek();
    if (t.k !== 'end') this.fail(`unexpected ${describe(t)}`, t.pos);
    return e;
  }

  private filtered(): Node {
    let e = this.ternary();
    let folds = 0;
    while (this.isOp('|')) {
      const bar = this.next();
      this.enter(); // a filter chain is a nesting like any other
      folds++;
      const nameTok = this.next();
      if (nameTok.k !== 'name') this.fail("expected a filter name after '|'", nameTok.pos);
      if (!this.filterNames?.has(nameTok.v)) {
        const known = [...(this.filterNames ?? [])].join(', ');
        this.fail(`unknown filter '${nameTok.v}' (known filters: ${known})`, nameTok.pos);
      }
      const args = this.isOp('(') ? (this.next(), this.args(')')) : [];
      e = { t: 'filter', e, name: nameTok.v, args, pos: bar.pos };
    }
    for (; folds > 0; folds--) this.leave();
    return e;
  }

  private ternary(): Node {
    this.enter();
    const body = this.or();
    let out = body;
    if (this.isName('if')) {
      const pos = this.next().pos;
      const test = this.or();
      if (!this.isName('else')) this.fail("expected 'else' in 'a if cond else b'", this.peek().pos);
      this.next();
      out = { t: 'cond', test, then: body, else: this.ternary(), pos };
    }
    this.leave();
    return out;
  }

  private or(): Node {
    return this.boolChain('or', () => this.and());
  }
  private and(): Node {
    return this.boolChain('and', () => this.not());
  }
  private boolChain(op: 'and' | 'or', sub: () => Node): Node {
    const first = sub();
    if (!this.isName(op)) return first;
    const es = [first];
    while (this.isName(op)) {
      this.next();
      es.push(sub());
    }
    return { t: 'bool', op, es, pos: first.pos };
  }

  private not(): Node {
    if (!this.isName('not')) return this.comparison();
    const pos = this.next().pos;
    this.enter();
    const e = this.not();
    this.leave();
    return { t: 'not', e, pos };
  }

  private comparison(): Node {
    const first = this.sum();
    const rest: { op: CmpOp; e: Node }[] = [];
    for (;;) {
      const t = this.peek();
      let op: CmpOp | undefined;
      if (t.k === 'op' && CMP.has(t.v)) op = t.v as CmpOp;
      else if (this.isName('in')) op = 'in';
      else if (this.isName('is')) op = 'is';
      else if (this.isName('not') && this.isName('in', 1)) op = 'not in';
      if (op === undefined) break;
      this.next();
      if (op === 'not in') this.next();
      if (op === 'is' && this.isName('not')) {
        this.next();
        op = 'is not';
      }
      rest.push({ op, e: this.sum() });
    }
    return rest.length === 0 ? first : { t: 'cmp', first, rest, pos: first.pos };
  }

  private sum(): Node {
    return this.leftFold(['+', '-'], () => this.term());
  }
  private term(): Node {
    return this.leftFold(['*', '/', '//', '%'], () => this.unary());
  }
  private leftFold(ops: readonly string[], sub: () => Node): Node {
    let l = sub();
    let folds = 0;
    while (this.peek().k === 'op' && ops.includes(this.peek().v)) {
      const t = this.next();
      this.enter(); // each fold deepens the tree the evaluator will walk
      folds++;
      l = { t: 'bin', op: t.v as BinOp, l, r: sub(), pos: t.pos };
    }
    for (; folds > 0; folds--) this.leave();
    return l;
  }

  private unary(): Node {
    if (this.isOp('-') || this.isOp('+')) {
      const t = this.next();
      this.enter();
      const e = this.unary();
      this.leave();
      return t.v === '-' ? { t: 'neg', e, pos: t.pos } : e;
    }
    return this.postfix();
  }

  private postfix(): Node {
    let e = this.primary();
    let folds = 0;
    for (;;) {
      const t = this.peek();
      if (t.k !== 'op' || (t.v !== '.' && t.v !== '[' && t.v !== '(')) break;
      this.next();
      this.enter();
      folds++;
      if (t.v === '.') {
        const n = this.next();
        if (n.k !== 'name' && n.k !== 'num') this.fail("expected a name after '.'", n.pos);
        e = { t: 'attr', o: e, key: n.v, pos: n.pos };
      } else if (t.v === '[') {
        const i = this.ternary();
        this.expectOp(']');
        e = { t: 'index', o: e, i, pos: t.pos };
      } else {
        e = { t: 'call', f: e, args: this.args(')'), pos: t.pos };
      }
    }
    for (; folds > 0; folds--) this.leave();
    return e;
  }

  private primary(): Node {
    const t = this.next();
    if (t.k === 'num') return { t: 'lit', v: Number(t.v), pos: t.pos };
    if (t.k === 'str') return { t: 'lit', v: t.v, pos: t.pos };
    if (t.k === 'name') {
      const lit = LITERALS.get(t.v);
      if (lit !== undefined) return { t: 'lit', v: lit, pos: t.pos };
      if (t.v === 'lambda') this.fail('lambda is not supported', t.pos);
      if (KEYWORDS.has(t.v)) this.fail(`unexpected keyword '${t.v}'`, t.pos);
      return { t: 'name', n: t.v, pos: t.pos };
    }
    if (t.k === 'op' && t.v === '(') {
      const e = this.ternary();
      if (this.isOp(',')) this.fail('tuples are not supported; use a list [a, b]', this.peek().pos);
      this.expectOp(')');
      return e;
    }
    if (t.k === 'op' && t.v === '[') return { t: 'list', items: this.args(']'), pos: t.pos };
    if (t.k === 'op' && t.v === '{') return this.dict(t.pos);
    return this.fail(`unexpected ${describe(t)}`, t.pos);
  }

  private dict(pos: number): Node {
    this.enter();
    const entries: [Node, Node][] = [];
    while (!this.isOp('}')) {
      const k = this.ternary();
      this.expectOp(':');
      entries.push([k, this.ternary()]);
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp('}');
    this.leave();
    return { t: 'dict', entries, pos };
  }

  /** Comma-separated expressions up to `close` (trailing comma allowed); consumes `close`. */
  private args(close: string): Node[] {
    this.enter();
    const out: Node[] = [];
    while (!this.isOp(close)) {
      out.push(this.ternary());
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(close);
    this.leave();
    return out;
  }

  private enter(): void {
    if (++this.depth > MAX_PARSE_DEPTH) {
      this.fail(`expression nests deeper than ${MAX_PARSE_DEPTH} levels`, this.peek().pos);
    }
  }
  private leave(): void {
    this.depth--;
  }
  private peek(ahead = 0): Token {
    return this.toks[Math.min(this.i + ahead, this.toks.length - 1)] as Token;
  }
  private next(): Token {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t.k === 'op' && t.v === v;
  }
  private isName(v: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.k === 'name' && t.v === v;
  }
  private expectOp(v: string): void {
    const t = this.next();
    if (t.k !== 'op' || t.v !== v) this.fail(`expected '${v}' but found ${describe(t)}`, t.pos);
  }
  private fail(msg: string, pos: number): never {
    throw new TemplateSyntaxError(msg, this.src, pos);
  }
}

function describe(t: Token): string {
  if (t.k === 'end') return 'end of expression';
  if (t.k === 'str') return 'a string';
  return `'${t.v}'`;
}
