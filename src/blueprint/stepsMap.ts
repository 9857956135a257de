/** `map:` (iterable_input, a body that reads the current item as `this`, finalize). */
import type { CodeRef, PlanNode } from '../dsl/ir.js';
import { contextOps, withOps } from './contextOps.js';
import type { Env, Where } from './env.js';
import { MAP_KEYS } from './keys.js';
import { MAP_ITEMS_KEY } from './runtimeEval.js';
import { buildSteps, get, identity, type Base } from './steps.js';
import type { YNode } from './yamlTree.js';

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
  const iter = env.str(get(m, 'iterable_input'), `${name}: iterable_input`, name);
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
