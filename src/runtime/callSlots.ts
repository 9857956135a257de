/**
 * A cap on a run's agent calls whose outcome is not yet recorded (`maxCallsInFlight`,
 * docs/adr/0041). A call holds a slot from its start until the commit that records its reply or
 * failure, not only while it runs: so a process killed at any point has at most `limit` calls'
 * work unrecorded, and a resume repeats at most that many. With 1, a kill costs at most one call
 * even in a parallel. Calls past the cap wait in the order they were decided and start (their
 * per-attempt timeout with them) as slots free up. Only when to start a call changes; what the
 * run decides does not, so replay is unaffected.
 */
import { idempotencyKey } from '../actors/decisions.js';
import type { Decision } from '../actors/vocabulary.js';
import type { NewEvent } from '../events/catalogue.js';
import { failedFact, failure } from './attempt.js';

type Call = Extract<Decision, { type: 'callAgent' }>;

/** The fact of a call left before a slot let it start: aborted, as if started (frees its budget). */
export const neverStarted = (runId: string, d: Call): NewEvent =>
  failedFact(
    { path: d.path, attempt: d.attempt, key: idempotencyKey(runId, d.path, d.attempt) },
    failure('aborted: left before it started', 'ABORTED'),
  );

export class CallSlots<C> {
  private readonly limit: number;
  private readonly holding = new Set<string>();
  /** Calls waiting for a slot by idempotency key, in the order they were decided. */
  private readonly waiting = new Map<string, C>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Takes a slot for the call (true: start it now), or queues it (false). */
  admit(key: string, call: C): boolean {
    if (this.waiting.has(key)) return false;
    if (this.holding.size < this.limit) {
      this.holding.add(key);
      return true;
    }
    this.waiting.set(key, call);
    return false;
  }

  /** The calls whose outcomes `recorded` holds have their slots freed. */
  releaseRecorded(recorded: readonly NewEvent[]): void {
    for (const e of recorded)
      if (e.type === 'AgentResponded' || e.type === 'AgentFailed') this.holding.delete(e.data.key);
  }

  /** The next waiting call when a slot is free, taken off the queue (not yet admitted). */
  next(): C | undefined {
    if (this.holding.size >= this.limit) return undefined;
    for (const [key, call] of this.waiting) {
      this.waiting.delete(key);
      return call;
    }
    return undefined;
  }

  /** Takes the waiting calls `keep` rejects off the queue and returns them. */
  drop(keep: (call: C) => boolean): C[] {
    const out: C[] = [];
    for (const [key, call] of this.waiting) {
      if (keep(call)) continue;
      this.waiting.delete(key);
      out.push(call);
    }
    return out;
  }

  clear(): void {
    this.waiting.clear();
  }
}
