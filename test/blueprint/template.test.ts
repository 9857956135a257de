import { describe, expect, it } from 'vitest';
import {
  TEMPLATE_FILTERS,
  hasTemplate,
  jinjaStatementOffset,
  parseTemplate,
  renderTemplate,
  renderTemplateValue,
  templatePaths,
} from '../../src/blueprint/template.js';
import type { RenderOptions } from '../../src/blueprint/template.js';
import {
  ExpressionError,
  TemplateSyntaxError,
  TemplateUndefinedError,
} from '../../src/blueprint/templateErrors.js';
import { ExitCode } from '../../src/errors.js';

const scope = {
  context: {
    initial_prompt: 'plan a trip',
    user: { name: 'Ann', langs: ['en', 'fr'] },
    items: ['x', 'y', 'z'],
    score: 3.14159,
    empty: '',
    none: null,
    flag: true,
    count: '42',
    data: { a: 1, b: [1, 2] },
  },
  previous_step: { status: 'ok', text: '  padded  ' },
  steps: { fetch: { output: 'fetched' }, 'my step': { output: 7 } },
  resume_input: 'yes',
};

const render = (src: string, s: Record<string, unknown> = scope, o?: RenderOptions): string =>
  renderTemplate(parseTemplate(src), s, o);

function syntaxError(src: string): TemplateSyntaxError {
  try {
    parseTemplate(src);
  } catch (e) {
    if (e instanceof TemplateSyntaxError) return e;
    throw e;
  }
  throw new Error(`expected a syntax error for ${src}`);
}

describe('template substitution', () => {
  it('renders paths with dotted, index and string-key access', () => {
    expect(render('Hi {{ context.user.name }}, task: {{context.initial_prompt}}.')).toBe(
      'Hi Ann, task: plan a trip.',
    );
    expect(render('{{ context.user.langs[1] }}|{{ context["user"]["name"] }}')).toBe('fr|Ann');
    expect(render("{{ steps.fetch.output }} {{ steps['my step'].output }}")).toBe('fetched 7');
    expect(render('{{ context.items.0 }}{{ context.items[-1] }}')).toBe('xz');
  });

  it('prints lists and dicts as JSON with Python separators, None as empty', () => {
    expect(render('{{ context.data }}')).toBe('{"a": 1, "b": [1, 2]}');
    expect(render('[{{ context.none }}]')).toBe('[]');
    expect(render('{{ context.flag }} {{ 1.5 }} {{ 10 }}')).toBe('true 1.5 10');
  });

  it('falls back through or to the first non-empty value, including string literals', () => {
    expect(render('{{ context.empty or previous_step.status }}')).toBe('ok');
    expect(render('{{ context.missing or context.none or "none" }}')).toBe('none');
    expect(render("{{ context.missing or 'single' }}")).toBe('single');
  });

  it('evaluates full expressions inside tags', () => {
    expect(render('{{ context.count == 42 and "yes" }}')).toBe('yes');
    expect(render('{{ context.user.name.upper() }}')).toBe('ANN');
    expect(render('{{ len(context.items) + 1 }}')).toBe('4');
    expect(render('{{ {"k": [1]} }}')).toBe('{"k": [1]}');
  });
});

