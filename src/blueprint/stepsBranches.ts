/**
 * Branching kinds: parallel's options and branches, dynamic_router and conditional.
 * Each function reads one YAML mapping into its Plan IR node (see ./steps.ts for the dispatch).
 */
import type { MergeStrategy, PlanNode, ReducePreset, StepNode } from '../dsl/ir.js';
import { recordedOrder } from '../dsl/paths.js';
import type { Env, Where } from './env.js';
import { MERGE_STRATEGIES, REDUCE_PRESETS, ROUTER_KEYS } from './keys.js';
import { basicStep, buildSteps, codeOrExpr, get, type Base } from './steps.js';
import type { YNode } from './yamlTree.js';

export function branchesOf(env: Env, node: YNode | undefined, owner: string, where: Where) {
  const out: Record<string, PlanNode> = {};
  if (!node || node.t !== 'map') {
    env.report(
      'V-K4',
      `${owner}: 'branches' must map branch names to steps`,
      node?.pos ?? { line: 1, column: 1 },
      { step: owner },
    );
    return out;
  }
  for (const e of node.entries) {
    // A branch's name is recorded (its steps' paths, a conditional's choice) and printed.
    env.controlName(`${owner}: branch name`, e.key, e.keyPos, owner);
    out[e.key] = buildSteps(env, e.value, `${owner}.${e.key}`, {
      ...where,
      yamlPath: `${where.yamlPath}.branches.${e.key}`,
    });
  }
  return out;
}

/**
 * A parallel's or router's branches with their order as written: a JS object lists integer-like
 * names (`"1"`) first, so the order goes into the plan when it differs (ParallelNode.branchOrder).
 */
export function fanOutBranchesOf(env: Env, node: YNode | undefined, owner: string, where: Where) {
  const branches = branchesOf(env, node, owner, where);
  const written = node?.t === 'map' ? [...new Set(node.entries.map((e) => e.key))] : [];
  return { branches, ...recordedOrder(branches, written) };
}

export function fanOutOptions(env: Env, node: YNode, name: string) {
  const merge = env.oneOf(
    get(node, 'merge_strategy'),
    MERGE_STRATEGIES,
    `${name}: merge_strategy`,
    name,
  );
  const onFail = env.oneOf(
    get(node, 'on_branch_failure'),
    ['propagate', 'ignore'] as const,
    `${name}: on_branch_failure`,
    name,
  );
  const reduce = env.oneOf(get(node, 'reduce'), REDUCE_PRESETS, `${name}: reduce`, name);
  return {
    merge: (merge ?? 'context_update') as MergeStrategy,
    onBranchFailure: onFail ?? 'propagate',
    ...(reduce ? { reduce: reduce as ReducePreset } : {}),
  };
}

export function router(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const r = get(node, 'router');
  if (!r || r.t !== 'map') {
    env.report(
      'V-K4',
      `${name}: dynamic_router needs 'router: {router_agent, branches}'`,
      node.pos,
      { step: name },
    );
    return undefined;
  }
  env.checkKeys(r, ROUTER_KEYS, `${name}: router`, name);
  const agentNode = get(r, 'router_agent');
  const routerName = `${name}.router`;
  let routerStep: StepNode | undefined;
  if (agentNode) {
    const spec: YNode =
      agentNode.t === 'scalar' && String(agentNode.value).startsWith('agents.')
        ? {
            t: 'map',
            pos: agentNode.pos,
            entries: [{ key: 'uses', keyPos: agentNode.pos, value: agentNode }],
          }
        : {
            t: 'map',
            pos: agentNode.pos,
            entries: [{ key: 'agent', keyPos: agentNode.pos, value: agentNode }],
          };
    const built = basicStep(env, spec, routerName, where, { name: routerName });
    if (built?.kind === 'step') routerStep = built;
  } else env.report('V-K4', `${name}: router needs 'router_agent'`, r.pos, { step: name });
  if (!routerStep) return undefined;
  return {
    kind: 'dynamic_router',
    ...base,
    router: routerStep,
    ...fanOutBranchesOf(env, get(r, 'branches'), name, where),
    ...fanOutOptions(env, node, name),
  };
}

export function conditional(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode {
  const inner = { ...where, condInLoop: where.inLoop || where.inMap };
  const branches = branchesOf(env, get(node, 'branches'), name, inner);
  const condition = codeOrExpr(env, node, name, 'condition', 'condition_expression', where);
  const dflt = get(node, 'default_branch');
  const defaultNode = dflt ? buildSteps(env, dflt, `${name}.default`, inner) : undefined;
  if (condition)
    return {
      kind: 'conditional',
      ...base,
      condition,
      branches,
      ...(defaultNode ? { default: defaultNode } : {}),
    };
  // Flujo without a condition: the previous output is the key if it names a branch, else the first.
  const first = Object.values(branches)[0];
  const fallback = defaultNode ?? first;
  return {
    kind: 'conditional',
    ...base,
    condition: { expr: 'previous_step' },
    branches,
    ...(fallback ? { default: fallback } : {}),
  };
}
