/**
 * Group commit (ADR 54): our engine on the SQLite ledger with several runs in flight in one
 * process, beside the single-run rows of run.ts that it must not slow down.
 *
 *   cd bench/engine && node --expose-gc --import tsx concurrent.ts [--quick] [--group on|off|both]
 *
 * Rows, each on SQLite WAL sync=NORMAL and FULL, median of 5 repeats (min–max) after a warm-up:
 * - single run: per step of a 10-step no-op pipeline (200 runs one after another per repeat), of a
 *   100-step one (5 runs), and a HITL run's start → paused and resume → completed (20 runs), as
 *   run.ts measures them;
 * - N at once: waves of N runs of the 10-step pipeline started together (Promise.all), the next
 *   wave when all have completed; steps per second over the repeat (N × 10 × waves ÷ its time)
 *   and the median time of a run from its start to its result; then the same with steps that
 *   each wait for a turn of the event loop (setImmediate) first, as an agent's reply read from a
 *   socket would: runs woken by separate callbacks, not by one flush's microtasks.
 *
 * `--group off` opens the ledger with `groupCommit: false` (every append its own transaction, as
 * before ADR 54); `both` measures each row with it on and then off, in one process. A source tree
 * without the option ignores it (use it to measure the code before).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

import { z } from 'zod';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { definePipeline, hitl, sequence, step, type Flow } from '../../src/dsl/builder.js';
import type { Plan } from '../../src/dsl/ir.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const groupArg = args[args.indexOf('--group') + 1];
const MODES: readonly boolean[] =
  !args.includes('--group') || groupArg === 'on'
    ? [true]
    : groupArg === 'off'
      ? [false]
      : [true, false];
const REPEATS = 5;
const N = QUICK
  ? { runs10: 40, runs100: 1, hitl: 5, waves8: 5, waves32: 2 }
  : { runs10: 200, runs100: 5, hitl: 20, waves8: 25, waves32: 8 };
const HERE = dirname(fileURLToPath(import.meta.url));
const TMP = join(HERE, '.tmp', `concurrent-${process.pid}`);
const log = (m: string) => process.stderr.write(m + '\n');

let gc: (() => void) | null = null;
try {
  v8.setFlagsFromString('--expose-gc');
  gc = vm.runInNewContext('gc') as () => void;
} catch {
  gc = null;
}
const fullGc = () => {
  gc?.();
  gc?.();
};

const addOne = (name: string) => step(name, (x: number) => x + 1);
const linear = (n: number): Plan =>
  definePipeline(`linear${n}`, sequence(...Array.from({ length: n }, (_, i) => addOne(`s${i}`))))
    .plan;
const LINEAR10 = linear(10);
/** The same, each step waiting for a turn of the event loop first, as a reply read from a socket. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const LINEAR10_IO = definePipeline(
  'linear10io',
  sequence(
    ...Array.from({ length: 10 }, (_, i) =>
      step(`s${i}`, async (x: number) => {
        await turn();
        return x + 1;
      }),
    ),
  ),
).plan;
const LINEAR100 = linear(100);
const HITL10 = (() => {
  const parts: Flow<never, unknown>[] = [];
  for (let i = 1; i <= 4; i++) parts.push(addOne(`s${i}`));
  parts.push(hitl('s5', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }));
  parts.push(step('s6', (a: { ok: boolean }) => (a.ok ? 6 : -1)));
  for (let i = 7; i <= 10; i++) parts.push(addOne(`s${i}`));
  return definePipeline('hitl10', sequence(...parts)).plan;
})();

interface Stat {
  median: number;
  min: number;
  max: number;
}
const statOf = (xs: number[]): Stat => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[s.length >> 1] as number,
    min: s[0] as number,
    max: s[s.length - 1] as number,
  };
};
const fmt = (x: number) =>
  x >= 1000 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
const cell = (s: Stat, unit: string) => `${fmt(s.median)} ${unit} (${fmt(s.min)}–${fmt(s.max)})`;

let serial = 0;
async function runOne(engine: Engine, plan: Plan, expect: number): Promise<void> {
  const r = await engine.run(plan, 0, { runId: `c${process.pid}-${++serial}` });
  if (r.status !== 'completed' || r.output !== expect) throw new Error(`run: ${r.status}`);
}

/** Warm-up, then REPEATS repeats of `body`, each returning its figure. */
async function repeat(body: (warm: boolean) => Promise<number>): Promise<number[]> {
  fullGc();
  await body(true);
  const out: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    fullGc();
    out.push(await body(false));
  }
  return out;
}

interface Line {
  row: string;
  storage: string;
  group: boolean;
  text: string;
}
const lines: Line[] = [];

