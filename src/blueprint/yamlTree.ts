/**
 * YAML text to a small positioned tree. The `yaml` package keeps every node's offsets; we resolve
 * aliases (after yaml's own alias-count guard has run) and bound nesting depth, then hand the
 * loader plain maps, lists and scalars that each know their 1-based line and column.
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node as YamlNode,
} from 'yaml';

import { YamlLoadError, type YamlNote } from './yamlLoadError.js';

export { YamlLoadError, type YamlNote } from './yamlLoadError.js';

export interface Pos {
  readonly line: number;
  readonly column: number;
  /** Last line the node spans (for comment suppression). */
  readonly endLine: number;
  /**
   * A string scalar's text position (1-based line and column within its value) as a position in
   * the file, found by looking up the text there in the scalar's source; undefined when it
   * cannot be placed (block scalars, escapes and folded lines move text off the value's columns).
   */
  readonly locate?: (line: number, column: number) => { line: number; column: number } | undefined;
}
export interface YEntry {
  readonly key: string;
  readonly keyPos: Pos;
  readonly value: YNode;
}
export type YNode =
  | { readonly t: 'map'; readonly entries: readonly YEntry[]; readonly pos: Pos }
  | { readonly t: 'seq'; readonly items: readonly YNode[]; readonly pos: Pos }
  | { readonly t: 'scalar'; readonly value: unknown; readonly pos: Pos; readonly quoted?: boolean };

export const LIMITS = { maxAliasCount: 100, maxDepth: 64, maxBytes: 4 * 1024 * 1024 } as const;

/** At most this many of a file's YAML errors are reported; the rest are counted. */
export const MAX_YAML_ERRORS = 20;

/**
 * Where text position (line, column) of `value` sits in the file: the text from there (up to 12
 * characters of its line) is looked up in the scalar's source, taking the same occurrence as in
 * the value, so a block scalar's indentation or an escape earlier on the line does not shift it.
 */
function locateIn(
  src: string,
  lc: LineCounter,
  start: number,
  end: number,
  value: string,
  line: number,
  column: number,
): { line: number; column: number } | undefined {
  const lines = value.split('\n');
  if (line < 1 || line > lines.length) return undefined;
  let off = column - 1;
  for (let i = 0; i < line - 1; i++) off += (lines[i] as string).length + 1;
  const rest = (lines[line - 1] as string).slice(column - 1);
  const region = src.slice(start, end);
  for (const len of [12, 6, 3]) {
    const snip = rest.slice(0, len);
    if (snip.length === 0) return undefined;
    let nth = 0;
    for (let i = value.indexOf(snip); i !== -1 && i < off; i = value.indexOf(snip, i + 1)) nth++;
    let at = region.indexOf(snip);
    for (let k = 0; k < nth && at !== -1; k++) at = region.indexOf(snip, at + 1);
    if (at === -1) continue;
    const p = lc.linePos(start + at);
    return { line: p.line, column: p.col };
  }
  return undefined;
}

/** Parses one YAML document. Throws YamlLoadError with the first problem's position. */
/** A value refused in a new run's blueprint and taken in a recorded run's (ADR 106). */

/**
 * Parses `src`. With `recorded` (the blueprint of a run already recorded), an unquoted integer
 * beyond 2^53 − 1 is noted there instead of refused: the run recorded it rounded, and goes on so.
 */
