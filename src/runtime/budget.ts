/**
 * The budget check before a call: would its upper-bound estimate, on top of what the run has
 * spent and what other calls hold reserved, pass a limit? The driver records the outcome.
 */
import {
  noteReconciled,
  noteReservation,
  reservationOf,
  reservedTotals,
  type BudgetState,
  type FoldState,
} from '../actors/fold.js';
import { idempotencyKey } from '../actors/decisions.js';
import { callKey } from '../actors/foldState.js';
import type { Decision } from '../actors/vocabulary.js';
import type { ErrorInfo, NewEvent } from '../events/catalogue.js';
import { errorInfo } from './attempt.js';
import { isCount } from './agentReply.js';

type Call = Extract<Decision, { type: 'callAgent' }>;

/**
 * Dollar amounts of one message, all with the same number of decimals: the fewest (at least 2)
 * that show every amount exactly, so zero reads $0.0000 beside $0.0025, never $0.00.
 */
export function usdAmounts(...micros: readonly number[]): string[] {
  let decimals = 2;
  while (decimals < 6 && micros.some((m) => m % 10 ** (6 - decimals) !== 0)) decimals += 1;
  return micros.map((m) => `$${(m / 1e6).toFixed(decimals)}`);
}

export interface Estimate {
  readonly costMicros: number;
  readonly tokens: number;
}

/** The refusal naming the limit and the spend, or null when the call fits. */
export function overBudget(b: BudgetState, est: Estimate, path: string): ErrorInfo | null {
  const held = reservedTotals(b);
  const cost = b.spentMicros + held.costMicros + est.costMicros;
  const tokens = b.spentTokens + held.tokens + est.tokens;
  if (b.limitMicros !== undefined && cost > b.limitMicros) {
    const [limit, call, spent, reserved] = usdAmounts(
      b.limitMicros,
      est.costMicros,
      b.spentMicros,
      held.costMicros,
    );
    return {
      code: 'COST_LIMIT_EXCEEDED',
      message: `cost limit ${limit} would be exceeded: the call at ${path} may cost up to ${call}; spent ${spent}, reserved ${reserved}`,
      retryable: false,
    };
  }
  if (b.limitTokens !== undefined && tokens > b.limitTokens) {
    return {
      code: 'TOKEN_LIMIT_EXCEEDED',
      message: `token limit ${b.limitTokens} would be exceeded: the call at ${path} may use up to ${est.tokens} tokens; used ${b.spentTokens}, reserved ${held.tokens}`,
      retryable: false,
    };
  }
  return null;
}

function refusal(state: FoldState, d: Call, error: ErrorInfo): NewEvent {
  const key = idempotencyKey(state.runId, d.path, d.attempt);
  return { type: 'AgentFailed', data: { path: d.path, attempt: d.attempt, key, error } };
}

/** What a port estimated, as the ledger can record it (whole micro-dollars and tokens). */
function checked(est: Estimate | undefined): Estimate {
  if (est === undefined) return { costMicros: 0, tokens: 0 };
  const { costMicros, tokens } = est;
  if (!isCount(costMicros) || !isCount(tokens))
    throw Object.assign(
      new Error(
        `the agent port's estimate must be whole non-negative numbers, got costMicros ${String(costMicros)}, tokens ${String(tokens)}`,
      ),
      { code: 'ESTIMATE_INVALID' },
    );
  return { costMicros, tokens };
}

/**
 * Reserves a call's upper-bound estimate under the run's limits (a BudgetReserved marker joins
 * `markers`), or returns the AgentFailed that refuses it: over a limit, or not estimable (the
 * estimate threw or is not a whole non-negative count). No limits: nothing to reserve.
 */
export function reserveCall(
  state: FoldState,
  d: Call,
  estimate: () => Estimate | undefined,
  markers: NewEvent[],
): NewEvent | null {
  const b = state.budget;
  if (b.limitMicros === undefined && b.limitTokens === undefined) return null;
  let est: Estimate;
  try {
    est = checked(estimate());
  } catch (e) {
    // Thrown while the decision is being recorded, it would lose the batch and every resume
    // would meet it again: it is the call's failure instead. The same request estimates the
    // same way every time, so it is not retryable.
    const info = errorInfo(e, 'ESTIMATE_FAILED');
    return refusal(state, d, {
      code: info.code,
      message: `the call at ${d.path} could not be estimated against the run's budget: ${info.message}`,
      retryable: false,
    });
  }
  const refused = overBudget(b, est, d.path);
  if (refused) return refusal(state, d, refused);
  noteReservation(state, d.path, d.attempt, est.costMicros, est.tokens);
  markers.push({
    type: 'BudgetReserved',
    data: { path: d.path, attempt: d.attempt, costMicros: est.costMicros, tokens: est.tokens },
  });
  return null;
}

/**
 * Failures after which what the call used is unknown: the runtime stopped waiting for it
 * (TIMEOUT, ABORTED) or the model adapter cut it off mid-way. The provider may have billed it.
 */
const USAGE_UNKNOWN: ReadonlySet<string> = new Set([
  'TIMEOUT',
  'ABORTED',
  'AGENT_DEADLINE',
  'AGENT_CANCELLED',
  'AGENT_RESPONSE_TOO_LARGE',
]);

/**
 * A started call failed this way, or a reply came that did not say what it used
 * (`usageUnknown: true`, a model adapter's), without saying what it cost (docs/adr/0055).
 */
