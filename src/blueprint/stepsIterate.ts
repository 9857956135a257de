/**
 * Loops and maps: `loop:` (body, exit, presets, `init` / `state` context operations) and `map:`
 * (iterable_input, body with `this`, finalize). Conversational loops are in ./conversation.ts.
 *
 * Over 400 lines: loop and map share their context-operation compilation; splitting map from loop
 * is the next step.
 */
import type { CodeRef, PlanNode, TemplateValue } from '../dsl/ir.js';
import { conversation, historyOutput } from './conversation.js';
import type { Env, Where } from './env.js';
import { CONVERSATION_KEYS, LOOP_KEYS, MAP_KEYS } from './keys.js';
import { MAP_ITEMS_KEY } from './runtimeEval.js';
import { buildSteps, codeOrExpr, get, identity, type Base } from './steps.js';
import { hasTemplate } from './template.js';
import { entry, type YNode } from './yamlTree.js';

/** A loop `init` without its `history` entry, which conversational loops read themselves. */
function withoutHistory(init: YNode | undefined, conv: unknown): YNode | undefined {
  if (!conv || !init || init.t !== 'map') return init;
  return { ...init, entries: init.entries.filter((e) => e.key !== 'history') };
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
    const t = env.template(o.value, owner, where) as { template: never; thisPath?: string };
    const target = o.target.replace(/^context\./, '');
    return identity(env.hiddenName(owner, o.op), {
      input: {
        contextOp: o.op,
        target,
        value: t.template,
        ...(t.thisPath ? { thisPath: t.thisPath } : {}),
      },
      sinkTo: target,
    });
  });
}

/** Runs `ops` for their context effect, then hands `node` the input the wrapper received. */
export function withOps(
  env: Env,
  ops: PlanNode[],
  node: PlanNode,
  owner: string,
  before: boolean,
): PlanNode {
  if (ops.length === 0) return node;
  const stash = env.hiddenName(owner, 'stash');
  const record = [`step_outputs.${stash}`];
  // Every operation renders against the value the wrapper received (the loop input, the
  // iteration's output), as in Flujo: from the second on, that is read back from the stash, not
  // taken from the operation before (whose output is the value it wrote).
  ops = ops.map((op, i) => {
    const input = (op as PlanNode & { input?: CodeRef }).input;
    if (i === 0 || !input || !('contextOp' in input)) return op;
    return { ...op, input: { ...input, from: record[0] } } as PlanNode;
  });
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

export function loop(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const l = get(node, 'loop');
  if (!l || l.t !== 'map') {
    env.report('V-K4', `${name}: a loop needs 'loop: {body, ...}'`, node.pos, { step: name });
    return undefined;
  }
  env.checkKeys(l, LOOP_KEYS, `${name}: loop`, name);
  const isConversation = env.bool(get(l, 'conversation'), `${name}: conversation`, name) === true;
  if (!isConversation) {
    for (const k of CONVERSATION_KEYS) {
      const e = entry(l, k);
      if (e && k !== 'conversation')
        env.report('V-K4', `${name}: '${k}' has no effect without 'conversation: true'`, e.keyPos, {
          step: name,
          severity: 'warning',
          suggestion: `add 'conversation: true' to the loop`,
        });
    }
  }
  const inner: Where = { ...where, inLoop: true, yamlPath: `${where.yamlPath}.loop.body` };
  const bodyNode = get(l, 'body');
  if (!bodyNode) env.report('V-K4', `${name}: loop needs 'body'`, l.pos, { step: name });
  let body = buildSteps(env, bodyNode, `${name}.body`, inner);
  const conv = isConversation ? conversation(env, l, name, body, bodyNode, inner) : undefined;
  if (conv) body = conv.body;
  const stateOps = contextOps(env, get(l, 'state'), name, inner);
  const stored = storeOutputs(env, l, name);
  // The history's turns first: its `last` turn is the iteration's output, which a state
  // operation before it would have replaced with what it wrote (ADR 69).
  body = withOps(
    env,
    [...(conv?.after ?? []), ...stateOps, ...(stored?.each ?? [])],
    body,
    name,
    false,
  );
  let exit = codeOrExpr(env, l, name, 'exit_condition', 'exit_expression', {
    ...inner,
    iteration: true,
  });
  const stop = get(l, 'stop_when');
  if (stop && !exit) {
    const s = env.oneOf(stop, ['agent_finished'] as const, `${name}: stop_when`, name);
    if (s) exit = { expr: AGENT_FINISHED };
  }
  // A conversation ends when the agent says it is finished, unless told otherwise.
  if (conv && !exit && !stop) exit = { expr: AGENT_FINISHED };
  const maxNode = get(l, 'max_loops');
  const max = env.num(maxNode, `${name}: max_loops`, name);
  if (max !== undefined && max < 1 && maxNode) reportMaxLoops(env, maxNode, name, max);
  // A max_loops of the wrong type is already a V-K4 error at its value: not 'no max_loops' too.
  if (!exit && max === undefined && !maxNode) {
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
  const iterationInput = propagation(env, l, name, { ...inner, iteration: true });
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
  // The history seed reads the loop input, so it runs before the loop's own init operations.
  const initOps = contextOps(env, withoutHistory(get(l, 'init'), conv), name, where);
  return withOps(
    env,
    [...(conv?.before ?? []), ...initOps, ...(stored ? [stored.reset] : [])],
    loopNode,
    name,
    true,
  );
}

/**
 * `stop_when: agent_finished`: the iteration's output says it is done — the text `finish` or
 * `done`, or an object with `finished: true`, `done: true` or `action: finish`. Member access,
 * not `.get()`: any other output (a string, a list, a number) is simply not finished.
 */
export const AGENT_FINISHED =
  "previous_step == 'finish' or previous_step == 'done' or previous_step.finished == True or previous_step.done == True or previous_step.action == 'finish'";

function propagation(env: Env, l: YNode, name: string, where: Where): CodeRef | undefined {
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
function storeOutputs(
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

function loopOutput(env: Env, l: YNode, name: string, where: Where): CodeRef | undefined {
  const t = get(l, 'output_template');
  if (t) return env.template(t, name, where);
  const o = get(l, 'output');
  if (o) {
    const t = env.template(o, name, where) as { template: TemplateValue };
    return { ...t, template: historyOutput(t.template) };
  }
  return codeOrExpr(env, l, name, 'loop_output_mapper', '__none', where);
}

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

/** max_loops counts iterations: under 1 (0 ran one iteration anyway) is refused. */
export function reportMaxLoops(env: Env, node: YNode, name: string, max: number) {
  env.report('V-K4', `${name}: max_loops must be at least 1, got ${max}`, node.pos, {
    step: name,
  });
}
