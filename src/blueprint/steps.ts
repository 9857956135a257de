/**
 * Step mappings to Plan IR nodes, one function per kind. Over 400 lines because every kind's key
 * reading, defaults and Flujo presets sit together here, where they can be compared; the shared
 * reading helpers are in ./env.ts and imports in ./imports.ts.
 */
import type {
  CodeRef,
  HitlNode,
  MergeStrategy,
  PlanNode,
  ReducePreset,
  SequenceNode,
  StateTransition,
  StepNode,
} from '../dsl/ir.js';
import type { Env, Where } from './env.js';
import { nearest } from './findings.js';
import { importStep } from './imports.js';
import {
  COMMON_IGNORED,
  COMMON_KEYS,
  CONVERSATION_KEYS,
  KIND_KEYS,
  KINDS,
  LOOP_KEYS,
  MAP_KEYS,
  MERGE_STRATEGIES,
  REDUCE_PRESETS,
  ROUTER_KEYS,
  STEP_CONFIG_KEYS,
  TRANSITION_KEYS,
} from './keys.js';
import { resolveAgent } from './agents.js';
import { hasTemplate } from './template.js';
import { entry, plain, type YNode } from './yamlTree.js';

type Mut<T> = { -readonly [K in keyof T]: T[K] };

const get = (n: YNode, k: string) => entry(n, k)?.value;

/** An identity node: passes its input through (or its `input` template's value). */
export function identity(name: string, extra: Partial<Mut<SequenceNode>> = {}): SequenceNode {
  return { kind: 'sequence', name, steps: [], ...extra };
}

/** A list of step mappings (or `{steps: [...]}`, or one step mapping) as one node. */
export function buildSteps(
  env: Env,
  node: YNode | undefined,
  name: string,
  where: Where,
): PlanNode {
  if (!node) return identity(name);
  if (node.t === 'map' && entry(node, 'steps') && !entry(node, 'kind') && !entry(node, 'name')) {
    env.checkKeys(node, ['steps'], name, null);
    return buildSteps(env, get(node, 'steps'), name, where);
  }
  if (node.t === 'map') {
    return buildStep(env, node, { ...where, yamlPath: where.yamlPath }) ?? identity(name);
  }
  if (node.t !== 'seq') {
    if (plain(node) !== null) env.report('V-K4', `${name}: expected a list of steps`, node.pos);
    return identity(name);
  }
  const steps = node.items.flatMap((item, i) => {
    const built = buildStep(env, item, { ...where, yamlPath: `${where.yamlPath}[${i}]` });
    return built ? [built] : [];
  });
  return steps.length === 1 ? (steps[0] as PlanNode) : { kind: 'sequence', name, steps };
}

function branchesOf(env: Env, node: YNode | undefined, owner: string, where: Where) {
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
    out[e.key] = buildSteps(env, e.value, `${owner}.${e.key}`, {
      ...where,
      yamlPath: `${where.yamlPath}.branches.${e.key}`,
    });
  }
  return out;
}

/** Common fields: input template, updates_context, sink_to. */
function common(env: Env, node: YNode, name: string, where: Where) {
  const out: { name: string; input?: CodeRef; updatesContext?: boolean; sinkTo?: string } = {
    name,
  };
  const input = get(node, 'input');
  if (input) out.input = env.template(input, name, where);
  const uc = env.bool(get(node, 'updates_context'), `${name}: updates_context`, name);
  if (uc) out.updatesContext = true;
  const sink = env.str(get(node, 'sink_to'), `${name}: sink_to`, name);
  if (sink) out.sinkTo = sink.replace(/^context\./, '');
  return out;
}

