/**
 * The engine: start, resume, cancel and replay runs over a ledger. Resume and replay are the same
 * refold of the run's events (src/actors/fold.ts); resume then continues the run — re-issuing any
 * agent call that was in flight with the same idempotency key — while replay only reports whether
 * the refold reproduced every recorded decision. Nothing about a paused run is held in memory.
 *
 * One closure: its functions share the engine's caches and the runs it drives. What needs none of
 * that lives apart: a run's first commit (startRun.ts), restoring a resumed run's state
 * (restoreRun.ts), recording a cancel (cancelRun.ts), replay (replay.ts), loading (load.ts),
 * answers and the question they are for (humanInput.ts) and summaries (summary.ts).
 */
import { randomUUID } from 'node:crypto';

import { compilePlan } from '../actors/compile.js';
import { hasEnded } from '../actors/foldState.js';
import type { RunMachine } from '../actors/machine.js';
import { planFingerprint } from '../dsl/fingerprint.js';
import { recordedBeforeAnswerSchemas } from './planBefore.js';
import type { Plan } from '../dsl/ir.js';
import { EngineError, ErrorCode, LedgerConflictError, LedgerFencedError } from '../errors.js';
import type { NewEvent } from '../events/catalogue.js';
import { initFastHash } from '../events/chain.js';
import { decodeRecord, type LedgerEvent } from '../events/envelope.js';
import type { Clock } from '../ports.js';
import { recordCancel, type CancelDeps } from './cancelRun.js';
import { RunDriver, type DriverDeps } from './driver.js';
import type {
  EngineOptions,
  ReplayResult,
  ResumeOptions,
  Retried,
  RunOptions,
} from './engineTypes.js';
import { AnswerValidator, refuseAnswerWhileWorkIsOut } from './humanInput.js';
import { recordedInput } from './inputLimits.js';
import { loadForResume } from './load.js';
import { otherWriter } from './otherWriter.js';
import { replayRun } from './replay.js';
import { restoreRun, withEvents } from './restoreRun.js';
import { contextToRecord, firstCommit, type StartDeps } from './startRun.js';
import { StartingRuns, type TakeUp } from './startingRuns.js';
import { RunChanges, watchRun, type WatchOptions } from './watch.js';
import { withFunctionAgents } from './functionAgents.js';
import { summarize, type RunResult } from './summary.js';

export { ENGINE_VERSION } from './startRun.js';
export type {
  EngineOptions,
  ReplayResult,
  ResumeOptions,
  Retried,
  RunOptions,
} from './engineTypes.js';
import { checkEngineOptions, checkRunOptions } from './options.js';

const systemClock: Clock = { now: () => Date.now() };

/**
 * A plan is compiled and fingerprinted once per process, for every engine (plans are not changed
 * once built, and what compiling makes depends on the plan alone): an engine created for one
 * resume finds the plan compiled (ADR 53).
 */
const compiled = new WeakMap<Plan, { machine: RunMachine; fingerprint: string }>();

