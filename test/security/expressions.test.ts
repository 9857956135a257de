/**
 * condition_expression / exit_expression / `when` come from YAML and compare data that came
 * from LLMs and users. Nothing written there may call JS, reach a prototype, or run unbounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { evaluateExpression, parseExpression } from '../../src/blueprint/expr.js';
import {
  ExpressionError,
  TemplateLimitError,
  TemplateSyntaxError,
} from '../../src/blueprint/templateErrors.js';

const g = globalThis as Record<string, unknown>;
afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(g.__pwned).toBeUndefined();
});

let sideEffects = 0;
const scope = {
  x: 'text',
  context: {
    obj: { k: 1 },
    list: [1, 2],
    fn: () => {
      sideEffects++;
      return 'F';
    },
  },
  previous_step: JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": "c"}') as unknown,
  steps: {},
};
afterEach(() => expect(sideEffects).toBe(0));

const ev = (src: string): unknown => evaluateExpression(parseExpression(src), scope);

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('no code execution', () => {
  it.each([
    "x.constructor('return 1')()",
    "x.constructor.constructor('globalThis.__pwned = 1')()",
    "context.obj.constructor('return process')()",
    "__import__('os').system('id')",
    "getattr(x, '__class__')",
    "eval('1')",
    "Function('globalThis.__pwned = 1')()",
    "require('fs')",
    'context.fn()',
    'context["fn"]()',
    'x.toString()',
    'x.valueOf()',
    'x.at(0)',
    "x.concat('y')",
    'x.__proto__.toString()',
    'context.list.map(len)',
    'context.list.pop()',
    "context.obj.hasOwnProperty('k')",
    "context.obj.__lookupGetter__('k')",
    'x.lower.call(1)',
    'x.upper()()',
  ])('%s is a clear error', (src) => {
    const e = thrown(() => ev(src));
    expect(e).toBeInstanceOf(Error);
    expect(e instanceof ExpressionError || e instanceof TemplateSyntaxError).toBe(true);
  });

  it.each([
    'lambda: 1',
    '(lambda y: y)(1)',
    '[y for y in context.list]',
    "f'{x}'",
    'x = 1',
    'context.obj.k = 2',
    "context.__proto__.polluted = 'yes'",
    'import os',
    '{1, 2}',
    'x if True',
    'a; b',
    'x`y`',
  ])('%s does not parse', (src) => {
    expect(() => parseExpression(src)).toThrow(TemplateSyntaxError);
  });

  it('a parenthesised allow-listed method is still only that method', () => {
    expect(ev('(x.upper)()')).toBe('TEXT');
  });

  it('names globals as unknown names rather than resolving them', () => {
    for (const name of [
      'process',
      'globalThis',
      'Function',
      'Object',
      'constructor',
      '__proto__',
    ]) {
      expect(() => ev(`${name}`)).toThrow(/unknown name/);
    }
  });
});

describe('no prototype access', () => {
  it.each([
    ['x.constructor', undefined],
    ['x.length', undefined],
    ["x['constructor']", undefined],
    ['context.obj.__proto__', undefined],
    ['context.obj.constructor.name', undefined],
    ['context.obj.prototype', undefined],
    ["context.obj['__proto__']", undefined],
    ['context.obj.toString', undefined],
    ['context.list.constructor', undefined],
    ['context.list.length', undefined],
    ['context.fn.name', undefined],
    ['previous_step.__proto__', undefined],
    ['previous_step.constructor', undefined],
    ["previous_step.get('__proto__')", null],
    ["previous_step.get('constructor', 'dflt')", 'dflt'],
    ["'__proto__' in previous_step", false],
    ["'constructor' in context.obj", false],
    ['previous_step.keys()', []],
    ['len(previous_step)', 0],
  ])('%s is %j', (src, want) => {
    expect(ev(src)).toEqual(want);
  });

  it('a dict literal with a __proto__ key builds data, not a prototype', () => {
    const v = ev("{'__proto__': {'polluted': 'yes'}}") as object;
    expect(Object.getPrototypeOf(v)).toBeNull();
    expect(evaluateExpression(parseExpression('d.__proto__.polluted'), { d: v })).toBeUndefined();
  });
});

describe('bounded work', () => {
  it('caps parse depth with a syntax error, never a stack overflow', () => {
    for (const src of [
      '('.repeat(4000) + '1' + ')'.repeat(4000),
      'not '.repeat(2000) + 'x',
      '-'.repeat(4000) + '1',
      'x' + '.a'.repeat(3000),
      '1' + '+1'.repeat(4000),
      'x' + '[0]'.repeat(3000),
      'x' + '.lower()'.repeat(1000),
      '['.repeat(4000) + ']'.repeat(4000),
      '1 if x else '.repeat(800) + '2',
    ]) {
      expect(thrown(() => parseExpression(src))).toBeInstanceOf(TemplateSyntaxError);
    }
  });

  it('refuses overlong expressions', () => {
    expect(() => parseExpression('x or ' + 'y or '.repeat(3000) + 'z')).toThrow(
      /longer than 10000/,
    );
  });

  it('caps evaluation steps and built values', () => {
    const wide = parseExpression('[' + 'x, '.repeat(3000) + 'x]');
    expect(() => evaluateExpression(wide, scope, { maxSteps: 1000 })).toThrow(TemplateLimitError);
    expect(() => ev("'ab' * 900000000")).toThrow(TemplateLimitError);
    expect(() => ev('[0] * 900000000')).toThrow(TemplateLimitError);
    expect(() =>
      evaluateExpression(parseExpression("s.replace('a', s)"), { s: 'a'.repeat(2000) }),
    ).toThrow(TemplateLimitError);
  });
});