export function usageUnknown(e: unknown): boolean {
  const x = e as { code?: unknown; costMicros?: unknown; usageUnknown?: unknown } | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    ((typeof x.code === 'string' && USAGE_UNKNOWN.has(x.code)) || x.usageUnknown === true) &&
    // Unknown unless the error says it as the ledger records it (billedFields, ADR 118).
    !isCount(x.costMicros)
  );
}

/**
 * Counts an attempt whose usage is unknown as spent at its reservation, the upper bound of what
 * it can have cost (noted into the fold), and returns the BudgetReconciled marker that records
 * it; null when the call holds no reservation (no budget) or a zero one.
 */
export function reconcileUnknown(state: FoldState, path: string, attempt: number): NewEvent | null {
  const r = reservationOf(state, path, attempt);
  return r ? reconciled(state, path, attempt, r.costMicros, r.tokens) : null;
}

/** Notes an attempt spent at this cost into the fold; its marker, or null for a zero charge. */
function reconciled(
  state: FoldState,
  path: string,
  attempt: number,
  costMicros: number,
  tokens: number,
): NewEvent | null {
  if (costMicros === 0 && tokens === 0) return null;
  noteReconciled(state, path, attempt, costMicros, tokens);
  return { type: 'BudgetReconciled', data: { path, attempt, costMicros, tokens } };
}

/** A call's reservation, or what it is charged. */
interface Amounts {
  readonly costMicros: number;
  readonly tokens: number;
}

/** A call's identity, as a started call, an outcome and a reservation name it. */
interface CallRef {
  readonly path: string;
  readonly attempt: number;
}

type Outcome = Extract<NewEvent, { type: 'AgentResponded' | 'AgentFailed' }>;

const isOutcome = (f: NewEvent): f is Outcome =>
  f.type === 'AgentResponded' || f.type === 'AgentFailed';

/**
 * What a call holding `held` is charged for an outcome that will never be recorded: what it
 * reports, or its reservation when its usage is unknown.
 */
function outcomeCharge(held: Amounts, f: Outcome, unknown: { has(f: NewEvent): boolean }): Amounts {
  if (unknown.has(f)) return held;
  const usage = f.data.usage;
  return { costMicros: f.data.costMicros ?? 0, tokens: usage ? usage.input + usage.output : 0 };
}

/**
 * The charges of a batch that ends the run (ADR 55): what its calls cost will never be recorded,
 * as nothing follows a terminal event. A call still in flight counts at its reservation; an
 * outcome queued behind the fact that ended the run at what it reports (its reservation when its
 * usage is unknown); a call left before it started (no reported cost) at nothing.
 */
export function runEndCharges(
  state: FoldState,
  started: readonly CallRef[],
  queued: readonly NewEvent[],
  unknown: { has(fact: NewEvent): boolean },
): NewEvent[] {
  const out: NewEvent[] = [];
  const add = (e: NewEvent | null) => e && out.push(e);
  for (const c of started) add(reconcileUnknown(state, c.path, c.attempt));
  for (const f of queued) {
    if (!isOutcome(f)) continue;
    const { path, attempt } = f.data;
    const r = reservationOf(state, path, attempt);
    if (!r) continue;
    const c = outcomeCharge(r, f, unknown);
    add(reconciled(state, path, attempt, c.costMicros, c.tokens));
  }
  return out;
}

/**
 * What a driver stopped in this process knew of its calls when it stopped (RunDriver.stop): the
 * calls it had started and not settled, the outcomes it had not recorded yet, and which of those
 * say their usage is unknown.
 */
export interface LeftAtStop {
  readonly started: readonly CallRef[];
  readonly queued: readonly NewEvent[];
  readonly unknown: { has(fact: NewEvent): boolean };
}

/** A reservation the ledger holds, with its call. */
export type Held = CallRef & Amounts;

/**
 * Folds recorded events into the reservations still held (BudgetReserved without an outcome or a
 * BudgetReconciled after it), by path#attempt in the order they were made, as the fold keeps them.
 */
export function holdReservations(held: Map<string, Held>, e: NewEvent): void {
  if (e.type === 'BudgetReserved') held.set(callKey(e.data.path, e.data.attempt), e.data);
  else if (e.type === 'BudgetReconciled' || isOutcome(e))
    held.delete(callKey(e.data.path, e.data.attempt));
}

/**
 * The charges a cancel records before RunCancelled (ADR 128): the run ends, so what its calls
 * cost will never be recorded. Stopped in this process (`left`), as at any run end: a call in
 * flight at its reservation, an outcome not yet recorded at what it reports, a call never started
 * (waiting for a slot, or decided in a batch recorded after the stop) at nothing. Driven
 * elsewhere or by no one, only the ledger is known: every reservation it holds may have been
 * sent and is charged, as resume charges a call a crash lost.
 */
export function cancelCharges(
  held: ReadonlyMap<string, Held>,
  left: LeftAtStop | null,
): NewEvent[] {
  const started = new Set(left?.started.map((c) => callKey(c.path, c.attempt)));
  const queued = new Map<string, Outcome>();
  for (const f of left?.queued ?? [])
    if (isOutcome(f)) queued.set(callKey(f.data.path, f.data.attempt), f);
  const out: NewEvent[] = [];
  for (const [key, h] of held) {
    const f = queued.get(key);
    const c: Amounts | null = !left
      ? h
      : f
        ? outcomeCharge(h, f, left.unknown)
        : started.has(key)
          ? h
          : null;
    if (!c || (c.costMicros === 0 && c.tokens === 0)) continue;
    out.push({
      type: 'BudgetReconciled',
      data: { path: h.path, attempt: h.attempt, costMicros: c.costMicros, tokens: c.tokens },
    });
  }
  return out;
}
