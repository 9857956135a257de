/**
 * Errors raised by templates and expressions. Each one names the place in the template or
 * expression text (offset, and 1-based line and column) so the loader can add the YAML file
 * position in front of it.
 */
import { EngineError, ErrorCode, ExitCode } from '../errors.js';

export interface TextPosition {
  offset: number;
  line: number;
  column: number;
}

/** 1-based line and column of `offset` inside `src` (columns count UTF-16 units, as editors do). */
export function positionOf(src: string, offset: number): TextPosition {
  const at = Math.max(0, Math.min(offset, src.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at; i++) {
    if (src.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset: at, line, column: at - lineStart + 1 };
}

function where(p: TextPosition): string {
  return `line ${p.line}, column ${p.column}`;
}

/** The template or expression text does not parse. A validation error (exit code 4). */
export class TemplateSyntaxError extends EngineError {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  constructor(reason: string, src: string, offset: number) {
    const p = positionOf(src, offset);
    super(ErrorCode.TEMPLATE_SYNTAX, `${reason} (at ${where(p)})`, {
      exitCode: ExitCode.validation,
      details: { reason, offset: p.offset, line: p.line, column: p.column },
    });
    this.name = 'TemplateSyntaxError';
    this.reason = reason;
    this.offset = p.offset;
    this.line = p.line;
    this.column = p.column;
  }
}

/** Strict rendering met a variable that is not in scope. A runtime error (exit code 1). */
export class TemplateUndefinedError extends EngineError {
  readonly path: string;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  constructor(path: string, src: string, offset: number) {
    const p = positionOf(src, offset);
    super(
      ErrorCode.TEMPLATE_UNDEFINED,
      `'${path}' is undefined (at ${where(p)}); check the name, add it upstream, or use '| default(...)' or 'or' for a fallback`,
      { details: { path, offset: p.offset, line: p.line, column: p.column } },
    );
    this.name = 'TemplateUndefinedError';
    this.path = path;
    this.offset = p.offset;
    this.line = p.line;
    this.column = p.column;
  }
}

/** A bound (output size, iterations, evaluation steps, nesting) was exceeded. Exit code 1. */
export class TemplateLimitError extends EngineError {
  readonly limit: string;
  readonly max: number;
  constructor(limit: string, max: number, what: string) {
    super(ErrorCode.TEMPLATE_LIMIT, `${what} exceeds the ${limit} limit of ${max}`, {
      details: { limit, max },
    });
    this.name = 'TemplateLimitError';
    this.limit = limit;
    this.max = max;
  }
}

/** Evaluating a well-formed expression failed (a forbidden call, a type mismatch...). Exit 1. */
export class ExpressionError extends EngineError {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  constructor(reason: string, src: string, offset: number) {
    const p = positionOf(src, offset);
    super(ErrorCode.EXPRESSION_ERROR, `${reason} (at ${where(p)})`, {
      details: { reason, offset: p.offset, line: p.line, column: p.column },
    });
    this.name = 'ExpressionError';
    this.reason = reason;
    this.offset = p.offset;
    this.line = p.line;
    this.column = p.column;
  }
}
