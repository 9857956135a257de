/**
 * Drives one run: the only place a run's decisions become effects. Each outside fact (an agent's
 * reply, a fired timer, a human's answer) is fed to the machine, and the fact together with the
 * decisions it caused is appended in ONE ledger transaction; only after that commit are the new
 * commands started (record, then act). A failed append stops the run where it stands: the ledger
 * still holds everything up to the last commit, and resume continues from there.
 *
 * The commands in flight (calls, timers, call slots) are runEffects.ts; StepAbandoned markers
 * abandonedSteps.ts; attempts, budgets and snapshots have their own modules too.
 */
import { decisionEvent } from '../actors/decisions.js';
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
import { callKey, hasEnded } from '../actors/foldState.js';
import { replyDepth } from '../actors/replyDepths.js';
import { notRecordableFailure } from '../actors/unrecordable.js';
import { LedgerEncodeError } from '../errors.js';
import { terminalTypes, type NewEvent } from '../events/catalogue.js';
import type { Head, LedgerEvent } from '../events/envelope.js';
import type { AgentPort, Clock, LedgerStore } from '../ports.js';
import { abandonedSteps } from './abandonedSteps.js';
import { reconcileUnknown, reserveCall, runEndCharges, type LeftAtStop } from './budget.js';
import { withdrawnAsks } from './humanInput.js';
import { agentRequest, RunEffects, type Call } from './runEffects.js';
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

