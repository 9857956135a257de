/**
 * Templates must never reach JS internals, never re-expand data, and stay bounded however
 * hostile the template or the data. Every probe here must end as empty output, a
 * TemplateSyntaxError/ExpressionError/TemplateLimitError, never a RangeError or code execution.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  parseTemplate,
  renderTemplate,
  renderTemplateValue,
} from '../../src/blueprint/template.js';
import type { RenderOptions } from '../../src/blueprint/template.js';
import {
  ExpressionError,
  TemplateLimitError,
  TemplateSyntaxError,
  TemplateUndefinedError,
} from '../../src/blueprint/templateErrors.js';

const g = globalThis as Record<string, unknown>;
afterEach(() => {
  // Nothing a template did may have touched the shared prototypes or globals.
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(g.__pwned).toBeUndefined();
});

const render = (src: string, scope: Record<string, unknown>, o?: RenderOptions): string =>
  renderTemplate(parseTemplate(src), scope, o);

const scope = {
  context: { user: 'ann', items: ['a'], obj: { k: 1 } },
  previous_step: 'text',
  fromJson: JSON.parse(
    '{"__proto__": {"polluted": "yes"}, "constructor": {"name": "x"}}',
  ) as unknown,
};

describe('prototype and constructor access', () => {
  it.each([
    '{{ context.constructor }}',
    '{{ context.__proto__ }}',
    '{{ context.prototype }}',
    '{{ context.constructor.name }}',
    '{{ context["constructor"]["constructor"] }}',
    "{{ context['__proto__'] }}",
    '{{ context.toString }}',
    '{{ context.hasOwnProperty }}',
    '{{ context.items.constructor }}',
    '{{ context.items.length }}',
    '{{ context.items.map }}',
    '{{ previous_step.constructor }}',
    '{{ previous_step.length }}',
    '{{ previous_step["constructor"] }}',
    '{{ fromJson.__proto__.polluted }}',
    '{{ fromJson.constructor.name }}',
    '{{ fromJson["__proto__"] }}',
    '{{ __proto__ }}',
    '{{ constructor }}',
    '{{ toString }}',
    '{{#each context.items}}{{ this.constructor }}{{ this.__proto__ }}{{/each}}',
    '{{#if context.constructor}}reached{{/if}}',
    '{{#each context.constructor}}reached{{/each}}',
    '{{ context.obj | keys | join }}{{ fromJson | keys | join }}',
    '{{ fromJson | tojson }}',
  ])('%s renders nothing of JS internals', (src) => {
    const out = render(src, scope);
    expect(out).not.toMatch(/function|Object|native|reached|yes|\bx\b/);
  });

  it('raw values of forbidden names are undefined, not JS objects', () => {
    for (const src of [
      '{{ constructor }}',
      '{{ __proto__ }}',
      '{{ toString }}',
      '{{ context.constructor }}',
    ]) {
      expect(renderTemplateValue(parseTemplate(src), scope)).toBeUndefined();
    }
  });

  it('strict mode names the forbidden path as undefined instead of resolving it', () => {
    expect(() => render('{{ context.__proto__ }}', scope, { strict: true })).toThrow(
      TemplateUndefinedError,
    );
    expect(() => render('{{ context.constructor.name }}', scope, { strict: true })).toThrow(
      /'context.constructor.name' is undefined/,
    );
  });

  it.each([
    '{{ context.constructor("return process")() }}',
    '{{ previous_step.constructor.constructor("globalThis.__pwned = 1")() }}',
    '{{ context.user.toString() }}',
    '{{ context.user.concat("x") }}',
    '{{ context.user.at(0) }}',
    '{{ context.items.push(1) }}',
    '{{ context.obj.hasOwnProperty("k") }}',
    '{{ context.obj.__defineGetter__("k", x) }}',
    '{{ fromJson.__proto__.toString() }}',
    '{{ Function("globalThis.__pwned = 1")() }}',
    '{{ eval("1") }}',
    '{{ this.constructor() }}',
  ])('%s is an error, not a call', (src) => {
    expect(() => render(src, scope)).toThrow(ExpressionError);
  });

  it('never runs getters or reads class instances', () => {
    let calls = 0;
    const withGetter = {
      get secret(): string {
        calls++;
        return 'S';
      },
    };
    const s = { o: withGetter, d: new Date(0), m: new Map([['k', 'v']]), f: () => 'F' };
    const out = render(
      '{{ o.secret }}|{{ o | tojson }}|{{ d.getTime }}|{{ m.k }}|{{ f }}|{{ f.name }}',
      s,
    );
    expect(out).toBe('|{"secret": null}||||');
    expect(calls).toBe(0);
    expect(() => render('{{ d.getTime() }}', s)).toThrow(ExpressionError);
    expect(() => render('{{ f() }}', s)).toThrow(ExpressionError);
  });
});

describe('templates injected through data are never expanded', () => {
  it('prints a value containing template syntax literally, at any depth', () => {
    const s = {
      previous_step: '{{ context.secret }} {{#each context.xs}}{{this}}{{/each}} \\{{ y }}',
      context: { secret: 'S3CRET', xs: [1, 2], nested: { t: '{{ context.secret }}' } },
    };
    expect(render('{{ previous_step }}', s)).toBe(s.previous_step);
    expect(render('{{ context.nested }}', s)).toBe('{"t": "{{ context.secret }}"}');
    expect(render('{{ context.nested.t | upper }}', s)).toBe('{{ CONTEXT.SECRET }}');
    expect(renderTemplateValue(parseTemplate('{{ previous_step }}'), s)).toBe(s.previous_step);
  });

  it('property: rendering any string through {{ x }} yields exactly that string', () => {
    const t = parseTemplate('{{ x }}');
    const framed = parseTemplate('<{{ x }}>{{#each xs}}[{{ this }}]{{/each}}');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.array(fc.string()), (x, xs) => {
        expect(renderTemplate(t, { x })).toBe(x);
        expect(renderTemplate(framed, { x, xs })).toBe(`<${x}>${xs.map((v) => `[${v}]`).join('')}`);
      }),
      { numRuns: 500 },
    );
  });

  it('property: tojson of any JSON value parses back to the same data (minus forbidden keys)', () => {
    const t = parseTemplate('{{ x | tojson }}');
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (x) => {
        const want: unknown = JSON.parse(JSON.stringify(x), (k, v: unknown) =>
          k === '__proto__' || k === 'constructor' || k === 'prototype' ? undefined : v,
        );
        expect(JSON.parse(renderTemplate(t, { x }))).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});

describe('bounded output', () => {
  it('caps the output length (default 1 000 000 characters)', () => {
    const big = 'x'.repeat(1_000_001);
    expect(() => render('{{ x }}', { x: big })).toThrow(TemplateLimitError);
    expect(render('{{ x }}', { x: big.slice(1) })).toHaveLength(1_000_000);
    expect(() => render('{{ x }}{{ x }}', { x: 'abcdef' }, { maxOutput: 10 })).toThrow(
      /output length limit of 10/,
    );
  });

  it('caps output built by a loop, by tojson and by repetition before allocating it', () => {
    const xs = Array.from({ length: 5000 }, () => 'y'.repeat(300));
    expect(() => render('{{#each xs}}{{ this }}{{/each}}', { xs })).toThrow(TemplateLimitError);
    expect(() => render('{{ xs | tojson }}', { xs })).toThrow(TemplateLimitError);
    expect(() => render('{{ xs | join(",") }}', { xs })).toThrow(/filter .join./);
    expect(() => render('{{ "a" * 1000000000 }}', {})).toThrow(TemplateLimitError);
    expect(() => render('{{ [1, 2] * 1000000000 }}', {})).toThrow(TemplateLimitError);
    expect(() => render('{{ x | replace("a", x) }}', { x: 'a'.repeat(2000) })).toThrow(
      TemplateLimitError,
    );
  });

  it('serialises cyclic or very deep data as a limit error, not a stack overflow', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => render('{{ x }}', { x: cyclic })).toThrow(TemplateLimitError);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    expect(() => render('{{ x | tojson }}', { x: deep })).toThrow(TemplateLimitError);
    let twin: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) twin = { d: twin };
    // Comparison stops at depth 100: a deep twin is "not equal" rather than a stack overflow.
    expect(render('{{#if x}}yes{{/if}} {{ x == x }} {{ x == y }}', { x: deep, y: twin })).toBe(
      'yes true false',
    );
  });
});

describe('bounded nesting and loops', () => {
  const noOverflow = (f: () => unknown, want: new (...a: never[]) => Error): void => {
    let thrown: unknown;
    try {
      f();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(want);
  };

  it('rejects deeply nested blocks and expressions with a syntax error', () => {
    const n = 50_000;
    noOverflow(
      () => parseTemplate('{{#if a}}'.repeat(n) + '{{/if}}'.repeat(n)),
      TemplateSyntaxError,
    );
    noOverflow(() => parseTemplate(`{{ ${'('.repeat(n)}1${')'.repeat(n)} }}`), TemplateSyntaxError);
    noOverflow(() => parseTemplate(`{{ ${'['.repeat(n)}${']'.repeat(n)} }}`), TemplateSyntaxError);
    noOverflow(() => parseTemplate(`{{ ${'not '.repeat(n)}x }}`), TemplateSyntaxError);
    noOverflow(() => parseTemplate(`{{ ${'-'.repeat(n)}1 }}`), TemplateSyntaxError);
    noOverflow(() => parseTemplate(`{{ x${'.a'.repeat(n)} }}`), TemplateSyntaxError);
    noOverflow(() => parseTemplate(`{{ 1${' + 1'.repeat(n)} }}`), TemplateSyntaxError);
    noOverflow(() => parseTemplate(`{{ x${' | upper'.repeat(n)} }}`), TemplateSyntaxError);
    noOverflow(
      () => parseTemplate(`{{ ${'{"a": '.repeat(n)}1${'}'.repeat(n)} }}`),
      TemplateSyntaxError,
    );
  });

  it('accepts nesting up to the documented depth', () => {
    const src = '{{#if a}}'.repeat(32) + 'deep' + '{{/if}}'.repeat(32);
    expect(render(src, { a: true })).toBe('deep');
    expect(() => parseTemplate('{{#if a}}'.repeat(33) + '{{/if}}'.repeat(33))).toThrow(
      /nest deeper than 32/,
    );
  });

  it('caps {{#each}} iterations over huge and nested lists', () => {
    const huge = new Array<number>(1_000_000).fill(0);
    expect(() => render('{{#each xs}}.{{/each}}', { xs: huge })).toThrow(
      /loop iterations limit of 10000/,
    );
    const row = new Array<number>(200).fill(1);
    const grid = new Array<number[]>(200).fill(row);
    expect(() => render('{{#each g}}{{#each this}}.{{/each}}{{/each}}', { g: grid })).toThrow(
      TemplateLimitError,
    );
    expect(render('{{#each xs}}.{{/each}}', { xs: row }, { maxIterations: 200 })).toHaveLength(200);
    expect(() => render('{{#each xs}}.{{/each}}', { xs: row }, { maxIterations: 199 })).toThrow(
      TemplateLimitError,
    );
  });

  it('caps evaluation work per render', () => {
    const xs = new Array<number>(5000).fill(1);
    expect(() =>
      render(
        '{{#each xs}}{{ this + this + this }}{{/each}}',
        { xs },
        { limits: { maxSteps: 10_000 } },
      ),
    ).toThrow(/evaluation steps/);
  });

  it('caps comparisons of cheaply built huge data, and strips in linear time', () => {
    // A million references to a million-element list: small to build, 10^12 comparisons to
    // compare. Before, `==` and `in` walked it all (the run hung, deaf to Ctrl-C).
    const huge = '[[0]*1000000]*1000000';
    for (const e of [`${huge} == ${huge}`, `${huge} != ${huge}`, `[0]*999999+[1] in ${huge}`]) {
      const t0 = performance.now();
      expect(() => render(`{{ ${e} }}`, {})).toThrow(TemplateLimitError);
      expect(performance.now() - t0).toBeLessThan(20_000); // bounded: ~0.5 s here, not hours
    }
    // Ordinary comparisons still work, data from scope included.
    expect(render('{{ xs == ys }}', { xs: [1, [2, 3]], ys: [1, [2, 3]] })).toBe('true');
    expect(render('{{ 3 in xs }}', { xs: [1, 2, 3] })).toBe('true');
    // strip(chars) used to test each character against the whole chars string: O(n·m), 16 s.
    const t0 = performance.now();
    expect(render("{{ ('ab'*500000).strip('c'*999990+'ab') }}", {})).toBe('');
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
