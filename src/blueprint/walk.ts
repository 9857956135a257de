/** Walks over Plan IR nodes and YAML step mappings. */
import type { PlanNode } from '../dsl/ir.js';
import { mapTree } from '../dsl/nodes.js';
import { STEP_OUTPUTS_KEY } from './runtimeEval.js';
import { entry, type Pos, type YNode } from './yamlTree.js';

export { allNodes, children, mapTree } from '../dsl/nodes.js';

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
