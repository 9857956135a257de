/**
 * Which steps of a run the user wrote and which the engine made (ADR 88), decided here for every
 * view: `lens show`, `lens trace` and the web lens. The blueprint loader names the helper nodes it
 * adds `__<owner>_<what><n>` (Env.hiddenName: identities, stashes, an import's fan-out and its
 * `until_hitl` machine, cache and agentic-loop plumbing), and wraps an imported pipeline in a
 * sequence `<import step>:<alias>` placed directly under one of those helpers, and wraps a step
 * with context operations in a sequence of the step's own name. These are engine steps. Names are all the views have: the events and read models keep no other mark, and adding
 * one to the plan or to `StepScheduled` would change recorded fingerprints and decisions.
 */
import { HITL_NOT_PROPAGATED } from '../actors/vocabulary.js';
import type { Span } from './trace.js';
import { attemptOutcomes } from './rows.js';

export interface NamedStep {
  /** The step's path (`0/0/child@1`); a trace span's `#2` suffix is ignored. */
  readonly path: string;
  readonly name: string;
  readonly kind: string;
  /** It failed by itself: not left unfinished, not stopped by a cancel, not a hitl step that did not ask. */
  readonly failed: boolean;
}

export interface StepVisibility {
  /** Made by the engine, not written by the user. */
  readonly internal: boolean;
  /** Left out of the text views unless `--all`. */
  readonly hidden: boolean;
}

const bare = (path: string) => path.replace(/#\d+$/, '');

/** A name only the loader gives (Env.hiddenName); a user's `__` name is taken as the engine's. */
export const isEngineName = (name: string): boolean => name.startsWith('__');

/** The longest ancestor path among `paths`, as the trace nests spans. */
function parentPath(path: string, paths: ReadonlyMap<string, NamedStep>): NamedStep | undefined {
  const segs = path.split('/');
  for (let n = segs.length - 1; n > 0; n--) {
    const p = paths.get(segs.slice(0, n).join('/'));
    if (p) return p;
  }
  return undefined;
}

/** An import's child sequence `<step>:<alias>` right under the import's own `__<step>_…` helper. */
function importWrapper(s: NamedStep, parent: NamedStep | undefined): boolean {
  const at = s.name.lastIndexOf(':');
  if (s.kind !== 'sequence' || at <= 0 || !parent) return false;
  const owner = s.name.slice(0, at).replace(/\W/g, '_');
  return new RegExp(`^__${owner}_(import|until_hitl)\\d+$`).test(parent.name);
}

/**
 * Each step's visibility by path. An engine step that failed by itself is not hidden unless a
 * shown step below it failed too: the reason a run failed is never left out (it surfaces on the
 * engine step where it began, e.g. an import's `__…_set` that could not write its artifacts).
 */
export function stepVisibility(steps: readonly NamedStep[]): Map<string, StepVisibility> {
  const byPath = new Map<string, NamedStep>();
  for (const s of steps) if (!byPath.has(bare(s.path))) byPath.set(bare(s.path), s);
  const out = new Map<string, StepVisibility>();
  const depth = new Map([...byPath.keys()].map((p) => [p, p.split('/').length]));
  // Deepest first, so a step knows whether a shown descendant already carries a failure.
  const paths = [...byPath.keys()].sort((a, b) => (depth.get(b) ?? 0) - (depth.get(a) ?? 0));
  const parents = new Map([...byPath.keys()].map((p) => [p, parentPath(p, byPath)]));
  // Paths with a shown failed step somewhere below them (each failure marks its ancestors once).
  const failedBelow = new Set<string>();
  // A sequence with a step of its own name right below it is the loader's wrapper around the
  // user's step (a loop's or map's context operations, ADR 69); step names are unique (V-K8).
  const sameNameBelow = new Set<string>();
  for (const [path, s] of byPath) {
    const parent = parents.get(path);
    if (parent?.name === s.name) sameNameBelow.add(bare(parent.path));
  }
  for (const path of paths) {
    const s = byPath.get(path) as NamedStep;
    const internal =
      isEngineName(s.name) ||
      importWrapper(s, parents.get(path)) ||
      (s.kind === 'sequence' && sameNameBelow.has(path));
    const hidden = internal && !(s.failed && !failedBelow.has(path));
    // Marks ancestors until one already marked: each path is marked at most once.
    if (s.failed && !hidden)
      for (let p = path.lastIndexOf('/'); p > 0; p = path.lastIndexOf('/', p - 1)) {
        const up = path.slice(0, p);
        if (failedBelow.has(up)) break;
        failedBelow.add(up);
      }
    out.set(path, { internal, hidden });
  }
  return out;
}

/** The visibility of one step by its (possibly `#n`-suffixed) path. */
export const visibilityOf = (
  map: ReadonlyMap<string, StepVisibility>,
  path: string,
): StepVisibility => map.get(bare(path)) ?? { internal: false, hidden: false };

/**
 * How many hidden steps sit above `path` (its `/`-prefixes): a view that leaves them out indents
 * the step that many levels less, so it sits right under the shown step above it.
 */
export function hiddenAbove(map: ReadonlyMap<string, StepVisibility>, path: string): number {
  let n = 0;
  const p = bare(path);
  for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1))
    if (map.get(p.slice(0, i))?.hidden) n++;
  return n;
}

/** The line that says how many engine steps a text view left out. */
export const engineStepsLine = (n: number): string =>
  `(+${n} engine step${n === 1 ? '' : 's'}; --all to show them)`;

/**
 * Why a span that ended `failed` did not fail by itself (ADR 46, 78): left unfinished when a step
 * enclosing it ended, stopped by a cancel, or a hitl step that did not ask (and the steps it
 * stopped up to its import). The JSON keeps `failed`; the text marks them ⊘, as lens show does.
 */
export function stopped(span: Span): 'abandoned' | 'cancelled' | 'not asked' | undefined {
  const a = span.attributes;
  if (span.status !== 'failed' || span.name === 'pipeline_run') return undefined;
  if (a['flujo.abandoned'] !== undefined) return 'abandoned';
  if (a['flujo.cancelled'] === true) return 'cancelled';
  const err = a['flujo.error'] as { code?: string } | undefined;
  return err?.code === HITL_NOT_PROPAGATED ? 'not asked' : undefined;
}

/** The visibility of every step span of a trace, by span id. */
export function spanVisibility(root: Span): Map<string, StepVisibility> {
  const steps: NamedStep[] = [];
  const walk = (span: Span) => {
    for (const c of span.children) {
      steps.push({
        path: c.span_id,
        name: c.name,
        kind: String(c.attributes['flujo.step.type']),
        failed: c.status === 'failed' && !stopped(c),
      });
      walk(c);
    }
  };
  walk(root);
  return stepVisibility(steps);
}

/** The visibility of read-model step rows (`lens show`, the web lens), by path. */
export function rowVisibility(
  rows: readonly {
    readonly path: string;
    readonly name: string;
    readonly kind: string;
    readonly attempt: number;
    readonly status: string;
    readonly errorCode: string | null;
  }[],
): Map<string, StepVisibility> {
  // A step is seen by its last attempt: one tried again did not fail it.
  const outcome = attemptOutcomes(rows);
  return stepVisibility(
    rows
      .filter((r) => outcome.get(r)?.final !== false)
      .map((r) => ({
        path: r.path,
        name: r.name,
        kind: r.kind,
        failed: r.status === 'failed' && r.errorCode !== HITL_NOT_PROPAGATED,
      })),
  );
}
