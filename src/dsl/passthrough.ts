/**
 * A passthrough as the views of a run present it (ADR 148). A blueprint step with no agent and no
 * `uses:` (V-A1), and an empty `steps: []`, compile to a sequence with no steps, which passes its
 * input through. The plan and the ledger keep `sequence`: a node of another kind would change
 * plan fingerprints, and a `StepScheduled` of another kind what every recorded run holds. What a
 * run records tells the two apart: no step is ever scheduled under a sequence with no steps (it
 * ends in the append that scheduled it), while a sequence with steps schedules its first in the
 * same append as itself. So a view presents a step recorded as a sequence, that ended with no
 * step recorded under its path, as kind `passthrough`.
 */

/** The kind the views present for a sequence with no steps (`StepScheduled.kind` stays `sequence`). */
export const PASSTHROUGH = 'passthrough';

export interface RecordedStep {
  /** The step's path (`1`, `0/true`, `2/body@1`; the root is `.`). */
  readonly path: string;
  /** `StepScheduled.kind`. */
  readonly kind: string;
  /** How it stands: `running` (or `paused`) is not decided yet; anything else ended. */
  readonly status: string;
}

/**
 * The paths of the steps to present as passthroughs: recorded as a sequence, ended, and with no
 * step of `steps` under their path. `steps` is every step a run recorded (one entry or many per
 * path: attempts, a state re-entered), the engine's too, or the rule would take a sequence whose
 * only steps are the engine's for an empty one.
 */
export function passthroughPaths(steps: Iterable<RecordedStep>): Set<string> {
  const all = [...steps];
  // Every path some step sits under: its `/`-prefixes, and the root `.` above any other path.
  const above = new Set<string>();
  for (const { path } of all) {
    if (path === '.') continue;
    above.add('.');
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1))
      above.add(path.slice(0, i));
  }
  const out = new Set<string>();
  for (const s of all)
    if (s.kind === 'sequence' && s.status !== 'running' && s.status !== 'paused')
      if (!above.has(s.path)) out.add(s.path);
  return out;
}

/** The kind to present for a step: `passthrough` for one of `passthroughs`, else as recorded. */
export const presentedKind = (
  s: { readonly path: string; readonly kind: string },
  passthroughs: ReadonlySet<string>,
): string => (passthroughs.has(s.path) ? PASSTHROUGH : s.kind);
