/**
 * V-P1: branches of a `context_update` (or `error_on_conflict`) parallel that may write the same
 * context path, as the merge (src/actors/data.ts mergeContexts) sees it. `context_update`
 * deep-merges and fails only where two branches set the same path to different values, so
 * `res.v` and `res.w` merge into `{v, w}`: the paths clash when they are equal or one is a
 * prefix of the other. `error_on_conflict` fails when two branches change the same top-level key
 * at all, so `res.v` and `res.w` clash there. `updates_context: true` in more than one branch
 * (whose keys are only known at run time) may clash with anything. Reported where the second
 * branch writes.
 */
import type { Env } from './env.js';
import { entry, plain, type Pos, type YNode } from './yamlTree.js';

interface Write {
  /** The context path written (`res.v`), or `*` for `updates_context`. */
  readonly path: string;
  readonly pos: Pos;
}

/** The context writes a branch's steps declare, with where they are declared. */
function writesOf(node: YNode, out: Write[]): Write[] {
  if (node.t === 'seq') node.items.forEach((n) => writesOf(n, out));
  if (node.t !== 'map') return out;
  const sink = entry(node, 'sink_to');
  if (sink && typeof plain(sink.value) === 'string') {
    const path = String(plain(sink.value)).replace(/^context\./, '');
    out.push({ path, pos: sink.value.pos });
  }
  const uc = entry(node, 'updates_context');
  if (uc && plain(uc.value) === true) out.push({ path: '*', pos: uc.value.pos });
  for (const e of node.entries) if (e.key !== 'sink_to') writesOf(e.value, out);
  return out;
}

/** `a.b` is `a.b` or under it (`a.b.c`), not `a.bc`. */
const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`);

/**
 * What both writes reach under `merge`: the shorter of two overlapping paths for
 * `context_update`, the shared top-level key for `error_on_conflict`; undefined when they cannot
 * clash.
 */
function clashOf(a: string, b: string, merge: string): string | undefined {
  if (merge === 'error_on_conflict') {
    const [ra, rb] = [a.split('.')[0], b.split('.')[0]];
    return ra === rb ? ra : undefined;
  }
  if (within(a, b)) return b;
  if (within(b, a)) return a;
  return undefined;
}

export function checkParallelWrites(
  env: Env,
  branches: YNode | undefined,
  name: string,
  merge: string,
): void {
  if (merge !== 'context_update' && merge !== 'error_on_conflict') return;
  if (!branches || branches.t !== 'map') return;
  const seen: { path: string; branch: string }[] = [];
  for (const b of branches.entries) {
    const writes = writesOf(b.value, []);
    for (const w of writes) {
      let what: string | undefined;
      let other: string | undefined;
      for (const s of seen) {
        if (s.branch === b.key) continue;
        if (w.path === '*' || s.path === '*') what = 'may write the same context keys';
        else {
          const path = clashOf(s.path, w.path, merge);
          if (path !== undefined)
            what = `both ${merge === 'error_on_conflict' ? 'change' : 'write'} context.${path}`;
        }
        if (what) {
          other = s.branch;
          break;
        }
      }
      if (what && other !== undefined) {
        const fails =
          merge === 'error_on_conflict'
            ? 'the run fails when two branches change the same key'
            : 'the run fails if they write different values there';
        env.report(
          'V-P1',
          `parallel '${name}': branches '${other}' and '${b.key}' ${what}; with merge_strategy ${merge} ${fails}`,
          w.pos,
          {
            step: name,
            suggestion: `write to different keys (sink_to per branch), or set merge_strategy: overwrite or keep_first`,
          },
        );
        return;
      }
    }
    for (const w of writes) seen.push({ path: w.path, branch: b.key });
  }
}
