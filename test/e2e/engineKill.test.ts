/**
 * Issue 3's kill test. A real child process (test/support/engineChild.ts, bundled by test/support/bundle.ts)
 * runs a 22-call pipeline with a three-branch parallel and a four-iteration loop on a SQLite
 * ledger and is killed with SIGKILL at a random point: at least 50 kills, each landing while the
 * ledger shows the run unfinished. Runs follow one another in one ledger, each killed until one of
 * its children outlives its kill delay; once the kills are counted, the last run is left to finish.
 * Most kills land at a random time after the child's claim of the run, so that a run's kills fall
 * all along it; one in five lands around the resume itself (refold, claim, re-issued calls).
 * Children are fresh processes; a couple are started ahead of their turn so that loading code
 * overlaps the current child's run, but each opens the ledger only when told to go.
 *
 * Every run must end with exactly the output of an uninterrupted run, a ledger that verifies and
 * refolds identically, the same steps and step outputs as the uninterrupted run, one request and
 * one reply per idempotency key, and a calls log (what a model provider would bill) in which no
 * call comes after the one whose reply was recorded. The issue says "one call per step, plus at
 * most one per kill"; with parallel branches one kill can cut up to three calls short. So the test
 * runs twice on SQLite: uncapped, where no process makes a call twice and a killed child loses at
 * most the calls it had in flight (WIDTH, 3), and with `maxCallsInFlight: 1` (ADR 41), where it
 * loses at most one and every run makes at most N calls plus one per kill, as the issue says. The
 * summary line reports calls against N × runs + kills.
 *
 * Reproduce a failure's schedule with FLUJO_KILL_SEED=<the seed printed> (timings still vary).
 * FLUJO_KILL_MIN sets the number of kills, FLUJO_KILL_SPAN the kill delays after the claim as a
 * fraction of an uninterrupted run's time, FLUJO_KILL_WARM the children started ahead.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { openLedger } from '../../src/adapters/ledger/open.js';
import type { LedgerEvent } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';
import type { RunResult } from '../../src/runtime/summary.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { killPipeline, markerOf } from '../support/killPipeline.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { bundledChild } from '../support/bundle.js';

const CHILD = await bundledChild(
  fileURLToPath(new URL('../support/engineChild.ts', import.meta.url)),
);
const MIN_KILLS = Number(process.env.FLUJO_KILL_MIN ?? 50);
const KILL_SPAN = Number(process.env.FLUJO_KILL_SPAN ?? 0.5);
/** The share of kills aimed at the resume itself rather than at the run after the claim. */
const AROUND_CLAIM = 0.2;
const SEED = Number(process.env.FLUJO_KILL_SEED ?? Date.now() % 2 ** 31);
/** The calls of the pipeline in an uninterrupted run. */
const N = 22;
/** The most calls the pipeline has in flight at once: the three parallel branches. */
const WIDTH = 3;
/** A child that neither finishes nor is killed within this long is hung. */
const HUNG_MS = 30_000;
/** Children loading their code ahead of their turn. */
const WARM = Number(process.env.FLUJO_KILL_WARM ?? 2);

/** mulberry32: a small seeded PRNG, so that a failing schedule of kills can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Outcome {
  /** This test's SIGKILL ended the child (it may have finished the run just before). */
  readonly killed: boolean;
  readonly result?: RunResult;
  /** From the child's `started` line to its result line. */
  readonly runMs?: number;
  /** From the child's `started` line to its `claimed` line. */
  readonly claimMs?: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

interface Go {
  readonly uri: string;
  readonly runId: string;
  readonly calls: string;
  readonly gen: number;
  readonly maxCalls?: number;
}

/** SIGKILL the child `ms` after it printed `started` (before its claim, or soon after) or `claimed`. */
interface Kill {
  readonly after: 'started' | 'claimed';
  readonly ms: number;
}

/** A child that has loaded its code and waits for its `go`. */
interface WarmChild {
  /** Runs `runId`, killing the child as `kill` says. */
  go(args: Go & { readonly kill: Kill | null }): Promise<Outcome>;
  /** Lets a child that never got its `go` exit. */
  dismiss(): Promise<void>;
}

