/**
 * A run's commands in flight: the agent calls it started (under the call slots' cap, when there
 * is one) and the timers it armed. Each outcome comes back as a fact through `push`; the driver
 * (driver.ts) records it before anything acts on it. Only started after their decisions were
 * recorded; stopped on cancel or shutdown, and when the machine leaves the waits they serve.
 */
import { DEFAULT_REPLY_DEPTH } from '../actors/replyDepths.js';
import { idempotencyKey } from '../actors/decisions.js';
import type { FoldState } from '../actors/fold.js';
import { awaitsCall } from '../actors/fold.js';
import type { Decision } from '../actors/vocabulary.js';
import type { NewEvent } from '../events/catalogue.js';
import type { AgentPort, AgentReply, AgentRequest, Clock } from '../ports.js';
import { failedFact, respondedFact, startAttempt, type Attempt } from './attempt.js';
import { usageUnknown } from './budget.js';
import { CallSlots, neverStarted } from './callSlots.js';
import { isFunctionAgent } from './functionAgents.js';
import { longTimer, type LongTimer } from './longTimer.js';

export type Call = Extract<Decision, { type: 'callAgent' }>;

/** The failure of an attempt whose reply or error could not even be read (ADR 118). */
function unreadable(base: Parameters<typeof failedFact>[0], e: unknown): NewEvent {
  let why = 'it threw';
  try {
    why = e instanceof Error ? e.message : String(e);
  } catch {
    // what it threw cannot be read either
  }
  return failedFact(
    base,
    Object.assign(new Error(`the agent's reply or error could not be read: ${why}`), {
      code: 'AGENT_REPLY_INVALID',
      retryable: false,
    }),
  );
}
type Timer = Extract<Decision, { type: 'scheduleTimer' }>;

/** The signal function steps get: they run in this process and nothing could stop them. */
const UNSTOPPABLE = new AbortController().signal;

export function agentRequest(runId: string, d: Call): AgentRequest {
  return {
    runId,
    path: d.path,
    attempt: d.attempt,
    key: idempotencyKey(runId, d.path, d.attempt),
    agent: d.agent,
    input: d.input,
    config: d.config,
  };
}

export class RunEffects {
  /** Failures of started calls whose usage is unknown: charged their reservation when recorded. */
  readonly unknownUsage = new WeakSet<NewEvent>();
  /** Started calls not settled, by idempotency key: the attempt, and the call's path and number. */
  private readonly inflight = new Map<
    string,
    { readonly run: Attempt; readonly path: string; readonly attempt: number }
  >();
  private readonly timers = new Map<string, LongTimer>();
  private readonly slots: CallSlots<Call> | null;

  private readonly runId: string;
  private readonly agents: AgentPort;
  private readonly clock: Clock;
  /** Queues an outcome (a reply, a failure, a retry marker, a fired timer) for the driver. */
  private readonly push: (fact: NewEvent) => void;
  /** How deep a step's reply is recorded, by the step's path (src/actors/replyDepths.ts). */
  private readonly replyDepth: (path: string) => number;

  constructor(
    runId: string,
    agents: AgentPort,
    clock: Clock,
    maxCallsInFlight: number | undefined,
    push: (fact: NewEvent) => void,
    replyDepth: (path: string) => number = () => DEFAULT_REPLY_DEPTH,
  ) {
    this.replyDepth = replyDepth;
    this.runId = runId;
    this.agents = agents;
    this.clock = clock;
    this.push = push;
    this.slots = maxCallsInFlight ? new CallSlots(maxCallsInFlight) : null;
  }

  /** Started calls whose attempt has not settled. */
  get callsInFlight(): number {
    return this.inflight.size;
  }

  /** The calls started and not settled: each was made, and may be billed. */
  startedCalls(): { readonly path: string; readonly attempt: number }[] {
    return [...this.inflight.values()];
  }

  busy(): boolean {
    return this.inflight.size > 0 || this.timers.size > 0;
  }