export function parseYamlTree(src: string, recorded?: { readonly notes: YamlNote[] }): YNode {
  if (src.length > LIMITS.maxBytes) {
    throw new YamlLoadError(`the file is larger than ${LIMITS.maxBytes} bytes`, 1, 1);
  }
  flowDepthGuard(src);
  const lc = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const twice = duplicateKeys(doc);
    const [first, ...rest] = doc.errors.slice(0, MAX_YAML_ERRORS).map((e): YamlNote => {
      const p = lc.linePos(e.pos[0]);
      const dup = e.code === 'DUPLICATE_KEY' ? twice.get(e.pos[0]) : undefined;
      const message = dup
        ? `${JSON.stringify(dup.key).slice(0, 80)} is given twice in one mapping (first at line ${lc.linePos(dup.first).line}); keep one`
        : e.message.split('\n')[0];
      return { message: `${e.code}: ${message}`, line: p.line, column: p.col };
    }) as [YamlNote, ...YamlNote[]];
    const left = doc.errors.length - MAX_YAML_ERRORS;
    const more =
      left > 0
        ? [...rest, { ...(rest.at(-1) ?? first), message: `and ${left} more YAML errors` }]
        : rest;
    throw new YamlLoadError(first.message, first.line, first.column, more);
  }
  try {
    doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
  } catch (e) {
    throw new YamlLoadError(
      `${(e as Error).message} (more than ${LIMITS.maxAliasCount} aliases)`,
      1,
      1,
    );
  }
  const pos = (n: YamlNode | null | undefined): Pos => {
    const r = n?.range ?? [0, 0, 0];
    const a = lc.linePos(r[0]);
    const b = lc.linePos(Math.max(r[0], r[1] - 1));
    return { line: a.line, column: a.col, endLine: b.line };
  };
  const conv = (n: unknown, depth: number, at: Pos): YNode => {
    if (depth > LIMITS.maxDepth) {
      throw new YamlLoadError(`nesting deeper than ${LIMITS.maxDepth} levels`, at.line, at.column);
    }
    if (isAlias(n)) {
      const target = n.resolve(doc as Document);
      return conv(target, depth + 1, pos(n));
    }
    if (isMap(n)) {
      const entries: YEntry[] = [];
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const k = pair.key as YamlNode | null;
        const key = isScalar(k) ? String(k.value) : JSON.stringify(k);
        const keyPos = pos(k);
        // Never data: the ledger refuses it, and as a JS key it would set a prototype.
        if (key === '__proto__')
          throw new YamlLoadError(
            `'__proto__' cannot be a key (it would reach JS internals; rename it)`,
            keyPos.line,
            keyPos.column,
          );
        const v = pair.value as YamlNode | null;
        entries.push({
          key,
          keyPos,
          value:
            v === null ? { t: 'scalar', value: null, pos: keyPos } : conv(v, depth + 1, keyPos),
        });
      }
      return { t: 'map', entries, pos: pos(n) };
    }
    if (isSeq(n)) {
      return {
        t: 'seq',
        items: n.items.map((i) => conv(i, depth + 1, pos(n))),
        pos: pos(n),
      };
    }
    if (isScalar(n)) {
      const quoted = n.type === 'QUOTE_DOUBLE' || n.type === 'QUOTE_SINGLE';
      const at = pos(n);
      const value = n.value;
      const why = unrecordable(value, n.source);
      if (why && recorded && inexact(value, n.source))
        recorded.notes.push({ message: why, line: at.line, column: at.column });
      else if (why) throw new YamlLoadError(why, at.line, at.column);
      const range = n.range;
      const located: Pos =
        typeof value === 'string' && range
          ? { ...at, locate: (l, c) => locateIn(src, lc, range[0], range[1], value, l, c) }
          : at;
      return { t: 'scalar', value, pos: located, ...(quoted ? { quoted } : {}) };
    }
    return { t: 'scalar', value: null, pos: at };
  };
  return conv(doc.contents, 0, { line: 1, column: 1, endLine: 1 });
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const INTEGER_TEXT = /^[-+]?(?:\d+|0x[0-9a-fA-F]+|0o[0-7]+)$/;

/**
 * Why a scalar cannot be data of a run, if it cannot: the ledger records no NaN, no infinity and
 * no lone surrogate (a run of it failed with LEDGER_ENCODE and no place in the file, after
 * `validate` passed it), and an integer beyond 2^53 - 1 would be run rounded (ADR 96).
 */
const inexact = (value: unknown, source: unknown): boolean =>
  typeof value === 'number' &&
  Number.isFinite(value) &&
  !Number.isSafeInteger(value) &&
  typeof source === 'string' &&
  INTEGER_TEXT.test(source);

function unrecordable(value: unknown, source: unknown): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      return `${String(source)} (${value}) is not a number a run can record; write a finite number, or quote it for text`;
    if (inexact(value, source))
      return `${source} is an integer beyond 2^53 - 1, which would be run rounded to ${value}; quote it ("${source}")`;
  } else if (typeof value === 'string' && LONE_SURROGATE.test(value)) {
    return 'the text has a lone UTF-16 surrogate (an escape such as "\\ud800" with no pair), which a run cannot record; remove it or write the whole character';
  }
  return undefined;
}

/** Flow collections nest without indentation, so bound them before the recursive parser sees them. */
function flowDepthGuard(src: string): void {
  let depth = 0;
  let line = 1;
  let col = 0;
  let quote: string | null = null;
  for (const ch of src) {
    col++;
    if (ch === '\n') [line, col, quote] = [line + 1, 0, null];
    else if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') quote = '\n';
    else if (ch === '[' || ch === '{') {
      if (++depth > LIMITS.maxDepth) {
        throw new YamlLoadError(`nesting deeper than ${LIMITS.maxDepth} levels`, line, col);
      }
    } else if (ch === ']' || ch === '}') depth = Math.max(0, depth - 1);
  }
}

/** The plain JS value of a node. */
export function plain(n: YNode): unknown {
  switch (n.t) {
    case 'scalar':
      return n.value;
    case 'seq':
      return n.items.map(plain);
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const e of n.entries) {
        if (e.key === '__proto__' || e.key === 'constructor' || e.key === 'prototype') continue;
        out[e.key] = plain(e.value);
      }
      return out;
    }
  }
}

export function entry(n: YNode, key: string): YEntry | undefined {
  return n.t === 'map' ? n.entries.find((e) => e.key === key) : undefined;
}

/**
 * Each repeated scalar key of a mapping, by where it starts: the key and where it first appears.
 * The parser's DUPLICATE_KEY says only "Map keys must be unique" at the key's first character.
 */
function duplicateKeys(doc: Document.Parsed): Map<number, { key: string; first: number }> {
  const twice = new Map<number, { key: string; first: number }>();
  visit(doc, {
    Map(_, map) {
      const seen = new Map<string, number>();
      for (const pair of map.items) {
        const k = pair.key as YamlNode | null;
        if (!isScalar(k) || !k.range) continue;
        const key = String(k.value);
        const first = seen.get(key);
        if (first === undefined) seen.set(key, k.range[0]);
        else twice.set(k.range[0], { key, first });
      }
    },
  });
  return twice;
}
