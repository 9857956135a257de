/**
 * Where does a step's time go? Profiles our engine with V8's sampling CPU profiler (the profiler
 * behind `node --cpu-prof`, driven here through node:inspector so that only the measured loop is
 * recorded) and prints a breakdown; the .cpuprofile files are written to .tmp/ for DevTools.
 *
 *   cd bench/engine && node --enable-source-maps --import tsx profile.ts [steps|hitl|resume|all]
 *
 *   steps:  runs the 10-step no-op pipeline `RUNS` times on SQLite WAL sync=NORMAL (on the
 *           memory ledger with FLUJO_PROFILE_LEDGER=memory: the engine's own cost; on the state
 *           `flujo run` opens, with its inline read models, with FLUJO_PROFILE_LEDGER=state; on
 *           Postgres (FLUJO_BENCH_PG_URL, a throwaway schema) with FLUJO_PROFILE_LEDGER=postgres)
 *   hitl:   resumes `HITL_RUNS` runs of the 10-step HITL pipeline paused at step 5 (memory
 *           or Postgres ledger too with FLUJO_PROFILE_LEDGER=memory|postgres)
 *   resume: resumes paused runs of ~10,000 events (the long-run row of run.ts)
 *
 * Two views: self time by area (each sample goes to the area of the innermost frame that is our
 * code or a named library; V8 builtins and native calls count for the frame that called them),
 * inclusive time of chosen functions (a sample counts once per function on its stack; an async
 * function counts only while it is on the stack, not the callers that await it), and the
 * functions with the most self time, located in the TypeScript source through the source maps
 * (--enable-source-maps makes them available).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Session, type Profiler } from 'node:inspector';
import { findSourceMap } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { createPostgresLedger } from '../../src/adapters/ledger/postgres.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { definePipeline, hitl, sequence, step, type Flow } from '../../src/dsl/builder.js';
import type { Plan } from '../../src/dsl/ir.js';
import type { LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const TMP = join(HERE, '.tmp', `profile-${process.pid}`);
const RUNS = 3000;
const BIG_STEPS = 2499;
const BIG_RUNS = 8;
const HITL_RUNS = 1000;

const what = process.argv[2] ?? 'all';
if (!['steps', 'hitl', 'resume', 'all'].includes(what)) {
  process.stderr.write('usage: node --import tsx profile.ts [steps|hitl|resume|all]\n');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Areas and functions of interest

/** The area of a frame, from its script URL; null: not ours and not a named library. */
function areaOf(url: string): string | null {
  if (!url) return null;
  if (url.includes('/src/projections/')) return 'projections: fold (events to row changes)';
  if (url.includes('/node_modules/pg/') || url.includes('/node_modules/pg-'))
    return 'node-postgres (pg, pg-protocol: serialise, parse, client)';
  if (url.includes('/node_modules/better-sqlite3/') || url.includes('/adapters/ledger/'))
    return 'ledger adapter + better-sqlite3 (SQL, statements)';
  if (url.includes('/node_modules/xstate/')) return 'XState (transition)';
  if (
    url.includes('/src/events/') ||
    url.includes('/node_modules/hash-wasm/') ||
    url.includes('/node_modules/@noble/')
  )
    return 'events: CBOR encode/decode, envelope, blake3';
  if (url.includes('/src/actors/')) return 'actors: fold, machine glue, decisions';
  if (url.includes('/src/runtime/')) return 'runtime: engine, driver, summary';
  if (url.includes('/src/dsl/')) return 'dsl: fingerprint, builder';
  if (url.includes('/node_modules/ajv')) return 'ajv (HITL answer schema)';
  if (url.includes('/bench/engine/')) return 'benchmark loop';
  if (url.startsWith('node:')) return 'node internals (promises, timers)';
  return null;
}

