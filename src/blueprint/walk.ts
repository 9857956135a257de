/** Walks over Plan IR nodes and YAML step mappings. */
import type { PlanNode } from '../dsl/ir.js';
import { STEP_OUTPUTS_KEY } from './runtimeEval.js';
import { entry, type Pos, type YNode } from './yamlTree.js';

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
  return [n, ...children(n).flatMap(allNodes)];
}

/** Asks the compiler to keep the outputs of steps that templates read as `steps.<name>`. */
export function markRecorded(root: PlanNode, names: ReadonlySet<string>): PlanNode {
  if (names.size === 0) return root;
  return mapTree(root, (n) => {
    if (!names.has(n.name) || n.name.includes('.')) return n;
    const path = `${STEP_OUTPUTS_KEY}.${n.name}`;
    return n.record?.includes(path) ? n : { ...n, record: [...(n.record ?? []), path] };
  });
}

/** Line spans of every step mapping (anything with `kind` or `name` inside a steps list). */
export function stepRanges(tree: YNode): Pos[] {
  const out: Pos[] = [];
  const visit = (n: YNode) => {
    if (n.t === 'map') {
      if (entry(n, 'name') || entry(n, 'kind')) out.push(n.pos);
      n.entries.forEach((e) => visit(e.value));
    } else if (n.t === 'seq') n.items.forEach(visit);
  };
  visit(tree);
  return out;
}