describe('filters', () => {
  it.each([
    ['{{ context.items | join(", ") }}', 'x, y, z'],
    ['{{ context.items | join }}', 'xyz'],
    ['{{ context.user.name | upper }}', 'ANN'],
    ['{{ context.user.name | lower }}', 'ann'],
    ['{{ context.items | length }}', '3'],
    ['{{ context.user.name | length }}', '3'],
    ['{{ context.data | tojson }}', '{"a": 1, "b": [1, 2]}'],
    ['{{ context.data.b | tojson(2) }}', '[\n  1,\n  2\n]'],
    ['{{ "a\\"b" | tojson }}', '"a\\"b"'],
    ['{{ context.missing | default("none") }}', 'none'],
    ['{{ context.none | default("none") }}', 'none'],
    ['{{ context.empty | default("none") }}', ''],
    ['{{ context.empty | default("none", true) }}', 'none'],
    ['{{ previous_step.text | trim }}', 'padded'],
    ['{{ context.items | first }}{{ context.items | last }}', 'xz'],
    ['{{ context.score | round(2) }}', '3.14'],
    ['{{ context.score | round }}', '3'],
    ['{{ context.user.name | replace("n", "N") }}', 'ANN'],
    ['{{ context.count | int + 1 }}', 'ERR'],
    ['{{ context.count | int }}', '42'],
    ['{{ "2.5" | float }}', '2.5'],
    ['{{ "abc" | int(7) }}', '7'],
    ['{{ context.data | keys | join("/") }}', 'a/b'],
    ['{{ context.flag | string }}', 'true'],
    ['{{ context.items | join(", ") | upper }}', 'X, Y, Z'],
    ['{{ context.missing or context.items | join("-") }}', 'x-y-z'],
  ])('%s renders %j', (src, want) => {
    if (want === 'ERR') expect(() => render(src)).toThrow(TemplateSyntaxError);
    else expect(render(src)).toBe(want);
  });

  it('rejects unknown filters at parse time, listing the known ones', () => {
    const e = syntaxError('{{ x | to_json }}');
    expect(e.message).toContain("unknown filter 'to_json'");
    expect(e.message).toContain('tojson');
    expect(e.column).toBe(8);
    expect(TEMPLATE_FILTERS).toEqual(
      expect.arrayContaining(['join', 'upper', 'lower', 'length', 'tojson', 'default']),
    );
  });

  it('reports a filter misuse with its position', () => {
    expect(() => render('{{ context.user | join }}')).toThrow(ExpressionError);
    expect(() => render('{{ context.items | round(1, 2) }}')).toThrow(/takes 0 to 1/);
  });
});

describe('blocks', () => {
  it('renders #if with else and a full condition', () => {
    expect(render('{{#if context.flag}}on{{else}}off{{/if}}')).toBe('on');
    expect(render('{{#if context.empty}}on{{else}}off{{/if}}')).toBe('off');
    expect(render('{{#if context.missing}}on{{/if}}!')).toBe('!');
    expect(render('{{#if len(context.items) > 2 and context.flag}}many{{/if}}')).toBe('many');
  });

  it('renders #each with this, @index, @first, @last, and else for an empty list', () => {
    expect(
      render('{{#each context.items}}{{ @index }}={{ this }}{{#if not @last}}, {{/if}}{{/each}}'),
    ).toBe('0=x, 1=y, 2=z');
    expect(
      render('{{#each context.user.langs}}{{#if @first}}[{{/if}}{{ this | upper }}{{/each}}'),
    ).toBe('[ENFR');
    expect(render('{{#each context.none}}x{{else}}nothing{{/each}}')).toBe('nothing');
    expect(render('{{#each context.data}}{{ @key }}:{{ this }};{{/each}}')).toBe('a:1;b:[1, 2];');
  });

  it('nests blocks and shadows this in the inner loop', () => {
    const s = {
      rows: [
        { name: 'r1', cells: [1, 2] },
        { name: 'r2', cells: [] },
      ],
    };
    const src =
      '{{#each rows}}{{ this.name }}:{{#each this.cells}}<{{ this }}>{{else}}-{{/each}};{{/each}}';
    expect(render(src, s)).toBe('r1:<1><2>;r2:-;');
  });

  it('reports unbalanced blocks with positions', () => {
    const unclosed = syntaxError('a\n{{#if x}}b');
    expect(unclosed.message).toContain('unclosed {{#if}}');
    expect([unclosed.line, unclosed.column]).toEqual([2, 1]);
    const mismatch = syntaxError('{{#each xs}}\n  {{/if}}');
    expect(mismatch.message).toContain('closes the {{#each}} opened at line 1, column 1');
    expect([mismatch.line, mismatch.column]).toEqual([2, 3]);
    expect(syntaxError('{{/each}}').message).toContain('without an opening');
    expect(syntaxError('{{else}}').message).toContain('outside');
    expect(syntaxError('{{#if a}}{{else}}{{else}}{{/if}}').message).toContain('second');
    expect(syntaxError('{{#unless a}}{{/unless}}').message).toContain("unknown block '#unless'");
    expect(syntaxError('{{#if}}{{/if}}').message).toContain('empty condition');
  });
});

