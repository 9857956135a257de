/**
 * Walks over the nodes of a Plan IR by their kinds, so a change meant for nodes (a hitl node's
 * field, a step's record list) reaches only nodes: an `input` constant, a schema or a context
 * default is user data, whatever keys it holds (it may well say `kind: 'hitl'`).
 */
import type { PlanNode } from './ir.js';

/** The node's direct children. */
export function children(n: PlanNode): PlanNode[] {
  switch (n.kind) {
    case 'step':
      return n.fallback ? [n.fallback] : [];
    case 'sequence':
      return [...n.steps];
    case 'parallel':
      return Object.values(n.branches);
    case 'dynamic_router':
      return [n.router, ...Object.values(n.branches)];
    case 'conditional':
      return [...Object.values(n.branches), ...(n.default ? [n.default] : [])];
    case 'loop':
    case 'map':
      return [n.body];
    case 'state_machine':
      return Object.values(n.states);
    case 'hitl':
      return [];
  }
}

/** Rebuilds the tree bottom-up with `f` applied to every node. */
export function mapTree(n: PlanNode, f: (n: PlanNode) => PlanNode): PlanNode {
  const m = (x: PlanNode) => mapTree(x, f);
  const obj = (r: Readonly<Record<string, PlanNode>>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, m(v)]));
  switch (n.kind) {
    case 'step':
      return f(n.fallback ? { ...n, fallback: m(n.fallback) as typeof n } : n);
    case 'sequence':
      return f({ ...n, steps: n.steps.map(m) });
    case 'parallel':
      return f({ ...n, branches: obj(n.branches) });
    case 'dynamic_router':
      return f({ ...n, router: m(n.router) as typeof n.router, branches: obj(n.branches) });
    case 'conditional':
      return f({
        ...n,
        branches: obj(n.branches),
        ...(n.default ? { default: m(n.default) } : {}),
      });
    case 'loop':
    case 'map':
      return f({ ...n, body: m(n.body) });
    case 'state_machine':
      return f({ ...n, states: obj(n.states) });
    case 'hitl':
      return f(n);
  }
}

export function allNodes(n: PlanNode): PlanNode[] {
  // Depth first, a node before its children, without copying a list per level (ADR 153).
  const out: PlanNode[] = [];
  const stack = [n];
  while (stack.length > 0) {
    const next = stack.pop() as PlanNode;
    out.push(next);
    const kids = children(next);
    for (let i = kids.length - 1; i >= 0; i -= 1) stack.push(kids[i] as PlanNode);
  }
  return out;
}