  /**
   * Stops the work of waits the machine left (a failed branch's siblings, a failed map's other
   * items): in-flight calls are aborted — their failures are still recorded, as facts the machine
   * ignores — and timers are cleared.
   */
  abandon(state: FoldState): void {
    const awaited = new Set<string>();
    for (const c of state.outstanding.calls.values())
      awaited.add(idempotencyKey(this.runId, c.path, c.attempt));
    for (const [key, { run }] of [...this.inflight]) {
      if (!awaited.has(key)) run.abort(new Error('abandoned: the step that asked was left'));
    }
    for (const [id, t] of this.timers) {
      if (!state.outstanding.timers.has(id)) {
        t.cancel();
        this.timers.delete(id);
      }
    }
    const left = this.slots?.drop((d) => awaitsCall(state, d.path, d.attempt)) ?? [];
    for (const d of left) this.push(neverStarted(this.runId, d));
  }

  /** Frees the slots of calls whose outcome `recorded` holds, and starts waiting calls. */
  freeSlots(recorded: readonly NewEvent[]): void {
    const slots = this.slots;
    if (!slots) return;
    slots.releaseRecorded(recorded);
    // abandon() has taken the calls the machine left off the queue: the rest are awaited.
    for (let d = slots.next(); d; d = slots.next()) this.call(d);
  }

  /** Abort in-flight work (cancel, shutdown). */
  stop(): void {
    if (this.inflight.size > 0) {
      const reason = new Error('run stopped');
      for (const { run } of [...this.inflight.values()]) run.abort(reason);
    }
    for (const t of this.timers.values()) t.cancel();
    this.slots?.clear();
  }

  call(d: Call): void {
    const key = idempotencyKey(this.runId, d.path, d.attempt);
    if (this.inflight.has(key) || (this.slots && !this.slots.admit(key, d))) return;
    const started = this.clock.now();
    const base = { path: d.path, attempt: d.attempt, key };
    const request = agentRequest(this.runId, d);
    // A function step cannot be stopped: its attempt still settles at once on abort or timeout.
    const controller = isFunctionAgent(d.agent) ? null : new AbortController();
    const attempt = startAttempt<AgentReply>(
      // Retries inside the call are recorded as markers; the machine never sees them.
      (signal) =>
        this.agents.call(request, signal, {
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
        reply: (reply) => {
          let fact: NewEvent;
          try {
            fact = respondedFact(
              base,
              reply,
              Math.max(0, this.clock.now() - started),
              this.replyDepth(d.path),
            );
            // A reply that says it did not learn what it used counts at its reservation (ADR 55).
            if (fact.type === 'AgentResponded' && reply.usageUnknown === true)
              this.unknownUsage.add(fact);
          } catch (e) {
            // Reading the reply threw (a getter): a failure, recorded, never a call left unanswered.
            fact = unreadable(base, e);
          }
          // A reply came, so the call was made: one whose cost cannot be recorded (ADR 118) is
          // counted at its reservation, as an attempt of unknown usage (review).
          if (fact.type === 'AgentFailed' && fact.data.costMicros === undefined)
            this.unknownUsage.add(fact);
          this.push(fact);
        },
        fail: (e) => {
          let fact: NewEvent;
          try {
            fact = failedFact(base, e);
            if (usageUnknown(e)) this.unknownUsage.add(fact);
          } catch (thrown) {
            fact = unreadable(base, thrown);
            this.unknownUsage.add(fact);
          }
          this.push(fact);
        },
      },
      // Settled before its fact is queued: the loop may be waiting for in-flight work (drive()).
      () => this.inflight.delete(key),
    );
    // An attempt never settles synchronously (its result comes through a promise): register it.
    this.inflight.set(key, { run: attempt, path: d.path, attempt: d.attempt });
  }

  arm(d: Timer, scheduledAt: number): void {
    const id = `${d.path}#${d.timerId}`;
    if (this.timers.has(id)) return;
    const delay = Math.max(0, scheduledAt + d.delayMs - this.clock.now());
    this.timers.set(
      id,
      // A backoff doubles per attempt: it can be longer than one setTimeout keeps (ADR 116).
      longTimer(() => {
        this.timers.delete(id);
        this.push({ type: 'TimerFired', data: { path: d.path, timerId: d.timerId } });
      }, delay),
    );
  }
}
