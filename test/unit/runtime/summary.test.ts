import { describe, expect, it } from 'vitest';

import { ordersPipeline, goldenAgents } from '../../fixtures/pipelines/orders.js';
import { harness } from '../../support/given.js';

describe('run results', () => {
  it('built as the driver records are the same as a fresh read of the ledger, paused and done', async () => {
    const { engine } = harness({ agents: goldenAgents });
    const paused = await engine.run(ordersPipeline.plan, 'order #1');
    expect(paused.status).toBe('paused');
    expect(paused).toEqual(await engine.result(paused.runId));
    const done = await engine.resume(ordersPipeline.plan, paused.runId, {
      humanInput: { approved: true },
    });
    expect(done).toMatchObject({
      status: 'completed',
      output: 'sent 3 notifications',
      costMicros: 4800,
      tokens: { input: 240, output: 60 },
    });
    expect(done).toEqual(await engine.result(paused.runId));
  });
});