function warmChild(): WarmChild {
  const child = spawn(process.execPath, [CHILD], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {}); // a child that died early: its exit tells the story
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    },
  );
  let onLine: (line: string) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onLine = (line) => {
      if (line === 'ready') resolve();
    };
    closed.then(
      ({ code, signal }) =>
        reject(new Error(`a child exited (${code ?? signal}) before it was ready:\n${stderr}`)),
      reject,
    );
  });
  ready.catch(() => {}); // reported by go() if it matters
  createInterface({ input: child.stdout }).on('line', (line) => onLine(line));

  return {
    async go({ kill, ...go }) {
      await ready;
      let sentKill = false;
      let hung = false;
      let result: RunResult | undefined;
      let startedAt = 0;
      let runMs: number | undefined;
      let claimMs: number | undefined;
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      const watchdog = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, HUNG_MS);
      const arm = (ms: number) =>
        (killTimer = setTimeout(() => {
          sentKill = true;
          child.kill('SIGKILL');
        }, ms));
      onLine = (line) => {
        if (line === 'started') {
          startedAt = performance.now();
          if (kill?.after === 'started') arm(kill.ms);
        } else if (line === 'claimed') {
          claimMs = performance.now() - startedAt;
          if (kill?.after === 'claimed') arm(kill.ms);
        } else if (line.startsWith('result ')) {
          clearTimeout(killTimer);
          runMs = performance.now() - startedAt;
          result = JSON.parse(line.slice('result '.length)) as RunResult;
        }
      };
      child.stdin.end(`go ${JSON.stringify(go)}\n`);
      const { code, signal } = await closed;
      clearTimeout(watchdog);
      clearTimeout(killTimer);
      return {
        // A kill sent after the child had exited on its own does not count.
        killed: sentKill && !hung && signal === 'SIGKILL',
        ...(result ? { result } : {}),
        ...(runMs !== undefined ? { runMs } : {}),
        ...(claimMs !== undefined ? { claimMs } : {}),
        code,
        signal,
        stderr: hung ? `${stderr}\n[test] the child hung for ${HUNG_MS} ms` : stderr,
      };
    },
    async dismiss() {
      child.stdin.end();
      await closed.catch(() => {});
    },
  };
}

/**
 * Fresh children, WARM of them loading their code while the current one runs: each is still a
 * new process that opens the ledger only on its `go` and knows nothing but what the ledger holds.
 */
function childPool(size: number) {
  const spares = Array.from({ length: size }, warmChild);
  return {
    run(args: Go & { readonly kill: Kill | null }): Promise<Outcome> {
      const child = spares.shift() ?? warmChild();
      spares.push(warmChild());
      return child.go(args);
    },
    async close() {
      await Promise.all(spares.splice(0).map((c) => c.dismiss()));
    },
  };
}

interface Call {
  readonly gen: number;
  readonly marker: string;
}

function readCalls(path: string): Call[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const space = l.indexOf(' ');
      return { gen: Number(l.slice(0, space)), marker: l.slice(space + 1) };
    });
}

const repeated = <T>(xs: readonly T[]): T[] => {
  const seen = new Set<T>();
  return xs.filter((x) => (seen.has(x) ? true : (seen.add(x), false)));
};

const ofType = <T extends LedgerEvent['type']>(events: readonly LedgerEvent[], type: T) =>
  events.filter((e): e is Extract<LedgerEvent, { type: T }> => e.type === type);

const genOf = (worker: string) => Number(worker.replace(/^gen-/, ''));

/** The run's events with the claims of its processes left out, as sorted `Type path` lines. */
function shape(events: readonly LedgerEvent[]): string[] {
  return events
    .filter((e) => e.type !== 'RunClaimed' && e.type !== 'RunResumed')
    .map((e) => `${e.type} ${(e.data as { path?: string }).path ?? ''}`)
    .sort();
}

