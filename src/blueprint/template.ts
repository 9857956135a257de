/**
 * Flujo templates: parse once, render many times over a scope record. Rendering never
 * re-expands its output (a value containing `{{ x }}` is printed literally), reads data only
 * through the safe evaluator, and is bounded in output size, loop iterations and work.
 */
import type { Node } from './exprParser.js';
import { DEFAULT_MAX_VALUE, evalNode } from './exprEval.js';
import type { EvalCtx, EvalLimits } from './exprEval.js';
import { isPlainObject, keysOf, ownKey, truthy, userView } from './exprData.js';
import { collectPaths, staticPath, unrecordableLiteral } from './exprWalk.js';
import { FILTERS, FILTER_NAMES } from './templateFilters.js';
import { parseTemplateNodes } from './templateParse.js';
import type { TNode } from './templateParse.js';
import { toText } from './templateText.js';
import { ExpressionError, TemplateLimitError, TemplateUndefinedError } from './templateErrors.js';

export { TemplateSyntaxError } from './templateErrors.js';

/** A parsed template. Opaque: pass it back to the functions of this module. */
export interface Template {
  readonly kind: 'template';
  readonly src: string;
  /** @internal */
  readonly nodes: readonly TNode[];
  /** @internal the expression when the template is exactly one `{{ expr }}` */
  readonly single: Node | undefined;
}

export interface RenderOptions {
  /** Throw TemplateUndefinedError on an undefined variable instead of rendering it empty. */
  strict?: boolean;
  /** Called for each undefined variable in warn mode (path as written, offset in the template). */
  onUndefined?: (path: string, offset: number) => void;
  /** Longest output in characters (default 1 000 000). */
  maxOutput?: number;
  /** Total `{{#each}}` iterations per render (default 10 000). */
  maxIterations?: number;
  /** Evaluation work per render (default 1 000 000 steps) and built-value size. */
  limits?: EvalLimits;
}

export const DEFAULT_MAX_OUTPUT = 1_000_000;
export const DEFAULT_MAX_ITERATIONS = 10_000;
const DEFAULT_TEMPLATE_STEPS = 1_000_000;

/** Filter names templates accept (for validation rules and fixers). */
export const TEMPLATE_FILTERS: readonly string[] = [...FILTER_NAMES].sort();

/** Parses a template. Throws TemplateSyntaxError with line/column inside `src`. */
export function parseTemplate(src: string): Template {
  const nodes = parseTemplateNodes(src);
  const outs = nodes.filter((n) => n.k !== 'text' || n.s.trim() !== '');
  const only = outs.length === 1 ? outs[0] : undefined;
  return { kind: 'template', src, nodes, single: only?.k === 'out' ? only.e : undefined };
}

