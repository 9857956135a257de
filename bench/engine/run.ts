/**
 * Engine benchmark: Flujo's engine (createEngine over the memory, SQLite and Postgres ledgers)
 * beside LangGraph.js, Mastra and DBOS, measured in the same process with the same pipeline
 * shapes, as /work/shared/reference/performance.md measured the peers.
 *
 *   cd bench/engine && npm install && node --expose-gc --import tsx run.ts [--quick] [--json] [--no-peers]
 *
 * Method (as performance.md and bench/ledger): one warm-up, then 5 repeats run one after another;
 * each figure is the median with (min–max). Runs are sequential, one in flight, except the
 * 1,000-paused-runs case, which starts them 50 at a time (performance.md's table C started all
 * 1,000 at once; the heap they retain once paused does not depend on that, the time does).
 * Progress goes to stderr; the table (or, with --json, the JSON document) goes to stdout.
 * See bench/engine/README.md for what each row means.
 *
 * Our engine is imported from ../../src. The peers live in ./peers/*.mjs (plain JS, so the root
 * tsconfig never needs their types) and in this folder's own node_modules; a peer that cannot be
 * imported or run is skipped with a note, and its cells show performance.md's figures instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

import Database from 'better-sqlite3';
// zod resolves to this folder's copy when the peers are installed (the same version as the root's);
// the DSL's z.toJSONSchema reads schemas of either copy.
import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { openState, type State } from '../../src/adapters/ledger/state.js';
import { definePipeline, hitl, sequence, step, type Flow } from '../../src/dsl/builder.js';
import type { Plan } from '../../src/dsl/ir.js';
import type { LedgerStore } from '../../src/ports.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';
import { postgresOneRow, postgresStepCommit, sqliteOneRow, sqliteStepCommit } from './floor.js';

// ---------------------------------------------------------------------------------------------
// Options

const USAGE =
  'usage: node --expose-gc --import tsx run.ts [--quick] [--json] [--no-peers]  (from bench/engine)';
const args = process.argv.slice(2);
for (const a of args) {
  if (a === '--help' || a === '-h') {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  if (a !== '--quick' && a !== '--json' && a !== '--no-peers') {
    process.stderr.write(`unknown argument ${a}\n${USAGE}\n`);
    process.exit(2);
  }
}
const QUICK = args.includes('--quick');
const JSON_OUT = args.includes('--json');
const NO_PEERS = args.includes('--no-peers');

// Mastra sends telemetry unless this is set before it is imported.
process.env.MASTRA_TELEMETRY_DISABLED = '1';

const REPEATS = 5;
const PG_URL = process.env.FLUJO_BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** Work per repeat. The warm-up of the run cases does a tenth of a repeat (at least one run). */
const N = QUICK
  ? { runs10: 40, runs100: 1, hitlRuns: 5, paused: 200, bigSteps: 499 }
  : { runs10: 200, runs100: 5, hitlRuns: 20, paused: 1000, bigSteps: 2499 };

const HERE = dirname(fileURLToPath(import.meta.url));
/** SQLite files live on the repo's disk (ext4), not on a tmpfs; ignored by ./.gitignore. */
const TMP = join(HERE, '.tmp', `run-${process.pid}`);

const log = (msg: string) => process.stderr.write(msg + '\n');

let gc: (() => void) | null = null;
try {
  v8.setFlagsFromString('--expose-gc');
  gc = vm.runInNewContext('gc') as () => void;
} catch {
  gc = null;
}
const fullGc = () => {
  if (!gc) return;
  gc();
  gc();
};

// ---------------------------------------------------------------------------------------------
// Systems, storages and the table

type System = 'Flujo' | 'LangGraph' | 'Mastra' | 'DBOS';
const SYSTEMS: readonly System[] = ['Flujo', 'LangGraph', 'Mastra', 'DBOS'];
type Storage = 'memory' | 'NORMAL' | 'FULL' | 'postgres';
const STORAGES: readonly Storage[] = ['memory', 'NORMAL', 'FULL', 'postgres'];

const STORAGE_LABEL: Record<Storage, string> = {
  memory: 'in memory (not durable)',
  NORMAL: 'SQLite WAL, sync=NORMAL',
  FULL: 'SQLite WAL, sync=FULL',
  postgres: 'Postgres, sync_commit=on',
};

/** What each system runs on each storage (performance.md's set-up). */
const PEER_STORE: Record<Exclude<System, 'Flujo'>, Partial<Record<Storage, string>>> = {
  LangGraph: { memory: 'MemorySaver', NORMAL: 'SqliteSaver', FULL: 'SqliteSaver' },
  Mastra: { memory: 'InMemoryStore', NORMAL: 'LibSQLStore', FULL: 'LibSQLStore' },
  DBOS: { postgres: 'system DB' },
};

interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly repeats: readonly number[];
  /** Operations (runs) per repeat. */
  readonly opsPerRepeat: number;
}

function statOf(repeats: number[], opsPerRepeat: number): Stat {
  const sorted = [...repeats].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)] as number,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    repeats,
    opsPerRepeat,
  };
}

type Unit = 'ms/step' | 'ms' | 'KB/run';

interface Cell {
  stat: Stat | null;
  /** Set when the system was not measured here and the cell shows performance.md's figure. */
  fromPerfMd?: number;
  note?: string;
}

