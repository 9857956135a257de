/**
 * The engine: start, resume, cancel and replay runs over a ledger. Resume and replay are the same
 * refold of the run's events (src/actors/fold.ts); resume then continues the run — re-issuing any
 * agent call that was in flight with the same idempotency key — while replay only reports whether
 * the refold reproduced every recorded decision. Nothing about a paused run is held in memory.
 *
 * One closure of about 450 lines: its functions share the engine's caches and active runs, and
 * splitting them would pass those around; loading (load.ts), answers and the question they are
 * for (humanInput.ts) and summaries (summary.ts) live apart.
 *
 * Over 400 lines: start, resume, cancel and replay share the plumbing that opens a run; not split
 * yet.
 */
import { randomUUID } from 'node:crypto';

import { compilePlan } from '../actors/compile.js';
import { refold, refoldFrom, restoreFold, startFold, type FoldState } from '../actors/fold.js';
import { asRecorded } from '../actors/frozen.js';
import type { RunMachine } from '../actors/machine.js';
import { CURRENT_ENGINE_FLAGS } from '../dsl/engineFlags.js';
import { planFingerprint } from '../dsl/fingerprint.js';
import type { Plan } from '../dsl/ir.js';
import {
  EngineError,
  ErrorCode,
  LedgerConflictError,
  LedgerCorruptError,
  NondeterminismError,
} from '../errors.js';
import type { NewEvent } from '../events/catalogue.js';
import { initFastHash } from '../events/chain.js';
import { decodeRecord, emptyHead, type LedgerEvent } from '../events/envelope.js';
import { verifyRun } from '../events/verify.js';
import type { AgentPort, Clock, LedgerStore } from '../ports.js';
import { RunDriver, type DriverDeps } from './driver.js';
import { AnswerValidator } from './humanInput.js';
import { checkHeadEvent, loadForResume } from './load.js';
import { pictureOf, type SnapshotChain } from './snapshot.js';
import { RunChanges, watchRun, type WatchOptions } from './watch.js';
import { withFunctionAgents } from './functionAgents.js';
import { RunSummary, summarize, type RunResult } from './summary.js';

export const ENGINE_VERSION = '0.1.0';

export interface EngineOptions {
  readonly ledger: LedgerStore;
  /** Calls model agents; function steps (`fn:<name>`) run in-process without it. */
  readonly agents?: AgentPort;
  readonly clock?: Clock;
  readonly newRunId?: () => string;
  /** This process's name in RunClaimed events. */
  readonly worker?: string;
  /** Record a snapshot of the run's state every this many events, so resume need not refold from zero (default 500; 0 turns it off). */
  readonly snapshotEvery?: number;
  /**
   * At most this many agent calls of one run whose outcome is not yet recorded (default: no cap;
   * a parallel's or a map's calls all go at once). Calls past it wait in the order they were
   * decided. A crash repeats at most this many calls on resume: 1 makes it at most one (ADR 41).
   */
  readonly maxCallsInFlight?: number;
}

export interface RunOptions {
  readonly runId?: string;
  readonly context?: Record<string, unknown>;
  /** The pipeline's file relative to the project root, recorded so `flujo resume` can find it. */
  readonly source?: string;
  /** Run-level limits; a call that could exceed them is not made. Money in micro-dollars. */
  readonly budget?: { readonly costMicros?: number; readonly tokens?: number };
  /** The start came from a retried dead letter (ADR 87): recorded in RunStarted (or RunResumed). */
  readonly retried?: Retried;
}

/** A fleet dead letter published again (`<NS>_DEAD:<seq>`) and who did it (ADR 87). */
export interface Retried {
  readonly deadLetter: string;
  readonly by: string;
}

