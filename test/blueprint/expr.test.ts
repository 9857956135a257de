import { describe, expect, it } from 'vitest';
import {
  evaluateExpression,
  expressionNames,
  parseExpression,
  truthy,
} from '../../src/blueprint/expr.js';
import {
  ExpressionError,
  TemplateLimitError,
  TemplateSyntaxError,
} from '../../src/blueprint/templateErrors.js';
import { ExitCode, isEngineError } from '../../src/errors.js';

const scope = {
  previous_step: 'OK: shipped',
  output: 'OK: shipped',
  context: {
    status: 'done',
    count: 3,
    ratio: '2.5',
    tags: ['a', 'b'],
    empty: [],
    nested: { deep: { value: 42 } },
    scratchpad: { status: 'Done ' },
    nothing: null,
  },
  steps: { tool: { success: true, output: { items: [10, 20, 30] } } },
  resume_input: null,
};

const ev = (src: string, s: Record<string, unknown> = scope): unknown =>
  evaluateExpression(parseExpression(src), s);

function syntaxError(src: string): TemplateSyntaxError {
  try {
    parseExpression(src);
  } catch (e) {
    if (e instanceof TemplateSyntaxError) return e;
    throw e;
  }
  throw new Error(`expected a syntax error for ${src}`);
}

function evalError(src: string): ExpressionError {
  try {
    ev(src);
  } catch (e) {
    if (e instanceof ExpressionError) return e;
    throw e;
  }
  throw new Error(`expected an expression error for ${src}`);
}

describe('expression literals and names', () => {
  it.each([
    ['1', 1],
    ['2.5', 2.5],
    ['1e3', 1000],
    ["'single'", 'single'],
    ['"double"', 'double'],
    ['"esc\\n\\t\\"q\\u00e9"', 'esc\n\t"qé'],
    ['True', true],
    ['false', false],
    ['None', null],
    ['null', null],
    ['[1, "a", [True]]', [1, 'a', [true]]],
    ['[]', []],
  ])('%s evaluates to its value', (src, want) => {
    expect(ev(src)).toEqual(want);
  });

  it('builds dict literals with string keys', () => {
    expect({ ...(ev('{"a": 1, \'b\': [2]}') as object) }).toEqual({ a: 1, b: [2] });
  });

  it('reads names, attributes, string and integer subscripts, negative indexes', () => {
    expect(ev('context.status')).toBe('done');
    expect(ev("context['nested']['deep'].value")).toBe(42);
    expect(ev('steps.tool.output.items[1]')).toBe(20);
    expect(ev('steps.tool.output.items[-1]')).toBe(30);
    expect(ev('previous_step[0]')).toBe('O');
    expect(ev('context.missing')).toBeUndefined();
    expect(ev('context.missing.deeper')).toBeUndefined();
    expect(ev('context.tags[5]')).toBeUndefined();
  });

  it('rejects a name that is not in scope, listing the names that are', () => {
    const e = evalError('contxt.status');
    expect(e.message).toContain("unknown name 'contxt'");
    expect(e.message).toContain('context');
    expect(e.column).toBe(1);
    expect(e.exitCode).toBe(ExitCode.runtime);
  });
});

describe('expression operators', () => {
  it.each([
    ["context.status == 'done'", true],
    ["context.status != 'done'", false],
    ['context.count > 2', true],
    ['context.count >= 4', false],
    ['1 < context.count <= 3', true],
    ['1 < context.count < 3', false],
    ['context.ratio > 2', true], // numeric-looking strings compare as numbers (Flujo)
    ["context.count == '3'", true],
    ["'a' < 1", false], // mixed-type ordering is false, never an error
    ["'a' in context.tags", true],
    ["'z' not in context.tags", true],
    ["'hip' in 'shipped'", true],
    ["'tool' in steps", true],
    ["'nope' in steps", false],
    ['1 in None', false],
    ['context.nothing is None', true],
    ['context.count is not None', true],
    ['[1, [2]] == [1, [2]]', true],
    ['{"a": 1} == {"a": 1}', true],
    ['None == context.missing', true],
  ])('%s is %s', (src, want) => {
    expect(ev(src)).toBe(want);
  });

  it('and/or return operands and short-circuit like Python', () => {
    expect(ev("context.empty or 'fallback'")).toBe('fallback');
    expect(ev('context.status and context.count')).toBe(3);
    expect(ev('context.empty and undefined_name')).toEqual([]);
    expect(ev('context.status or undefined_name')).toBe('done');
    expect(ev('not context.empty')).toBe(true);
    expect(ev('not not context.tags')).toBe(true);
  });

  it('does arithmetic with Python semantics', () => {
    expect(ev('1 + 2 * 3')).toBe(7);
    expect(ev('(1 + 2) * 3')).toBe(9);
    expect(ev('7 / 2')).toBe(3.5);
    expect(ev('7 // 2')).toBe(3);
    expect(ev('-7 // 2')).toBe(-4);
    expect(ev('-7 % 3')).toBe(2);
    expect(ev('-context.count')).toBe(-3);
    expect(ev("'ab' + 'cd'")).toBe('abcd');
    expect(ev("'ab' * 2")).toBe('abab');
    expect(ev('[1] + [2]')).toEqual([1, 2]);
    expect(ev('2 * [0]')).toEqual([0, 0]);
  });

  it('reports type errors and division by zero with their position', () => {
    const e = evalError("context.count + 'x'");
    expect(e.message).toContain('unsupported operand types for +: int and str');
    expect(e.column).toBe(15);
    expect(evalError('1 / 0').message).toContain('division by zero');
    expect(evalError('1 % 0').message).toContain('division by zero');
  });

  it('supports the conditional expression a if c else b', () => {
    expect(ev("'many' if context.count > 2 else 'few'")).toBe('many');
    expect(ev("'many' if context.count > 5 else 'few'")).toBe('few');
  });
});

