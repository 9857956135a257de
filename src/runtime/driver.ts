/**
 * Drives one run: the only place a run's decisions become effects. Each outside fact (an agent's
 * reply, a fired timer, a human's answer) is fed to the machine, and the fact together with the
 * decisions it caused is appended in ONE ledger transaction; only after that commit are the new
 * commands started (record, then act). A failed append stops the run where it stands: the ledger
 * still holds everything up to the last commit, and resume continues from there.
 *
 * One class a little over 400 lines: its state (head, in-flight calls, timers, slots) is shared by
 * every method; attempts, budgets, call slots and snapshots already live in their own modules.
 *
 * Over 400 lines: the record-then-act loop and its effect handlers share the run's in-memory
 * state; not split yet.
 */
import { decisionEvent, idempotencyKey } from '../actors/decisions.js';
import {
  applyFact,
  awaitsCall,
  awaitsTimer,
  isReserved,
  markPaused,
  restsOnHuman,
  type FoldState,
} from '../actors/fold.js';
import type { RunMachine } from '../actors/machine.js';
import type { Decision } from '../actors/vocabulary.js';
import { terminalTypes, type NewEvent } from '../events/catalogue.js';
import type { Head, LedgerEvent } from '../events/envelope.js';
import type { AgentPort, AgentReply, AgentRequest, Clock, LedgerStore } from '../ports.js';
import { failedFact, respondedFact, startAttempt, type Attempt } from './attempt.js';
import { isFunctionAgent } from './functionAgents.js';
import { reconcileUnknown, reserveCall, usageUnknown } from './budget.js';
import { CallSlots, neverStarted } from './callSlots.js';
import { withdrawnAsks } from './humanInput.js';
import { snapshotEvent, type SnapshotChain } from './snapshot.js';
import type { RunSummary } from './summary.js';

export interface DriverDeps {
  readonly ledger: LedgerStore;
  readonly agents: AgentPort;
  readonly clock: Clock;
  /** Append a SnapshotTaken after at least this many events (0: never). */
  readonly snapshotEvery?: number;
  /** The pipeline fingerprint the run started with, kept in snapshots for resume's check. */
  readonly fingerprint?: string;
  /** Told after each commit of the run (watchers wake on it). */
  readonly onRecorded?: (runId: string) => void;
  /** At most this many calls with unrecorded outcomes at once (./callSlots.ts); none: no cap. */
  readonly maxCallsInFlight?: number;
}

type Call = Extract<Decision, { type: 'callAgent' }>;
type Timer = Extract<Decision, { type: 'scheduleTimer' }>;

/** The signal function steps get: they run in this process and nothing could stop them. */
const UNSTOPPABLE = new AbortController().signal;

/** The path of the step enclosing `path` (`.` is the pipeline's own); null above it. */
function parentPath(path: string): string | null {
  if (path === '.') return null;
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : path.slice(0, i);
}

export class RunDriver {
  private readonly facts: NewEvent[] = [];
  /** Failures of started calls whose usage is unknown: charged their reservation when recorded. */
  private readonly unknownUsage = new WeakSet<NewEvent>();
  private readonly inflight = new Map<string, Attempt>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly slots: CallSlots<Call> | null;
  private wake: (() => void) | null = null;
  private stopped = false;
  private releasedSeen = 0;
  /** Events to lead the next append (claimWithNextAppend). */
  private claim: NewEvent[] = [];

  private readonly deps: DriverDeps;
  private readonly machine: RunMachine;
  readonly state: FoldState;
  private head: Head;
  private readonly epoch: number;
  /** The run's result so far, fed with every event this driver records. */
  readonly summary: RunSummary;
  /** Seq of the last SnapshotTaken (or where the run was picked up). */
  lastSnapshotSeq: number;
  /** Bytes of the events recorded since the last SnapshotTaken (resume sets what it read). */
  bytesSinceSnapshot = 0;
  /** The last SnapshotTaken, on which the next one's summary is a delta (resume sets it). */
  snapshotChain: SnapshotChain | null = null;

  constructor(
    deps: DriverDeps,
    machine: RunMachine,
    state: FoldState,
    head: Head,
    epoch: number,
    summary: RunSummary,
  ) {
    this.deps = deps;
    this.machine = machine;
    this.state = state;
    this.head = head;
    this.epoch = epoch;
    this.summary = summary;
    this.lastSnapshotSeq = head.seq;
    this.slots = deps.maxCallsInFlight ? new CallSlots(deps.maxCallsInFlight) : null;
  }

  get runId(): string {
    return this.state.runId;
  }