interface Row {
  readonly section: string;
  readonly id: string;
  readonly label: string;
  readonly storage: Storage;
  readonly unit: Unit;
  /** Our figure must be at most this (or below, when strict). */
  readonly target?: { readonly max: number; readonly strict?: boolean };
  /** performance.md's figure for each peer in this cell (same shape, same storage). */
  readonly perfMd: Partial<Record<Exclude<System, 'Flujo'>, number>>;
  readonly cells: Partial<Record<System, Cell>>;
}

const rows: Row[] = [];
const notes: string[] = [];
const rowById = new Map<string, Row>();

function addRow(r: Omit<Row, 'cells'>): Row {
  const row: Row = { ...r, cells: {} };
  rows.push(row);
  rowById.set(row.id, row);
  return row;
}

function setCell(id: string, system: System, cell: Cell): void {
  const row = rowById.get(id);
  if (!row) throw new Error(`no row ${id}`);
  row.cells[system] = cell;
}

const S0 = "0. This machine's commit floor (no engine)";
const S1 = '1. Per-step overhead, 10-step no-op pipeline';
const S2 = '2. Per-step overhead, 100-step no-op pipeline';
const S3 = '3. HITL: 10 steps, pause at step 5';
const S4 = '4. Retained heap, paused runs';
const S5 = '5. Resume a long run';

/** Targets of the engine benchmark issue. */
const STEP_TARGET: Partial<Record<Storage, number>> = { NORMAL: 0.05, FULL: 0.2, postgres: 0.4 };

function defineRows(): void {
  const perf = {
    // performance.md table B (ms per step), HITL (ms) and table C (MB for 1,000 paused runs).
    step10: {
      memory: { LangGraph: 0.273, Mastra: 0.0432 },
      NORMAL: { LangGraph: 0.382, Mastra: 0.179 },
      FULL: { LangGraph: 0.776, Mastra: 0.52 },
      postgres: { DBOS: 1.04 },
    },
    step100: {
      memory: { LangGraph: 0.341, Mastra: 0.0447 },
      NORMAL: { LangGraph: 0.486, Mastra: 0.414 },
      FULL: { LangGraph: 0.841, Mastra: 0.743 },
      postgres: { DBOS: 0.849 },
    },
    pause: {
      memory: { LangGraph: 1.55, Mastra: 0.238 },
      NORMAL: { LangGraph: 1.95, Mastra: 1.03 },
      FULL: { Mastra: 2.81 },
      postgres: { DBOS: 14.1 },
    },
    resume: {
      memory: { LangGraph: 1.77, Mastra: 0.271 },
      NORMAL: { LangGraph: 2.26, Mastra: 0.68 },
      FULL: { Mastra: 0.994 },
      postgres: { DBOS: 6.1 },
    },
  } as const satisfies Record<
    string,
    Record<Storage, Partial<Record<Exclude<System, 'Flujo'>, number>>>
  >;
  // performance.md A3/A4: one 1 KB row per transaction, ms.
  const anchor: Partial<Record<Storage, number>> = { NORMAL: 0.0202, FULL: 0.116, postgres: 0.174 };
  for (const s of ['NORMAL', 'FULL', 'postgres'] as const) {
    addRow({
      section: S0,
      id: `floor1.${s}`,
      label: `one 1 KB row per transaction (performance.md: ${fmt(anchor[s] as number)} ms)`,
      storage: s,
      unit: 'ms',
      perfMd: {},
    });
    addRow({
      section: S0,
      id: `floorStep.${s}`,
      label: "a step's commit: head UPDATE + 4 sealed event rows",
      storage: s,
      unit: 'ms',
      perfMd: {},
    });
  }
  for (const s of STORAGES) {
    const target = STEP_TARGET[s];
    addRow({
      section: S1,
      id: `step10.${s}`,
      label: `per step, ${N.runs10} runs/repeat`,
      storage: s,
      unit: 'ms/step',
      ...(target ? { target: { max: target } } : {}),
      perfMd: perf.step10[s],
    });
    addRow({
      section: S1,
      id: `append10.${s}`,
      label: '  of which inside ledger.append',
      storage: s,
      unit: 'ms/step',
      perfMd: {},
    });
    addRow({
      section: S1,
      id: `read10.${s}`,
      label: '  of which inside ledger.read/head',
      storage: s,
      unit: 'ms/step',
      perfMd: {},
    });
    if (s === 'NORMAL' || s === 'FULL') {
      addRow({
        section: S1,
        id: `inline10.${s}`,
        label:
          s === 'NORMAL'
            ? "  the same with SQLite's own checkpoints (checkpoint: 'inline')"
            : "  the same with checkpoints in a worker (checkpoint: 'background')",
        storage: s,
        unit: 'ms/step',
        perfMd: {},
      });
    }
    if (s !== 'memory') {
      addRow({
        section: S1,
        id: `proj10.${s}`,
        label: '  the same with inline read models (as `flujo run`)',
        storage: s,
        unit: 'ms/step',
        perfMd: {},
      });
    }
  }
  for (const s of STORAGES) {
    const target = STEP_TARGET[s];
    addRow({
      section: S2,
      id: `step100.${s}`,
      label: `per step, ${N.runs100} run${N.runs100 === 1 ? '' : 's'}/repeat`,
      storage: s,
      unit: 'ms/step',
      ...(target ? { target: { max: target } } : {}),
      perfMd: perf.step100[s],
    });
  }
  for (const s of STORAGES) {
    addRow({
      section: S3,
      id: `pause.${s}`,
      label: `start → paused, ${N.hitlRuns} runs/repeat`,
      storage: s,
      unit: 'ms',
      perfMd: perf.pause[s],
    });
    addRow({
      section: S3,
      id: `resume.${s}`,
      label: `resume with answer → completed`,
      storage: s,
      unit: 'ms',
      ...(s === 'NORMAL' ? { target: { max: 1 } } : {}),
      perfMd: perf.resume[s],
    });
  }
  const heapPerf = { LangGraph: 5.06, Mastra: 3.85, DBOS: 12.6 }; // MB for 1,000 paused runs
  const kb = (mb: number) => (mb * 1024) / 1000;
  addRow({
    section: S4,
    id: 'heap.NORMAL',
    label: `retained heap per paused run (${N.paused} paused at once)`,
    storage: 'NORMAL',
    unit: 'KB/run',
    target: { max: 5 },
    perfMd: { LangGraph: kb(heapPerf.LangGraph), Mastra: kb(heapPerf.Mastra) },
  });
  addRow({
    section: S4,
    id: 'heap.postgres',
    label: `retained heap per paused run (${N.paused} paused at once)`,
    storage: 'postgres',
    unit: 'KB/run',
    target: { max: 5 },
    perfMd: { DBOS: kb(heapPerf.DBOS) },
  });
  addRow({
    section: S5,
    id: 'big.resume',
    label: 'resume with answer → completed (… events)',
    storage: 'NORMAL',
    unit: 'ms',
    target: { max: 50, strict: true },
    perfMd: {},
  });
  addRow({
    section: S5,
    id: 'big.read',
    label: '  of which: ledger.read of all rows',
    storage: 'NORMAL',
    unit: 'ms',
    perfMd: {},
  });
  addRow({
    section: S5,
    id: 'big.events',
    label: '  of which: engine.events (read + decode)',
    storage: 'NORMAL',
    unit: 'ms',
    perfMd: {},
  });
  addRow({
    section: S5,
    id: 'big.replay',
    label: '  of which: engine.replay (read + decode + refold)',
    storage: 'NORMAL',
    unit: 'ms',
    perfMd: {},
  });
}

