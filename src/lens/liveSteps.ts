/**
 * ADR 88's engine steps for views that print a run while it happens (`lens watch`), where the
 * whole run is not known yet. Steps arrive parent first, so the name rules of ./engineSteps.ts
 * decide at once, except one: a sequence is the loader's wrapper around a step with context
 * operations only if a step of its own name comes right below it. Such a sequence is *pending*
 * until a step scheduled under it settles it: a child of its own name (engine) or any step not
 * named `__…` (the user's; a wrapper holds only `__…` helpers before its step), or its own end.
 * A failure is never hidden: an engine step's `StepFailed` shows unless a shown step below it
 * failed first (descendants end before their ancestors), as `stepVisibility` decides afterwards.
 */
import { HITL_NOT_PROPAGATED } from '../actors/vocabulary.js';
import { isEngineName } from './engineSteps.js';

type State = 'user' | 'engine' | 'pending';

interface Live {
  readonly name: string;
  readonly kind: string;
  state: State;
}

/** What the view should do with a line about a step. */
export type LiveVerdict = 'show' | 'hide' | 'hold';

export interface LiveSteps {
  /**
   * A step was scheduled: whether its line shows now, is left out, or is held until the step
   * is settled (`settled` then returns it). Pending ancestors it settles are in `settled`.
   */
  scheduled(path: string, name: string, kind: string): LiveVerdict;
  /** Paths settled as the user's by the last call, whose held lines now show, in order. */
  settled(): string[];
  /** Any other line about the step at `path` (its end, an attempt, a branch taken). */
  line(path: string): 'show' | 'hide';
  /** The step at `path` failed with `code`: shown if it is the user's or failed by itself. */
  failed(path: string, code: string | undefined): 'show' | 'hide';
  /** The run rests: pending steps are the user's. */
  finish(): string[];
  /** Engine steps left out so far (an engine step shown for its failure is not counted). */
  hiddenCount(): number;
}

export function liveSteps(): LiveSteps {
  const steps = new Map<string, Live>();
  const surfaced = new Set<string>();
  const failedBelow = new Set<string>();
  // Few at a time (a wrapper is settled by its first steps): scanned on each scheduled step.
  const pending = new Map<string, Live>();
  let released: string[] = [];

  const parentOf = (path: string): [string, Live] | undefined => {
    const segs = path.split('/');
    for (let n = segs.length - 1; n > 0; n--) {
      const p = segs.slice(0, n).join('/');
      const s = steps.get(p);
      if (s) return [p, s];
    }
    return undefined;
  };
  const settle = (path: string, s: Live, to: 'user' | 'engine') => {
    s.state = to;
    pending.delete(path);
    if (to === 'user') released.push(path);
  };

  return {
    scheduled(path, name, kind) {
      const parent = parentOf(path);
      // A pending wrapper is settled by the first step below it that is not one of its helpers.
      for (const [p, s] of pending)
        if (path.startsWith(`${p}/`)) {
          if (parent?.[0] === p && name === s.name) settle(p, s, 'engine');
          else if (!isEngineName(name)) settle(p, s, 'user');
        }
      const at = name.lastIndexOf(':');
      const owner = name.slice(0, at).replace(/\W/g, '_');
      const importWrapper =
        kind === 'sequence' &&
        at > 0 &&
        parent !== undefined &&
        new RegExp(`^__${owner}_(import|until_hitl)\\d+$`).test(parent[1].name);
      const state: State =
        isEngineName(name) || importWrapper ? 'engine' : kind === 'sequence' ? 'pending' : 'user';
      const live = { name, kind, state };
      steps.set(path, live);
      if (state === 'pending') pending.set(path, live);
      return state === 'engine' ? 'hide' : state === 'pending' ? 'hold' : 'show';
    },
    settled() {
      const out = released;
      released = [];
      return out;
    },
    line(path) {
      const s = steps.get(path);
      if (s?.state === 'pending') settle(path, s, 'user');
      return s?.state === 'engine' ? 'hide' : 'show';
    },
    failed(path, code) {
      const s = steps.get(path);
      if (s?.state === 'pending') settle(path, s, 'user');
      const byItself = code !== HITL_NOT_PROPAGATED;
      const shown = s?.state !== 'engine' || (byItself && !failedBelow.has(path));
      if (s?.state === 'engine' && shown) surfaced.add(path);
      if (shown && byItself)
        for (let p = path.lastIndexOf('/'); p > 0; p = path.lastIndexOf('/', p - 1))
          failedBelow.add(path.slice(0, p));
      return shown ? 'show' : 'hide';
    },
    finish() {
      for (const [p, s] of pending) settle(p, s, 'user');
      return this.settled();
    },
    hiddenCount() {
      let n = 0;
      for (const [p, s] of steps) if (s.state === 'engine' && !surfaced.has(p)) n++;
      return n;
    },
  };
}