/** Inclusive time of these functions (by name and file). */
const FUNCTIONS: ReadonlyArray<readonly [string, string, string]> = [
  ['append', '/adapters/ledger/sqlite.ts', 'ledger.append (seal + SQL txn)'],
  ['append', '/adapters/ledger/postgres.ts', 'ledger.append (seal + flight), until it awaits'],
  ['appendValues', '/adapters/ledger/postgresAppend.ts', '  of which appendValues (params)'],
  ['Flight', '/adapters/ledger/postgresFlight.ts', '  of which new Flight (encode params)'],
  ['submit', '/adapters/ledger/postgresFlight.ts', '  of which Flight.submit (serialise, write)'],
  ['parse', '/node_modules/pg-protocol/', 'pg-protocol parse (the answer)'],
  ['changesOfRecords', '/src/projections/fold.ts', '  of which read models: fold to row changes'],
  ['apply', '/adapters/ledger/projectionsSqlite.ts', '  of which read models: statements'],
  ['prepareAppend', '/adapters/ledger/common.ts', '  of which prepareAppend (seal: encode + hash)'],
  ['encodeCanonical', '/src/events/codecWrite.ts', 'encodeCanonical (anywhere)'],
  ['linkHash', '/src/events/chain.ts', 'linkHash (blake3 chain)'],
  ['applyFact', '/src/actors/fold.ts', 'applyFact (XState transition + bookkeeping)'],
  ['transition', '/node_modules/xstate/', '  of which xstate transition'],
  ['startFold', '/src/actors/fold.ts', 'startFold (initial transition)'],
  ['planFingerprint', '/src/dsl/fingerprint.ts', 'planFingerprint (each start/resume)'],
  // readEvents, not result(): after `await ledger.read()` the stack holds readEvents but no
  // longer its async caller. In a plain run the only caller is result() at the end of the run.
  ['readEvents', '/src/runtime/engine.ts', 'engine readEvents (read + decode all events)'],
  ['decodeRecord', '/src/events/envelope.ts', 'decodeRecord'],
  ['summarize', '/src/runtime/summary.ts', 'summarize'],
  ['refold', '/src/actors/fold.ts', 'refold (resume)'],
  ['call', '/src/runtime/driver.ts', 'driver.call (start the function step)'],
  ['validateHumanInput', '/src/runtime/engine.ts', 'validateHumanInput (ajv compile + check)'],
  ['loadForResume', '/src/runtime/load.ts', 'loadForResume (read + decode from the snapshot)'],
  ['restoreFold', '/src/actors/foldSnapshot.ts', 'restoreFold (snapshot to machine state)'],
  ['fromChain', '/src/runtime/summary.ts', 'RunSummary.fromChain'],
  ['check', '/src/runtime/humanInput.ts', 'AnswerValidator.check'],
  ['drive', '/src/runtime/driver.ts', 'driver.drive (the steps after the resume)'],
  ['commit', '/src/runtime/driver.ts', 'driver.commit'],
];

