/**
 * Context operations of loops and maps (`init`, `state`: set, append, merge) compiled to hidden
 * identity steps, and the wrapper that runs them around a loop, a map or a loop's body.
 */
import type { CodeRef, PlanNode } from '../dsl/ir.js';
import type { Env, Where } from './env.js';
import { placeLike } from './sourceMap.js';
import { get, identity } from './steps.js';
import { entry, type YNode } from './yamlTree.js';

/** `key`: the loop's or map's key the operations are under (`init`, `state`), for their place. */
export function contextOps(
  env: Env,
  node: YNode | undefined,
  owner: string,
  where: Where,
  key: 'init' | 'state' = 'init',
): PlanNode[] {
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
    // Placed as its value (ADR 112): the label names the hidden step, the role says what it is.
    const input = placeLike(
      {
        contextOp: o.op,
        target,
        value: t.template,
        ...(t.thisPath ? { thisPath: t.thisPath } : {}),
      },
      t,
      `step ${owner}'s ${key} (${o.op} ${o.target})`,
    );
    return identity(env.hiddenName(owner, o.op), { input, sinkTo: target });
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
    return { ...op, input: placeLike({ ...input, from: record[0] }, input) } as PlanNode;
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
