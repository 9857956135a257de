/**
 * A loop's `propagation`: what the next iteration receives (`next_input`, a template, an
 * `iteration_input_mapper`), and Flujo's `{field, path, prefix}` form, which stores every
 * iteration's output in the context.
 */
import type { CodeRef, PlanNode } from '../dsl/ir.js';
import type { Env, Where } from './env.js';
import { codeOrExpr, get, identity } from './steps.js';
import { hasTemplate } from './template.js';
import { entry, type YNode } from './yamlTree.js';

export function propagation(env: Env, l: YNode, name: string, where: Where): CodeRef | undefined {
  const p = get(l, 'propagation') ?? get(l, 'propagate');
  if (!p) {
    const ref = codeOrExpr(env, l, name, 'iteration_input_mapper', '__none', where);
    if (!ref || !('fn' in ref)) return ref;
    // Flujo calls it with the number of the iteration it maps (1 after the first); the engine
    // passes the next one, so the module is bound through a shifted plan function.
    const mod = env.shared.modules.get(ref.fn);
    if (!mod) return ref;
    const shifted = `${ref.fn}@iteration_input_mapper`;
    env.shared.modules.set(shifted, { ...mod, name: shifted, iterationMapper: true });
    return { fn: shifted };
  }
  if (p.t === 'map') {
    env.checkKeys(p, ['next_input', ...STORE_KEYS], `${name}: propagation`, name);
    const ni = env.oneOf(
      get(p, 'next_input'),
      ['context', 'previous_output', 'auto'] as const,
      `${name}: propagation.next_input`,
      name,
    );
    return ni === 'context' ? { template: '{{ context }}' } : undefined;
  }
  const s = env.str(p, `${name}: propagation`, name);
  if (s === 'context') return { template: '{{ context }}' };
  if (s === 'auto' || s === 'previous_output' || s === undefined) return undefined;
  const t = env.template(p, name, where);
  // `iteration` is the number of the iteration whose output is `previous_step`, as in the exit
  // expression and Flujo's mapper; the engine hands the next iteration's number here.
  return t && 'template' in t && /\biteration\b/.test(s)
    ? { ...t, vars: { ...t.vars, iteration: '{{ iteration - 1 }}' } }
    : t;
}

const STORE_KEYS = ['field', 'path', 'prefix'] as const;

/**
 * `propagation: {field, path, prefix}` (Flujo's documented form): every iteration's output is
 * stored as `<prefix><n>` (n from 1) in the object at `<path>.<field>` — `path` a context path
 * (default `context`, the context itself), `field` optional, `prefix` default `loop_`. The next
 * iteration's input is unchanged. The iteration number is counted in an engine key of the
 * context (`__<loop>_n`, reset when the loop starts; hidden from renderings, ADR 77).
 */
export function storeOutputs(
  env: Env,
  l: YNode,
  name: string,
): { reset: PlanNode; each: PlanNode[] } | undefined {
  const p = get(l, 'propagation') ?? get(l, 'propagate');
  if (!p || p.t !== 'map' || !STORE_KEYS.some((k) => entry(p, k))) return undefined;
  const text = (k: string) => {
    const n = get(p, k);
    if (!n) return undefined;
    const v = env.str(n, `${name}: propagation.${k}`, name);
    if (v === undefined) return null;
    if (v.trim() === '' || hasTemplate(v)) {
      env.report('V-K4', `${name}: propagation.${k} must be a plain name, got '${v}'`, n.pos, {
        step: name,
      });
      return null;
    }
    return v.trim();
  };
  const field = text('field');
  const path = text('path');
  const prefix = text('prefix');
  if (field === null || path === null || prefix === null) return undefined;
  const segs = [
    ...(path === undefined || path === 'context' ? [] : path.replace(/^context\./, '').split('.')),
    ...(field === undefined ? [] : field.split('.')),
  ];
  const pathNode = get(p, 'path');
  if (path !== undefined && path !== 'context' && !path.startsWith('context.')) {
    env.report(
      'V-K4',
      `${name}: propagation.path must be 'context' or start with 'context.'`,
      pathNode!.pos,
      {
        step: name,
        suggestion: `use 'context.${path}'`,
      },
    );
    return undefined;
  }
  const bad = segs.find((seg) => !/^[A-Za-z_][\w-]*$/.test(seg) || seg.startsWith('__'));
  const root = segs[0];
  if (bad !== undefined || (root !== undefined && ENGINE_ROOTS.has(root))) {
    env.report(
      'V-K4',
      `${name}: propagation stores under '${['context', ...segs].join('.')}', which is not a context path it may write (${bad !== undefined ? `'${bad}'` : `'${root}' is kept by the engine`})`,
      (get(p, 'field') ?? pathNode ?? p).pos,
      { step: name },
    );
    return undefined;
  }
  const counter = env.hiddenName(name, 'n');
  const target = segs.join('.');
  const reset = identity(env.hiddenName(name, 'reset'), {
    input: { contextOp: 'set', target: counter, value: 0 },
    sinkTo: counter,
  });
  const count = identity(env.hiddenName(name, 'count'), {
    input: { contextOp: 'set', target: counter, value: `{{ context.${counter} + 1 }}` },
    sinkTo: counter,
  });
  const store = identity(env.hiddenName(name, 'store'), {
    input: {
      contextOp: 'set',
      target,
      value: '{{ previous_step }}',
      key: `${prefix ?? 'loop_'}{{ context.${counter} }}`,
    },
    ...(target === '' ? { updatesContext: true } : { sinkTo: target }),
  });
  return { reset, each: [count, store] };
}

const ENGINE_ROOTS: ReadonlySet<string> = new Set(['step_outputs', 'resume_input']);
