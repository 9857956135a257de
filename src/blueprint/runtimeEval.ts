/**
 * Evaluates the YAML code references of the IR (`{expr}`, `{template}`, `{contextOp}`) at run
 * time. Each compiler role calls its code with positional arguments (see src/actors/compile*.ts);
 * this maps them to the named scope templates and expressions see:
 *
 *   value roles  (input, condition, loop exit / next input / output, map items / finalize):
 *                (value, context, iteration?) -> previous_step = output = this = value
 *   transition   (state-machine `when`): (context, {event, last_output, last_step})
 *                -> output = that object, previous_step = last_output
 *
 * Both also get `context`, `steps.<name>.output` (from `context.step_outputs`, which the loader
 * asks the compiler to keep for referenced steps) and `resume_input` (the latest human answer).
 */
import type { CodeRef, TemplateValue } from '../dsl/ir.js';
import { cacheFn } from './cacheOps.js';
import { asEngineKeyed, asRunContext } from './exprData.js';
import { toText } from './templateText.js';
import { historyFn } from './history.js';
import { evaluateExpression, parseExpression, truthy } from './expr.js';
import { hasTemplate, parseTemplate, renderTemplateValue } from './template.js';
import { ExpressionError } from './templateErrors.js';

export type Role = 'value' | 'transition';
type Obj = Record<string, unknown>;
type Fn = (...args: unknown[]) => unknown;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reserved context keys the loader records into. */
export const STEP_OUTPUTS_KEY = 'step_outputs';
export const RESUME_INPUT_KEY = 'resume_input';
/** Where a map parks its current item, by map name, for `{{ this }}` in its body. */
export const MAP_ITEMS_KEY = '__map_items';

function stepsView(ctx: Obj): Obj {
  const raw = ctx[STEP_OUTPUTS_KEY];
  const out: Obj = {};
  if (isObj(raw)) {
    for (const [k, v] of Object.entries(raw)) out[k] = { output: v, result: v, value: v };
  }
  // The engine reads its stashes by name (`steps.__<loop>_stash<n>.output`); no listing shows them.
  return asEngineKeyed(out);
}

export function scopeFor(role: Role, args: readonly unknown[], thisPath?: string): Obj {
  if (role === 'transition') {
    const ctx = asRunContext(isObj(args[0]) ? args[0] : {});
    const out = isObj(args[1]) ? args[1] : {};
    return {
      context: ctx,
      output: out,
      previous_step: out.last_output ?? null,
      steps: stepsView(ctx),
      resume_input: ctx[RESUME_INPUT_KEY] ?? null,
    };
  }
  const value = args[0] ?? null;
  const ctx = asRunContext(isObj(args[1]) ? args[1] : {});
  // Inside a map body `this` is the current item, which the map parks in the context.
  const item = thisPath === undefined ? undefined : getPath(ctx, thisPath.split('.'));
  return {
    previous_step: value,
    output: value,
    this: item === undefined ? value : item,
    context: ctx,
    steps: stepsView(ctx),
    resume_input: ctx[RESUME_INPUT_KEY] ?? null,
    ...(typeof args[2] === 'number' ? { iteration: args[2] } : {}),
  };
}

/** A template value compiled once: strings with `{{ }}` render, everything else is literal. */
function compileValue(v: TemplateValue): (scope: Obj) => unknown {
  if (typeof v === 'string') {
    if (!hasTemplate(v)) return () => v;
    const t = parseTemplate(v);
    return (scope) => renderTemplateValue(t, scope);
  }
  if (Array.isArray(v)) {
    const parts = v.map(compileValue);
    // As in JSON, a list cannot hold "nothing": an undefined item is null (a mapping drops it).
    return (scope) => parts.map((p) => p(scope) ?? null);
  }
  if (v !== null && typeof v === 'object') {
    const parts = Object.entries(v as Record<string, TemplateValue>).map(
      ([k, x]) => [k, compileValue(x)] as const,
    );
    return (scope) => Object.fromEntries(parts.map(([k, p]) => [k, p(scope)]));
  }
  return () => v;
}

const asObj = (value: unknown): Obj => (isObj(value) ? value : {});

/** Rendered JSON text of a `merge` value: the object it parses to, else nothing (Flujo skips it). */
function objectOf(value: unknown): Obj {
  if (typeof value !== 'string') return asObj(value);
  try {
    const parsed: unknown = JSON.parse(value);
    return isObj(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

function getPath(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const seg of path) {
    if (!isObj(cur) || !Object.hasOwn(cur, seg)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

/**
 * The function a YAML code reference stands for. Parses once (throws the template or expression
 * syntax error, which the loader has already reported with its position).
 */
export function blueprintCode(ref: Exclude<CodeRef, { fn: string }>, role: Role): Fn {
  if ('history' in ref) return historyFn(ref.history);
  if ('cache' in ref) return cacheFn(ref.cache);
  const scope = (args: readonly unknown[]) => scopeFor(role, args, ref.thisPath);
  if ('expr' in ref) {
    const e = parseExpression(ref.expr);
    // A state machine's `when` that fails at run time (`.upper()` on None…) does not match, as
    // Flujo documents; the next rule is tried. Limits still fail the run (ADR 70).
    if (role === 'transition')
      return (...args) => {
        try {
          return truthy(evaluateExpression(e, scope(args)));
        } catch (err) {
          if (err instanceof ExpressionError) return false;
          throw err;
        }
      };
    return (...args) => {
      const v = evaluateExpression(e, scope(args));
      return typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number'
        ? v
        : truthy(v);
    };
  }
  if ('template' in ref) {
    const render = compileValue(ref.template);
    const vars = Object.entries(ref.vars ?? {}).map(([k, v]) => [k, compileValue(v)] as const);
    if (vars.length === 0) return (...args) => render(scope(args));
    return (...args) => {
      const s = scope(args);
      // Variables see the step's scope; the template sees both (variables win).
      return render({ ...s, ...Object.fromEntries(vars.map(([k, f]) => [k, f(s)])) });
    };
  }
  const render = compileValue(ref.value);
  const target = ref.target
    .replace(/^context\./, '')
    .split('.')
    .filter((seg) => seg !== '');
  const renderKey = ref.key === undefined ? undefined : compileValue(ref.key);
  const op = ref.contextOp;
  const from = ref.from?.split('.');
  // A merge value written as JSON text (`'{"k": "{{ x }}"}'`, not one `{{ }}` tag) is parsed
  // after rendering, as Flujo does.
  const jsonText = typeof ref.value === 'string' && /^\s*\{(?!\{)/.test(ref.value);
  return (...args) => {
    const s = scope(
      from ? [getPath(isObj(args[1]) ? args[1] : {}, from) ?? null, ...args.slice(1)] : args,
    );
    const value = render(s);
    if (renderKey) {
      const k = toText(renderKey(s), 1000);
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') return {};
      if (target.length === 0) return { [k]: value ?? null };
      const container = getPath(s.context, target);
      return { ...(isObj(container) ? container : {}), [k]: value ?? null };
    }
    const current = getPath(s.context, target);
    if (op === 'append') return [...(Array.isArray(current) ? current : []), value ?? null];
    if (op === 'merge')
      return { ...(isObj(current) ? current : {}), ...(jsonText ? objectOf(value) : asObj(value)) };
    return value;
  };
}
