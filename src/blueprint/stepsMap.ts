/** `map:` (iterable_input, a body that reads the current item as `this`, finalize). */
import { sinkToProblem } from '../dsl/checks.js';
import type { CodeRef, PlanNode } from '../dsl/ir.js';
import { contextOps, withOps } from './contextOps.js';
import type { Env, Where } from './env.js';
import type { Node } from './exprParser.js';
import { MAP_KEYS, SCOPE_ROOTS } from './keys.js';
import { MAP_ITEMS_KEY } from './runtimeEval.js';
import { buildSteps, get, identity, type Base } from './steps.js';
import { parseTemplate } from './template.js';
import { plain, type YNode } from './yamlTree.js';

export function map(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const m = get(node, 'map');
  if (!m || m.t !== 'map') {
    env.report('V-K4', `${name}: a map needs 'map: {iterable_input, body}'`, node.pos, {
      step: name,
    });
    return undefined;
  }
  env.checkKeys(m, MAP_KEYS, `${name}: map`, name);
  // The map parks the current item at `thisPath` so that `{{ this }}` is the item in every step
  // of the body (nested ones too), not only the first.
  // Names that differ only in punctuation (`a-b`, `a_b`) share a slot: a map inside another
  // takes the next free one, or the outer map's `this` would read the inner map's last item.
  const outer = where.mapPaths ?? [];
  let thisPath = `${MAP_ITEMS_KEY}.${name.replace(/\W/g, '_')}`;
  while (outer.includes(thisPath)) thisPath += '_';
  const inner: Where = {
    ...where,
    inMap: true,
    thisPath,
    mapPaths: [...outer, thisPath],
    yamlPath: `${where.yamlPath}.map.body`,
  };
  const iter = iterableInput(env, get(m, 'iterable_input'), name);
  const bodyNode = get(m, 'body');
  if (!bodyNode) env.report('V-K4', `${name}: map needs 'body'`, m.pos, { step: name });
  const built = buildSteps(env, bodyNode, `${name}.body`, inner);
  const park = identity(env.hiddenName(name, 'item'), { sinkTo: thisPath });
  const body: PlanNode = {
    kind: 'sequence',
    name: `${name}.body`,
    steps:
      built.kind === 'sequence' && built.name === `${name}.body`
        ? [park, ...built.steps]
        : [park, built],
  };
  const fin = get(m, 'finalize');
  let finalize: CodeRef | undefined;
  if (fin) {
    env.checkKeys(fin, ['output_template', 'output'], `${name}: finalize`, name);
    const f = get(fin, 'output_template') ?? get(fin, 'output');
    if (f) finalize = env.template(f, name, where);
  }
  const path = iter?.replace(/^context\./, '');
  const mapNode: PlanNode = {
    kind: 'map',
    ...base,
    ...(path ? { items: { template: `{{ context.${path} }}` } } : {}),
    body,
    ...(finalize ? { finalize } : {}),
  };
  return withOps(env, contextOps(env, get(m, 'init'), name, where), mapNode, name, true);
}

/**
 * `iterable_input` names the context key holding the list: a path (`items`, `context.items`).
 * A number or a boolean was read as a key named so (`5`), which holds no list, and the run failed
 * with MAP_NOT_A_LIST; an empty segment or `__proto__` named no key.
 */
function iterableInput(env: Env, node: YNode | undefined, name: string): string | undefined {
  if (!node) return undefined;
  const v = plain(node);
  const expected = `must be a context path (items or context.items), got ${JSON.stringify(v)}`;
  const problem = typeof v !== 'string' ? expected : sinkToProblem(v);
  if (!problem) return readsPath(env, node, name, v as string, expected);
  // What env.str took before 5db5502 (a number or boolean as its text): a run recorded with it
  // keeps its plan, and the finding is a later rule's (ADR 106).
  const took =
    typeof v === 'string'
      ? v
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : undefined;
  env.report('V-K4', `${name}: iterable_input ${problem}`, node.pos, {
    step: name,
    later: took !== undefined,
  });
  return took;
}

/**
 * The map reads its list with the template `{{ context.<path> }}`: a path that template does not
 * read key by key (template text, a subscript, a filter, an operator) is V-K4 (ADR 143). One the
 * template cannot even parse (`{{ ['x'] }}`) failed every run before it was recorded, as an
 * internal error: no recorded run has it, so it is an error for one too, and no plan is made of
 * it. One it parses (`items[0]`, `items | first`) ran: a later rule's, its plan kept (ADR 106).
 */
function readsPath(
  env: Env,
  node: YNode,
  name: string,
  v: string,
  expected: string,
): string | undefined {
  const want = v
    .trim()
    .replace(/^context\./, '')
    .split('.');
  let single: Node | undefined;
  let parsed = true;
  try {
    single = parseTemplate(`{{ context.${v.replace(/^context\./, '')} }}`).single;
  } catch {
    parsed = false;
  }
  const keys = contextKeys(single);
  if (keys?.join('\0') === want.join('\0')) return v;
  // `{{ context.items }}` or `{{ items }}`: the path inside, written bare (not another root's).
  const inner = /^\s*\{\{\s*(.*?)\s*\}\}\s*$/s.exec(v)?.[1] ?? '';
  const root = inner.split('.')[0] ?? '';
  const path = !PATH.test(inner)
    ? undefined
    : root === 'context'
      ? inner.slice('context.'.length) || undefined
      : (SCOPE_ROOTS as readonly string[]).includes(root)
        ? undefined
        : inner;
  env.report('V-K4', `${name}: iterable_input ${expected}`, node.pos, {
    step: name,
    suggestion: path
      ? `write 'iterable_input: ${path}' (the context path, without '{{ }}')`
      : `write the key that holds the list, names (letters, digits, '_') joined by '.' ('iterable_input: items'); for a list a template makes, set it first with the map's init ('init: [{set: context.items, value: "{{ … }}"}]'), or leave iterable_input out to map over the map's input`,
    later: parsed,
  });
  return parsed ? v : undefined;
}

/** A dotted path of names (`items`, `context.a.b`, `a.0`). */
const PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$/;

/** The keys of `context.a.b` read attribute by attribute; undefined for anything else. */
function contextKeys(e: Node | undefined): string[] | undefined {
  const keys: string[] = [];
  let x = e;
  while (x?.t === 'attr') {
    keys.unshift(x.key);
    x = x.o;
  }
  return x?.t === 'name' && x.n === 'context' ? keys : undefined;
}
