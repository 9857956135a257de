/**
 * A template's rendering of step outputs leaves out the engine's own (ADR 77): a loop with
 * context operations keeps each iteration's output in `step_outputs` under a hidden
 * `__<loop>_stash<n>` name, which `{{ context.step_outputs | tojson }}`, `{{ steps | tojson }}`,
 * `{{ context | tojson }}`, a whole `{{ context.step_outputs }}`, `| length` and `#each` showed.
 * Gated by the engine flag `step-outputs-hide-engine-keys` (ADR 84): a run recorded before it
 * refolds with the keys it showed, so its replay stays identical.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { ENGINE_FLAGS } from '../../src/dsl/engineFlags.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import { decodeExport } from '../../src/lens/exportFile.js';
import { createEngine } from '../../src/runtime/engine.js';
import { HERE, load, runFixture } from './support.js';
import { memoryLedgerOf } from '../support/appendAsRecorded.js';

const FIXTURE = 'fixtures/loop/outputs_view.yaml';

async function plan() {
  return withBlueprintCode(load(FIXTURE));
}

const ledgerOf = memoryLedgerOf;

const hasEngineKey = (v: unknown): boolean => JSON.stringify(v).includes('__rounds_stash');

describe("a rendering of step outputs hides the engine's __ keys", () => {
  beforeAll(initFastHash);

  it('tojson of step_outputs, steps and the context, a whole step_outputs, length and #each', async () => {
    const { run, engine, plan } = await runFixture(FIXTURE, 'x');
    expect(run.status).toBe('completed');
    expect(run.output).toStrictEqual({
      last: 'x++',
      // `rounds` too since ADR 123: a whole `steps` keeps every step's output the blueprint names.
      // Keys sorted by code point since ADR 126 (as Jinja's tojson sorts them).
      outputs: '{"rounds": "x++", "work": "x++"}',
      steps:
        '{"rounds": {"output": "x++", "result": "x++", "value": "x++"}, "work": {"output": "x++", "result": "x++", "value": "x++"}}',
      ctx: '{"initial_prompt": "x", "seen": {"r2": "x+", "r3": "x++", "start": "x"}, "step_outputs": {"rounds": "x++", "work": "x++"}}',
      whole: { work: 'x++', rounds: 'x++' },
      n: 2,
      keys: '[rounds][work]',
    });
    // The loop still read its stash by name: each state operation saw the iteration's output.
    expect((await engine.replay(plan, run.runId)).identical).toBe(true);
  });

  it('a run recorded before the change (6f5c5f8, no engine flags) replays identically, keys and all', async () => {
    const file = decodeExport(readFileSync(join(HERE, 'fixtures/loop/outputs_view-6f5c5f8.cbor')));
    const runId = file.header.runId;
    const events = file.records.map((r) => decodeRecord(runId, r.seq, r.body));
    const started = events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started.data.engine.flags).toEqual([]);
    const completed = events.at(-1) as Extract<LedgerEvent, { type: 'RunCompleted' }>;
    expect(hasEngineKey(completed.data.output)).toBe(true); // what the old engine rendered
    const ledger = await ledgerOf(runId, events);
    const replay = await createEngine({ ledger }).replay(await plan(), runId);
    expect(replay.identical).toBe(true);
    expect(replay.output).toStrictEqual(completed.data.output);
  });

  it('the flag decides: the same run recorded without it is refolded with the keys shown', async () => {
    const { run, ledger } = await runFixture(FIXTURE, 'x');
    const events = (await ledger.read(run.runId)).map((r) =>
      decodeRecord(run.runId, r.seq, r.body),
    );
    const started = events[0] as Extract<LedgerEvent, { type: 'RunStarted' }>;
    expect(started.data.engine.flags).toContain(ENGINE_FLAGS.stepOutputsHideEngineKeys);
    const without = events.map((e) =>
      e.type === 'RunStarted'
        ? ({
            ...e,
            data: {
              ...e.data,
              engine: {
                ...e.data.engine,
                flags: e.data.engine.flags.filter(
                  (f) => f !== ENGINE_FLAGS.stepOutputsHideEngineKeys,
                ),
              },
            },
          } as LedgerEvent)
        : e,
    );
    const replay = await createEngine({ ledger: await ledgerOf(run.runId, without) }).replay(
      await plan(),
      run.runId,
    );
    expect(replay.identical).toBe(false);
    expect(hasEngineKey(replay.firstDivergence?.expected)).toBe(true);
    expect(hasEngineKey(replay.firstDivergence?.recorded)).toBe(false);
  });
});