/** `file:line` of a frame in the original source when a source map knows it. */
function where(frame: Profiler.ProfileNode['callFrame']): string {
  const short = (u: string) => u.replace(/^.*\/(node_modules|src)\//, '$1/');
  if (!frame.url) return '(native)';
  try {
    const map = findSourceMap(frame.url);
    const entry = map?.findEntry(frame.lineNumber, frame.columnNumber) as
      { originalSource?: string; originalLine?: number } | undefined;
    if (entry?.originalSource) {
      return `${short(entry.originalSource)}:${(entry.originalLine ?? 0) + 1}`;
    }
  } catch {
    // no source map: fall through
  }
  return `${short(frame.url)}:${frame.lineNumber + 1}`;
}

function report(title: string, profile: Profiler.Profile, wallMs: number, perOp: string): void {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map<number, number>();
  for (const s of profile.samples ?? []) counts.set(s, (counts.get(s) ?? 0) + 1);
  const total = profile.samples?.length ?? 0;
  const selfByArea = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, count] of counts) {
    const leaf = nodes.get(id) as Profiler.ProfileNode;
    const name = leaf.callFrame.functionName;
    const fnKey = `${name || '(anonymous)'} ${where(leaf.callFrame)}`;
    selfByFunction.set(fnKey, (selfByFunction.get(fnKey) ?? 0) + count);
    let area: string | null = null;
    if (name === '(garbage collector)') area = 'GC';
    else if (name === '(idle)') area = 'idle (waiting: fsync, I/O)';
    else if (name === '(program)') area = 'V8/native (program)';
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = nodes.get(cur) as Profiler.ProfileNode;
      area ??= areaOf(n.callFrame.url);
      for (const [fn, file, label] of FUNCTIONS) {
        if (n.callFrame.functionName === fn && n.callFrame.url.includes(file) && !seen.has(label)) {
          seen.add(label);
          incl.set(label, (incl.get(label) ?? 0) + count);
        }
      }
    }
    area ??= 'other';
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + count);
  }
  const pct = (c: number) => `${((100 * c) / total).toFixed(1).padStart(5)}%`;
  const lines = [`## ${title}`, `${total} samples over ${wallMs.toFixed(0)} ms; ${perOp}`, ''];
  lines.push('self time by area:');
  for (const [a, c] of [...selfByArea].sort((x, y) => y[1] - x[1])) {
    lines.push(`  ${pct(c)}  ${a}`);
  }
  lines.push('', 'inclusive time:');
  for (const [, , label] of FUNCTIONS) {
    const c = incl.get(label);
    if (c) lines.push(`  ${pct(c)}  ${label}`);
  }
  lines.push('', 'most self time:');
  for (const [f, c] of [...selfByFunction]
    .sort((x, y) => y[1] - x[1])
    .slice(0, Number(process.env.TOP ?? 15))) {
    lines.push(`  ${pct(c)}  ${f}`);
  }
  process.stdout.write(lines.join('\n') + '\n\n');
}

// ---------------------------------------------------------------------------------------------

const session = new Session();
session.connect();
const post = <T>(method: string, params?: object) =>
  new Promise<T>((resolve, reject) =>
    session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))),
  );