describe('allow-listed calls', () => {
  it.each([
    ["previous_step.lower().startswith('ok:')", true],
    ["previous_step.endswith(['x', 'ped'])", true],
    ["context.scratchpad.get('status', '').strip().upper() == 'DONE'", true],
    ["context.scratchpad.get('missing', 'dflt')", 'dflt'],
    ["context.scratchpad.get('missing')", null],
    ["'  x '.lstrip()", 'x '],
    ["'  x '.rstrip()", '  x'],
    ["'xxhixx'.strip('x')", 'hi'],
    ["'a-b'.replace('-', '+')", 'a+b'],
    ["'a b  c'.split()", ['a', 'b', 'c']],
    ["'a,b'.split(',')", ['a', 'b']],
    ["', '.join(context.tags)", 'a, b'],
    ['context.nested.keys()', ['deep']],
    ['len(context.tags)', 2],
    ["len('héllo')", 5],
    ['len(context.nested)', 1],
  ])('%s evaluates to %j', (src, want) => {
    expect(ev(src)).toEqual(want);
  });

  it('refuses any other call, naming what is allowed', () => {
    const e = evalError("previous_step.format('x')");
    expect(e.message).toContain("'format' is not an allowed string method");
    expect(e.message).toContain('startswith');
    expect(evalError('context.tags.pop()').message).toContain('cannot call .pop() on list');
    expect(evalError('print(1)').message).toContain("'print' is not callable");
    expect(evalError('len(1)').message).toContain('has no len()');
    expect(evalError('context.missing.lower()').message).toContain('on None');
  });
});

describe('parsing', () => {
  it('accepts {{ }} around a whole expression, as Flujo docs show', () => {
    expect(ev("{{ context.status == 'done' }}")).toBe(true);
    expect(ev('  {{context.count}}  ')).toBe(3);
  });

  it('reports syntax errors with line and column', () => {
    const e = syntaxError("context.status ==\n  and 'x'");
    expect(e.line).toBe(2);
    expect(e.column).toBe(3);
    expect(e.exitCode).toBe(ExitCode.validation);
    expect(isEngineError(e, 'TEMPLATE_SYNTAX')).toBe(true);
    expect(syntaxError('a = 1').message).toContain("use '=='");
    expect(syntaxError('a && b').message).toContain("unexpected character '&'");
    expect(syntaxError("'open").message).toContain('unterminated string');
    expect(syntaxError('(1, 2)').message).toContain('tuples are not supported');
    expect(syntaxError('a ** 2').message).toContain('power');
    expect(syntaxError('').message).toContain('empty expression');
    expect(syntaxError('a b').column).toBe(3);
    expect(syntaxError('f(x').message).toContain("expected ')'");
  });

  it('lists the root names an expression reads, not method or function names', () => {
    const e = parseExpression(
      "previous_step.lower() == 'x' and len(context.tags) > steps['a'].n or resume_input",
    );
    expect(expressionNames(e)).toEqual(['context', 'previous_step', 'resume_input', 'steps']);
  });
});

describe('Python truthiness', () => {
  it.each([
    [null, false],
    [undefined, false],
    [false, false],
    [0, false],
    [Number.NaN, false],
    ['', false],
    [[], false],
    [{}, false],
    [Object.create(null), false],
    [true, true],
    [-1, true],
    ['0', true],
    [[0], true],
    [{ a: 0 }, true],
  ])('truthy(%j) is %s', (v, want) => {
    expect(truthy(v)).toBe(want);
  });
});

describe('evaluation limits', () => {
  it('stops after the step budget', () => {
    const e = parseExpression(Array.from({ length: 40 }, () => '[1, 2, 3]').join(' + '));
    expect(() => evaluateExpression(e, {}, { maxSteps: 50 })).toThrow(TemplateLimitError);
    expect(evaluateExpression(e, {}, { maxSteps: 1000 })).toHaveLength(120);
  });

  it('refuses to build strings or lists over the value limit before allocating them', () => {
    const e = parseExpression("'abc' * 1000000000");
    expect(() => evaluateExpression(e, {})).toThrow(/value length/);
    expect(() =>
      evaluateExpression(parseExpression("'ab' * 6"), {}, { maxValueLength: 10 }),
    ).toThrow(TemplateLimitError);
  });
});