export class RunDriver {
  private readonly facts: NewEvent[] = [];
  /** The calls and timers this driver started, and the calls waiting for a slot. */
  private readonly effects: RunEffects;
  private wake: (() => void) | null = null;
  private stopped = false;
  /**
   * The calls out and outcomes not recorded when it first stopped: a cancel's (ADR 128). Null if
   * it stopped before taking up a resumed run's work: only the ledger knows what was sent then.
   */
  leftAtStop: LeftAtStop | null = null;
  /** A resumed run's work for drive() to take up first, and the answer to take after it. */
  private toRevive: { readonly then: NewEvent | undefined } | null = null;
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
    this.effects = new RunEffects(
      state.runId,
      deps.agents,
      deps.clock,
      deps.maxCallsInFlight,
      (f) => this.push(f),
      (path) => replyDepth(machine, path),
    );
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
    const abandoned = abandonedSteps(this.state.releasedNow, decisions, this.summary);
    const end = decided.findIndex((e) => terminalTypes.has(e.type));
    // Ending the run with calls in flight or outcomes queued: what they cost is charged now.
    const charges = end >= 0 ? this.runEndCharges() : null;
    if (charges) abandoned.push(...charges);
    // Before the run's end, if the batch has one: nothing may follow a terminal event.
    if (abandoned.length > 0) decided.splice(end < 0 ? decided.length : end, 0, ...abandoned);
    const batch = [...leading, ...decided, ...markers];
    const snapshot = this.snapshotAfter(batch);
    if (snapshot) batch.push(snapshot);
    try {
      await this.record(batch, at);
    } catch (e) {
      if (!(e instanceof LedgerEncodeError)) throw e;
      await this.recordNotRecordable(leading, decided, markers, charges, e, at);
      return;
    }
    // Stopped while the append was in flight (Ctrl-C, cancel): record, but start nothing new.
    if (this.stopped) return;
    for (const r of refusals) this.push(r);
    if (this.state.released !== this.releasedSeen) this.abandon();
    this.effects.freeSlots(leading);
    this.act(allowed, at);
  }

  /** The run-end charges of the calls out and the outcomes queued, noted into the fold (ADR 55). */
  private runEndCharges(): NewEvent[] {
    const { state, effects, facts } = this;
    return runEndCharges(state, effects.startedCalls(), facts, effects.unknownUsage);
  }

  /**
   * Decisions the ledger cannot record (ADR 115): the facts that led to them are recorded with a
   * RunFailed in their place, made from the decisions alone (a refold makes the same), and the run
   * ends. Nothing of the batch was written (it is sealed whole before its transaction). Its
   * reservations (its calls are never made) leave the fold, as a refold has none; its abandoned
   * steps and snapshot are left out. The calls out and outcomes queued are charged before the
   * RunFailed, as at any run end (ADR 128). If the facts cannot be recorded, the error stands.
   */
  private async recordNotRecordable(
    leading: readonly NewEvent[],
    decided: readonly NewEvent[],
    reserved: readonly NewEvent[],
    charges: readonly NewEvent[] | null,
    cause: LedgerEncodeError,
    at: number,
  ): Promise<void> {
    const failed = notRecordableFailure(decided);
    if (!failed) throw cause;
    for (const m of reserved)
      if (m.type === 'BudgetReserved')
        this.state.budget.reserved.delete(callKey(m.data.path, m.data.attempt));
    await this.record([...leading, ...(charges ?? this.runEndCharges()), failed], at);
    this.state.status = 'failed';
  }

  /** Stops the work of the waits the machine left since the last time (RunEffects.abandon). */
  private abandon(): void {
    this.releasedSeen = this.state.released;
    this.effects.abandon(this.state);
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
    const made = this.snapshot(uptoSeq, this.state.status, Infinity);
    // A state that cannot be recorded (a value nested too deep for a snapshot) is tried again
    // `every` events on, not at each batch: each try encodes the whole state, and trying at every
    // batch made the rest of the run quadratic (ADR 103, review). Only a state that cannot be
    // recorded fails here (no size bound), so runs whose snapshots are taken are unchanged.
    if (!made) this.lastSnapshotSeq = uptoSeq + 1;
    return made;
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

  /** Reserves the call's upper-bound estimate, or returns the failure that refuses it. */
  private reserve(d: Call, markers: NewEvent[]): NewEvent | null {
    return reserveCall(
      this.state,
      d,
      () => this.deps.agents.estimate?.(agentRequest(this.runId, d)),
      markers,
    );
  }

  /** Starts the commands among freshly recorded decisions that are still awaited. */
  act(decisions: readonly Decision[], at: number): void {
    for (const d of decisions) {
      if (d.type === 'callAgent') this.effects.call(d);
      else if (d.type === 'scheduleTimer' && awaitsTimer(this.state, d.path, d.timerId))
        this.effects.arm(d, at);
    }
  }

  /**
   * A resumed run's work, for drive() to take up first: the engine has registered the driver then,
   * so a cancel meanwhile stops it and nothing is sent. The answer it came with comes after it.
   */
  reviveOnDrive(then?: NewEvent): void {
    this.toRevive = { then };
  }

  /**
   * After a resume: re-issue calls that were in flight (same key) and re-arm pending timers. Under
   * a budget, a call with no reservation was refused (or never reserved) before the interruption,
   * and its refusal may not have been recorded: it is decided again, never simply made. A call
   * that holds one may have been made and billed: that attempt counts as spent at its
   * reservation (BudgetReconciled), and the call is reserved again before it is re-issued.
   */
  private async reviveOutstanding(): Promise<void> {
    const then = this.toRevive?.then;
    this.toRevive = null;
    if (this.stopped) return;
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
    if (then) this.push(then);
    if (this.stopped) return; // stopped while its charges were recorded: nothing is sent
    for (const d of go) this.effects.call(d);
    for (const { decision, at } of this.state.outstanding.timers.values())
      this.effects.arm(decision, at);
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
    if (!this.stopped && !this.toRevive)
      this.leftAtStop = {
        started: this.effects.startedCalls(),
        queued: [...this.facts],
        unknown: this.effects.unknownUsage,
      };
    this.stopped = true;
    this.effects.stop();
    this.wake?.();
  }

  /** Runs until the run finishes, rests on a human, or the driver is stopped. */
  async drive(): Promise<void> {
    if (this.toRevive) await this.reviveOutstanding();
    for (;;) {
      if (this.stopped || hasEnded(this.state.status)) return;
      // Pause only once abandoned calls have settled, so their aborts are recorded and free
      // their budget reservations before the run rests.
      if (this.facts.length === 0 && restsOnHuman(this.state) && this.effects.callsInFlight === 0) {
        const at = this.deps.clock.now();
        const { path } = [...this.state.outstanding.human.values()][0]!; // it rests on one at least
        const paused: NewEvent[] = [{ type: 'RunPaused', data: { path, reason: 'hitl' } }];
        const snapshot = this.restSnapshot(paused);
        await this.record(snapshot ? [...paused, snapshot] : paused, at);
        markPaused(this.state);
        return;
      }
      const fact = this.facts.shift();
      if (!fact) {
        if (!this.effects.busy()) return; // nothing can happen any more: the caller decides what that means
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      const at = this.deps.clock.now();
      const asRecorded = { runId: this.runId, seq: this.nextSeq, v: 1, at, ...fact } as LedgerEvent;
      const asked = [...this.state.outstanding.human.keys()];
      // Charged before the machine decides, so a retry it starts at once is reserved after it.
      const charged = this.effects.unknownUsage.has(fact) ? this.charge(fact) : [];
      const decisions = applyFact(this.machine, this.state, asRecorded);
      const withdrawn = withdrawnAsks(asked, this.state.outstanding.human, fact);
      await this.commit([fact, ...charged, ...withdrawn], decisions, at);
    }
  }
}
