/**
 * The runs an engine is taking up (ADR 137): each start or resume of a run, from its first read
 * until its driver is registered or it gives up. One run may be taken up more than once at a time
 * (a resume delivered again while another drives it, a web-lens answer): it is being taken up until
 * every one of them has registered or given up, so a cancel waits for them all, not for the first.
 * A start's own resume of a run already recorded is part of the start, not a take-up of its own.
 */

/** One start or resume of a run; `done()` once its driver is registered or it gave up (again: nothing). */
export interface TakeUp {
  done(): void;
}

export class StartingRuns {
  private readonly runs = new Map<
    string,
    { pending: number; idle: Promise<void>; settle: () => void }
  >();
  /** Cancels under way, per run: a driver of the run registered meanwhile is stopped before it acts. */
  private readonly cancels = new Map<string, number>();

  /** Whether a start or resume of the run is under way here. */
  has(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** Resolves once no start or resume of the run is under way here (at once if none is). */
  idle(runId: string): Promise<void> {
    return this.runs.get(runId)?.idle ?? Promise.resolve();
  }

  /** A start or resume of the run begins. */
  begin(runId: string): TakeUp {
    let run = this.runs.get(runId);
    if (!run) {
      let settle = () => {};
      const idle = new Promise<void>((r) => (settle = r));
      this.runs.set(runId, (run = { pending: 0, idle, settle }));
    }
    const of = run;
    of.pending++;
    let open = true;
    return {
      done: () => {
        if (!open) return;
        open = false;
        if (--of.pending > 0) return;
        this.runs.delete(runId);
        of.settle();
      },
    };
  }

  /**
   * A cancel of the run begins: until `release()`, a driver of the run registered here is stopped
   * before it acts (it sends nothing and records nothing).
   */
  cancelling(runId: string): () => void {
    this.cancels.set(runId, (this.cancels.get(runId) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = this.cancels.get(runId)! - 1;
      if (left > 0) this.cancels.set(runId, left);
      else this.cancels.delete(runId);
    };
  }

  /** Whether a driver of the run registered now is to be stopped before it acts. */
  stopsOnDrive(runId: string): boolean {
    return this.cancels.has(runId);
  }
}
