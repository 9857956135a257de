/**
 * Loops: `loop:` (body, exit, presets, `init` / `state` context operations). Conversational loops
 * are in ./conversation.ts, propagation in ./loopPropagation.ts, context operations in
 * ./contextOps.ts and maps in ./stepsMap.ts (`map` is re-exported here for ./steps.ts).
 */
import type { CodeRef, PlanNode, TemplateValue } from '../dsl/ir.js';
import { contextOps, withOps } from './contextOps.js';
import { conversation, historyOutput } from './conversation.js';
import type { Env, Where } from './env.js';
import { CONVERSATION_KEYS, LOOP_KEYS } from './keys.js';
import { propagation, storeOutputs } from './loopPropagation.js';
import { buildSteps, codeOrExpr, get, type Base } from './steps.js';
import { entry, type YNode } from './yamlTree.js';

export { map } from './stepsMap.js';

/** A loop `init` without its `history` entry, which conversational loops read themselves. */
function withoutHistory(init: YNode | undefined, conv: unknown): YNode | undefined {
  if (!conv || !init || init.t !== 'map') return init;
  return { ...init, entries: init.entries.filter((e) => e.key !== 'history') };
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
  const stateOps = contextOps(env, get(l, 'state'), name, inner, 'state');
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
  const max = maxLoopsOf(env, maxNode, name);
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
    // Floored, as before counts were checked (5db5502): a run recorded with 2.5 ran 2.
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

/**
 * max_loops counts iterations: a whole number of at least 1, else V-K4 at the value and undefined
 * (0 ran one iteration anyway; 2.5 ran 2). A fraction above 1 was taken before 5db5502: it is
 * returned, for the caller to floor as it did then, and its V-K4 is a later rule's (ADR 106), so
 * a run recorded with it keeps its plan.
 */
export function maxLoopsOf(env: Env, node: YNode | undefined, name: string): number | undefined {
  const max = env.num(node, `${name}: max_loops`, name);
  if (max === undefined || !node) return undefined;
  const problem =
    max < 1
      ? `must be at least 1, got ${max}`
      : !Number.isSafeInteger(max)
        ? `must be a whole number of at least 1, got ${max}`
        : undefined;
  if (!problem) return max;
  const took = max >= 1;
  env.report('V-K4', `${name}: max_loops ${problem}`, node.pos, { step: name, later: took });
  return took ? max : undefined;
}
