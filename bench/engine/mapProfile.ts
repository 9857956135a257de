/**
 * A sequential map over N items with a nested two-step no-op body (a blueprint map's shape), on the memory ledger: CPU seconds,
 * the bytes of the run's snapshots and, with --prof, where the CPU goes (writes .tmp/map-N.cpuprofile).
 * With --heap (needs --expose-gc) it also reports the live heap: after a full GC every n/10 items,
 * the largest and the last such figure less the heap before the run (the memory ledger's rows
 * included). The GCs cost CPU: take cpu_s from a run without --heap.
 *
 *   cd bench/engine && node --import tsx mapProfile.ts 10000 [--prof]
 *   cd bench/engine && node --expose-gc --import tsx mapProfile.ts 10000 --heap
 *
 * --item-bytes B maps over objects holding B bytes of text each (default: small integers);
 * --without FLAG runs as an engine without that engine flag would (an A/B in one build).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { definePipeline, map, sequence, step } from '../../src/dsl/builder.js';
import { CURRENT_ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { createEngine } from '../../src/runtime/engine.js';

const n = Number(process.argv[2] ?? 3000);
const prof = process.argv.includes('--prof');
const heap = process.argv.includes('--heap');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const itemBytes = Number(arg('--item-bytes') ?? 0);
const without = arg('--without');
if (without) {
  const flags = CURRENT_ENGINE_FLAGS as string[];
  if (!flags.includes(without)) throw new Error(`no engine flag ${without}`);
  flags.splice(flags.indexOf(without), 1);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (heap && !gc) throw new Error('--heap needs node --expose-gc');
const p = definePipeline(
  'map-bench',
  map(
    'each',
    sequence(
      sequence(step('a', (x: number | { i: number }) => (typeof x === 'number' ? x : x.i) + 1)),
      step('b', (x: number) => x * 2),
    ),
  ),
);
const ledger = createMemoryLedger();
// Live heap, sampled after a full GC about every n/10 items (each item appends a few events).
const heapAt = () => (gc?.(), process.memoryUsage().heapUsed);
const heap0 = heap ? heapAt() : 0;
let appends = 0;
let heapPeak = 0;
const every = Math.max(1, Math.floor(n / 10)) * 5;
if (heap) {
  const append = ledger.append.bind(ledger);
  ledger.append = async (req) => {
    if (++appends % every === 0) heapPeak = Math.max(heapPeak, heapAt() - heap0);
    return append(req);
  };
}
// Items of --item-bytes may pass the 8 MiB a run's input is held to by default (ADR 100).
const engine = createEngine({ ledger, maxInputBytes: 2 ** 30 });
const items = Array.from({ length: n }, (_, i) =>
  itemBytes > 0 ? { i, text: String(i % 10).repeat(itemBytes) } : i,
);
const session = new Session();
if (prof) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const r = await engine.run(p.plan, items);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
if (prof) {
  const { profile } = await session.post('Profiler.stop');
  const dir = join(dirname(fileURLToPath(import.meta.url)), '.tmp');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `map-${n}.cpuprofile`), JSON.stringify(profile));
}
const rows = await ledger.read((r as { runId: string }).runId);
const events = rows.length;
const snapshotBytes = rows
  .filter((row) => row.type === 'SnapshotTaken')
  .reduce((sum, row) => sum + row.body.length, 0);
const mb = (b: number) => +(b / 2 ** 20).toFixed(1);
const heapEnd = heap ? heapAt() - heap0 : 0;
console.log(
  JSON.stringify({
    items: n,
    ...(itemBytes > 0 ? { item_bytes: itemBytes } : {}),
    ...(without ? { without } : {}),
    status: (r as { status: string }).status,
    events,
    wall_s: +(wall / 1000).toFixed(2),
    cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    snapshot_mb: mb(snapshotBytes),
    ...(heap ? { heap_peak_mb: mb(heapPeak), heap_end_mb: mb(heapEnd) } : {}),
  }),
);
