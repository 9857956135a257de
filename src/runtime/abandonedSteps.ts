/**
 * StepAbandoned markers (ADR 78): which steps a transition left unfinished when it released
 * waits (a parallel a sibling branch failed, a map an item failed), and which enclosing step's
 * end caused it.
 */
import type { Decision, Release } from '../actors/vocabulary.js';
import type { NewEvent } from '../events/catalogue.js';
import type { RunSummary } from './summary.js';

/** The path of the step enclosing `path` (`.` is the pipeline's own); null above it. */
function parentPath(path: string): string | null {
  if (path === '.') return null;
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : path.slice(0, i);
}

/**
 * From each wait the last transition released (`releasedNow`), the steps still running up to the
 * enclosing step that ended: that step is the `cause`. The statuses are the summary's, as this
 * batch's decisions leave them.
 */
export function abandonedSteps(
  released: readonly Release[],
  decisions: readonly Decision[],
  summary: RunSummary,
): NewEvent[] {
  if (released.length === 0) return [];
  const started = new Set<string>();
  const ended = new Set<string>();
  for (const d of decisions)
    if (d.type === 'scheduleStep') started.add(d.path);
    else if (d.type === 'completeStep' || d.type === 'failStep') ended.add(d.path);
  const open = (path: string): boolean | undefined => {
    if (ended.has(path)) return false;
    if (started.has(path)) return true;
    const s = summary.statusOf(path);
    return s === undefined ? undefined : s === 'running';
  };
  const out: NewEvent[] = [];
  const marked = new Set<string>();
  for (const r of released) {
    const left: string[] = [];
    let cause: string | null = null;
    for (let p: string | null = r.path; p !== null; p = parentPath(p)) {
      const o = open(p);
      if (o === false) {
        cause = p;
        break;
      }
      if (o === true) left.push(p);
    }
    if (cause === null) continue;
    for (const path of left)
      if (!marked.has(path)) {
        marked.add(path);
        out.push({ type: 'StepAbandoned', data: { path, cause } });
      }
  }
  return out;
}
