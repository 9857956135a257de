/**
 * Tokens of the expression language. One lexer serves both whole expressions
 * (`condition_expression`) and the inside of a template tag, where it stops at the `}}` that
 * closes the tag: it tracks bracket depth, so `}}` closing a dict literal or inside a string
 * does not end the tag.
 */
import { TemplateSyntaxError } from './templateErrors.js';

export type TokKind = 'num' | 'str' | 'name' | 'op' | 'end';
export interface Token {
  k: TokKind;
  /** Operator text, name, or decoded string; numbers keep their source text. */
  v: string;
  pos: number;
}

// Sticky, so lexing a long template never copies its tail (no quadratic slicing).
const NUMBER = /(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const OPS2 = ['==', '!=', '<=', '>=', '//'];
const OPS1 = '+-*/%<>()[]{},:.|';

const ESCAPES: ReadonlyMap<string, string> = new Map([
  ['n', '\n'],
  ['t', '\t'],
  ['r', '\r'],
  ['\\', '\\'],
  ["'", "'"],
  ['"', '"'],
  ['0', '\0'],
]);

function isNameStart(c: string): boolean {
  return /[A-Za-z_@]/.test(c);
}
function isNamePart(c: string): boolean {
  return /[A-Za-z0-9_]/.test(c);
}

/**
 * Lexes `src` from `start`. With `inTag`, stops before a `}}` at bracket depth 0 and returns its
 * offset as `end`; without it, lexes to the end of `limit`.
 */
export function lexExpression(
  src: string,
  start: number,
  inTag: boolean,
  limit = src.length,
  openPos = start - 2,
): { tokens: Token[]; end: number } {
  const tokens: Token[] = [];
  let depth = 0;
  let i = start;
  for (;;) {
    while (i < limit && /\s/.test(src[i] ?? '')) i++;
    if (i >= limit) {
      if (inTag) throw new TemplateSyntaxError("unclosed '{{': expected '}}'", src, openPos);
      tokens.push({ k: 'end', v: '', pos: i });
      return { tokens, end: i };
    }
    const c = src[i] ?? '';
    if (inTag && depth === 0 && c === '}' && src[i + 1] === '}') {
      tokens.push({ k: 'end', v: '', pos: i });
      return { tokens, end: i };
    }
    const prev = tokens.at(-1);
    if (prev?.k === 'op' && prev.v === '.' && /[0-9]/.test(c)) {
      // `items.0.name`: an integer attribute, never the start of a float.
      let j = i;
      while (j < limit && /[0-9]/.test(src[j] ?? '')) j++;
      tokens.push({ k: 'num', v: src.slice(i, j), pos: i });
      i = j;
      continue;
    }
    const afterValue =
      prev !== undefined && (prev.k === 'name' || prev.v === ']' || prev.v === ')');
    if (/[0-9]/.test(c) || (c === '.' && !afterValue && /[0-9]/.test(src[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const text = (NUMBER.exec(src)?.[0] ?? c).slice(0, limit - i);
      if (isNamePart(src[i + text.length] ?? '')) {
        throw new TemplateSyntaxError(`malformed number '${text}…'`, src, i);
      }
      tokens.push({ k: 'num', v: text, pos: i });
      i += text.length;
      continue;
    }
    if (c === '"' || c === "'") {
      const [value, next] = lexString(src, i, limit);
      tokens.push({ k: 'str', v: value, pos: i });
      i = next;
      continue;
    }
    if (isNameStart(c)) {
      let j = i + 1;
      while (j < limit && isNamePart(src[j] ?? '')) j++;
      tokens.push({ k: 'name', v: src.slice(i, j), pos: i });
      i = j;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === '**') throw new TemplateSyntaxError("'**' (power) is not supported", src, i);
    const op = OPS2.includes(two) ? two : undefined;
    if (op !== undefined) {
      tokens.push({ k: 'op', v: op, pos: i });
      i += op.length;
      continue;
    }
    if (OPS1.includes(c)) {
      if (c === '(' || c === '[' || c === '{') depth++;
      if (c === ')' || c === ']' || c === '}') depth = Math.max(0, depth - 1);
      tokens.push({ k: 'op', v: c, pos: i });
      i++;
      continue;
    }
    const hint = c === '=' ? " (use '==' to compare)" : c === '!' ? " (use 'not')" : '';
    throw new TemplateSyntaxError(`unexpected character '${c}'${hint}`, src, i);
  }
}

function lexString(src: string, start: number, limit: number): [string, number] {
  const quote = src[start];
  let out = '';
  let i = start + 1;
  while (i < limit) {
    const c = src[i] ?? '';
    if (c === quote) return [out, i + 1];
    if (c === '\n') break;
    if (c === '\\') {
      const e = src[i + 1] ?? '';
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16));
        i += 6;
        continue;
      }
      const mapped = ESCAPES.get(e);
      // Unknown escapes keep their backslash, as in Python.
      out += mapped ?? '\\' + e;
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  throw new TemplateSyntaxError('unterminated string literal', src, start);
}
