/**
 * HITL resume → completed with the resume path warm: run.ts's HITL row resumes 20 runs a repeat
 * after a full GC, so it measures a barely warmed path; this resumes 2,000 paused runs after 300
 * warm-up resumes and prints the median, with the time inside the ledger's calls.
 *
 *   cd bench/engine && node --import tsx hitlWarm.ts [memory|sqlite]   (default sqlite, NORMAL)
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { definePipeline, hitl, sequence, step, type Flow } from '../../src/dsl/builder.js';
import type { LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';

const WARM = 300;
const N = 2000;
const memory = process.argv[2] === 'memory';
const HERE = dirname(fileURLToPath(import.meta.url));
const TMP = join(HERE, '.tmp', `hitl-warm-${process.pid}`);

const addOne = (name: string) => step(name, (x: number) => x + 1);
const parts: Flow<never, unknown>[] = [];
for (let i = 1; i <= 4; i++) parts.push(addOne(`s${i}`));
parts.push(hitl('h', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }));
parts.push(step('answered', (a: { ok: boolean }) => (a.ok ? 6 : 0)));
for (let i = 2; i <= 5; i++) parts.push(addOne(`t${i}`));
const plan = definePipeline('hitl10', sequence(...parts)).plan;

mkdirSync(TMP, { recursive: true });
const inner: LedgerStore = memory
  ? createMemoryLedger()
  : createSqliteLedger({ path: join(TMP, 'hitl.db'), synchronous: 'NORMAL' });
const spent = { append: 0, read: 0 };
const timed =
  <A extends unknown[], T>(key: keyof typeof spent, f: (...a: A) => Promise<T>) =>
  async (...a: A): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f(...a);
    } finally {
      spent[key] += performance.now() - t0;
    }
  };
const ledger: LedgerStore = {
  ...inner,
  append: timed('append', (r) => inner.append(r)),
  read: timed('read', (id, o) => inner.read(id, o)),
  head: timed('read', (id) => inner.head(id)),
};
const engine = createEngine({ ledger });
try {
  const ids: string[] = [];
  for (let i = 0; i < N + WARM; i++) ids.push((await engine.run(plan, 0)).runId);
  for (const id of ids.splice(0, WARM)) await engine.resume(plan, id, { humanInput: { ok: true } });
  spent.append = spent.read = 0;
  const times: number[] = [];
  for (const id of ids) {
    const t0 = performance.now();
    const r = await engine.resume(plan, id, { humanInput: { ok: true } });
    times.push(performance.now() - t0);
    if (r.status !== 'completed') throw new Error(`run ${id} ended ${r.status}`);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => (times[Math.floor(q * (times.length - 1))] as number).toFixed(3);
  console.log(
    `HITL resume → completed, warm (${memory ? 'memory ledger' : 'SQLite WAL, sync=NORMAL'}), ${N} resumes after ${WARM}: ` +
      `median ${at(0.5)} ms (p10 ${at(0.1)}, p90 ${at(0.9)}); per resume inside append ${(spent.append / N).toFixed(3)} ms, read/head ${(spent.read / N).toFixed(3)} ms`,
  );
} finally {
  await inner.close();
  rmSync(TMP, { recursive: true, force: true });
}
