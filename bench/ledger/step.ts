/**
 * The ledger's share of one engine step, beside its targets (≤ 7 µs to seal a typical 4-event
 * batch, ≤ 1.5 µs per requestHash; docs/adr/0033):
 *
 *   node --import tsx bench/ledger/step.ts
 *
 * Variants run interleaved in one process (A, B, A, B, …) so a busy machine slows them alike;
 * each figure is the median of 11 repeats with (min–max), in wall time and in process CPU time.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

import { requestHash } from '../../src/actors/decisions.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { initFastHash, useHashImpl, type HashImpl } from '../../src/events/chain.js';
import { emptyHead, sealBatch } from '../../src/events/envelope.js';

/** One step of a sequence of function agents: the reply, completion, next step, next call. */
const STEP: NewEvent[] = [
  {
    type: 'AgentResponded',
    data: {
      path: '3',
      attempt: 1,
      key: 'run-abc:3:1',
      output: 3,
      usage: { input: 0, output: 0 },
      costMicros: 0,
      model: 'fn:3.fn',
      latencyMs: 0,
    },
  },
  { type: 'StepCompleted', data: { path: '3', output: 3 } },
  { type: 'StepScheduled', data: { path: '4', name: 's5', kind: 'step' } },
  {
    type: 'AgentCallRequested',
    data: {
      path: '4',
      attempt: 1,
      key: 'run-abc:4:1',
      agent: 'fn:4.fn',
      requestHash: 'a'.repeat(64),
      input: 3,
    },
  } as NewEvent,
];
const AT = 1_764_000_000_000;
const head = emptyHead('lin10-123');
const envelopes = STEP.map((e, i) => ({
  runId: head.runId,
  seq: i + 1,
  type: e.type,
  v: 1,
  at: AT,
  data: e.data,
}));

interface Variant {
  readonly name: string;
  readonly setup?: () => void;
  readonly run: () => number;
}

let sink = 0;
function compare(title: string, ops: number, variants: readonly Variant[]): void {
  const wall = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (const v of variants) {
    v.setup?.();
    for (let i = 0; i < ops / 5; i++) sink += v.run();
  }
  for (let rep = 0; rep < 11; rep++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + rep) % variants.length;
      const v = variants[i] as Variant;
      v.setup?.();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let j = 0; j < ops; j++) sink += v.run();
      (wall[i] as number[]).push(((performance.now() - t0) * 1000) / ops);
      const c = process.cpuUsage(c0);
      (cpu[i] as number[]).push((c.user + c.system) / ops);
    }
  }
  const fmt = (r: number[]) => {
    r.sort((a, b) => a - b);
    const f = (x: number) => x.toFixed(2);
    return `${f(r[r.length >> 1] as number)} µs (${f(r[0] as number)}–${f(r[r.length - 1] as number)})`;
  };
  process.stdout.write(`${title}\n`);
  variants.forEach((v, i) => {
    process.stdout.write(
      `  ${v.name.padEnd(34)} wall ${fmt(wall[i] as number[])}  cpu ${fmt(cpu[i] as number[])}\n`,
    );
  });
}

await initFastHash();
process.stdout.write(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
const sealWith = (impl: HashImpl): Variant => ({
  name: `sealBatch, hashing ${impl}`,
  setup: () => useHashImpl(impl),
  run: () => sealBatch(head, STEP, AT).length,
});
compare('seal a 4-event step (target ≤ 7 µs)', 50_000, [
  sealWith('auto'),
  sealWith('wasm'),
  {
    name: 'JSON.stringify of the envelopes',
    run: () => envelopes.map((e) => JSON.stringify(e)).length,
  },
]);
useHashImpl('auto');
const INPUT = {
  prompt: 'Summarise the invoice dispute for the finance team in three bullets.',
  n: 3,
};
compare('requestHash (target ≤ 1.5 µs)', 100_000, [
  { name: 'small input (a number)', run: () => requestHash('fn:4.fn', 3, undefined).length },
  { name: '~120 B input', run: () => requestHash('agent:x', INPUT, { model: 'm' }).length },
]);
process.stdout.write(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}${sink > 0 ? '' : ' '}\n`,
);