export function buildStep(env: Env, node: YNode, where: Where): PlanNode | undefined {
  if (node.t !== 'map') {
    env.report('V-K4', `a step must be a mapping with at least 'name'`, node.pos);
    return undefined;
  }
  const kindNode = get(node, 'kind');
  const kind = (kindNode ? env.str(kindNode, 'kind', null) : 'step') ?? 'step';
  const nameNode = get(node, 'name') ?? get(node, 'step');
  const name = env.str(nameNode, 'name', null) ?? `${kind}_${where.yamlPath.replace(/\W+/g, '_')}`;
  if (!nameNode)
    env.report('V-K4', `a step needs a 'name'`, node.pos, {
      suggestion: `add 'name: <step name>'`,
    });
  if (!(KINDS as readonly string[]).includes(kind)) {
    const near = nearest(kind, KINDS);
    env.report(
      'V-K2',
      `unknown kind '${kind}'${near ? ` (did you mean '${near}'?)` : ''}`,
      kindNode?.pos ?? node.pos,
      {
        step: name,
        suggestion: near ? `kind: ${near}` : `use one of ${KINDS.join(', ')}`,
      },
    );
    return undefined;
  }
  const canon = kind === 'state_machine' ? 'StateMachine' : kind;
  env.checkKeys(
    node,
    [...COMMON_KEYS, ...(KIND_KEYS[canon] ?? [])],
    `step '${name}'`,
    name,
    COMMON_IGNORED,
  );
  if (canon === 'cache' || canon === 'agentic_loop' || canon === 'tree_search') {
    env.report('V-K5', `not yet supported: kind '${kind}'`, kindNode?.pos ?? node.pos, {
      step: name,
      suggestion: canon === 'cache' ? `run the wrapped step directly` : null,
    });
    return undefined;
  }
  const prior = env.names.get(name);
  if (prior && nameNode) {
    env.report('V-K8', `step name '${name}' is already used at line ${prior.line}`, nameNode.pos, {
      step: name,
    });
  }
  const built = buildKind(env, canon, node, name, where);
  if (nameNode) env.names.set(name, nameNode.pos);
  return built;
}

function buildKind(
  env: Env,
  kind: string,
  node: YNode,
  name: string,
  where: Where,
): PlanNode | undefined {
  const base = common(env, node, name, where);
  switch (kind) {
    case 'step':
      return basicStep(env, node, name, where, base);
    case 'parallel':
      return {
        kind: 'parallel',
        ...base,
        branches: branchesOf(env, get(node, 'branches'), name, where),
        ...fanOutOptions(env, node, name),
      };
    case 'dynamic_router':
      return router(env, node, name, where, base);
    case 'conditional':
      return conditional(env, node, name, where, base);
    case 'loop':
      return loop(env, node, name, where, base);
    case 'map':
      return map(env, node, name, where, base);
    case 'hitl':
      return hitl(env, node, name, where, base);
    case 'StateMachine':
      return stateMachine(env, node, name, where, base);
  }
  return undefined;
}

function fanOutOptions(env: Env, node: YNode, name: string) {
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

function stepConfig(env: Env, node: YNode, name: string) {
  const cfg = get(node, 'config');
  if (!cfg) return {};
  env.checkKeys(cfg, STEP_CONFIG_KEYS, `${name}: config`, name);
  const retries = env.num(get(cfg, 'max_retries'), `${name}: config.max_retries`, name, 'V-A7');
  const timeout = env.num(
    get(cfg, 'timeout_s') ?? get(cfg, 'timeout'),
    `${name}: config.timeout_s`,
    name,
    'V-A7',
  );
  return {
    ...(retries !== undefined ? { retries: Math.floor(retries) } : {}),
    ...(timeout !== undefined ? { timeoutMs: Math.round(timeout * 1000) } : {}),
  };
}

function basicStep(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
): PlanNode | undefined {
  const uses = get(node, 'uses');
  const usesStr = env.str(uses, `${name}: uses`, name);
  if (uses && usesStr?.startsWith('imports.')) {
    return importStep(env, node, name, usesStr.slice('imports.'.length), uses, where, base);
  }
  const agent = resolveAgent(env, node, name, where);
  if (agent === 'none') {
    const fb = get(node, 'fallback');
    if (fb)
      env.report('V-K4', `${name}: 'fallback' needs a step with an agent`, fb.pos, { step: name });
    env.report(
      'V-A1',
      `step '${name}' has no agent or uses: it passes its input through`,
      node.pos,
      {
        step: name,
        suggestion: `add 'agent: { id: flujo.builtins.passthrough }' to make that explicit`,
      },
    );
    return identity(name, base);
  }
  if (agent === undefined) return undefined;
  if (agent.kind === 'hitl') {
    return { kind: 'hitl', ...base, ...agent.hitl } satisfies HitlNode;
  }
  const cfg = stepConfig(env, node, name);
  const fbNode = get(node, 'fallback');
  let fallback: StepNode | undefined;
  if (fbNode) {
    const fb = buildStep(env, fbNode, { ...where, yamlPath: `${where.yamlPath}.fallback` });
    if (fb && fb.kind === 'step') fallback = fb;
    else if (fb)
      env.report('V-K4', `${name}: a fallback must be a single basic step`, fbNode.pos, {
        step: name,
      });
  }
  const outputSchema = get(node, 'output_schema');
  const config = {
    ...agent.config,
    ...(outputSchema ? { outputSchema: plain(outputSchema) } : {}),
  };
  const contextMode =
    agent.kind === 'skill' ? env.shared.opts.skills?.context?.(agent.agent.slice(6)) : undefined;
  return {
    kind: 'step',
    ...base,
    // Context skills: `merge` ones return a patch for the run context; `read` ones are handed
    // the context beside their input (the skill cannot reach it any other way).
    ...(contextMode === 'merge' ? { updatesContext: true } : {}),
    ...(contextMode === 'read'
      ? {
          input: {
            template: {
              input:
                base.input && 'template' in base.input
                  ? base.input.template
                  : '{{ previous_step }}',
              context: '{{ context }}',
            },
          },
        }
      : {}),
    agent: agent.agent,
    retries: cfg.retries ?? agent.retries ?? 1,
    backoffMs: 0,
    ...((cfg.timeoutMs ?? agent.timeoutMs) ? { timeoutMs: cfg.timeoutMs ?? agent.timeoutMs } : {}),
    ...(fallback ? { fallback } : {}),
    ...(Object.keys(config).length ? { config } : {}),
  } satisfies StepNode;
}

function codeOrExpr(
  env: Env,
  node: YNode,
  name: string,
  fnKey: string,
  exprKey: string,
  where: Where,
): CodeRef | undefined {
  const expr = get(node, exprKey);
  if (expr) return env.expression(expr, name, where);
  const fn = get(node, fnKey);
  if (fn) {
    const ref = resolveAgent(env, node, name, where, fnKey);
    if (ref && ref !== 'none' && ref.kind === 'code') return { fn: ref.fnName };
    if (ref && ref !== 'none')
      env.report(
        'V-K4',
        `${name}: '${fnKey}' must name a module function (./file.ts#export)`,
        fn.pos,
        { step: name },
      );
  }
  return undefined;
}

function router(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
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
    branches: branchesOf(env, get(r, 'branches'), name, where),
    ...fanOutOptions(env, node, name),
  };
}