// ---------------------------------------------------------------------------------------------
// Formatting

function fmt(x: number): string {
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.1 || a === 0) return x.toFixed(3);
  return x.toFixed(4);
}

function fmtCell(c: Cell | undefined, unit: Unit): string {
  const u = unit === 'ms/step' ? 'ms' : unit === 'KB/run' ? 'KB' : 'ms';
  if (!c) return '—';
  if (c.stat) {
    const s = c.stat;
    if (s.repeats.length === 1) return `${fmt(s.median)} ${u} (1 measurement)`;
    return `${fmt(s.median)} ${u} (${fmt(s.min)}–${fmt(s.max)})`;
  }
  if (c.fromPerfMd !== undefined) return `${fmt(c.fromPerfMd)} ${u} (perf.md, not re-measured)`;
  return c.note ? `skipped: ${c.note}` : 'skipped';
}

function verdict(r: Row): boolean | null {
  const s = r.cells.Flujo?.stat;
  if (!r.target || !s) return null;
  return r.target.strict ? s.median < r.target.max : s.median <= r.target.max;
}

function targetText(r: Row): string {
  if (!r.target) return '';
  const u = r.unit === 'KB/run' ? ' KB' : ' ms';
  return `${r.target.strict ? '<' : '≤'} ${r.target.max}${u}`;
}

function perfMdText(r: Row): string {
  const parts = (['LangGraph', 'Mastra', 'DBOS'] as const)
    .filter((p) => r.perfMd[p] !== undefined)
    .map((p) => `${p === 'LangGraph' ? 'LG' : p} ${fmt(r.perfMd[p] as number)}`);
  return parts.join(', ');
}

function table(): string {
  const header = [
    'case',
    'storage',
    'Flujo: median (min–max)',
    'target',
    'ok',
    'LangGraph',
    'Mastra',
    'DBOS',
    'perf.md (peers)',
  ];
  const body: string[][] = [];
  const sectionAt = new Map<number, string>();
  let section = '';
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      sectionAt.set(body.length, section);
    }
    const ok = verdict(r);
    body.push([
      r.label,
      STORAGE_LABEL[r.storage],
      fmtCell(r.cells.Flujo, r.unit),
      targetText(r),
      ok === null ? '' : ok ? 'yes' : 'MISSED',
      ...(['LangGraph', 'Mastra', 'DBOS'] as const).map((p) => fmtCell(r.cells[p], r.unit)),
      perfMdText(r),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
  const out = [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|'];
  body.forEach((b, i) => {
    const s = sectionAt.get(i);
    if (s) out.push(line([`**${s}**`, ...header.slice(1).map(() => '')]));
    out.push(line(b));
  });
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Cleanup (temp SQLite files, throwaway Postgres schemas), also on Ctrl-C

const cleanups: Array<() => Promise<void> | void> = [];
async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const f = cleanups.pop() as () => Promise<void> | void;
    try {
      await f();
    } catch (e) {
      log(`cleanup: ${(e as Error).message}`);
    }
  }
}
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  log('interrupted; cleaning up');
  void cleanupAll().finally(() => process.exit(130));
});

// ---------------------------------------------------------------------------------------------
// The uniform driver: what every system (ours and the peers) must offer