describe('escape and syntax errors', () => {
  it('renders \\{{ as a literal {{', () => {
    expect(render('use \\{{ context.user.name }} to insert')).toBe(
      'use {{ context.user.name }} to insert',
    );
    expect(hasTemplate('\\{{ x }}')).toBe(false);
    expect(hasTemplate('a {{ x }}')).toBe(true);
    expect(hasTemplate('{{x}}')).toBe(true);
    expect(hasTemplate('plain { text }')).toBe(false);
  });

  it('points at the line and column of a bad tag', () => {
    const e = syntaxError('line one\nline two {{ context.x ++ }}\n');
    expect(e.exitCode).toBe(ExitCode.validation);
    expect(e.line).toBe(2);
    expect(e.column).toBe(26); // the '}}' where an operand was expected
    const unclosed = syntaxError('ok\n  {{ context.x ');
    expect(unclosed.message).toContain("unclosed '{{'");
    expect([unclosed.line, unclosed.column]).toEqual([2, 3]);
    expect(syntaxError('{{ }}').message).toContain('empty');
  });

  it("does not end a tag at '}}' inside a string or a dict literal", () => {
    expect(render('{{ "}}" }}')).toBe('}}');
    expect(render('{{ {"a": {"b": 1}} }}')).toBe('{"a": {"b": 1}}');
  });

  it('finds Jinja statements for TEMPLATE-001', () => {
    expect(jinjaStatementOffset('a {% for x in y %}')).toBe(2);
    expect(jinjaStatementOffset('{{ x }}')).toBe(-1);
  });
});

describe('undefined variables', () => {
  it('renders empty and reports each undefined path with its offset in warn mode', () => {
    const seen: [string, number][] = [];
    const out = render('a{{ context.nope }}b{{ stepz.x.y }}c{{ context.nope or "d" }}', scope, {
      onUndefined: (p, o) => seen.push([p, o]),
    });
    expect(out).toBe('abcd');
    expect(seen).toEqual([
      ['context.nope', 4],
      ['stepz.x.y', 23],
    ]);
  });

  it('does not report a value defaulted by the default filter, or a falsy #if', () => {
    const seen: string[] = [];
    render('{{ context.nope | default("x") }}{{#if context.nope}}y{{/if}}', scope, {
      onUndefined: (p) => seen.push(p),
    });
    expect(seen).toEqual([]);
  });

  it('reports #each over an undefined list', () => {
    const seen: string[] = [];
    render('{{#each context.itemz}}{{ this }}{{/each}}', scope, {
      onUndefined: (p) => seen.push(p),
    });
    expect(seen).toEqual(['context.itemz']);
  });

  it('throws in strict mode naming the variable and its line and column', () => {
    try {
      render('first\n  {{ context.user.nmae }}', scope, { strict: true });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateUndefinedError);
      const u = e as TemplateUndefinedError;
      expect(u.path).toBe('context.user.nmae');
      expect([u.line, u.column]).toEqual([2, 6]);
      expect(u.message).toContain("'context.user.nmae' is undefined");
      expect(u.exitCode).toBe(ExitCode.runtime);
    }
    expect(render('{{ context.none }}', scope, { strict: true })).toBe('');
  });
});

describe('values, paths and re-expansion', () => {
  it('returns the raw value of a template that is exactly one tag', () => {
    expect(renderTemplateValue(parseTemplate('{{ context.data }}'), scope)).toEqual({
      a: 1,
      b: [1, 2],
    });
    expect(renderTemplateValue(parseTemplate('  {{ context.score }}\n'), scope)).toBe(3.14159);
    expect(renderTemplateValue(parseTemplate('{{ context.items | length }}'), scope)).toBe(3);
    expect(renderTemplateValue(parseTemplate('{{ context.nope }}'), scope)).toBeUndefined();
    expect(renderTemplateValue(parseTemplate('n={{ context.score }}'), scope)).toBe('n=3.14159');
    expect(renderTemplateValue(parseTemplate('plain'), scope)).toBe('plain');
  });

  it('never expands a template that arrives in data', () => {
    const s = { previous_step: '{{ context.secret }}', context: { secret: 'S3CRET' } };
    expect(render('got: {{ previous_step }}', s)).toBe('got: {{ context.secret }}');
    expect(render('{{#each xs}}{{ this }}{{/each}}', { xs: ['{{ a }}', '\\{{ b }}'], a: 1 })).toBe(
      '{{ a }}\\{{ b }}',
    );
  });

  it('lists the data paths a template reads', () => {
    const t = parseTemplate(
      '{{ steps.fetch.output }} {{ context.user.name.lower() }} {{ steps["my step"].output }}' +
        '{{#if previous_step.ok}}{{ context.items[0] | join(sep) }}{{/if}}{{#each context.items}}{{ this }}{{/each}}',
    );
    expect(templatePaths(t)).toEqual([
      'steps.fetch.output',
      'context.user.name',
      'steps["my step"].output',
      'previous_step.ok',
      'context.items[0]',
      'sep',
      'context.items',
      'this',
    ]);
  });
});
