/**
 * A sequential map over N items with a nested two-step no-op body (a blueprint map's shape), on the memory ledger: CPU seconds and,
 * with --prof, where they go (writes .tmp/map-N.cpuprofile).
 *
 *   cd bench/engine && node --import tsx mapProfile.ts 10000 [--prof]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { definePipeline, map, sequence, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';

const n = Number(process.argv[2] ?? 3000);
const prof = process.argv.includes('--prof');
const p = definePipeline(
  'map-bench',
  map(
    'each',
    sequence(
      sequence(step('a', (x: number) => x + 1)),
      step('b', (x: number) => x * 2),
    ),
  ),
);
const ledger = createMemoryLedger();
const engine = createEngine({ ledger });
const items = Array.from({ length: n }, (_, i) => i);
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
const events = (await ledger.read((r as { runId: string }).runId)).length;
console.log(
  JSON.stringify({
    items: n,
    status: (r as { status: string }).status,
    events,
    wall_s: +(wall / 1000).toFixed(2),
    cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2),
  }),
);
