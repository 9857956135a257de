/**
 * Template parser: text, `{{ expr | filter }}` tags, `{{#if}}…{{else}}…{{/if}}` and
 * `{{#each}}…{{else}}…{{/each}}` blocks, and the `\{{` escape. Blocks are matched with an
 * explicit stack (no recursion), and their nesting is capped so rendering cannot overflow.
 */
import { lexExpression } from './exprLexer.js';
import { ExprParser } from './exprParser.js';
import type { Node } from './exprParser.js';
import { FILTER_NAMES } from './templateFilters.js';
import { TemplateSyntaxError, positionOf } from './templateErrors.js';

export const MAX_BLOCK_DEPTH = 32;

export type TNode =
  | { k: 'text'; s: string }
  | { k: 'out'; e: Node; pos: number }
  | { k: 'if'; cond: Node; then: TNode[]; else: TNode[]; pos: number }
  | { k: 'each'; list: Node; then: TNode[]; else: TNode[]; pos: number };

type Block = Extract<TNode, { k: 'if' | 'each' }>;
interface Frame {
  block: Block;
  inElse: boolean;
}

const HEAD = /^\s*(#if|#each|else|\/if|\/each|[#/][A-Za-z_]*)(?![A-Za-z0-9_])/;

export function parseTemplateNodes(src: string): TNode[] {
  const root: TNode[] = [];
  const stack: Frame[] = [];
  const target = (): TNode[] => {
    const top = stack.at(-1);
    if (!top) return root;
    return top.inElse ? top.block.else : top.block.then;
  };
  const text = (s: string): void => {
    if (s === '') return;
    const into = target();
    const last = into.at(-1);
    if (last?.k === 'text') last.s += s;
    else into.push({ k: 'text', s });
  };
  const expr = (from: number, filters: boolean, what: string, tagPos: number) => {
    const { tokens, end } = lexExpression(src, from, true, src.length, tagPos);
    if (tokens.length === 1) throw new TemplateSyntaxError(`empty ${what}`, src, tagPos);
    const e = new ExprParser(src, tokens, filters ? FILTER_NAMES : undefined).parseAll();
    return { e, end };
  };
  const bare = (from: number, word: string, tagPos: number): number => {
    const { tokens, end } = lexExpression(src, from, true, src.length, tagPos);
    const extra = tokens[0];
    if (tokens.length > 1 && extra) {
      throw new TemplateSyntaxError(`'{{${word}}}' takes nothing after it`, src, extra.pos);
    }
    return end;
  };

  let i = 0;
  for (;;) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      text(src.slice(i));
      break;
    }
    if (open > i && src[open - 1] === '\\') {
      text(src.slice(i, open - 1) + '{{');
      i = open + 2;
      continue;
    }
    text(src.slice(i, open));
    const head = HEAD.exec(src.slice(open + 2, open + 40));
    const word = head?.[1];
    const after = open + 2 + (head?.[0].length ?? 0);
    let end: number;
    if (word === '#if' || word === '#each') {
      const { e, end: e2 } = expr(after, false, `condition in {{${word}}}`, open);
      const block: Block =
        word === '#if'
          ? { k: 'if', cond: e, then: [], else: [], pos: open }
          : { k: 'each', list: e, then: [], else: [], pos: open };
      target().push(block);
      stack.push({ block, inElse: false });
      if (stack.length > MAX_BLOCK_DEPTH) {
        throw new TemplateSyntaxError(
          `blocks nest deeper than ${MAX_BLOCK_DEPTH} levels`,
          src,
          open,
        );
      }
      end = e2;
    } else if (word === 'else') {
      end = bare(after, 'else', open);
      const top = stack.at(-1);
      if (!top)
        throw new TemplateSyntaxError(
          "'{{else}}' outside an {{#if}} or {{#each}} block",
          src,
          open,
        );
      if (top.inElse) throw new TemplateSyntaxError(`second '{{else}}' in one block`, src, open);
      top.inElse = true;
    } else if (word === '/if' || word === '/each') {
      end = bare(after, word, open);
      const top = stack.pop();
      const want = word === '/if' ? 'if' : 'each';
      if (!top)
        throw new TemplateSyntaxError(`'{{${word}}}' without an opening {{#${want}}}`, src, open);
      if (top.block.k !== want) {
        const p = positionOf(src, top.block.pos);
        throw new TemplateSyntaxError(
          `'{{${word}}}' closes the {{#${top.block.k}}} opened at line ${p.line}, column ${p.column}`,
          src,
          open,
        );
      }
    } else if (word !== undefined) {
      throw new TemplateSyntaxError(
        `unknown block '${word}' (supported: #if, #each, else, /if, /each)`,
        src,
        open,
      );
    } else {
      const { e, end: e2 } = expr(open + 2, true, "'{{ }}' tag", open);
      target().push({ k: 'out', e, pos: open });
      end = e2;
    }
    i = end + 2;
  }
  const open = stack.at(-1);
  if (open) {
    throw new TemplateSyntaxError(
      `unclosed {{#${open.block.k}}}: add {{/${open.block.k}}}`,
      src,
      open.block.pos,
    );
  }
  return root;
}
