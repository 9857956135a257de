/**
 * `lens costs --by model` counts every call of one model under one key: the model id the call
 * was made with (`openai:gpt-4o-mini`), whether it failed or the provider's reply named a dated
 * snapshot (`gpt-4o-mini-2024-07-18`). Before, failures and replies landed in two rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import type { AgentPort } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';

/** Fails the first attempt (billed), then answers naming a dated snapshot, as OpenAI does. */
const snapshotNaming: AgentPort = {
  async call(req) {
    if (req.attempt === 1)
      throw Object.assign(new Error('bad json'), {
        code: 'AGENT_OUTPUT_INVALID',
        retryable: true,
        usage: { input: 5, output: 5 },
        costMicros: 10,
      });
    return {
      output: 'ok',
      usage: { input: 5, output: 5 },
      costMicros: 10,
      model: 'gpt-4o-mini-2024-07-18',
      finishReason: 'stop',
    };
  },
};

const plan = definePipeline('priced', agentStep('ask', 'openai:gpt-4o-mini', { retries: 1 })).plan;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.each([
  ['memory', () => openState('memory://', { projectRoot: '/' })],
  [
    'SQLite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'flujo-costkeys-'));
      dirs.push(dir);
      return openState('sqlite:///state.db', { projectRoot: dir });
    },
  ],
] as [string, () => Promise<State>][])('costs by model (%s)', (_name, open) => {
  it('one row per model id: the failed attempt and the snapshot-named reply together', async () => {
    const state = await open();
    try {
      const r = await createEngine({ ledger: state.ledger, agents: snapshotNaming }).run(plan, 'q');
      expect(r.status).toBe('completed');
      const expected = [
        { key: 'openai:gpt-4o-mini', calls: 2, tokensIn: 10, tokensOut: 10, costMicros: 20 },
      ];
      expect(await state.readModels.costs({ by: 'model' })).toEqual(expected);
      expect(await state.readModels.costs({ by: 'model', runId: r.runId })).toEqual(expected);
      const steps = await state.readModels.steps(r.runId);
      expect(steps.map((s) => [s.attempt, s.model])).toEqual([
        [1, 'openai:gpt-4o-mini'],
        [2, 'openai:gpt-4o-mini'],
      ]);
      await state.rebuild();
      expect(await state.readModels.costs({ by: 'model' })).toEqual(expected);
    } finally {
      await state.close();
    }
  });
});