const stepOutputs = (events: readonly LedgerEvent[]) =>
  Object.fromEntries(ofType(events, 'StepCompleted').map((e) => [e.data.path, e.data.output]));

interface RunRecord {
  readonly runId: string;
  readonly calls: string;
  /** The children that ran it, in order; the last one finished it. */
  readonly gens: number[];
  kills: number;
  result?: RunResult;
}

interface Expected {
  readonly output: unknown;
  readonly markers: readonly string[];
  readonly shape: readonly string[];
  readonly stepOutputs: Record<string, unknown>;
}

/** Everything that must hold of one killed run; returns the calls each killed child lost. */
async function checkRun(
  engine: Engine,
  store: LedgerStore,
  run: RunRecord,
  want: Expected,
  width: number,
) {
  const tag = `${run.runId} (seed ${SEED})`;
  expect(run.result, tag).toMatchObject({ status: 'completed', output: want.output });
  expect(await engine.result(run.runId), tag).toMatchObject({
    status: 'completed',
    output: want.output,
  });
  const verified = await verifyStoredRun(store, run.runId);
  expect(verified.ok, `${tag}: ${JSON.stringify(verified)}`).toBe(true);
  expect(await engine.replay(killPipeline.plan, run.runId), tag).toMatchObject({
    identical: true,
    output: want.output,
  });

  // The ledger: the uninterrupted run's steps and outputs; one request per key, all first
  // attempts, each with exactly one reply; the run completed once, last.
  const events = await engine.events(run.runId);
  expect(shape(events), tag).toEqual(want.shape);
  expect(stepOutputs(events), tag).toEqual(want.stepOutputs);
  const requests = ofType(events, 'AgentCallRequested');
  const requested = requests.map((e) => e.data.key);
  const replied = ofType(events, 'AgentResponded').map((e) => e.data.key);
  expect(requested, tag).toHaveLength(N);
  expect(repeated(requested), tag).toEqual([]);
  expect(repeated(replied), tag).toEqual([]);
  expect(new Set(replied), tag).toEqual(new Set(requested));
  expect(ofType(events, 'AgentFailed'), tag).toEqual([]);
  expect(
    requests.filter((e) => e.data.attempt !== 1),
    tag,
  ).toEqual([]);
  expect(ofType(events, 'RunCompleted'), tag).toHaveLength(1);
  expect(events.at(-1)?.type, tag).toBe('RunCompleted');

  // The claims: epochs 1, 2, 3…, by this run's children in the order they ran.
  const claims = ofType(events, 'RunClaimed');
  const claimers = claims.map((c) => genOf(c.data.worker));
  expect(
    claims.map((c) => c.data.epoch),
    tag,
  ).toEqual(claims.map((_, i) => i + 1));
  expect(claimers, tag).toEqual(run.gens.filter((g) => claimers.includes(g)));

  // Which call each key is, as the step logged it, and which child recorded its reply: the
  // worker of the last claim before the reply.
  const names = new Map(ofType(events, 'StepScheduled').map((e) => [e.data.path, e.data.name]));
  const markerOfKey = new Map(
    requests.map((e) => [e.data.key, markerOf(names.get(e.data.path) ?? '?', e.data.input)]),
  );
  expect(new Set(markerOfKey.values()), tag).toEqual(new Set(want.markers));
  const recordedBy = new Map<string, number>();
  let owner = -1;
  for (const e of events) {
    if (e.type === 'RunClaimed') owner = genOf(e.data.worker);
    if (e.type === 'AgentResponded') recordedBy.set(markerOfKey.get(e.data.key) ?? '?', owner);
  }

  // The calls log: every call made at least once and by no child twice; the reply recorded is
  // from the last child that made the call (none called it again after); every earlier call was
  // in flight in a child that was then killed, at most `width` of them per child.
  const log = readCalls(run.calls);
  expect(new Set(log.map((c) => c.marker)), tag).toEqual(new Set(want.markers));
  expect(repeated(log.map((c) => `${c.gen} ${c.marker}`)), tag).toEqual([]);
  const lost = new Map<number, number>();
  for (const marker of want.markers) {
    const by = log.filter((c) => c.marker === marker).map((c) => c.gen);
    const last = Math.max(...by);
    expect(recordedBy.get(marker), `${tag}: ${marker} called by children ${by.join(',')}`).toBe(
      last,
    );
    for (const g of by) if (g !== last) lost.set(g, (lost.get(g) ?? 0) + 1);
  }
  expect(lost.has(run.gens.at(-1) ?? -1), `${tag}: the finishing child lost calls`).toBe(false);
  for (const [g, n] of lost)
    expect(n, `${tag}: child ${g} lost ${n} calls`).toBeLessThanOrEqual(width);
  expect(log.length, tag).toBeGreaterThanOrEqual(N);
  expect(log.length, tag).toBeLessThanOrEqual(N + width * run.kills);
  return { calls: log.length, lost };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const pgUp = await postgresReachable();
const schemas: string[] = [];
afterAll(async () => {
  for (const s of schemas.splice(0)) await dropSchema(s);
});

/** Where the baseline run and the killed runs are recorded: SQLite files, or Postgres schemas. */
const sqliteUri = (dir: string, db: string) => `sqlite:///${join(dir, `${db}.db`)}`;
const backends = [
  { name: 'SQLite', skip: false, uri: sqliteUri, maxCalls: undefined, width: WIDTH },
  // One call with an unrecorded outcome at a time: a kill loses at most one (ADR 41).
  { name: 'SQLite, maxCallsInFlight 1', skip: false, uri: sqliteUri, maxCalls: 1, width: 1 },
  {
    name: 'Postgres',
    skip: !pgUp,
    maxCalls: undefined,
    width: WIDTH,
    uri: (_dir: string, db: string) => {
      const schema = uniqueSchema(`kill_${db}`);
      schemas.push(schema);
      return `${PG_URL}?schema=${schema}`;
    },
  },
];

describe.each(backends)('the engine under SIGKILL on $name', (backend) => {
  const { uri: uriFor, skip, width } = backend;
  const cap = backend.maxCalls !== undefined ? { maxCalls: backend.maxCalls } : {};
  it.skipIf(skip)(
    `finishes runs killed ${MIN_KILLS}+ times exactly as uninterrupted, no call after its reply`,
    async (ctx) => {
      ctx.onTestFailed(() => {
        console.error(`engine kill test: seed ${SEED}; rerun with FLUJO_KILL_SEED=${SEED}`);
      });
      const began = performance.now();
      const rand = prng(SEED);
      const dir = mkdtempSync(join(tmpdir(), 'flujo-kill-'));
      dirs.push(dir);
      const pool = childPool(WARM);
      ctx.onTestFinished(() => pool.close());
      const failed = (o: Outcome, what: string) =>
        `${what}: exit ${o.code} ${o.signal ?? ''} (seed ${SEED})\n${o.stderr}`;

      // 1. An uninterrupted run in a child: the output, the calls and the events to expect.
      const baseUri = uriFor(dir, 'baseline');
      const baseCalls = join(dir, 'baseline.calls');
      const base = await pool.run({
        uri: baseUri,
        runId: 'baseline',
        calls: baseCalls,
        gen: 0,
        kill: null,
        ...cap,
      });
      expect(base.code, failed(base, 'the uninterrupted child')).toBe(0);
      expect(base.result?.status).toBe('completed');
      const markers = readCalls(baseCalls).map((c) => c.marker);
      expect(markers).toHaveLength(N);
      expect(repeated(markers)).toEqual([]);
      const baseStore = await openLedger(baseUri, { projectRoot: dir });
      const baseEvents = await createEngine({ ledger: baseStore }).events('baseline');
      await baseStore.close();
      const want: Expected = {
        output: base.result?.output,
        markers,
        shape: shape(baseEvents),
        stepOutputs: stepOutputs(baseEvents),
      };
      const runMs = base.runMs ?? 200;

      // 2. Runs killed again and again, one after the other, until MIN_KILLS kills landed.
      const uri = uriFor(dir, 'state');
      const store = await openLedger(uri, { projectRoot: dir });
      ctx.onTestFinished(() => store.close());
      const engine = createEngine({ ledger: store });
      const runs: RunRecord[] = [];
      let kills = 0;
      let lateKills = 0;
      /** Kills before the child claimed the run, then by quarter of the replies recorded. */
      let beforeClaim = 0;
      const byQuarter = [0, 0, 0, 0];
      let gen = 0;
      /** How long resuming children took from `started` to `claimed`. */
      const claimTimes: number[] = [];
      const claimEstimate = () =>
        claimTimes.length ? claimTimes.reduce((a, b) => a + b, 0) / claimTimes.length : 30;
      while (kills < MIN_KILLS) {
        const id = `kill-${runs.length + 1}`;
        const run: RunRecord = { runId: id, calls: join(dir, `${id}.calls`), gens: [], kills: 0 };
        runs.push(run);
        while (!run.result) {
          gen += 1;
          run.gens.push(gen);
          // Mostly a random point in the first KILL_SPAN of an uninterrupted run's time after the
          // claim: each child gets a little further than the last, so a run's kills fall all
          // along it. Otherwise a random point of the resume itself (refold, claim, re-issue).
          const kill: Kill | null =
            kills >= MIN_KILLS
              ? null
              : rand() < AROUND_CLAIM
                ? { after: 'started', ms: Math.floor(rand() * 1.5 * claimEstimate()) }
                : { after: 'claimed', ms: Math.floor(rand() * runMs * KILL_SPAN) };
          const o = await pool.run({ uri, runId: run.runId, calls: run.calls, gen, kill, ...cap });
          if (o.claimMs !== undefined && run.gens.length > 1) claimTimes.push(o.claimMs);
          if (!o.killed) {
            expect(o.code, failed(o, `child ${gen}`)).toBe(0);
            expect(o.result, failed(o, `child ${gen}`)).toBeDefined();
            run.result = o.result;
            continue;
          }
          const head = await store.head(run.runId);
          if (head?.terminal) {
            lateKills += 1; // the run had completed: no interruption
            run.result = o.result; // without one, the next child reports it
            continue;
          }
          expect(o.result, `child ${gen} reported an unfinished run as done`).toBeUndefined();
          run.kills += 1;
          kills += 1;
          const events = await engine.events(run.runId);
          if (!ofType(events, 'RunClaimed').some((e) => genOf(e.data.worker) === gen))
            beforeClaim += 1;
          else {
            const replies = ofType(events, 'AgentResponded').length;
            byQuarter[Math.min(3, Math.floor((replies * 4) / N))]! += 1;
          }
        }
      }

      // 3. Each run on its own.
      let calls = 0;
      let losers = 0;
      let mostLost = 0;
      let overIssueBound = 0;
      for (const run of runs) {
        const r = await checkRun(engine, store, run, want, width);
        calls += r.calls;
        losers += r.lost.size;
        mostLost = Math.max(mostLost, ...r.lost.values());
        if (r.calls > N + run.kills) overIssueBound += 1;
      }
      expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);

      const seconds = ((performance.now() - began) / 1000).toFixed(1);
      console.log(
        [
          `engine kill test (${backend.name}), seed ${SEED}: ${kills} kills over ${runs.length} runs and ${gen} children`,
          `(+${lateKills} after completion, not counted), ${seconds} s with ${WARM} warm; uninterrupted run ${runMs.toFixed(0)} ms, resume to claim ${claimEstimate().toFixed(0)} ms.`,
          `Kill points: ${beforeClaim} before the child's claim, then ${byQuarter.join('/')} by quarter of the replies recorded.`,
          `Calls ${calls} for N × runs = ${N * runs.length} (+${calls - N * runs.length}; N × runs + kills = ${N * runs.length + kills});`,
          `${losers} killed children lost calls, at most ${mostLost} each; ${overIssueBound} run(s) above N + their kills.`,
        ].join(' '),
      );
    },
    Math.max(240_000, MIN_KILLS * 4_000),
  );
});
