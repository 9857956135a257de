/**
 * A defined pipeline used as one step of another: its IR is adopted under the node's path with
 * every function it names renamed, so two uses never collide.
 */
import type { CodeRef, Plan, PlanFunction, PlanNode, StepNode } from './ir.js';
import {
  type CommonOptions,
  type Flow,
  type InputFrom,
  type Pipeline,
  type Takes,
  commonFields,
  flowOf,
} from './builder.js';

type Fns = Record<string, PlanFunction>;

/** Renames every function a node refers to under `prefix`, copying the functions into `fns`. */
function adopt(node: PlanNode, prefix: string, from: Plan['functions'], fns: Fns): PlanNode {
  const rename = (name: string) => {
    const to = `${prefix}>${name}`;
    fns[to] = from[name] as PlanFunction;
    return to;
  };
  const code = (c: CodeRef | undefined) => (c && 'fn' in c ? { fn: rename(c.fn) } : c);
  const kids = (rec: Readonly<Record<string, PlanNode>>) =>
    Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, adopt(v, prefix, from, fns)]));
  const base = { ...node, ...(node.input ? { input: code(node.input) } : {}) } as PlanNode;
  switch (base.kind) {
    case 'step':
      return {
        ...base,
        agent: base.agent.startsWith('fn:') ? `fn:${rename(base.agent.slice(3))}` : base.agent,
        ...(base.fallback ? { fallback: adopt(base.fallback, prefix, from, fns) as StepNode } : {}),
      };
    case 'sequence':
      return { ...base, steps: base.steps.map((n) => adopt(n, prefix, from, fns)) };
    case 'parallel':
      return { ...base, branches: kids(base.branches) };
    case 'conditional':
      return {
        ...base,
        condition: code(base.condition) as CodeRef,
        branches: kids(base.branches),
        ...(base.default ? { default: adopt(base.default, prefix, from, fns) } : {}),
      };
    case 'loop':
      return {
        ...base,
        body: adopt(base.body, prefix, from, fns),
        ...(base.exit ? { exit: code(base.exit) } : {}),
        ...(base.iterationInput ? { iterationInput: code(base.iterationInput) } : {}),
        ...(base.output ? { output: code(base.output) } : {}),
      };
    case 'map':
      return {
        ...base,
        body: adopt(base.body, prefix, from, fns),
        ...(base.items ? { items: code(base.items) } : {}),
        ...(base.finalize ? { finalize: code(base.finalize) } : {}),
      };
    case 'dynamic_router':
      return {
        ...base,
        router: adopt(base.router, prefix, from, fns) as StepNode,
        branches: kids(base.branches),
      };
    case 'state_machine':
      return {
        ...base,
        states: kids(base.states),
        transitions: base.transitions.map((t) => ({
          ...t,
          ...(t.when ? { when: code(t.when) as CodeRef } : {}),
        })),
      };
    case 'hitl':
      return base;
  }
}

/** Uses a whole pipeline as one step of another: its nodes run inline, under this node's path. */
export function subPipeline<I, O, M extends InputFrom<I> | undefined = InputFrom<I> | undefined>(
  name: string,
  pipeline: Pipeline<I, O>,
  opts?: CommonOptions<I, M>,
): Flow<Takes<I, M>, O> {
  return flowOf((path: string, fns: Fns) => ({
    kind: 'sequence',
    ...commonFields(path, fns, name, opts),
    steps: [
      adopt(
        pipeline.plan.ir.root,
        `${path}:${pipeline.plan.ir.name}`,
        pipeline.plan.functions,
        fns,
      ),
    ],
  }));
}
