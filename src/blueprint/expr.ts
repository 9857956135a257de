/**
 * Flujo's safe expression language (condition_expression, exit_expression, state-machine
 * `when`): a Python subset parsed by our own parser and evaluated over plain data. See
 * docs/templates.md for the language and ADR 0013 for why it is hand-written.
 */
import { lexExpression } from './exprLexer.js';
import { ExprParser } from './exprParser.js';
import type { Node } from './exprParser.js';
import { DEFAULT_MAX_STEPS, DEFAULT_MAX_VALUE, evalNode } from './exprEval.js';
import type { EvalLimits } from './exprEval.js';
import { collectNames, collectPaths } from './exprWalk.js';
import { TemplateSyntaxError } from './templateErrors.js';

export type { EvalLimits } from './exprEval.js';
export { truthy } from './exprData.js';

/** A parsed expression. Opaque: pass it back to evaluateExpression / expressionNames. */
export interface Expr {
  readonly kind: 'expression';
  /** The source text, as given (positions in errors are relative to it). */
  readonly src: string;
  /** @internal */
  readonly root: Node;
}

/** Longest accepted expression source, in characters. */
export const MAX_EXPRESSION_LENGTH = 10_000;

/**
 * Parses an expression. `{{ … }}` around the whole text is accepted (Flujo's docs show it).
 * Throws TemplateSyntaxError with the line/column inside `src`.
 */
export function parseExpression(src: string): Expr {
  if (src.length > MAX_EXPRESSION_LENGTH) {
    throw new TemplateSyntaxError(
      `expression is longer than ${MAX_EXPRESSION_LENGTH} characters`,
      src,
      MAX_EXPRESSION_LENGTH,
    );
  }
  let start = 0;
  let end = src.length;
  const m = /^\s*\{\{([\s\S]*)\}\}\s*$/.exec(src);
  if (m) {
    start = src.indexOf('{{') + 2;
    end = src.lastIndexOf('}}');
  }
  const { tokens } = lexExpression(src, start, false, end);
  if (tokens.length === 1) throw new TemplateSyntaxError('empty expression', src, start);
  return { kind: 'expression', src, root: new ExprParser(src, tokens).parseAll() };
}

/**
 * Evaluates over `scope` (only its own keys are names). Unknown names and forbidden calls throw
 * ExpressionError; exceeding a limit throws TemplateLimitError.
 */
export function evaluateExpression(
  e: Expr,
  scope: Readonly<Record<string, unknown>>,
  limits: EvalLimits = {},
): unknown {
  return evalNode(e.root, scope, {
    src: e.src,
    steps: 0,
    maxSteps: limits.maxSteps ?? DEFAULT_MAX_STEPS,
    maxValue: limits.maxValueLength ?? DEFAULT_MAX_VALUE,
    unknownNames: 'error',
    undef: undefined,
  });
}

/** Root variable names the expression reads (`context`, `previous_step`...), sorted. */
export function expressionNames(e: Expr): string[] {
  return [...collectNames(e.root)].sort();
}

/** The static data paths an expression reads (`steps["x-y"].output`, `context.items`), deduplicated. */
export function expressionPaths(e: Expr): string[] {
  return [...new Set(collectPaths(e.root))];
}