/** True when `s` contains an unescaped `{{` (i.e. it needs rendering). */
export function hasTemplate(s: string): boolean {
  return /(^|[^\\])\{\{/.test(s);
}

/** Offset of a Jinja statement `{%` (Flujo's TEMPLATE-001), or -1. */
export function jinjaStatementOffset(s: string): number {
  return s.indexOf('{%');
}

/**
 * Dotted data paths the template reads, e.g. `steps.fetch.output`, in first-use order. With
 * `scopeOnly`, the names an `{{#each}}` body binds itself (`this`, `@index`, `@first`, `@last`,
 * `@key`) are left out there: what is left is read from the caller's scope (validation).
 */
export function templatePaths(t: Template, scopeOnly = false): string[] {
  const out: string[] = [];
  const walk = (ns: readonly TNode[], inEach: boolean): void => {
    const collect = (e: Parameters<typeof collectPaths>[0]) => {
      if (!inEach) return collectPaths(e, out);
      const mine: string[] = [];
      collectPaths(e, mine);
      for (const p of mine) {
        const root = /^[^.[]*/.exec(p)?.[0] ?? '';
        if (root !== 'this' && !root.startsWith('@')) out.push(p);
      }
    };
    for (const n of ns) {
      if (n.k === 'out') collect(n.e);
      else if (n.k !== 'text') {
        collect(n.k === 'if' ? n.cond : n.list);
        walk(n.then, inEach || (scopeOnly && n.k === 'each'));
        walk(n.else, inEach);
      }
    }
  };
  walk(t.nodes, false);
  return [...new Set(out)];
}

/**
 * For validation: the first literal that makes the value of a template that is exactly one tag
 * (handed on raw) one no run can record (`{{ 1e400 }}`, `{{ {'__proto__': 1} }}`). In a longer
 * text it only prints (`Infinity`, `{}`), which a run records.
 */
export function templateUnrecordable(t: Template): { pos: number; what: string } | undefined {
  return t.single === undefined ? undefined : unrecordableLiteral(t.single);
}

interface Run {
  t: Template;
  opts: RenderOptions;
  ec: EvalCtx;
  max: number;
  size: number;
  iterations: number;
  maxIterations: number;
  parts: string[];
}

function start(t: Template, opts: RenderOptions): Run {
  const max = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  return {
    t,
    opts,
    max,
    size: 0,
    iterations: 0,
    maxIterations: opts.maxIterations ?? DEFAULT_MAX_ITERATIONS,
    parts: [],
    ec: {
      src: t.src,
      steps: 0,
      maxSteps: opts.limits?.maxSteps ?? DEFAULT_TEMPLATE_STEPS,
      maxValue: Math.min(opts.limits?.maxValueLength ?? DEFAULT_MAX_VALUE, max),
      unknownNames: 'undefined',
      undef: undefined,
    },
  };
}

/** Renders to a string. Lists and dicts print as JSON, None/undefined as empty. */
export function renderTemplate(
  t: Template,
  scope: Readonly<Record<string, unknown>>,
  opts: RenderOptions = {},
): string {
  const run = start(t, opts);
  renderNodes(run, t.nodes, scope);
  return run.parts.join('');
}

/**
 * When the template is exactly one `{{ expr }}` (whitespace allowed around it), the raw value
 * (object, number…, undefined when undefined); otherwise the rendered string.
 */
export function renderTemplateValue(
  t: Template,
  scope: Readonly<Record<string, unknown>>,
  opts: RenderOptions = {},
): unknown {
  if (t.single === undefined) return renderTemplate(t, scope, opts);
  return userView(tagValue(start(t, opts), t.single, scope));
}

function append(run: Run, s: string): void {
  run.size += s.length;
  if (run.size > run.max) {
    throw new TemplateLimitError('output length', run.max, 'the rendered template');
  }
  run.parts.push(s);
}

function renderNodes(
  run: Run,
  nodes: readonly TNode[],
  scope: Readonly<Record<string, unknown>>,
): void {
  for (const n of nodes) {
    if (n.k === 'text') append(run, n.s);
    else if (n.k === 'out') append(run, toText(tagValue(run, n.e, scope), run.max - run.size));
    else if (n.k === 'if') {
      const ok = truthy(evalNode(n.cond, scope, run.ec));
      renderNodes(run, ok ? n.then : n.else, scope);
    } else renderEach(run, n, scope);
  }
}

function renderEach(
  run: Run,
  n: Extract<TNode, { k: 'each' }>,
  scope: Readonly<Record<string, unknown>>,
): void {
  run.ec.undef = undefined;
  const v = evalNode(n.list, scope, run.ec);
  if (v === undefined) reportUndefined(run, n.list);
  const entries: [string | number, unknown][] = Array.isArray(v)
    ? v.map((x, i) => [i, x])
    : isPlainObject(v)
      ? keysOf(v).map((k) => [k, ownKey(v, k)])
      : [];
  if (entries.length === 0) return renderNodes(run, n.else, scope);
  entries.forEach(([key, item], i) => {
    if (++run.iterations > run.maxIterations) {
      throw new TemplateLimitError('loop iterations', run.maxIterations, '{{#each}} iterations');
    }
    const inner: Record<string, unknown> = {
      ...scope,
      this: item,
      '@index': i,
      '@first': i === 0,
      '@last': i === entries.length - 1,
    };
    if (typeof key === 'string') inner['@key'] = key;
    renderNodes(run, n.then, inner);
  });
}

/** Evaluates a tag: its expression, then its filters; reports an undefined base value. */
function tagValue(run: Run, e: Node, scope: Readonly<Record<string, unknown>>): unknown {
  const filters: Extract<Node, { t: 'filter' }>[] = [];
  let base = e;
  while (base.t === 'filter') {
    filters.unshift(base);
    base = base.e;
  }
  run.ec.undef = undefined;
  let v = evalNode(base, scope, run.ec);
  if (v === undefined && !filters.some((f) => f.name === 'default')) reportUndefined(run, base);
  for (const f of filters) {
    const args = f.args.map((a) => evalNode(a, scope, run.ec));
    const impl = Object.hasOwn(FILTERS, f.name) ? FILTERS[f.name] : undefined;
    if (!impl) throw new ExpressionError(`unknown filter '${f.name}'`, run.t.src, f.pos);
    v = impl(v, args, {
      max: run.max,
      fail: (msg) => {
        throw new ExpressionError(msg, run.t.src, f.pos);
      },
    });
  }
  return v;
}

function reportUndefined(run: Run, base: Node): void {
  const where = run.ec.undef ?? { path: staticPath(base) ?? '(expression)', pos: base.pos };
  if (run.opts.strict) throw new TemplateUndefinedError(where.path, run.t.src, where.pos);
  run.opts.onUndefined?.(where.path, where.pos);
}
