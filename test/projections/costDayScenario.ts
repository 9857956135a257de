/**
 * Calls made before a UTC midnight and charged after it (ADR 145), for the `--by day` tests:
 *
 * - `late-1` (the engine, injectable clock): a model call requested at 23:59:50 on DAY_1 hangs;
 *   a cancel at 00:00:30 on DAY_2 charges its reservation (100 µ$, `BudgetReconciled`, ADR 128).
 * - `split-1` (written to the ledger as a run records it): a call requested at 23:59:58 on DAY_1
 *   replies at 23:59:59.5 (30 µ$, 10 tokens), and a charge of the same attempt (100 µ$) is
 *   recorded at 02:00 on DAY_2.
 * - `next-1` (the engine): a call made and answered on DAY_2 (30 µ$, 10 tokens).
 *
 * Every charge counts on the day its call was requested: DAY_1 holds 100 + 130, DAY_2 30.
 */
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead } from '../../src/events/envelope.js';
import type { AgentPort, LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';

export const DAY_1 = '2025-03-10';
export const DAY_2 = '2025-03-11';
const MIDNIGHT = Date.UTC(2025, 2, 11);

/** `costs({ by: 'day' })` across the three runs, as the rule gives it. */
export const BY_DAY = [
  { key: DAY_1, calls: 1, tokensIn: 5, tokensOut: 5, costMicros: 230 },
  { key: DAY_2, calls: 1, tokensIn: 5, tokensOut: 5, costMicros: 30 },
];
/** `costs({ by: 'day', runId })` of each run. */
export const RUN_BY_DAY: Record<string, unknown[]> = {
  'late-1': [{ key: DAY_1, calls: 0, tokensIn: 0, tokensOut: 0, costMicros: 100 }],
  'split-1': [{ key: DAY_1, calls: 1, tokensIn: 5, tokensOut: 5, costMicros: 130 }],
  'next-1': [{ key: DAY_2, calls: 1, tokensIn: 5, tokensOut: 5, costMicros: 30 }],
};

/** `m:fast` answers at 30 µ$; `m:slow` answers only an abort. Every call reserves 100 µ$. */
function agents(started: () => void): AgentPort {
  return {
    estimate: () => ({ costMicros: 100, tokens: 50 }),
    call(req, signal) {
      if (req.agent === 'm:fast')
        return Promise.resolve({
          output: 'ok',
          usage: { input: 5, output: 5 },
          costMicros: 30,
          model: 'm-2024',
        });
      started();
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted'))),
      );
    },
  };
}

export async function runAcrossMidnight(ledger: LedgerStore): Promise<void> {
  let t = MIDNIGHT - 10_000;
  let started = () => {};
  const slowStarted = new Promise<void>((resolve) => (started = resolve));
  const engine = createEngine({
    ledger,
    agents: agents(() => started()),
    clock: { now: () => t++ },
    worker: 'test',
  });
  const budget = { costMicros: 1_000_000 };
  const slow = definePipeline('late', agentStep('ask', 'm:slow')).plan;
  const running = engine.run(slow, 'q', { runId: 'late-1', budget });
  await slowStarted;
  t = MIDNIGHT + 30_000;
  await engine.cancel('late-1', 'after midnight');
  const late = await running;
  if (late.status !== 'cancelled' || late.costMicros !== 100)
    throw new Error(`late-1: ${late.status}, ${late.costMicros} µ$`);

  await writeSplit(ledger);

  t = MIDNIGHT + 60_000;
  const fast = definePipeline('next', agentStep('ask', 'm:fast')).plan;
  const next = await engine.run(fast, 'q', { runId: 'next-1', budget });
  if (next.status !== 'completed') throw new Error(`next-1: ${next.status}`);
}

/** `split-1`: a reply before midnight, and a charge of the same attempt after it. */
async function writeSplit(ledger: LedgerStore): Promise<void> {
  const call = { path: '0', attempt: 1 };
  const batches: [number, NewEvent[]][] = [
    [
      MIDNIGHT - 2_000,
      [
        {
          type: 'RunStarted',
          data: {
            pipeline: { name: 'split', fingerprint: 'f' },
            input: 'q',
            engine: { version: 'test', flags: [] },
            budget: { costMicros: 1_000_000 },
          },
        },
        { type: 'StepScheduled', data: { path: '0', name: 'ask', kind: 'agent' } },
        { type: 'BudgetReserved', data: { ...call, costMicros: 100, tokens: 50 } },
        {
          type: 'AgentCallRequested',
          data: { ...call, key: 'k', agent: 'm:split', requestHash: 'h', input: 'q' },
        },
      ],
    ],
    [
      MIDNIGHT - 500,
      [
        {
          type: 'AgentResponded',
          data: {
            ...call,
            key: 'k',
            output: 'ok',
            usage: { input: 5, output: 5 },
            costMicros: 30,
            model: 'm-2024',
            latencyMs: 1_500,
          },
        },
      ],
    ],
    [
      MIDNIGHT + 2 * 3_600_000,
      [
        { type: 'BudgetReconciled', data: { ...call, costMicros: 100, tokens: 50 } },
        { type: 'RunCancelled', data: { reason: 'charged after midnight' } },
      ],
    ],
  ];
  let head = emptyHead('split-1');
  for (const [at, events] of batches)
    head = (await ledger.append({ runId: 'split-1', expected: head, events, at })).head;
}
