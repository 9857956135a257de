/**
 * A web lens over a real ledger and its read models, with pipelines that pause for a person,
 * call a (scripted) model, fail, or wait on a gate the test opens: what the browser tests look at.
 */
import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, hitl, sequence, step } from '../../src/dsl/builder.js';
import type { Plan } from '../../src/dsl/ir.js';
import type { LedgerStore } from '../../src/ports.js';
import { foldingReadModels } from '../../src/projections/index.js';
import type { ReadModels } from '../../src/projections/readModels.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createLensServer, type LensServer } from '../../src/web/server.js';
import type { LensServerOptions } from '../../src/web/types.js';
import { scriptedAgents } from '../support/given.js';

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

export interface WebHarness {
  readonly ledger: LedgerStore;
  readonly readModels: ReadModels;
  readonly engine: ReturnType<typeof createEngine>;
  readonly server: LensServer;
  readonly plans: Map<string, Plan>;
  close(): Promise<void>;
}

export async function webHarness(options: LensServerOptions = {}): Promise<WebHarness> {
  const ledger = createMemoryLedger();
  const readModels = foldingReadModels(ledger);
  const { port } = scriptedAgents({
    // Small delays give the waterfall something to draw.
    'openai:gpt-4o-mini': async (input) => {
      await sleep(120);
      return { draft: `Refund approved for ${JSON.stringify(input)}` };
    },
    'anthropic:claude-3-5-haiku': async () => {
      await sleep(60);
      return { risk: 'low', score: 0.12 };
    },
  });
  const engine = createEngine({ ledger, agents: port, worker: 'web-test' });
  const plans = new Map<string, Plan>();
  const server = await createLensServer(
    {
      ledger,
      readModels,
      async resume(runId, input, answeredBy) {
        const run = await readModels.getRun(runId);
        const plan = run && plans.get(run.pipeline);
        if (!plan) throw new Error(`no plan for ${runId}`);
        return engine.resume(plan, runId, { humanInput: input, answeredBy });
      },
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
    async close() {
      await server.close();
      await ledger.close();
    },
  };
}
