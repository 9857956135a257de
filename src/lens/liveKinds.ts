/**
 * ADR 148's passthrough for views that print a run while it happens (`lens watch`, `flujo run`'s
 * progress), where the steps after a line are not known yet. A step recorded as a sequence is a
 * passthrough when it ends with no step scheduled under it (../dsl/passthrough.ts), so its
 * `StepScheduled` is held, with every line after it in order, until that is known: a step
 * scheduled under it (it stays a sequence) or its own end (it is shown as a passthrough). Both
 * come in the append that scheduled it, so nothing waits on a later append; a line that ends or
 * pauses the run, and `flush`, let what is held go as recorded.
 */
import { PASSTHROUGH } from '../dsl/passthrough.js';

/** What the holder reads of an item: its event type, the step path and the scheduled kind. */
export interface KindOf {
  readonly event: string;
  readonly path?: string | undefined;
  readonly kind?: string | undefined;
}

export interface LiveKinds<T> {
  /** Takes the next item; returns the items that can go now, in order (maybe none). */
  push(item: T): T[];
  /** Lets everything held go, as recorded. */
  flush(): T[];
}

const ENDS = new Set(['StepCompleted', 'StepFailed']);
const RESTS = new Set(['RunCompleted', 'RunFailed', 'RunCancelled', 'RunPaused']);

const under = (path: string, seq: string) => seq === '.' || path.startsWith(`${seq}/`);

export function liveKinds<T>(
  about: (item: T) => KindOf,
  withKind: (item: T, kind: string) => T,
): LiveKinds<T> {
  // Items in order; `open` marks a held sequence not decided yet.
  const queue: { item: T; path: string | undefined; open: boolean }[] = [];
  const release = (): T[] => {
    let n = 0;
    while (n < queue.length && !queue[n]!.open) n++;
    return queue.splice(0, n).map((q) => q.item);
  };
  return {
    push(item) {
      const a = about(item);
      if (RESTS.has(a.event)) for (const q of queue) q.open = false;
      else if (a.path !== undefined)
        for (const q of queue) {
          if (!q.open || q.path === undefined) continue;
          if (a.event === 'StepScheduled' && under(a.path, q.path)) q.open = false;
          else if (ENDS.has(a.event) && a.path === q.path) {
            q.open = false;
            q.item = withKind(q.item, PASSTHROUGH);
          }
        }
      const held = a.event === 'StepScheduled' && a.kind === 'sequence';
      queue.push({ item, path: a.path, open: held });
      return release();
    },
    flush() {
      for (const q of queue) q.open = false;
      return release();
    },
  };
}