function conditional(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
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

function contextOps(env: Env, node: YNode | undefined, owner: string, where: Where): PlanNode[] {
  if (!node) return [];
  const ops: { op: 'set' | 'append' | 'merge'; target: string; value: YNode; pos: YNode['pos'] }[] =
    [];
  const verbs = ['set', 'append', 'merge'] as const;
  if (node.t === 'map') {
    // { append: [{target, value}], set: [...] }
    for (const e of node.entries) {
      const verb = verbs.find((v) => v === e.key);
      if (!verb) {
        env.report('V-K1', `${owner}: unknown context operation '${e.key}'`, e.keyPos, {
          step: owner,
          suggestion: `use set, append or merge`,
        });
        continue;
      }
      const list = e.value.t === 'seq' ? e.value.items : [e.value];
      for (const item of list) {
        env.checkKeys(item, ['target', 'value'], `${owner}: ${verb}`, owner);
        const target = env.str(get(item, 'target'), `${owner}: target`, owner);
        const value = get(item, 'value');
        if (target && value) ops.push({ op: verb, target, value, pos: item.pos });
      }
    }
  } else if (node.t === 'seq') {
    // [{ set: context.x, value: ... }]
    for (const item of node.items) {
      const verb = verbs.find((v) => entry(item, v));
      env.checkKeys(item, [...verbs, 'value'], `${owner}: init`, owner);
      const target = verb ? env.str(get(item, verb), `${owner}: ${verb}`, owner) : undefined;
      const value = get(item, 'value');
      if (verb && target && value) ops.push({ op: verb, target, value, pos: item.pos });
      else
        env.report('V-K4', `${owner}: each operation needs set|append|merge and value`, item.pos, {
          step: owner,
        });
    }
  }
  return ops.map((o) => {
    const t = env.template(o.value, owner, where) as { template: never };
    const target = o.target.replace(/^context\./, '');
    return identity(env.hiddenName(owner, o.op), {
      input: { contextOp: o.op, target, value: t.template },
      sinkTo: target,
    });
  });
}

/** Runs `ops` for their context effect, then hands `node` the input the wrapper received. */
function withOps(
  env: Env,
  ops: PlanNode[],
  node: PlanNode,
  owner: string,
  before: boolean,
): PlanNode {
  if (ops.length === 0) return node;
  const stash = env.hiddenName(owner, 'stash');
  const record = [`step_outputs.${stash}`];
  const restore = identity(env.hiddenName(owner, 'restore'), {
    input: { template: `{{ steps.${stash}.output }}` },
  });
  if (before) {
    const { input, ...rest } = node as PlanNode & { input?: CodeRef };
    const first = identity(stash, input ? { input, record } : { record });
    return {
      kind: 'sequence',
      name: owner,
      steps: [first, ...ops, { ...rest, input: restore.input } as PlanNode],
    };
  }
  return {
    kind: 'sequence',
    name: `${owner}.body`,
    steps: [
      { ...node, record: [...(node.record ?? []), `step_outputs.${stash}`] },
      ...ops,
      restore,
    ],
  };
}

function loop(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
): PlanNode | undefined {
  const l = get(node, 'loop');
  if (!l || l.t !== 'map') {
    env.report('V-K4', `${name}: a loop needs 'loop: {body, ...}'`, node.pos, { step: name });
    return undefined;
  }
  env.checkKeys(l, LOOP_KEYS, `${name}: loop`, name);
  for (const k of CONVERSATION_KEYS) {
    const e = entry(l, k);
    if (e)
      env.report('V-K5', `not yet supported: conversational loops ('${k}')`, e.keyPos, {
        step: name,
      });
  }
  const inner: Where = { ...where, inLoop: true, yamlPath: `${where.yamlPath}.loop.body` };
  const bodyNode = get(l, 'body');
  if (!bodyNode) env.report('V-K4', `${name}: loop needs 'body'`, l.pos, { step: name });
  let body = buildSteps(env, bodyNode, `${name}.body`, inner);
  body = withOps(env, contextOps(env, get(l, 'state'), name, inner), body, name, false);
  let exit = codeOrExpr(env, l, name, 'exit_condition', 'exit_expression', inner);
  const stop = get(l, 'stop_when');
  if (stop && !exit) {
    const s = env.oneOf(stop, ['agent_finished'] as const, `${name}: stop_when`, name);
    if (s) exit = { expr: AGENT_FINISHED };
  }
  const maxNode = get(l, 'max_loops');
  const max = env.num(maxNode, `${name}: max_loops`, name);
  if (!exit && max === undefined) {
    env.report(
      'V-L1',
      `loop '${name}' has no exit condition and no max_loops: it runs once`,
      l.pos,
      {
        step: name,
        suggestion: `add 'exit_expression' or 'max_loops'`,
      },
    );
  }
  if (
    exit &&
    'expr' in exit &&
    /^\s*(\{\{\s*)?(False|false|None|0)(\s*\}\})?\s*$/.test(exit.expr)
  ) {
    env.report(
      'V-CF1',
      `loop '${name}' exit expression is always false: it always hits max_loops and fails`,
      get(l, 'exit_expression')?.pos ?? l.pos,
      { step: name },
    );
  }
  const iterationInput = propagation(env, l, name, inner);
  const output = loopOutput(env, l, name, inner);
  const initialInput = codeOrExpr(env, l, name, 'initial_input_mapper', '__none', where);
  const loopNode: PlanNode = {
    kind: 'loop',
    ...base,
    ...(initialInput && !base.input ? { input: initialInput } : {}),
    body,
    maxLoops: Math.floor(max ?? (exit ? 5 : 1)),
    ...(exit ? { exit } : {}),
    ...(iterationInput ? { iterationInput } : {}),
    ...(output ? { output } : {}),
  };
  return withOps(env, contextOps(env, get(l, 'init'), name, where), loopNode, name, true);
}

/** `stop_when: agent_finished`: the iteration's output says it is done. */
export const AGENT_FINISHED =
  "previous_step == 'finish' or previous_step == 'done' or previous_step.get('finished') == True or previous_step.get('done') == True or previous_step.get('action') == 'finish'";

function propagation(env: Env, l: YNode, name: string, where: Where): CodeRef | undefined {
  const p = get(l, 'propagation') ?? get(l, 'propagate');
  if (!p) return codeOrExpr(env, l, name, 'iteration_input_mapper', '__none', where);
  if (p.t === 'map') {
    env.checkKeys(p, ['next_input'], `${name}: propagation`, name);
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
  return env.template(p, name, where);
}

function loopOutput(env: Env, l: YNode, name: string, where: Where): CodeRef | undefined {
  const t = get(l, 'output_template');
  if (t) return env.template(t, name, where);
  const o = get(l, 'output');
  if (o) return env.template(o, name, where);
  return codeOrExpr(env, l, name, 'loop_output_mapper', '__none', where);
}

function map(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
): PlanNode | undefined {
  const m = get(node, 'map');
  if (!m || m.t !== 'map') {
    env.report('V-K4', `${name}: a map needs 'map: {iterable_input, body}'`, node.pos, {
      step: name,
    });
    return undefined;
  }
  env.checkKeys(m, MAP_KEYS, `${name}: map`, name);
  const inner: Where = { ...where, inMap: true, yamlPath: `${where.yamlPath}.map.body` };
  const iter = env.str(get(m, 'iterable_input'), `${name}: iterable_input`, name);
  const bodyNode = get(m, 'body');
  if (!bodyNode) env.report('V-K4', `${name}: map needs 'body'`, m.pos, { step: name });
  const body = buildSteps(env, bodyNode, `${name}.body`, inner);
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

function hitl(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
): PlanNode {
  if (where.condInLoop) {
    env.report(
      'HITL-NESTED-001',
      `hitl '${name}' sits in a conditional inside a loop or map (Flujo skips it there; this engine pauses)`,
      node.pos,
      { step: name },
    );
  }
  const msgNode = get(node, 'message');
  const message = env.str(msgNode, `${name}: message`, name) ?? '';
  if (msgNode) env.checkTemplate(message, msgNode.pos, name, where);
  const schema = get(node, 'input_schema');
  return {
    kind: 'hitl',
    ...base,
    message,
    ...(hasTemplate(message) ? { render: { template: message } } : {}),
    inputSchema: (schema ? plain(schema) : {}) as Record<string, unknown>,
    record: ['resume_input'],
  };
}

function stateMachine(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: ReturnType<typeof common>,
): PlanNode | undefined {
  const start = env.str(get(node, 'start_state'), `${name}: start_state`, name);
  if (!start)
    env.report('V-K4', `${name}: a state machine needs 'start_state'`, node.pos, { step: name });
  const endNode = get(node, 'end_states');
  const endRaw = endNode ? plain(endNode) : [];
  const end = (Array.isArray(endRaw) ? endRaw : [endRaw]).map(String);
  const statesNode = get(node, 'states');
  const states: Record<string, PlanNode> = {};
  if (statesNode?.t === 'map') {
    for (const e of statesNode.entries) {
      states[e.key] = buildSteps(env, e.value, `${name}.${e.key}`, {
        ...where,
        yamlPath: `${where.yamlPath}.states.${e.key}`,
      });
    }
  } else
    env.report(
      'V-K4',
      `${name}: 'states' must map state names to steps`,
      statesNode?.pos ?? node.pos,
      { step: name },
    );
  const known = new Set([...Object.keys(states), ...end]);
  const transitions: StateTransition[] = [];
  const tNode = get(node, 'transitions');
  for (const t of tNode?.t === 'seq' ? tNode.items : []) {
    env.checkKeys(t, TRANSITION_KEYS, `${name}: transition`, name);
    const from = env.str(get(t, 'from'), 'from', name);
    const to = env.str(get(t, 'to'), 'to', name);
    const on = env.oneOf(
      get(t, 'on') ?? { t: 'scalar', value: 'success', pos: t.pos },
      ['success', 'failure', 'pause'] as const,
      `${name}: on`,
      name,
    );
    for (const [k, v] of [
      ['from', from],
      ['to', to],
    ] as const) {
      if (v && v !== '*' && !known.has(v)) {
        const near = nearest(v, known);
        env.report(
          'V-SM1',
          `${name}: transition ${k} '${v}' is not a state`,
          get(t, k)?.pos ?? t.pos,
          {
            step: name,
            severity: 'error',
            suggestion: near ? `use '${near}'` : null,
          },
        );
      }
    }
    const whenNode = get(t, 'when');
    const when = whenNode ? env.expression(whenNode, name, where) : undefined;
    if (from && to && on) transitions.push({ from, on, to, ...(when ? { when } : {}) });
  }
  if (start && !known.has(start)) {
    env.report(
      'V-SM1',
      `${name}: start_state '${start}' is not a state`,
      get(node, 'start_state')?.pos ?? node.pos,
      { step: name, severity: 'error' },
    );
    return undefined;
  }
  // Reachability: from start along transitions (next_state can reach anything, so only warn).
  const reach = new Set<string>(start ? [start] : []);
  for (let changed = true; changed;) {
    changed = false;
    for (const t of transitions) {
      if ((t.from === '*' || reach.has(t.from)) && !reach.has(t.to))
        [changed] = [reach.add(t.to) !== undefined];
    }
  }
  if (transitions.length) {
    for (const s of known) {
      if (!reach.has(s)) {
        const pos =
          statesNode?.t === 'map'
            ? (statesNode.entries.find((e) => e.key === s)?.keyPos ?? node.pos)
            : node.pos;
        env.report('V-SM1', `${name}: state '${s}' is unreachable from '${start}'`, pos, {
          step: name,
        });
      }
    }
  }
  const maxT = env.num(get(node, 'max_transitions'), `${name}: max_transitions`, name);
  return {
    kind: 'state_machine',
    ...base,
    start: start ?? '',
    end,
    states,
    transitions,
    ...(maxT ? { maxVisits: Math.floor(maxT) } : {}),
  };
}