export interface ResumeOptions {
  /** The answer to the pending human input request. */
  readonly humanInput?: unknown;
  /** Who answered, recorded with the answer. */
  readonly answeredBy?: string;
  /**
   * Which open question the answer is for, by its path (RunResult.questions): several can be
   * open at once (parallel branches, map items). Default: the oldest.
   */
  readonly question?: string;
  /** Resume even though the pipeline's fingerprint differs from the one the run started with. */
  readonly allowChangedPlan?: boolean;
  /** The resume came from a retried dead letter (ADR 87): recorded in RunResumed. */
  readonly retried?: Retried;
}

export interface ReplayResult {
  readonly runId: string;
  readonly identical: boolean;
  readonly events: number;
  readonly output?: unknown;
  readonly firstDivergence?: {
    readonly seq: number;
    readonly expected: unknown;
    readonly recorded: unknown;
  };
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * A plan is compiled and fingerprinted once per process, for every engine (plans are not changed
 * once built, and what compiling makes depends on the plan alone): an engine created for one
 * resume finds the plan compiled (ADR 53).
 */
const compiled = new WeakMap<Plan, { machine: RunMachine; fingerprint: string }>();

/** Appends of RunCancelled tried against a run another process keeps appending to. */
const CANCEL_ATTEMPTS = 10;

function withEvents(summary: RunSummary, events: readonly NewEvent[]): RunSummary {
  for (const e of events) summary.apply(e);
  return summary;
}

export function createEngine(options: EngineOptions) {
  const ledger = options.ledger;
  const clock = options.clock ?? systemClock;
  const worker = options.worker ?? `pid-${process.pid}`;
  const snapshotEvery = options.snapshotEvery ?? 500;
  const maxCalls = options.maxCallsInFlight;
  if (maxCalls !== undefined && !(Number.isInteger(maxCalls) && maxCalls >= 1))
    throw new EngineError(
      ErrorCode.USAGE,
      `maxCallsInFlight must be a whole number of at least 1, got ${String(maxCalls)}`,
    );
  const active = new Map<string, { driver: RunDriver; running: Promise<void> }>();
  const cancelling = new Map<string, Promise<unknown>>();
  const answers = new AnswerValidator();
  const changes = new RunChanges();
  const onRecorded = (runId: string) => changes.changed(runId);
  /**
   * Runs this engine was asked to start and is still starting (a watcher waits for their first
   * commit). Each settles once its driver is registered (or the start gave up), so a cancel that
   * comes before the first commit stops the run instead of missing it.
   */
  const starting = new Map<string, { done: Promise<void>; settle: () => void }>();
  /** Cancels asked for before the run's driver was registered: it is stopped as it registers. */
  const cancelBeforeDrive = new Set<string>();

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

  async function readEvents(runId: string): Promise<LedgerEvent[]> {
    const rows = await ledger.read(runId);
    return rows.map((r) => decodeRecord(runId, r.seq, r.body));
  }

  async function result(runId: string): Promise<RunResult> {
    return summarize(runId, await readEvents(runId));
  }

  async function cancelledElsewhere(runId: string): Promise<boolean> {
    const head = await ledger.head(runId);
    if (!head?.terminal) return false;
    const [last] = await ledger.read(runId, { fromSeq: head.seq, limit: 1 });
    return last?.type === 'RunCancelled';
  }

  async function drive(plan: Plan, driver: RunDriver): Promise<RunResult> {
    const running = driver.drive();
    active.set(driver.runId, { driver, running });
    if (cancelBeforeDrive.has(driver.runId)) driver.stop();
    starting.get(driver.runId)?.settle();
    try {
      await running;
    } catch (e) {
      // Cancelled elsewhere (another process appended RunCancelled): this driver's next append
      // conflicts. That is the run's outcome, not an error of this call.
      if (!(e instanceof LedgerConflictError) || !(await cancelledElsewhere(driver.runId))) throw e;
      return result(driver.runId);
    } finally {
      driver.stop();
      active.delete(driver.runId);
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
    let own: { input: unknown; context?: Record<string, unknown> };
    try {
      own = {
        // No input (`run(plan)`) is null, as a reply without output is.
        input: asRecorded(input ?? null, 'input'),
        ...(opts.context
          ? { context: asRecorded(opts.context, 'context') as Record<string, unknown> }
          : {}),
      };
    } catch (e) {
      return Promise.reject(e as Error);
    }
    let settle = () => {};
    const done = new Promise<void>((r) => (settle = r));
    starting.set(runId, { done, settle });
    return begin(plan, runId, own.input, { ...opts, ...own }).finally(() => {
      settle();
      starting.delete(runId);
      cancelBeforeDrive.delete(runId);
      changes.changed(runId); // a watcher still waiting for the run looks again (it may have failed)
    });
  }

  async function begin(
    plan: Plan,
    runId: string,
    input: unknown,
    opts: RunOptions,
  ): Promise<RunResult> {
    await initFastHash();
    // No head read first: a run id already in the ledger is found by the first append itself,
    // which starts from the genesis head and so is refused (ADR 65). That read was a round trip
    // per run on Postgres.
    let recorded = false;
    let driver: RunDriver;
    try {
      driver = await firstCommit(plan, runId, input, opts, () => (recorded = true));
    } catch (e) {
      // Nothing recorded: the run exists (or was started meanwhile), take it up as run() always
      // has. Anything else, or a failure after the first commit, is the caller's.
      if (!recorded && (await ledger.head(runId).catch(() => null)))
        return resume(plan, runId, opts.retried ? { retried: opts.retried } : {});
      throw e;
    }
    return drive(plan, driver);
  }

  /** A new run's first commit, from the genesis head: refused if the run id is taken. */
  async function firstCommit(
    plan: Plan,
    runId: string,
    input: unknown,
    opts: RunOptions,
    onFirst: () => void,
  ): Promise<RunDriver> {
    const machine = machineOf(plan);
    const at = clock.now();
    const started = {
      type: 'RunStarted' as const,
      data: {
        pipeline: {
          name: plan.ir.name,
          fingerprint: compiledOf(plan).fingerprint,
          ...(opts.source !== undefined ? { source: opts.source } : {}),
        },
        input,
        ...(opts.context ? { context: opts.context } : {}),
        ...(opts.budget ? { budget: opts.budget } : {}),
        engine: { version: ENGINE_VERSION, flags: [...CURRENT_ENGINE_FLAGS] },
        ...(opts.retried ? { retried: { ...opts.retried } } : {}),
      },
    };
    const { state, decisions } = startFold(machine, { runId, seq: 1, v: 1, at, ...started });
    const deps = driverDeps(plan, compiledOf(plan).fingerprint);
    const driver = new RunDriver(
      {
        ...deps,
        onRecorded: (id) => {
          onFirst();
          deps.onRecorded?.(id);
        },
      },
      machine,
      state,
      emptyHead(runId),
      1,
      new RunSummary(runId),
    );
    await driver.commit(
      [started, { type: 'RunClaimed', data: { worker, epoch: 1 } }],
      decisions,
      at,
    );
    return driver;
  }

  async function resume(plan: Plan, runId: string, opts: ResumeOptions = {}): Promise<RunResult> {
    await initFastHash();
    const head = await ledger.head(runId);
    if (!head) throw new EngineError(ErrorCode.RUN_NOT_FOUND, `no run ${runId} in the ledger`);
    let loaded = await loadForResume(ledger, runId, head, snapshotEvery);
    const recorded = loaded.fingerprint;
    const fingerprint = compiledOf(plan).fingerprint;
    const changed = recorded !== undefined && recorded !== fingerprint;
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
    let state: FoldState;
    let summary: RunSummary;
    let chain: SnapshotChain | null = null;
    if (loaded.snapshot) {
      // Pick up where the snapshot left off; replay (not resume) is what refolds from zero.
      const snap = loaded.snapshot;
      state = restoreFold(machine, runId, snap.fold);
      // The next snapshot's context changes are taken against the context this one holds.
      chain = { ...snap.chain, context: pictureOf(state.snapshot.context as object) };
      refoldFrom(
        machine,
        state,
        loaded.events.filter((e) => e.seq > snap.uptoSeq),
      );
      summary = RunSummary.fromChain(runId, snap.summaries);
      for (const e of loaded.events) summary.apply(e);
    } else {
      state = refold(machine, loaded.events);
      summary = withEvents(new RunSummary(runId), loaded.events);
    }
    const ended =
      state.status === 'completed' || state.status === 'failed' || state.status === 'cancelled';
    // An answer for a run that has ended is not silently dropped: the caller learns it was not
    // taken (nothing is recorded either way).
    if (ended && opts.humanInput === undefined) return summary.result();
    let human: NewEvent | undefined;
    if (opts.humanInput !== undefined) {
      human = answers.answerEvent(runId, state, ended, opts);
    } else if (state.status === 'paused') {
      throw new EngineError(
        ErrorCode.RUN_NOT_RESUMABLE,
        `run ${runId} is paused for human input; resume it with an answer`,
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
      return drive(plan, driver);
    }
    // Calls or timers to take up again: the claim must be recorded before any of them acts.
    const claimed = await ledger.append({
      runId,
      expected: head,
      events: claimEvents,
      at: clock.now(),
    });
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
    await driver.reviveOutstanding();
    if (human) driver.push(human);
    return drive(plan, driver);
  }

  async function replay(plan: Plan, runId: string): Promise<ReplayResult> {
    await initFastHash();
    // What a replay vouches for is the recorded run: a chain that does not verify is refused
    // (naming its first bad seq), never refolded into 'identical'.
    const rows = await ledger.read(runId);
    const checked = verifyRun(runId, rows, (await ledger.head(runId)) ?? undefined);
    if (checked.failure) {
      const f = checked.failure;
      // An event this Flujo cannot read (a newer version): its own decode error says to upgrade.
      const bad = f.reason === 'bad_event' ? rows.find((r) => r.seq === f.seq) : undefined;
      if (bad) decodeRecord(runId, bad.seq, bad.body);
      throw new LedgerCorruptError(runId, f.seq, f.reason, f.detail, 'the run was not replayed');
    }
    const events = rows.map((r) => decodeRecord(runId, r.seq, r.body));
    try {
      refold(machineOf(plan), events);
    } catch (e) {
      if (!(e instanceof NondeterminismError)) throw e;
      return {
        runId,
        identical: false,
        events: events.length,
        firstDivergence: { seq: e.seq, expected: e.expected, recorded: e.recorded },
      };
    }
    const s = summarize(runId, events);
    return {
      runId,
      identical: true,
      events: events.length,
      ...(s.status === 'completed' ? { output: s.output } : {}),
    };
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
    const work = (async () => {
      // Started here but not yet driven (its first commit is on its way): wait for the driver,
      // which stops at once, instead of finding no run and letting it go on.
      const pending = active.has(runId) ? undefined : starting.get(runId);
      if (pending) {
        cancelBeforeDrive.add(runId);
        await pending.done;
      }
      const here = active.get(runId);
      if (here) {
        here.driver.stop();
        await here.running.catch(() => {});
      }
      // A run driven by another process may append between our read of its head and our
      // append: read the head again. Each conflict is that process's progress; a run that ends
      // meanwhile stays as it ended.
      for (let attempt = 1; ; attempt++) {
        const head = await ledger.head(runId);
        if (!head) throw new EngineError(ErrorCode.RUN_NOT_FOUND, `no run ${runId} in the ledger`);
        await checkHeadEvent(ledger, runId, head);
        if (head.terminal) return;
        try {
          await ledger.append({
            runId,
            expected: { runId, seq: head.seq, hash: head.hash },
            events: [
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
    })();
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