/** One system on one storage. The peer adapters in ./peers/*.mjs return this shape. */
interface Subject {
  readonly label: string;
  check(): string | Promise<string>;
  /** One run of the linear pipeline of `steps` no-op steps, start to finish; checks the output. */
  linear(steps: 10 | 100): Promise<void>;
  /** Starts the 10-step HITL pipeline as run `id`; resolves once it is paused at step 5. */
  hitlStart(id: string): Promise<void>;
  /** Answers run `id` ({ ok: true }) and resolves when it has completed; checks the output. */
  hitlResume(id: string): Promise<void>;
  close(): Promise<void>;
}

interface PeerModule {
  readonly name: string;
  versions(): string;
  readonly variants: readonly Storage[];
  open(variant: Storage, ctx: { dir: string; pgUrl: string }): Promise<Subject>;
}

/**
 * Warm-up + REPEATS repeats of `runs` sequential runs; ms per step (per run when steps = 1).
 * `probes` are cumulative counters (ms) read around each repeat, reported the same way.
 */
async function measureRuns(
  label: string,
  runs: number,
  divisor: number,
  body: (i: number) => Promise<void>,
  probes: ReadonlyArray<() => number> = [],
): Promise<{ stat: Stat; probed: Stat[] }> {
  fullGc();
  const warm = Math.max(1, Math.round(runs / 10));
  for (let i = 0; i < warm; i++) await body(i);
  const repeats: number[] = [];
  const probed: number[][] = probes.map(() => []);
  for (let rep = 0; rep < REPEATS; rep++) {
    fullGc();
    const before = probes.map((p) => p());
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await body(i);
    repeats.push((performance.now() - t0) / runs / divisor);
    probes.forEach((p, k) => probed[k]?.push((p() - (before[k] as number)) / runs / divisor));
  }
  const stat = statOf(repeats, runs);
  log(`    ${label}: ${fmt(stat.median)} (${fmt(stat.min)}–${fmt(stat.max)})`);
  return { stat, probed: probed.map((xs) => statOf(xs, runs)) };
}

/** Per-step overhead of 10- and 100-step runs, then HITL start→pause and resume→done. */
async function measureSubject(system: System, storage: Storage, subject: Subject): Promise<void> {
  log(`  ${subject.label}: ${await subject.check()}`);
  for (const steps of [10, 100] as const) {
    const id = `step${steps}.${storage}`;
    try {
      // For our engine, also the time spent inside the ledger's calls (10-step rows only).
      const probes =
        system === 'Flujo' && steps === 10 ? [() => ledgerTime.append, () => ledgerTime.read] : [];
      const { stat, probed } = await measureRuns(
        `${steps}-step, ms/step`,
        steps === 10 ? N.runs10 : N.runs100,
        steps,
        () => subject.linear(steps),
        probes,
      );
      setCell(id, system, { stat });
      if (probed.length === 2) {
        setCell(`append10.${storage}`, system, { stat: probed[0] as Stat });
        setCell(`read10.${storage}`, system, { stat: probed[1] as Stat });
      }
    } catch (e) {
      failCell(id, system, e);
    }
  }
  // HITL: each repeat starts hitlRuns runs one after another (each timed to its pause), then
  // resumes them one after another (each timed to completion).
  let serial = 0;
  const pause: number[] = [];
  const resume: number[] = [];
  try {
    for (let rep = -1; rep < REPEATS; rep++) {
      fullGc();
      const n = rep < 0 ? Math.max(2, Math.round(N.hitlRuns / 5)) : N.hitlRuns;
      const ids = Array.from({ length: n }, () => `${storage}-${++serial}`);
      let t = 0;
      for (const id of ids) {
        const t0 = performance.now();
        await subject.hitlStart(id);
        t += performance.now() - t0;
      }
      if (rep >= 0) pause.push(t / n);
      t = 0;
      for (const id of ids) {
        const t0 = performance.now();
        await subject.hitlResume(id);
        t += performance.now() - t0;
      }
      if (rep >= 0) resume.push(t / n);
    }
    const p = statOf(pause, N.hitlRuns);
    const r = statOf(resume, N.hitlRuns);
    log(`    HITL start→pause ${fmt(p.median)} ms, resume→done ${fmt(r.median)} ms`);
    setCell(`pause.${storage}`, system, { stat: p });
    setCell(`resume.${storage}`, system, { stat: r });
  } catch (e) {
    failCell(`pause.${storage}`, system, e);
    failCell(`resume.${storage}`, system, e);
  }
}

function failCell(id: string, system: System, e: unknown): void {
  const msg = (e as Error).message ?? String(e);
  log(`    ${id} FAILED: ${(e as Error).stack ?? msg}`);
  notes.push(`${system} ${id} failed: ${msg.split('\n')[0]}`);
  const row = rowById.get(id);
  const fallback = system === 'Flujo' ? undefined : row?.perfMd[system];
  setCell(id, system, {
    stat: null,
    ...(fallback !== undefined ? { fromPerfMd: fallback } : {}),
    note: 'failed',
  });
}

interface HeapResult {
  kbPerRun: number;
  startAllMs: number;
}