  /**
   * A claim (RunClaimed, RunResumed) to lead the next append, not a commit of its own: resume's
   * when the run first takes a human's answer, which acts on nothing before it is recorded.
   */
  claimWithNextAppend(claim: readonly NewEvent[]): void {
    this.claim = [...claim];
  }

  /** Appends one decision's events; the head moves only when the commit succeeded. */
  async record(events: readonly NewEvent[], at: number): Promise<void> {
    const claiming = this.claim.length > 0;
    const all = claiming ? [...this.claim, ...events] : events;
    const res = await this.deps.ledger.append({
      runId: this.runId,
      expected: this.head,
      events: all,
      at,
      // An append that claims (the run's first, a resume's) raises the epoch itself; every other
      // one proves the claim still holds.
      ...(this.head.seq > 0 && !claiming ? { epoch: this.epoch } : {}),
    });
    this.head = res.head;
    this.claim = [];
    for (const e of all) this.summary.apply(e);
    for (const r of res.records)
      this.bytesSinceSnapshot =
        r.type === 'SnapshotTaken' ? 0 : this.bytesSinceSnapshot + r.body.length;
    this.deps.onRecorded?.(this.runId);
  }

  /** The seq the next event of an append would get. */
  private get nextSeq(): number {
    return this.head.seq + this.claim.length + 1;
  }

  /**
   * Records a batch of decisions (after `leading` events such as the fact that caused them),
   * reserving budget for its calls first, then starts its commands. A call the budget cannot
   * cover is recorded as requested but never made: a COST_LIMIT_EXCEEDED failure is queued as
   * its reply, so the machine decides what follows, deterministically.
   */
  async commit(
    leading: readonly NewEvent[],
    decisions: readonly Decision[],
    at: number,
  ): Promise<void> {
    const markers: NewEvent[] = [];
    const allowed: Decision[] = [];
    const refusals: NewEvent[] = [];
    for (const d of decisions) {
      if (d.type !== 'callAgent') {
        allowed.push(d);
        continue;
      }
      // Asked for and abandoned in the same transition (a sibling branch failed at once).
      if (!awaitsCall(this.state, d.path, d.attempt)) continue;
      const refusal = this.reserve(d, markers);
      if (refusal) refusals.push(refusal);
      else allowed.push(d);
    }
    const decided = decisions.map((d) => decisionEvent(this.runId, d));
    const abandoned = this.abandonedSteps(decisions);
    if (abandoned.length > 0) {
      // Before the run's end, if the batch has one: nothing may follow a terminal event.
      const end = decided.findIndex((e) => terminalTypes.has(e.type));
      decided.splice(end < 0 ? decided.length : end, 0, ...abandoned);
    }
    const batch = [...leading, ...decided, ...markers];
    const snapshot = this.snapshotAfter(batch);
    if (snapshot) batch.push(snapshot);
    await this.record(batch, at);
    // Stopped while the append was in flight (Ctrl-C, cancel): record, but start nothing new.
    if (this.stopped) return;
    for (const r of refusals) this.push(r);
    if (this.state.released !== this.releasedSeen) this.abandon();
    if (this.slots) this.freeSlots(this.slots, leading);
    this.act(allowed, at);
  }

