// #region review
import { z } from 'zod';

import {
  agentStep,
  conditional,
  createFlujo,
  createModelAgents,
  definePipeline,
  hitl,
  openState,
  parallel,
  sequence,
  step,
} from '../../src/index.js'; // in an application: from 'flujo'

export const review = definePipeline(
  'order-review',
  sequence(
    agentStep('extract', 'openai:gpt-4o-mini', {
      output: z.object({ total: z.number(), items: z.number() }), // checked structured output
    }),
    parallel('checks', {
      fraud: agentStep('fraud', 'anthropic:claude-sonnet-4', {
        output: z.object({ risk: z.number() }),
      }),
      stock: step('stock', (o: { items: number }) => ({ available: o.items <= 5 })),
    }),
    conditional(
      'route',
      (c: { fraud: { risk: number } }) => (c.fraud.risk > 0.5 ? 'manual' : 'auto'),
      {
        manual: hitl('approve', {
          message: 'High risk: approve?',
          schema: z.object({ approved: z.boolean() }),
        }),
        auto: step('auto', () => ({ approved: true })),
      },
    ),
    step('receipt', (a: { approved: boolean }) => (a.approved ? 'shipped' : 'held')),
  ),
);

export async function main() {
  // The ledger with its read models (lens sees these runs); openLedger alone has none.
  const { ledger } = await openState('sqlite:///.flujo/state.db', { projectRoot: process.cwd() });
  // OPENAI_API_KEY / ANTHROPIC_API_KEY (or *_BASE_URL for a local server) from the environment.
  const flujo = createFlujo({ ledger, agents: createModelAgents({ env: process.env }) });
  const run = await flujo.run(review, 'order #4711'); // run.output: string | undefined
  const done =
    run.status === 'paused' // a risk over 0.5 waits for a person
      ? await flujo.resume(review, run.runId, { humanInput: { approved: true } })
      : run;
  console.log(done.status, done.output); // completed shipped
}
// #endregion review