/** Runs `f(0..n-1)` with at most `limit` in flight. */
async function pool(n: number, limit: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await f(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** Runs in flight while the paused runs are started (all of them end up paused at once). */
const PAUSE_CONCURRENCY = 50;

/**
 * Starts `n` runs that pause, PAUSE_CONCURRENCY at a time, and measures the heap they leave
 * behind, all paused, after a full GC. With `resumeAfter` (DBOS, whose paused runs are live functions waiting in `recv`), they are
 * then resumed, untimed, so nothing is left waiting; the others stay paused in their storage.
 */
async function pausedHeap(
  subject: Pick<Subject, 'hitlStart' | 'hitlResume'>,
  prefix: string,
  n: number,
  resumeAfter: boolean,
): Promise<HeapResult> {
  const id = (i: number) => `${prefix}-${i}`;
  fullGc();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await pool(n, PAUSE_CONCURRENCY, (i) => subject.hitlStart(id(i)));
  const startAllMs = performance.now() - t0;
  fullGc();
  const after = process.memoryUsage().heapUsed;
  if (resumeAfter) {
    await pool(n, PAUSE_CONCURRENCY, (i) => subject.hitlResume(id(i)));
  }
  return { kbPerRun: (after - before) / 1024 / n, startAllMs };
}

async function measureHeap(
  system: System,
  rowId: string,
  subject: Pick<Subject, 'hitlStart' | 'hitlResume'>,
  repeats: number,
  resumeAfter = false,
): Promise<void> {
  try {
    // Warm-up: a tenth of the runs, so first-use allocations (compiled code, statement caches)
    // are not counted as retained by the paused runs.
    const warm = Math.max(20, N.paused / 10);
    await pausedHeap(subject, `heap-warm-${process.pid}`, warm, resumeAfter);
    const kb: number[] = [];
    const startAll: number[] = [];
    for (let rep = 0; rep < repeats; rep++) {
      const r = await pausedHeap(subject, `heap-${process.pid}-${rep}`, N.paused, resumeAfter);
      kb.push(r.kbPerRun);
      startAll.push(r.startAllMs);
    }
    const stat = statOf(kb, N.paused);
    const med = (xs: number[]) => statOf(xs, N.paused).median;
    log(
      `    ${rowId}: ${fmt(stat.median)} KB per paused run; start all → all paused ${med(startAll).toFixed(0)} ms`,
    );
    notes.push(
      `${system}, ${N.paused} paused runs (${STORAGE_LABEL[rowById.get(rowId)?.storage ?? 'NORMAL']}), ${PAUSE_CONCURRENCY} starting at a time: start all → all paused ${med(startAll).toFixed(0)} ms${repeats > 1 ? ' (median)' : ''}`,
    );
    setCell(rowId, system, { stat });
  } catch (e) {
    failCell(rowId, system, e);
  }
}

// ---------------------------------------------------------------------------------------------
// Our engine

const addOne = (name: string) => step(name, (x: number) => x + 1);

function linearPlan(steps: number): Plan {
  const parts = Array.from({ length: steps }, (_, i) => addOne(`s${i + 1}`));
  return definePipeline(`linear${steps}`, sequence(...parts)).plan;
}

/**
 * `before` number steps, a HITL step (answer `{ ok: true }`), then `after` number steps. The
 * step after the HITL step turns the answer back into a number (before + 1 + 1), so the output
 * is before + 1 + after, as in the peers' pipelines.
 */
function hitlPlan(name: string, before: number, after: number): Plan {
  const parts: Flow<never, unknown>[] = [];
  for (let i = 1; i <= before; i++) parts.push(addOne(`s${i}`));
  parts.push(
    hitl(`s${before + 1}`, {
      message: 'ok?',
      schema: z.object({ ok: z.boolean() }),
    }),
  );
  if (after > 0) {
    parts.push(
      step(`s${before + 2}`, (a: { ok: boolean }) => {
        if (a.ok !== true) throw new Error('bad answer');
        return before + 2;
      }),
    );
  }
  for (let i = before + 3; i <= before + 1 + after; i++) parts.push(addOne(`s${i}`));
  return definePipeline(name, sequence(...parts)).plan;
}

const LINEAR = { 10: linearPlan(10), 100: linearPlan(100) };
const HITL10 = hitlPlan('hitl10', 4, 5);

/** Wall time spent inside our ledger's calls, accumulated while our engine runs. */
const ledgerTime = { append: 0, read: 0 };

/**
 * The ledger as the engine sees it, with the time of every append, read and head call added to
 * `ledgerTime` (wall time until the returned promise settles, so Postgres round trips count).
 */
function timed<L extends LedgerStore>(inner: L): L {
  const clock = async <T>(key: keyof typeof ledgerTime, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      ledgerTime[key] += performance.now() - t0;
    }
  };
  return {
    ...inner,
    append: (req) => clock('append', () => inner.append(req)),
    read: (runId, opts) => clock('read', () => inner.read(runId, opts)),
    head: (runId) => clock('read', () => inner.head(runId)),
  } as L;
}

function ourSubject(label: string, engine: Engine, check: () => string): Subject {
  let serial = 0;
  return {
    label,
    check,
    async linear(steps) {
      const r = await engine.run(LINEAR[steps], 0, { runId: `lin${steps}-${++serial}` });
      if (r.status !== 'completed' || r.output !== steps)
        throw new Error(`Flujo: ${r.status}, output ${JSON.stringify(r.output)}`);
    },
    async hitlStart(id) {
      const r = await engine.run(HITL10, 0, { runId: `hitl-${id}` });
      if (r.status !== 'paused') throw new Error(`Flujo: run did not pause (${r.status})`);
    },
    async hitlResume(id) {
      const r = await engine.resume(HITL10, `hitl-${id}`, { humanInput: { ok: true } });
      if (r.status !== 'completed' || r.output !== 10)
        throw new Error(`Flujo: resumed run ${r.status}, output ${JSON.stringify(r.output)}`);
    },
    async close() {},
  };
}

function sqlitePath(name: string): string {
  return join(TMP, `${name}.db`);
}

function removeSqlite(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

async function openOurs(storage: Storage): Promise<{ subject: Subject; ledger: LedgerStore }> {
  if (storage === 'memory') {
    const ledger = createMemoryLedger();
    return {
      ledger,
      subject: ourSubject(
        'Flujo, memory ledger',
        createEngine({ ledger: timed(ledger) }),
        () => 'in memory',
      ),
    };
  }
  if (storage === 'postgres') {
    const schema = `flujo_bench_engine_${process.pid}`;
    const ledger = await createPostgresLedger({ connectionString: PG_URL, schema, max: 2 });
    cleanups.push(async () => {
      await ledger.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await ledger.close();
    });
    const sc = (await ledger.pool.query('SHOW synchronous_commit')).rows[0] as {
      synchronous_commit: string;
    };
    const version = (await ledger.pool.query('SHOW server_version')).rows[0] as {
      server_version: string;
    };
    meta.postgres = version.server_version;
    return {
      ledger,
      subject: ourSubject(
        'Flujo, Postgres ledger',
        createEngine({ ledger: timed(ledger) }),
        () => `synchronous_commit=${sc.synchronous_commit}, schema ${schema}`,
      ),
    };
  }
  const path = sqlitePath(`flujo-${storage}`);
  const ledger = createSqliteLedger({ path, synchronous: storage });
  cleanups.push(() => removeSqlite(path));
  const check = () =>
    `journal_mode=${String(ledger.db.pragma('journal_mode', { simple: true }))}, synchronous=${String(ledger.db.pragma('synchronous', { simple: true }))} (1=NORMAL, 2=FULL)`;
  return {
    ledger,
    subject: ourSubject(
      `Flujo, SQLite ledger (${storage})`,
      createEngine({ ledger: timed(ledger) }),
      check,
    ),
  };
}

/** The commit floor of each durable storage, measured before the engine runs. */
async function floorSection(): Promise<void> {
  log('Commit floor (no engine)');
  const o = (commits: number) => ({ repeats: REPEATS, commits: QUICK ? commits / 5 : commits });
  const cases: Array<[string, () => Promise<number[]> | number[]]> = [
    ['floor1.NORMAL', () => sqliteOneRow(sqlitePath('floor-1'), 'NORMAL', o(2000))],
    ['floorStep.NORMAL', () => sqliteStepCommit(sqlitePath('floor-s'), 'NORMAL', o(2000))],
    ['floor1.FULL', () => sqliteOneRow(sqlitePath('floor-1'), 'FULL', o(500))],
    ['floorStep.FULL', () => sqliteStepCommit(sqlitePath('floor-s'), 'FULL', o(500))],
    ['floor1.postgres', () => postgresOneRow(PG_URL, `flujo_bench_floor_${process.pid}`, o(500))],
    [
      'floorStep.postgres',
      () => postgresStepCommit(PG_URL, `flujo_bench_floors_${process.pid}`, o(500)),
    ],
  ];
  for (const [id, f] of cases) {
    try {
      fullGc();
      const stat = statOf(await f(), 1);
      log(`    ${id}: ${fmt(stat.median)} ms (${fmt(stat.min)}–${fmt(stat.max)})`);
      setCell(id, 'Flujo', { stat });
    } catch (e) {
      failCell(id, 'Flujo', e);
    }
  }
}

/**
 * The 10-step runs with the other place for WAL checkpoints (ADR 37): on NORMAL, SQLite's own,
 * inside the commit that fills the WAL (what the default background checkpointer saves); on FULL,
 * the background checkpointer (what it would cost there).
 */
async function withInlineCheckpoints(storage: 'NORMAL' | 'FULL'): Promise<void> {
  const id = `inline10.${storage}`;
  const path = sqlitePath(`flujo-inline-${storage}`);
  const checkpoint = storage === 'NORMAL' ? 'inline' : 'background';
  const ledger = createSqliteLedger({ path, synchronous: storage, checkpoint });
  try {
    const engine = createEngine({ ledger });
    const subject = ourSubject(`Flujo, ${storage}, ${checkpoint} checkpoints`, engine, () => path);
    const { stat } = await measureRuns(
      `10-step, ${checkpoint} checkpoints, ms/step`,
      N.runs10,
      10,
      () => subject.linear(10),
    );
    setCell(id, 'Flujo', { stat });
  } catch (e) {
    failCell(id, 'Flujo', e);
  } finally {
    await ledger.close();
    removeSqlite(path);
  }
}

/** A 10-step run on the state `flujo run` opens: the ledger with its inline read models. */
async function withReadModels(storage: 'NORMAL' | 'FULL' | 'postgres'): Promise<void> {
  const id = `proj10.${storage}`;
  const schema = `flujo_bench_state_${process.pid}`;
  const path = sqlitePath(`flujo-state-${storage}`);
  const uri = storage === 'postgres' ? `${PG_URL}?schema=${schema}` : `sqlite:///${path}`;
  let state: State | undefined;
  try {
    state = await openState(uri, {
      projectRoot: '/',
      ...(storage === 'postgres' ? {} : { sqliteSynchronous: storage }),
    });
    const engine = createEngine({ ledger: state.ledger });
    const subject = ourSubject(`Flujo, ${storage} with read models`, engine, () => uri);
    const { stat } = await measureRuns('10-step with read models, ms/step', N.runs10, 10, () =>
      subject.linear(10),
    );
    setCell(id, 'Flujo', { stat });
  } catch (e) {
    failCell(id, 'Flujo', e);
  } finally {
    if (storage === 'postgres' && state) {
      const pool = (state.ledger as { pool?: { query(sql: string): Promise<unknown> } }).pool;
      await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    }
    await state?.close();
    removeSqlite(path);
  }
}

async function oursSection(): Promise<void> {
  log('Flujo');
  for (const storage of STORAGES) {
    let opened: { subject: Subject; ledger: LedgerStore };
    try {
      opened = await openOurs(storage);
    } catch (e) {
      for (const id of [`step10`, `step100`, `pause`, `resume`]) {
        failCell(`${id}.${storage}`, 'Flujo', e);
      }
      continue;
    }
    await measureSubject('Flujo', storage, opened.subject);
    if (storage === 'NORMAL' || storage === 'FULL') await withInlineCheckpoints(storage);
    if (storage !== 'memory') await withReadModels(storage);
    // 5 repeats on SQLite; one measurement on Postgres (as for the peers), where 1,000
    // concurrent starts take seconds.
    if (storage === 'NORMAL') await measureHeap('Flujo', 'heap.NORMAL', opened.subject, REPEATS);
    if (storage === 'postgres') await measureHeap('Flujo', 'heap.postgres', opened.subject, 1);
    if (storage !== 'postgres') await opened.ledger.close();
  }
}

/**
 * A paused run of ~10,000 events (bigSteps number steps, then a HITL step, then one step):
 * resume it with the answer until it completes. Each repeat needs its own paused run, so
 * REPEATS + 1 of them are built first (not timed). The breakdown rows read the same run.
 */
async function bigRunSection(): Promise<void> {
  log('Long run');
  const path = sqlitePath('flujo-big');
  const ledger = createSqliteLedger({ path, synchronous: 'NORMAL' });
  cleanups.push(() => removeSqlite(path));
  const engine = createEngine({ ledger });
  const plan = hitlPlan('big', N.bigSteps, 1);
  const ids: string[] = [];
  const t0 = performance.now();
  let events = 0;
  for (let i = 0; i <= REPEATS; i++) {
    const r = await engine.run(plan, 0, { runId: `big-${i}` });
    if (r.status !== 'paused') throw new Error(`big run ${i} did not pause: ${r.status}`);
    events = r.events;
    ids.push(r.runId);
  }
  log(
    `    built ${ids.length} paused runs of ${events} events in ${fmt(performance.now() - t0)} ms`,
  );
  const row = rowById.get('big.resume') as Row;
  (row as { label: string }).label = `resume with answer → completed (${events} events)`;

  const time = async (f: () => Promise<unknown>) => {
    fullGc();
    const t = performance.now();
    await f();
    return performance.now() - t;
  };
  const probe = ids[0] as string;
  const breakdown: Array<[string, () => Promise<unknown>]> = [
    ['big.read', () => ledger.read(probe)],
    ['big.events', () => engine.events(probe)],
    ['big.replay', () => engine.replay(plan, probe)],
  ];
  for (const [id, f] of breakdown) {
    await f();
    const reps: number[] = [];
    for (let rep = 0; rep < REPEATS; rep++) reps.push(await time(f));
    const stat = statOf(reps, 1);
    log(`    ${id}: ${fmt(stat.median)} ms`);
    setCell(id, 'Flujo', { stat });
  }
  const resumeReps: number[] = [];
  for (let i = 0; i <= REPEATS; i++) {
    let out: Awaited<ReturnType<Engine['resume']>> | undefined;
    const ms = await time(async () => {
      out = await engine.resume(plan, ids[i] as string, { humanInput: { ok: true } });
    });
    if (out?.status !== 'completed' || out.output !== N.bigSteps + 2)
      throw new Error(`big run resume: ${out?.status}, output ${JSON.stringify(out?.output)}`);
    if (i > 0) resumeReps.push(ms); // the first one is the warm-up
  }
  const stat = statOf(resumeReps, 1);
  log(`    big.resume: ${fmt(stat.median)} ms`);
  setCell('big.resume', 'Flujo', { stat });
  await ledger.close();
}

// ---------------------------------------------------------------------------------------------
// Peers

const PEER_FILES: Record<Exclude<System, 'Flujo'>, string> = {
  LangGraph: 'langgraph.mjs',
  Mastra: 'mastra.mjs',
  DBOS: 'dbos.mjs',
};

/** performance.md's figures in every cell of a peer that could not be measured. */
function fallBackToPerfMd(system: Exclude<System, 'Flujo'>, why: string): void {
  notes.push(`${system}: ${why}; its cells show performance.md's figures (not re-measured)`);
  for (const r of rows) {
    if (r.cells[system]?.stat) continue;
    const v = r.perfMd[system];
    if (v !== undefined) r.cells[system] = { stat: null, fromPerfMd: v, note: why };
  }
}

async function peerSection(system: Exclude<System, 'Flujo'>): Promise<void> {
  log(system);
  if (NO_PEERS) {
    fallBackToPerfMd(system, 'not run (--no-peers)');
    return;
  }
  let mod: PeerModule;
  try {
    // A computed specifier: the peers are plain JS with their own node_modules, not type-checked.
    const url = pathToFileURL(join(HERE, 'peers', PEER_FILES[system])).href;
    mod = (await import(url)) as PeerModule;
  } catch (e) {
    log(`  cannot import ${system}: ${(e as Error).message}`);
    fallBackToPerfMd(
      system,
      `could not be imported (${(e as Error).message.split('\n')[0]}; run npm install in bench/engine)`,
    );
    return;
  }
  meta.versions = { ...(meta.versions as object), [system]: mod.versions() };
  for (const storage of mod.variants) {
    let subject: Subject;
    try {
      subject = await mod.open(storage, { dir: TMP, pgUrl: PG_URL });
    } catch (e) {
      log(`  ${system} ${storage} FAILED to open: ${(e as Error).stack}`);
      for (const id of ['step10', 'step100', 'pause', 'resume']) {
        failCell(`${id}.${storage}`, system, e);
      }
      continue;
    }
    try {
      await measureSubject(system, storage, subject);
      if (storage === 'NORMAL' || storage === 'postgres') {
        // One measurement for the peers (performance.md also measured once): each takes seconds.
        await measureHeap(system, `heap.${storage}`, subject, 1, system === 'DBOS');
      }
    } finally {
      await subject.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------

const meta: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  quick: QUICK,
  repeats: REPEATS,
  method: 'warm-up, then 5 sequential repeats; median (min–max)',
  exposeGc: gc !== null,
  work: N,
};

/** The commit of ../../src, and whether src/ has uncommitted changes (others may be editing). */
function sourceRevision(): string {
  const root = join(HERE, '..', '..');
  try {
    const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root })
      .toString()
      .trim();
    return dirty ? `${commit} + uncommitted changes in src/` : commit;
  } catch {
    // An exported tree (git archive) has no .git; it may carry the commit in .commit.
    const file = join(root, '.commit');
    return existsSync(file)
      ? `${readFileSync(file, 'utf8').trim().slice(0, 12)} (exported tree)`
      : 'unknown';
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  meta.source = sourceRevision();
  mkdirSync(TMP, { recursive: true });
  cleanups.push(() => rmSync(TMP, { recursive: true, force: true }));
  if (!gc) notes.push('run without --expose-gc: heap figures include uncollected garbage');
  {
    const probe = new Database(':memory:');
    meta.sqlite = (probe.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    probe.close();
  }
  const load0 = loadavg()[0] as number;
  meta.loadAverageAtStart = load0;
  if (load0 > 0.5) {
    notes.push(
      `1-minute load average was ${load0.toFixed(2)} at start: other work on this machine may disturb the figures`,
    );
  }
  defineRows();
  const section = async (name: string, f: () => Promise<void>) => {
    const t = performance.now();
    try {
      await f();
    } catch (e) {
      log(`  ${name} FAILED: ${(e as Error).stack}`);
      notes.push(`${name} failed: ${(e as Error).message.split('\n')[0]}`);
    }
    log(`  (${name}: ${((performance.now() - t) / 1000).toFixed(1)} s)`);
  };
  await section('commit floor', floorSection);
  await section('Flujo', oursSection);
  await section('long run', bigRunSection);
  for (const p of ['LangGraph', 'Mastra', 'DBOS'] as const) {
    await section(p, () => peerSection(p));
  }
  meta.loadAverageAtEnd = loadavg()[0];
  meta.seconds = Math.round((performance.now() - t0) / 100) / 10;

  if (JSON_OUT) {
    const doc = {
      meta,
      notes,
      rows: rows.map((r) => ({
        section: r.section,
        id: r.id,
        label: r.label,
        storage: r.storage,
        unit: r.unit,
        target: r.target ?? null,
        pass: verdict(r),
        perfMd: r.perfMd,
        cells: Object.fromEntries(
          SYSTEMS.filter((s) => r.cells[s]).map((s) => {
            const c = r.cells[s] as Cell;
            return [s, { stat: c.stat, fromPerfMd: c.fromPerfMd ?? null, note: c.note ?? null }];
          }),
        ),
      })),
    };
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    return;
  }
  const versions = meta.versions as Record<string, string> | undefined;
  const out = [
    `Flujo engine benchmark${QUICK ? ' (--quick: fewer runs, not for comparison)' : ''}`,
    `src at ${String(meta.source)}; node ${process.version}, SQLite ${String(meta.sqlite)}${meta.postgres ? `, PostgreSQL ${String(meta.postgres).split(' ')[0]}` : ''}; ${REPEATS} repeats after a warm-up, median (min–max); ${String(meta.seconds)} s; load average ${load0.toFixed(2)} at start, ${(meta.loadAverageAtEnd as number).toFixed(2)} at end`,
    ...(versions ? Object.values(versions).map((v) => `- ${v}`) : []),
    ...notes.map((n) => `- ${n}`),
    '',
    table(),
    '',
    'Per step = run time ÷ steps, run start and finish included; runs one after another. Peers: LangGraph = ' +
      `${Object.entries(PEER_STORE.LangGraph)
        .map(([k, v]) => `${v} (${k})`)
        .join(', ')}; Mastra = ${Object.entries(PEER_STORE.Mastra)
        .map(([k, v]) => `${v} (${k})`)
        .join(', ')}; DBOS = Postgres system DB.`,
    '"perf.md (peers)": performance.md\'s figure for the same cell (2026-11-25, same machine), to show drift; "—": the system has no such storage.',
  ];
  process.stdout.write(out.join('\n') + '\n');
}

try {
  await main();
} catch (e) {
  process.exitCode = 1;
  if (!interrupted) log(`benchmark failed: ${(e as Error).stack ?? String(e)}`);
} finally {
  await cleanupAll();
}
// DBOS, pg pools and timers of the peers may keep the loop alive; the work is done. Let stdout
// drain first (it may be a pipe).
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(process.exitCode ?? 0);
