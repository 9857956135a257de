/**
 * A web lens over a real ledger and its read models, with pipelines that pause for a person,
 * call a (scripted) model, fail, or wait on a gate the test opens: what the browser tests look at.
 */
import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, hitl, sequence, step } from '../../src/dsl/builder.js';
import type { Plan } from '../../src/dsl/ir.js';
import type { AgentPort, Clock, LedgerStore } from '../../src/ports.js';
import { foldingReadModels } from '../../src/projections/index.js';
import type { ReadModels } from '../../src/projections/readModels.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createLensServer, type LensServer } from '../../src/web/server.js';
import type { LensServerOptions } from '../../src/web/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const approvalSchema = z.object({
  approved: z.boolean(),
  reviewer: z.string().min(2),
  priority: z.enum(['low', 'normal', 'high']),
  amount: z.number().max(1000),
});

export const approvalPipeline = definePipeline(
  'refund-approval',
  sequence(
    agentStep('draft', 'openai:gpt-4o-mini'),
    agentStep('assess', 'anthropic:claude-3-5-haiku'),
    hitl('approve', { message: 'Refund $120 to order 4711?', schema: approvalSchema }),
    step('notify', (answer: { approved: boolean; reviewer: string }) => ({
      sent: answer.approved,
      by: answer.reviewer,
    })),
  ),
);

export const xssPipeline = definePipeline(
  'xss',
  step('echo', () => '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'),
);

export const failingPipeline = definePipeline(
  'nightly-report',
  sequence(
    agentStep('summarise', 'openai:gpt-4o-mini'),
    step('upload', () => {
      throw new Error('bucket reports-eu is not writable');
    }),
  ),
);

/** A gate the test opens: the run stays `running` at `wait` until then. */
export function gatedPipeline() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const pipeline = definePipeline(
    'live-import',
    sequence(
      step('fetch', () => ({ rows: 3 })),
      step('wait', async (x: unknown) => {
        await gate;
        return x;
      }),
      step('load', () => ({ loaded: 3 })),
    ),
  );
  return { pipeline, open };
}

/** Two models with their own prices and a little latency, so the waterfall and costs have shape. */
const MODELS: Record<
  string,
  {
    cost: number;
    usage: { input: number; output: number };
    ms: number;
    reply: (i: unknown) => unknown;
  }
> = {
  'openai:gpt-4o-mini': {
    cost: 900,
    usage: { input: 420, output: 160 },
    ms: 120,
    reply: (input) => ({ draft: `Refund approved for ${JSON.stringify(input)}` }),
  },
  'anthropic:claude-3-5-haiku': {
    cost: 2400,
    usage: { input: 610, output: 95 },
    ms: 60,
    reply: () => ({ risk: 'low', score: 0.12 }),
  },
};

const fakeModels: AgentPort = {
  async call(req) {
    const m = MODELS[req.agent];
    if (!m) throw Object.assign(new Error(`no model ${req.agent}`), { retryable: false });
    await sleep(m.ms);
    return { output: m.reply(req.input), usage: m.usage, costMicros: m.cost, model: req.agent };
  },
};

export interface WebHarness {
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  readonly engine: ReturnType<typeof createEngine>;
  readonly server: LensServer;
  readonly plans: Map<string, Plan>;
  /** Records what follows as if it happened this many days ago (0: now). */
  daysAgo(n: number): void;
  close(): Promise<void>;
}

export async function webHarness(options: LensServerOptions = {}): Promise<WebHarness> {
  const ledger = createMemoryLedger();
  const readModels = foldingReadModels(ledger);
  let shift = 0;
  const clock: Clock = { now: () => Date.now() - shift };
  const engine = createEngine({ ledger, agents: fakeModels, worker: 'web-test', clock });
  const plans = new Map<string, Plan>();
  const server = await createLensServer(
    {
      ledger,
      readModels,
      async resume(runId, input, answeredBy, question) {
        const run = await readModels.getRun(runId);
        const plan = run && plans.get(run.pipeline);
        if (!plan) throw new Error(`no plan for ${runId}`);
        return engine.resume(plan, runId, {
          humanInput: input,
          answeredBy,
          ...(question !== undefined ? { question } : {}),
        });
      },
      // The engine that drives the test's runs: a run it drives stops before the cancel is recorded.
      cancel: (runId, reason) => engine.cancel(runId, reason),
    },
    { port: 0, ...options },
  );
  await server.live;
  for (const p of [approvalPipeline, xssPipeline, failingPipeline])
    plans.set(p.plan.ir.name, p.plan);
  return {
    ledger,
    readModels,
    engine,
    server,
    plans,
    daysAgo: (n) => {
      shift = n * 86_400_000;
    },
    async close() {
      await server.close();
      await ledger.close();
    },
  };
}