/** The profile, its wall time and the process's CPU time (user + system) over it, in ms. */
async function profiled(
  name: string,
  f: () => Promise<void>,
): Promise<[Profiler.Profile, number, number]> {
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000;
  const { profile } = await post<{ profile: Profiler.Profile }>('Profiler.stop');
  const file = join(TMP, `${name}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  process.stderr.write(`wrote ${file}\n`);
  return [profile, ms, cpu];
}

const storage = (kind: string) =>
  kind === 'memory'
    ? 'memory ledger'
    : kind === 'postgres'
      ? 'Postgres, sync_commit=on'
      : 'SQLite WAL sync=NORMAL';

/** FLUJO_PROFILE_LEDGER=postgres: a ledger in a throwaway schema, dropped at the end. */
const PG_URL = process.env.FLUJO_BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const pgSchemas: string[] = [];
async function postgresLedger(): Promise<LedgerStore> {
  const schema = `flujo_bench_profile_${process.pid}_${pgSchemas.length}`;
  pgSchemas.push(schema);
  return createPostgresLedger({ connectionString: PG_URL, schema, max: 2 });
}
async function dropPostgresSchemas(): Promise<void> {
  if (!pgSchemas.length) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of pgSchemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
}

const addOne = (name: string) => step(name, (x: number) => x + 1);

function hitlPlan(name: string, before: number, after: number): Plan {
  const parts: Flow<never, unknown>[] = [];
  for (let i = 1; i <= before; i++) parts.push(addOne(`s${i}`));
  parts.push(hitl(`h`, { message: 'ok?', schema: z.object({ ok: z.boolean() }) }));
  parts.push(step('answered', (a: { ok: boolean }) => (a.ok ? before + 2 : 0)));
  for (let i = 2; i <= after; i++) parts.push(addOne(`t${i}`));
  return definePipeline(name, sequence(...parts)).plan;
}

mkdirSync(TMP, { recursive: true });
try {
  if (what === 'steps' || what === 'all') {
    const kind = process.env.FLUJO_PROFILE_LEDGER;
    const ledger =
      kind === 'memory'
        ? createMemoryLedger()
        : kind === 'postgres'
          ? await postgresLedger()
          : kind === 'state'
            ? (
                await openState(`sqlite:///${join(TMP, 'steps.db')}`, {
                  projectRoot: '/',
                  sqliteSynchronous: 'NORMAL',
                })
              ).ledger
            : createSqliteLedger({ path: join(TMP, 'steps.db'), synchronous: 'NORMAL' });
    const engine = createEngine({ ledger });
    const plan = definePipeline(
      'linear10',
      sequence(...Array.from({ length: 10 }, (_, i) => addOne(`s${i + 1}`))),
    ).plan;
    for (let i = 0; i < 200; i++) await engine.run(plan, 0); // warm-up
    const [profile, ms, cpu] = await profiled('steps', async () => {
      for (let i = 0; i < RUNS; i++) await engine.run(plan, 0);
    });
    report(
      `10-step no-op pipeline, ${storage(ledger.kind)}${kind === 'state' ? ' with inline read models' : ''}, ${RUNS} runs`,
      profile,
      ms,
      `${(ms / RUNS / 10).toFixed(3)} ms per step (under the profiler), CPU ${(cpu / RUNS / 10).toFixed(3)} ms per step`,
    );
    await ledger.close();
  }
  if (what === 'hitl' || what === 'all') {
    const kind = process.env.FLUJO_PROFILE_LEDGER;
    const ledger =
      kind === 'memory'
        ? createMemoryLedger()
        : kind === 'postgres'
          ? await postgresLedger()
          : createSqliteLedger({ path: join(TMP, 'hitl.db'), synchronous: 'NORMAL' });
    const engine = createEngine({ ledger });
    const plan = hitlPlan('hitl10', 4, 5);
    const ids: string[] = [];
    for (let i = 0; i < HITL_RUNS + 100; i++) ids.push((await engine.run(plan, 0)).runId);
    for (const id of ids.splice(0, 100)) {
      await engine.resume(plan, id, { humanInput: { ok: true } }); // warm-up
    }
    const [profile, ms, cpu] = await profiled('hitl', async () => {
      for (const id of ids) await engine.resume(plan, id, { humanInput: { ok: true } });
    });
    report(
      `HITL resume → completed (10-step pipeline paused at step 5), ${storage(ledger.kind)}, ${HITL_RUNS} resumes`,
      profile,
      ms,
      `${(ms / HITL_RUNS).toFixed(2)} ms per resume (under the profiler), CPU ${(cpu / HITL_RUNS).toFixed(2)} ms per resume`,
    );
    await ledger.close();
  }
  if (what === 'resume' || what === 'all') {
    const ledger = createSqliteLedger({ path: join(TMP, 'resume.db'), synchronous: 'NORMAL' });
    const engine = createEngine({ ledger });
    const plan = hitlPlan('big', BIG_STEPS, 1);
    const ids: string[] = [];
    let events = 0;
    for (let i = 0; i <= BIG_RUNS; i++) {
      const r = await engine.run(plan, 0);
      events = r.events;
      ids.push(r.runId);
    }
    await engine.resume(plan, ids.pop() as string, { humanInput: { ok: true } }); // warm-up
    const [profile, ms] = await profiled('resume', async () => {
      for (const id of ids) await engine.resume(plan, id, { humanInput: { ok: true } });
    });
    report(
      `resume of a paused ${events}-event run, SQLite WAL sync=NORMAL, ${ids.length} resumes`,
      profile,
      ms,
      `${(ms / ids.length).toFixed(1)} ms per resume (under the profiler)`,
    );
    await ledger.close();
  }
} finally {
  for (const f of ['steps.db', 'hitl.db', 'resume.db'])
    for (const s of ['', '-wal', '-shm']) rmSync(join(TMP, f + s), { force: true });
  await dropPostgresSchemas();
  session.disconnect();
}
