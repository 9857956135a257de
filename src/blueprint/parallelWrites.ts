/**
 * V-P1: branches of a `context_update` (or `error_on_conflict`) parallel that may write the same
 * context key. The merge fails at run time when two branches set the same leaf to different
 * values, so we warn where the second branch writes: the same `sink_to` root, or
 * `updates_context: true` (whose keys are only known at run time) in more than one branch.
 */
import type { Env } from './env.js';
import { entry, plain, type Pos, type YNode } from './yamlTree.js';

interface Write {
  readonly key: string;
  readonly pos: Pos;
}

/** The context writes a branch's steps declare, with where they are declared. */
function writesOf(node: YNode, out: Write[]): Write[] {
  if (node.t === 'seq') node.items.forEach((n) => writesOf(n, out));
  if (node.t !== 'map') return out;
  const sink = entry(node, 'sink_to');
  if (sink && typeof plain(sink.value) === 'string') {
    const root =
      String(plain(sink.value))
        .replace(/^context\./, '')
        .split('.')[0] ?? '';
    out.push({ key: root, pos: sink.value.pos });
  }
  const uc = entry(node, 'updates_context');
  if (uc && plain(uc.value) === true) out.push({ key: '*', pos: uc.value.pos });
  for (const e of node.entries) if (e.key !== 'sink_to') writesOf(e.value, out);
  return out;
}

export function checkParallelWrites(
  env: Env,
  branches: YNode | undefined,
  name: string,
  merge: string,
): void {
  if (merge !== 'context_update' && merge !== 'error_on_conflict') return;
  if (!branches || branches.t !== 'map') return;
  const seen = new Map<string, string>();
  for (const b of branches.entries) {
    const writes = writesOf(b.value, []);
    for (const w of writes) {
      const clash =
        w.key === '*'
          ? [...seen.entries()].find(([, branch]) => branch !== b.key)
          : ([...seen.entries()].find(
              ([k, branch]) => (k === w.key || k === '*') && branch !== b.key,
            ) ?? undefined);
      if (clash) {
        const what =
          w.key === '*' || clash[0] === '*'
            ? 'may write the same context keys'
            : `both write context.${w.key}`;
        env.report(
          'V-P1',
          `parallel '${name}': branches '${clash[1]}' and '${b.key}' ${what}; with merge_strategy ${merge} the run fails if they write different values`,
          w.pos,
          {
            step: name,
            suggestion: `write to different keys (sink_to per branch), or set merge_strategy: overwrite or keep_first`,
          },
        );
        return;
      }
    }
    for (const w of writes) if (!seen.has(w.key)) seen.set(w.key, b.key);
  }
}
