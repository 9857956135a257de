/**
 * Recording a cancel (RunCancelled) for the engine: a run driven in this process is stopped and
 * goes idle first, so no decision of it can follow the cancel; a run driven elsewhere finds the
 * ledger closed at its next append. The calls the run has out are charged in the same append,
 * before it (BudgetReconciled, ADR 128): nothing of theirs is recorded after a run's end.
 */
import { EngineError, ErrorCode, LedgerConflictError } from '../errors.js';
import { decodeRecord } from '../events/envelope.js';
import type { Clock, LedgerStore } from '../ports.js';
import { cancelCharges, holdReservations, type Held, type LeftAtStop } from './budget.js';
import type { RunDriver } from './driver.js';
import type { Retried } from './engineTypes.js';
import type { StartingRuns } from './startingRuns.js';
import { checkHeadEvent } from './load.js';
import { recordedStart } from './verifyLedger.js';

const NOT_CANCELLED = 'the run was not cancelled and nothing was recorded';

/** Appends of RunCancelled tried against a run another process keeps appending to. */
const CANCEL_ATTEMPTS = 10;

/** The events that make or settle a reservation: the only ones a cancel's charges read. */
const BUDGET_TYPES: ReadonlySet<string> = new Set([
  'BudgetReserved',
  'BudgetReconciled',
  'AgentResponded',
  'AgentFailed',
]);

/** The reservations a run's ledger holds, read on from where the last read stopped. */
class HeldReservations {
  readonly held = new Map<string, Held>();
  private upto = 0;
  private readonly ledger: LedgerStore;
  private readonly runId: string;

  constructor(ledger: LedgerStore, runId: string) {
    this.ledger = ledger;
    this.runId = runId;
  }

  /** Reads the events up to `seq` (the head the cancel will append after). */
  async readTo(seq: number): Promise<void> {
    if (seq <= this.upto) return;
    const rows = await this.ledger.read(this.runId, { fromSeq: this.upto + 1 });
    for (const r of rows) {
      if (r.seq > seq) break;
      if (BUDGET_TYPES.has(r.type))
        holdReservations(this.held, decodeRecord(this.runId, r.seq, r.body));
    }
    this.upto = seq;
  }
}

/** The engine's ledger and its runs in this process, as a cancel needs them. */
export interface CancelDeps {
  readonly ledger: LedgerStore;
  readonly clock: Clock;
  /** Who cancels when the caller does not say (this process's name). */
  readonly worker: string;
  readonly onRecorded: (runId: string) => void;
  /** Runs driven in this process. */
  readonly active: ReadonlyMap<string, { driver: RunDriver; running: Promise<void> }>;
  /** Runs started or resumed here whose driver is not registered yet (ADR 137). */
  readonly starting: StartingRuns;
}

export async function recordCancel(
  deps: CancelDeps,
  runId: string,
  reason?: string,
  by?: string,
  retried?: Retried,
): Promise<void> {
  // A driver of the run registered here from now on (a start's first commit, a resume's claim,
  // is on its way) stops before it acts.
  const release = deps.starting.cancelling(runId);
  try {
    await cancelAfterDrivers(deps, runId, reason, by, retried);
  } finally {
    release();
  }
}

async function cancelAfterDrivers(
  deps: CancelDeps,
  runId: string,
  reason?: string,
  by?: string,
  retried?: Retried,
): Promise<void> {
  const { ledger, clock, worker, onRecorded, active, starting } = deps;
  const reservations = new HeldReservations(ledger, runId);
  let limited = false;
  // What the driver had out when it stopped, once its drive ended cleanly (its view was then the
  // ledger's); otherwise only the ledger is known.
  let left: LeftAtStop | null = null;
  let stopped: RunDriver | undefined;
  /** Stops the driver registered here now, if this cancel has not stopped it yet. */
  const stopHere = async () => {
    const here = active.get(runId);
    if (!here || here.driver === stopped) return;
    stopped = here.driver;
    here.driver.stop();
    let clean = true;
    await here.running.catch(() => (clean = false));
    left = clean ? here.driver.leftAtStop : null;
  };
  // A run driven by another process may append between our read of its head and our
  // append: read the head again. Each conflict is that process's progress; a run that ends
  // meanwhile stays as it ended.
  for (let attempt = 1; ; attempt++) {
    await stopHere();
    // Started or resumed here but not yet driven: wait for every one of them (each driver stops as
    // it registers) instead of finding no run and letting it go on. Again after a conflict: a
    // resume here may have claimed the run meanwhile.
    if (starting.has(runId)) {
      await starting.idle(runId);
      await stopHere();
    }
    const head = await ledger.head(runId);
    if (!head) throw new EngineError(ErrorCode.RUN_NOT_FOUND, `no run ${runId} in the ledger`);
    // A run without its RunStarted at seq 1 is damage, not a run to close (ADR 124): one row.
    if (attempt === 1) {
      const { budget } = (await recordedStart(ledger, runId, NOT_CANCELLED, { hashed: true })).data;
      // No budget, no reservations: the run's events need not be read for charges.
      limited = budget?.costMicros !== undefined || budget?.tokens !== undefined;
    }
    await checkHeadEvent(ledger, runId, head);
    if (head.terminal) return;
    if (limited) await reservations.readTo(head.seq);
    try {
      await ledger.append({
        runId,
        expected: { runId, seq: head.seq, hash: head.hash },
        events: [
          ...cancelCharges(reservations.held, left),
          {
            type: 'RunCancelled',
            data: {
              ...(reason ? { reason } : {}),
              by: by ?? worker,
              ...(retried ? { retried: { ...retried } } : {}),
            },
          },
        ],
        at: clock.now(),
      });
      onRecorded(runId);
      return;
    } catch (e) {
      if (!(e instanceof LedgerConflictError) || attempt >= CANCEL_ATTEMPTS) throw e;
    }
  }
}