export function createEngine(options: EngineOptions) {
  const ledger = options.ledger;
  const clock = options.clock ?? systemClock;
  const worker = options.worker ?? `pid-${process.pid}`;
  const snapshotEvery = options.snapshotEvery ?? 500;
  checkEngineOptions(options);
  const maxCalls = options.maxCallsInFlight;
  const active = new Map<string, { driver: RunDriver; running: Promise<void> }>();
  const cancelling = new Map<string, Promise<unknown>>();
  const answers = new AnswerValidator(options.maxInputBytes);
  const changes = new RunChanges();
  const onRecorded = (runId: string) => changes.changed(runId);
  /** Runs being started or resumed here (a watcher waits for their first commit; ADR 137). */
  const starting = new StartingRuns();

  const compiledOf = (plan: Plan) => {
    let c = compiled.get(plan);
    if (!c)
      compiled.set(plan, (c = { machine: compilePlan(plan), fingerprint: planFingerprint(plan) }));
    return c;
  };
  const machineOf = (plan: Plan) => compiledOf(plan).machine;
  /** What a driver of one of this engine's runs needs; `fingerprint` is the run's recorded one. */
  const driverDeps = (plan: Plan, fingerprint: string | undefined): DriverDeps => ({
    ledger,
    agents: withFunctionAgents(plan, options.agents),
    clock,
    snapshotEvery,
    onRecorded,
    ...(maxCalls !== undefined ? { maxCallsInFlight: maxCalls } : {}),
    ...(fingerprint !== undefined ? { fingerprint } : {}),
  });
  const startDeps: StartDeps = { clock, worker, compiledOf, driverDeps };
  const cancelDeps: CancelDeps = {
    ledger,
    clock,
    worker,
    onRecorded,
    active,
    starting,
  };

  async function readEvents(runId: string): Promise<LedgerEvent[]> {
    const rows = await ledger.read(runId);
    return rows.map((r) => decodeRecord(runId, r.seq, r.body));
  }

  async function result(runId: string): Promise<RunResult> {
    return summarize(runId, await readEvents(runId));
  }

  async function drive(
    plan: Plan,
    driver: RunDriver,
    epoch: number,
    t: TakeUp,
  ): Promise<RunResult> {
    // Stopped before it acts: a resume's driver then re-issues nothing and records no answer.
    if (starting.stopsOnDrive(driver.runId)) driver.stop();
    const running = driver.drive();
    const entry = { driver, running };
    active.set(driver.runId, entry);
    t.done();
    try {
      await running;
    } catch (e) {
      // Cancelled elsewhere (another process appended RunCancelled): this driver's next append
      // conflicts. That is the run's outcome, not an error of this call.
      if (!(e instanceof LedgerConflictError || e instanceof LedgerFencedError)) throw e;
      const why = await otherWriter(ledger, driver.runId, epoch, e);
      if (why === 'cancelled') return result(driver.runId);
      throw why ?? e;
    } finally {
      driver.stop();
      // Another resume of the run may have registered since (its claim fenced this one).
      if (active.get(driver.runId) === entry) active.delete(driver.runId);
    }
    // A cancel stops the driver first and records RunCancelled after it: report that outcome
    // from the ledger. Otherwise the driver's own summary is the result; nothing is re-read.
    const cancel = cancelling.get(driver.runId);
    if (cancel) {
      await cancel;
      return result(driver.runId);
    }
    return driver.summary.result();
  }

  function start(plan: Plan, input: unknown, opts: RunOptions = {}): Promise<RunResult> {
    // Known at once, so a watcher set up right after this call waits for the first commit.
    const runId = opts.runId ?? options.newRunId?.() ?? randomUUID();
    // The run's own copies, as recorded (ADR 40), taken now: the caller may change its objects
    // as soon as this returns, and the machine freezes what it holds.
    let own: { input: unknown; context?: Record<string, unknown> } | undefined;
    let refused: Error | undefined;
    try {
      checkRunOptions(runId, opts);
      own = {
        // No input (`run(plan)`) is null, as a reply without output is.
        input: recordedInput(input ?? null, 'input', options.maxInputBytes),
        // Measured as recorded: without an initial_prompt that is the input (ADR 110).
        ...(opts.context
          ? {
              context: recordedInput(
                contextToRecord(opts.context, input ?? null),
                'context',
                options.maxInputBytes,
              ) as Record<string, unknown>,
            }
          : {}),
      };
    } catch (e) {
      refused = e as Error;
    }
    return untilDriven(runId, (t) =>
      own
        ? begin(plan, runId, own.input, { ...opts, ...own }, t)
        : takeUp(plan, runId, opts, refused!, t),
    );
  }

  /**
   * The run counts as being started or resumed here until `work` registers its driver or gives up:
   * a cancel meanwhile waits for the driver and stops it (ADR 137). Each start or resume counts.
   */
  function untilDriven(runId: string, work: (t: TakeUp) => Promise<RunResult>): Promise<RunResult> {
    const t = starting.begin(runId);
    return work(t).finally(() => {
      t.done();
      changes.changed(runId); // a watcher still waiting for the run looks again (it may have failed)
    });
  }

  async function begin(
    plan: Plan,
    runId: string,
    input: unknown,
    opts: RunOptions,
    t: TakeUp,
  ): Promise<RunResult> {
    await initFastHash();
    // No head read first: a run id already in the ledger is found by the first append itself,
    // which starts from the genesis head and so is refused (ADR 65). That read was a round trip
    // per run on Postgres.
    let recorded = false;
    let driver: RunDriver;
    try {
      driver = await firstCommit(startDeps, plan, runId, input, opts, () => (recorded = true));
    } catch (e) {
      // Nothing recorded: the run exists (or was started meanwhile), take it up as run() always
      // has. Anything else, or a failure after the first commit, is the caller's.
      if (!recorded && (await ledger.head(runId).catch(() => null)))
        return takeOver(plan, runId, opts.retried ? { retried: opts.retried } : {}, t);
      throw e;
    }
    return drive(plan, driver, 1, t);
  }

  /**
   * A start whose input or context ADR 100's limits refuse: they are for a run being created, so
   * a run already recorded (a start delivered again to a worker with a lower limit) is taken up
   * as begin() takes it up (ADR 107), and only a new one is refused. One head read, on refusal only.
   */
  async function takeUp(
    plan: Plan,
    runId: string,
    opts: RunOptions,
    refused: Error,
    t: TakeUp,
  ): Promise<RunResult> {
    await initFastHash();
    if (!(await ledger.head(runId).catch(() => null))) throw refused;
    return takeOver(plan, runId, opts.retried ? { retried: opts.retried } : {}, t);
  }

  function resume(plan: Plan, runId: string, opts: ResumeOptions = {}): Promise<RunResult> {
    return untilDriven(runId, (t) => takeOver(plan, runId, opts, t));
  }

  async function takeOver(
    plan: Plan,
    runId: string,
    opts: ResumeOptions,
    t: TakeUp,
  ): Promise<RunResult> {
    await initFastHash();
    const head = await ledger.head(runId);
    if (!head) throw new EngineError(ErrorCode.RUN_NOT_FOUND, `no run ${runId} in the ledger`);
    let loaded = await loadForResume(ledger, runId, head, snapshotEvery);
    const recorded = loaded.fingerprint;
    const fingerprint = compiledOf(plan).fingerprint;
    const changed =
      recorded !== undefined &&
      recorded !== fingerprint &&
      !(await recordedBeforeAnswerSchemas(ledger, runId, plan, recorded));
    // A snapshot holds the recorded plan's machine states, which a changed plan may not have:
    // an allowed change refolds the whole run instead, so a decision that comes out differently
    // is a NondeterminismError naming its seq (ADR 47).
    if (changed && opts.allowChangedPlan && loaded.snapshot)
      loaded = await loadForResume(ledger, runId, head, 0);
    if (changed && !opts.allowChangedPlan) {
      throw new EngineError(
        ErrorCode.PLAN_CHANGED,
        `run ${runId} started with pipeline ${recorded.slice(0, 12)}…, the current one is ${fingerprint.slice(0, 12)}…; resume with the original pipeline or allow the change explicitly`,
        { details: { recorded, current: fingerprint } },
      );
    }
    const machine = machineOf(plan);
    const { state, summary, chain } = restoreRun(machine, runId, loaded);
    const ended = hasEnded(state.status);
    // An answer for a run that has ended is not silently dropped: the caller learns it was not
    // taken (nothing is recorded either way).
    if (ended && opts.humanInput === undefined) return summary.result();
    let human: NewEvent | undefined;
    if (opts.humanInput !== undefined) {
      // Asked while other work of the run is out: taking the run over to record the answer would
      // send that work again, under the process still driving it (ADR 133). Said before the
      // answer is checked: no answer is taken then, whatever it holds.
      if (!ended) refuseAnswerWhileWorkIsOut(runId, state, () => summary.result().steps);
      human = answers.answerEvent(runId, state, ended, opts);
    } else if (state.status === 'paused') {
      // The question it waits on goes with the refusal: a caller (the CLI, a fleet worker's
      // outcome) can say which one and how to answer it.
      const { pause } = summary.result();
      throw new EngineError(
        ErrorCode.RUN_NOT_RESUMABLE,
        `run ${runId} is paused for human input; resume it with an answer`,
        { details: { status: 'paused', ...(pause ? { pause } : {}) } },
      );
    }
    const epoch = head.epoch + 1;
    const claimEvents: NewEvent[] = [
      { type: 'RunClaimed', data: { worker, epoch } },
      {
        type: 'RunResumed',
        data: {
          reason: human ? 'human' : 'crash',
          ...(opts.retried ? { retried: { ...opts.retried } } : {}),
        },
      },
    ];
    const deps = driverDeps(plan, recorded);
    const o = state.outstanding;
    if (human && o.calls.size === 0 && o.timers.size === 0) {
      // Nothing to re-issue: the claim goes in one commit with the answer and what it causes.
      const at = { runId, seq: head.seq, hash: head.hash };
      const driver = new RunDriver(deps, machine, state, at, epoch, summary);
      driver.bytesSinceSnapshot = loaded.bytesSinceSnapshot;
      driver.snapshotChain = chain;
      driver.claimWithNextAppend(claimEvents);
      driver.push(human);
      return drive(plan, driver, epoch, t);
    }
    // Calls or timers to take up again: the claim must be recorded before any of them acts. Refused
    // because another process cancelled the run meanwhile: that is the outcome, as in drive().
    const claimed = await ledger
      .append({ runId, expected: head, events: claimEvents, at: clock.now() })
      .catch(async (e: unknown) => {
        if (
          e instanceof LedgerConflictError &&
          (await otherWriter(ledger, runId, epoch, e)) === 'cancelled'
        )
          return null;
        throw e;
      });
    if (!claimed) return result(runId);
    onRecorded(runId);
    const driver = new RunDriver(
      deps,
      machine,
      state,
      claimed.head,
      epoch,
      withEvents(summary, claimEvents),
    );
    driver.bytesSinceSnapshot = loaded.bytesSinceSnapshot;
    driver.snapshotChain = chain;
    // Revived by drive() once it is registered: a cancel from now on stops it like any driver.
    driver.reviveOnDrive(human);
    return drive(plan, driver, epoch, t);
  }

  function replay(plan: Plan, runId: string): Promise<ReplayResult> {
    return replayRun(ledger, runId, () => machineOf(plan));
  }

  /**
   * Cancels a run: a run driven in this process stops (its in-flight calls are aborted) and goes
   * idle before RunCancelled is appended, so no decision of it can follow the cancel. A run
   * driven elsewhere finds the ledger closed at its next append.
   */
  async function cancel(
    runId: string,
    reason?: string,
    by?: string,
    retried?: Retried,
  ): Promise<RunResult> {
    // The summary below decodes every event: one that does not decode must refuse the cancel
    // before RunCancelled is appended, not fail the command after it was recorded.
    await readEvents(runId);
    const work = recordCancel(cancelDeps, runId, reason, by, retried);
    cancelling.set(
      runId,
      work.catch(() => {}),
    );
    try {
      await work;
    } finally {
      cancelling.delete(runId);
    }
    return result(runId);
  }

  /**
   * Stops driving runs in this process without recording anything (SIGINT, shutdown): each run
   * stays exactly as its ledger says and resumes from there; in-flight calls are aborted and are
   * re-issued with the same key on resume.
   */
  async function detach(): Promise<void> {
    const runs = [...active.values()];
    for (const r of runs) r.driver.stop();
    await Promise.all(runs.map((r) => r.running.catch(() => {})));
  }

  /**
   * The run's events as they are committed: what is recorded so far, then each new one, until the
   * run ends (or rests on a person, with `untilRest`) or `signal` aborts.
   */
  function watch(runId: string, opts?: WatchOptions): AsyncGenerator<LedgerEvent, void, undefined> {
    return watchRun(ledger, changes, runId, opts, (id) => starting.has(id));
  }

  return { run: start, resume, replay, cancel, result, events: readEvents, watch, detach };
}

export type Engine = ReturnType<typeof createEngine>;