  /**
   * StepAbandoned markers (ADR 78) for the steps the last transition left unfinished: from each
   * wait it released, the steps still running up to the enclosing step that ended (the parallel a
   * sibling branch failed, the map an item failed): that step is the `cause`. The statuses are
   * the summary's, as this batch's decisions leave them.
   */
  private abandonedSteps(decisions: readonly Decision[]): NewEvent[] {
    const released = this.state.releasedNow;
    if (released.length === 0) return [];
    const started = new Set<string>();
    const ended = new Set<string>();
    for (const d of decisions)
      if (d.type === 'scheduleStep') started.add(d.path);
      else if (d.type === 'completeStep' || d.type === 'failStep') ended.add(d.path);
    const open = (path: string): boolean | undefined => {
      if (ended.has(path)) return false;
      if (started.has(path)) return true;
      const s = this.summary.statusOf(path);
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

  /**
   * Stops the work of waits the machine left (a failed branch's siblings, a failed map's other
   * items): in-flight calls are aborted — their failures are still recorded, as facts the machine
   * ignores — and timers are cleared.
   */
  private abandon(): void {
    this.releasedSeen = this.state.released;
    const awaited = new Set<string>();
    for (const c of this.state.outstanding.calls.values())
      awaited.add(idempotencyKey(this.runId, c.path, c.attempt));
    for (const [key, attempt] of [...this.inflight]) {
      if (!awaited.has(key)) attempt.abort(new Error('abandoned: the step that asked was left'));
    }
    for (const [id, t] of this.timers) {
      if (!this.state.outstanding.timers.has(id)) {
        clearTimeout(t);
        this.timers.delete(id);
      }
    }
    const left = this.slots?.drop((d) => awaitsCall(this.state, d.path, d.attempt)) ?? [];
    for (const d of left) this.push(neverStarted(this.runId, d));
  }

  /** Frees the slots of calls whose outcome `recorded` holds, and starts waiting calls. */
  private freeSlots(slots: CallSlots<Call>, recorded: readonly NewEvent[]): void {
    slots.releaseRecorded(recorded);
    // abandon() has taken the calls the machine left off the queue: the rest are awaited.
    for (let d = slots.next(); d; d = slots.next()) this.call(d);
  }

  /**
   * A SnapshotTaken closing this batch when enough events have passed: the fold state after the
   * batch, and the run summary as of before it (the summary takes events once they are recorded).
   * A state that cannot be recorded (a value outside the data model) is simply not snapshotted,
   * nor a finished run (nothing may follow a terminal event, and it is never resumed).
   */
  private snapshotAfter(batch: readonly NewEvent[]): NewEvent | null {
    const every = this.deps.snapshotEvery ?? 0;
    const uptoSeq = this.nextSeq - 1 + batch.length;
    if (every <= 0 || uptoSeq - this.lastSnapshotSeq < every) return null;
    if (batch.some((e) => terminalTypes.has(e.type))) return null;
    return this.snapshot(uptoSeq, this.state.status, Infinity);
  }

  /**
   * A SnapshotTaken for a run coming to rest on a person, so its resume reads a few events
   * instead of refolding the run. Taken only while it is smaller than the events recorded since
   * the last one: a resume then reads less, and snapshots never take more room in the ledger
   * than the events themselves (a run that pauses often does not grow quadratically).
   */
  private restSnapshot(batch: readonly NewEvent[]): NewEvent | null {
    if ((this.deps.snapshotEvery ?? 0) <= 0) return null;
    return this.snapshot(this.nextSeq - 1 + batch.length, 'paused', this.bytesSinceSnapshot);
  }

  private snapshot(uptoSeq: number, status: FoldState['status'], maxBytes: number) {
    const made = snapshotEvent(this.state, status, this.summary, this.head.seq, uptoSeq, {
      maxBytes,
      ...(this.deps.fingerprint !== undefined ? { fingerprint: this.deps.fingerprint } : {}),
      chain: this.snapshotChain,
    });
    if (!made) return null;
    this.lastSnapshotSeq = uptoSeq + 1;
    this.snapshotChain = made.chain;
    return made.event;
  }

  private request(d: Call): AgentRequest {
    return {
      runId: this.runId,
      path: d.path,
      attempt: d.attempt,
      key: idempotencyKey(this.runId, d.path, d.attempt),
      agent: d.agent,
      input: d.input,
      config: d.config,
    };
  }

  /** Reserves the call's upper-bound estimate, or returns the failure that refuses it. */
  private reserve(d: Call, markers: NewEvent[]): NewEvent | null {
    return reserveCall(this.state, d, () => this.deps.agents.estimate?.(this.request(d)), markers);
  }

  /** Starts the commands among freshly recorded decisions that are still awaited. */
  act(decisions: readonly Decision[], at: number): void {
    for (const d of decisions) {
      if (d.type === 'callAgent') this.call(d);
      else if (d.type === 'scheduleTimer' && awaitsTimer(this.state, d.path, d.timerId))
        this.arm(d, at);
    }
  }

  /**
   * After a resume: re-issue calls that were in flight (same key) and re-arm pending timers. Under
   * a budget, a call with no reservation was refused (or never reserved) before the interruption,
   * and its refusal may not have been recorded: it is decided again, never simply made. A call
   * that holds one may have been made and billed: that attempt counts as spent at its
   * reservation (BudgetReconciled), and the call is reserved again before it is re-issued.
   */
  async reviveOutstanding(): Promise<void> {
    const b = this.state.budget;
    const limited = b.limitMicros !== undefined || b.limitTokens !== undefined;
    const markers: NewEvent[] = [];
    const go: Call[] = [];
    for (const d of this.state.outstanding.calls.values()) {
      const lost = limited ? reconcileUnknown(this.state, d.path, d.attempt) : null;
      if (lost) markers.push(lost);
      if (limited && !isReserved(this.state, d.path, d.attempt)) {
        const refusal = this.reserve(d, markers);
        if (refusal) {
          this.push(refusal);
          continue;
        }
      }
      go.push(d);
    }
    if (markers.length > 0) await this.record(markers, this.deps.clock.now());
    for (const d of go) this.call(d);
    for (const { decision, at } of this.state.outstanding.timers.values()) this.arm(decision, at);
  }

  /** The BudgetReconciled of a failed call whose usage is unknown (none without a reservation). */
  private charge(fact: NewEvent): NewEvent[] {
    const d = fact.data as { path: string; attempt: number };
    const marker = reconcileUnknown(this.state, d.path, d.attempt);
    return marker ? [marker] : [];
  }

  push(fact: NewEvent): void {
    this.facts.push(fact);
    this.wake?.();
  }

  /** Abort in-flight work (cancel, shutdown); facts that still arrive are dropped. */
  stop(): void {
    this.stopped = true;
    if (this.inflight.size > 0) {
      const reason = new Error('run stopped');
      for (const a of [...this.inflight.values()]) a.abort(reason);
    }
    for (const t of this.timers.values()) clearTimeout(t);
    this.slots?.clear();
    this.wake?.();
  }

  private call(d: Call): void {
    const key = idempotencyKey(this.runId, d.path, d.attempt);
    if (this.inflight.has(key) || (this.slots && !this.slots.admit(key, d))) return;
    const started = this.deps.clock.now();
    const base = { path: d.path, attempt: d.attempt, key };
    const request = this.request(d);
    // A function step cannot be stopped: its attempt still settles at once on abort or timeout.
    const controller = isFunctionAgent(d.agent) ? null : new AbortController();
    const attempt = startAttempt<AgentReply>(
      // Retries inside the call are recorded as markers; the machine never sees them.
      (signal) =>
        this.deps.agents.call(request, signal, {
          onRetry: (info) =>
            this.push({
              type: 'AgentCallRetried',
              data: { ...base, retry: info.retry, error: info.error, delayMs: info.delayMs },
            }),
        }),
      UNSTOPPABLE,
      controller,
      d.timeoutMs,
      {
        reply: (reply) =>
          this.push(respondedFact(base, reply, Math.max(0, this.deps.clock.now() - started))),
        fail: (e) => {
          const fact = failedFact(base, e);
          if (usageUnknown(e)) this.unknownUsage.add(fact);
          this.push(fact);
        },
      },
      // Settled before its fact is queued: the loop may be waiting for in-flight work (drive()).
      () => this.inflight.delete(key),
    );
    // An attempt never settles synchronously (its result comes through a promise): register it.
    this.inflight.set(key, attempt);
  }

  private arm(d: Timer, scheduledAt: number): void {
    const id = `${d.path}#${d.timerId}`;
    if (this.timers.has(id)) return;
    const delay = Math.max(0, scheduledAt + d.delayMs - this.deps.clock.now());
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        this.push({ type: 'TimerFired', data: { path: d.path, timerId: d.timerId } });
      }, delay),
    );
  }

  private busy(): boolean {
    return this.inflight.size > 0 || this.timers.size > 0;
  }

  /** Runs until the run finishes, rests on a human, or the driver is stopped. */
  async drive(): Promise<void> {
    for (;;) {
      if (
        this.stopped ||
        this.state.status === 'completed' ||
        this.state.status === 'failed' ||
        this.state.status === 'cancelled'
      ) {
        return;
      }
      // Pause only once abandoned calls have settled, so their aborts are recorded and free
      // their budget reservations before the run rests.
      if (this.facts.length === 0 && restsOnHuman(this.state) && this.inflight.size === 0) {
        const at = this.deps.clock.now();
        const first = [...this.state.outstanding.human.values()][0] as Extract<
          Decision,
          { type: 'requestHuman' }
        >;
        const paused: NewEvent[] = [
          { type: 'RunPaused', data: { path: first.path, reason: 'hitl' } },
        ];
        const snapshot = this.restSnapshot(paused);
        await this.record(snapshot ? [...paused, snapshot] : paused, at);
        markPaused(this.state);
        return;
      }
      const fact = this.facts.shift();
      if (!fact) {
        if (!this.busy()) return; // nothing can happen any more: the caller decides what that means
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      const at = this.deps.clock.now();
      const asRecorded = {
        runId: this.runId,
        seq: this.nextSeq,
        v: 1,
        at,
        ...fact,
      } as LedgerEvent;
      const asked =
        this.state.outstanding.human.size > 0 ? [...this.state.outstanding.human.keys()] : [];
      // Charged before the machine decides, so a retry it starts at once is reserved after it.
      const charged = this.unknownUsage.has(fact) ? this.charge(fact) : [];
      const decisions = applyFact(this.machine, this.state, asRecorded);
      const withdrawn = withdrawnAsks(asked, this.state.outstanding.human, fact);
      await this.commit([fact, ...charged, ...withdrawn], decisions, at);
    }
  }
}