async function measure(storage: 'NORMAL' | 'FULL', group: boolean): Promise<void> {
  const path = join(TMP, `${storage}-${group ? 'on' : 'off'}-${serial}.db`);
  const ledger = createSqliteLedger({ path, synchronous: storage, groupCommit: group });
  const engine = createEngine({ ledger });
  const add = (row: string, text: string) => {
    lines.push({ row, storage, group, text });
    log(`  ${storage} group ${group ? 'on ' : 'off'} ${row}: ${text}`);
  };
  try {
    for (const [steps, plan, runs] of [
      [10, LINEAR10, N.runs10],
      [100, LINEAR100, N.runs100],
    ] as const) {
      const per = await repeat(async (warm) => {
        const n = warm ? Math.max(1, runs / 10) : runs;
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await runOne(engine, plan, steps);
        return (performance.now() - t0) / n / steps;
      });
      add(`single run, ${steps}-step, per step`, cell(statOf(per), 'ms'));
    }
    const pause: number[] = [];
    const resume: number[] = [];
    await repeat(async (warm) => {
      const n = warm ? 4 : N.hitl;
      const ids = Array.from({ length: n }, () => `h${process.pid}-${++serial}`);
      let t = performance.now();
      for (const id of ids) {
        const r = await engine.run(HITL10, 0, { runId: id });
        if (r.status !== 'paused') throw new Error('did not pause');
      }
      if (!warm) pause.push((performance.now() - t) / n);
      t = performance.now();
      for (const id of ids) {
        const r = await engine.resume(HITL10, id, { humanInput: { ok: true } });
        if (r.status !== 'completed' || r.output !== 10) throw new Error('resume');
      }
      if (!warm) resume.push((performance.now() - t) / n);
      return 0;
    });
    add('single run, HITL start → paused', cell(statOf(pause), 'ms'));
    add('single run, HITL resume → completed', cell(statOf(resume), 'ms'));

    for (const [at, waves, plan, what] of [
      [8, N.waves8, LINEAR10, ''],
      [32, N.waves32, LINEAR10, ''],
      [8, N.waves8, LINEAR10_IO, ', steps wait a loop turn'],
      [32, N.waves32, LINEAR10_IO, ', steps wait a loop turn'],
    ] as const) {
      const latencies: number[] = [];
      const before = ledger.groupCommits?.();
      const rates = await repeat(async (warm) => {
        const w = warm ? 1 : waves;
        const mine: number[] = [];
        const t0 = performance.now();
        for (let k = 0; k < w; k++) {
          await Promise.all(
            Array.from({ length: at }, async () => {
              const t = performance.now();
              await runOne(engine, plan, 10);
              mine.push(performance.now() - t);
            }),
          );
        }
        const ms = performance.now() - t0;
        if (!warm) latencies.push(statOf(mine).median);
        return (w * at * 10) / (ms / 1000);
      });
      const after = ledger.groupCommits?.();
      const per =
        before && after
          ? `; ${fmt((after.appends - before.appends) / (after.transactions - before.transactions))} appends per commit`
          : '';
      add(`${at} runs at once${what}, throughput`, `${cell(statOf(rates), 'steps/s')}${per}`);
      add(`${at} runs at once${what}, a run's latency`, cell(statOf(latencies), 'ms'));
    }
  } finally {
    await ledger.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  }
}

mkdirSync(TMP, { recursive: true });
const load0 = loadavg()[0] as number;
const t0 = performance.now();
try {
  for (const storage of ['NORMAL', 'FULL'] as const) {
    for (const group of MODES) await measure(storage, group);
  }
} finally {
  rmSync(TMP, { recursive: true, force: true });
}
const rows = [...new Set(lines.map((l) => l.row))];
const heads = (['NORMAL', 'FULL'] as const).flatMap((s) =>
  MODES.map((g) => ({ s, g, title: `${s}, group ${g ? 'on' : 'off'}` })),
);
process.stdout.write(
  `group commit bench${QUICK ? ' (--quick)' : ''}: ${REPEATS} repeats after a warm-up, median (min–max); ` +
    `${((performance.now() - t0) / 1000).toFixed(0)} s; load average ${load0.toFixed(2)} at start, ${(loadavg()[0] as number).toFixed(2)} at end\n\n` +
    `| case | ${heads.map((h) => h.title).join(' | ')} |\n|---|${heads.map(() => '---').join('|')}|\n` +
    rows
      .map(
        (r) =>
          `| ${r} | ${heads
            .map(
              (h) =>
                lines.find((l) => l.row === r && l.storage === h.s && l.group === h.g)?.text ?? '—',
            )
            .join(' | ')} |`,
      )
      .join('\n') +
    '\n',
);
