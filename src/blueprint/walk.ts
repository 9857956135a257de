/** Walks over Plan IR nodes and YAML step mappings. */
import type { PlanNode } from '../dsl/ir.js';
import { mapTree } from '../dsl/nodes.js';
import { STEP_OUTPUTS_KEY } from './runtimeEval.js';
import { entry, type Pos, type YNode } from './yamlTree.js';

export { allNodes, children, mapTree } from '../dsl/nodes.js';

/**
 * Asks the compiler to keep the outputs of steps that templates read as `steps.<name>`
 * (`record`), and, in a run with the flag `step-outputs-kept-for-every-read`, those read
 * otherwise (`keepOutput`, ADR 123): the `kept` names, and when a template reads `steps` whole or
 * by a computed name every step a blueprint names (not the pipeline itself, nor a node the loader
 * adds: see `written`).
 */
export function markRecorded(
  root: PlanNode,
  names: ReadonlySet<string>,
  kept?: { readonly names: ReadonlySet<string>; readonly all: boolean },
): PlanNode {
  const keeps = (n: PlanNode) =>
    kept !== undefined && (kept.names.has(n.name) || (kept.all && written(n.name)));
  if (names.size === 0 && !kept?.all && !kept?.names.size) return root;
  const out = mapTree(root, (n) => {
    const path = `${STEP_OUTPUTS_KEY}.${n.name}`;
    let m = n;
    if (names.has(n.name) && !n.name.includes('.') && !n.record?.includes(path))
      m = { ...n, record: [...(n.record ?? []), path] };
    // A step `record` keeps already needs nothing more: a run without the flag keeps it too.
    return keeps(m) && !m.record?.includes(path) ? { ...m, keepOutput: true } : m;
  });
  if (out.keepOutput === undefined || root.keepOutput) return out;
  const { keepOutput: _, ...pipeline } = out;
  return pipeline as PlanNode;
}

/**
 * Whether a node's name is one a blueprint gives its steps: the loader names the nodes it adds
 * `__<name>…`, `<step>.body` (a loop's or map's body, a state's steps, an agentic loop's parts)
 * or `<step>:<alias>` (an import), so a name holding `.` or `:` is taken for one of them.
 */
const written = (name: string) => !name.startsWith('__') && !/[.:]/.test(name);

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
