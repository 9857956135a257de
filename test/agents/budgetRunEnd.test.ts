/**
 * Calls still in flight when the run ends count as spent at their reservation (ADR 55,
 * docs/concepts.md "Record, then act"). A parallel whose branch fails ends the run while its
 * siblings' model calls are out: they were made and may be billed, and their failures are never
 * recorded (nothing follows the run's end). QA: they were left with StepAbandoned alone, no
 * BudgetReconciled, and the run's cost said 0.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createSqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { agentStep, definePipeline, parallel, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { agentsOn } from '../support/agentFixtures.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

describe('a run that ends with model calls in flight, under a budget', () => {
  it('charges each started call its reservation before the run ends, and replays so', async () => {
    const ledger = createSqliteLedger({
      path: join(mkdtempSync(join(tmpdir(), 'flujo-budget-end-')), 'state.db'),
    });
    const engine = createEngine({ ledger, agents: agentsOn(fake), worker: 't' });
    const p = definePipeline(
      'ends',
      parallel('fan', {
        b1: agentStep('s1', 'openai:gpt-4o-mini'),
        b2: agentStep('s2', 'openai:gpt-4o-mini'),
        b3: step('boom', async () => {
          // Fails once the siblings' calls have reached the provider (a fixed 300 ms was not
          // always enough on a loaded machine: the run ended before they were sent).
          await vi.waitFor(() => expect(fake.requests.length - before).toBe(2), {
            timeout: 10_000,
          });
          throw new Error('boom');
        }),
      }),
    );
    fake.script(
      { text: 'late 1', usage: { input: 10, output: 5 }, delayMs: 3_000 },
      { text: 'late 2', usage: { input: 10, output: 5 }, delayMs: 3_000 },
    );
    const before = fake.requests.length;
    const r = await engine.run(p.plan, 'x', { runId: 'end-1', budget: { costMicros: 1_000_000 } });
    expect(r.status).toBe('failed');
    expect(fake.requests.length - before).toBe(2);

    const events = await engine.events('end-1');
    // The model calls' reservations (a function step reserves nothing it can spend).
    const reserved = events
      .filter((e) => e.type === 'BudgetReserved')
      .map((e) => e.data)
      .filter((d) => d.costMicros > 0);
    const charged = events.filter((e) => e.type === 'BudgetReconciled').map((e) => e.data);
    expect(reserved).toHaveLength(2);
    // Each started call is charged what it reserved, before the run's end.
    expect(
      charged.map((d) => ({ path: d.path, attempt: d.attempt, costMicros: d.costMicros })),
    ).toEqual(
      reserved.map((d) => ({ path: d.path, attempt: d.attempt, costMicros: d.costMicros })),
    );
    const types = events.map((e) => e.type);
    expect(types.lastIndexOf('BudgetReconciled')).toBeLessThan(types.indexOf('RunFailed'));
    const total = reserved.reduce((s, d) => s + d.costMicros, 0);
    expect(total).toBeGreaterThan(0);
    expect(r.costMicros).toBe(total);
    expect(await engine.replay(p.plan, 'end-1')).toMatchObject({ identical: true });
    await ledger.close();
  });
});
