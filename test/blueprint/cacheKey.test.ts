/**
 * The key a `kind: cache` step files its input under does not depend on the order the input's
 * keys were added (ADR 132). The canonical encoding orders them itself; the fallback for a value
 * the codec refuses was `JSON.stringify`, which follows the order the run added them, and is now
 * sortedJson. No run records a lookup made through that fallback: an object the codec refuses
 * fails the run at the cache's input, before the lookup, and a string it refuses (the one value
 * that gets past that check) is held by the same batch as the lookup, which the ledger refuses
 * whole; for a string the two fallbacks give the same bytes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { cacheFn } from '../../src/blueprint/cacheOps.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { sortedJson } from '../../src/dsl/keyOrder.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord } from '../../src/events/envelope.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const KEY = 'c#0123456789abcdef';
const put = cacheFn({ op: 'put', key: KEY, inputFrom: 'kept' });
const lookup = cacheFn({ op: 'lookup', key: KEY });
const get = cacheFn({ op: 'get', key: KEY });

/** The cache after storing `out` for `input`, as the miss branch's put step returns it. */
const stored = (input: unknown, out: unknown) => ({
  __cache: put(out, { step_outputs: { kept: input } }) as Record<string, unknown>,
});

describe("a cache key does not depend on the order of its input's keys", () => {
  beforeAll(initFastHash);

  it('for an input the ledger can record (its canonical encoding)', () => {
    const ctx = stored({ b: 1, a: { d: 2, c: 3 } }, 'out');
    expect(lookup({ a: { c: 3, d: 2 }, b: 1 }, ctx)).toBe('hit');
    expect(get({ a: { c: 3, d: 2 }, b: 1 }, ctx)).toBe('out');
    expect(lookup({ a: { c: 3, d: 2 }, b: 2 }, ctx)).toBe('miss');
  });

  it('for an input the codec refuses (was JSON.stringify: a miss in the other order)', () => {
    const lone = 'x\ud800';
    const ctx = stored({ b: lone, a: [1, { d: 2, c: 3 }] }, 'out');
    expect(lookup({ a: [1, { c: 3, d: 2 }], b: lone }, ctx)).toBe('hit');
    expect(get({ a: [1, { c: 3, d: 2 }], b: lone }, ctx)).toBe('out');
    expect(lookup({ a: [1, { c: 3, d: 2 }], b: 'x\ud801' }, ctx)).toBe('miss');
    // Integer-like keys, which an object lists first whatever their order, sort as text too.
    const ints = stored({ 10: lone, 9: 1 }, 'n');
    expect(
      lookup(
        Object.fromEntries([
          ['9', 1],
          ['10', lone],
        ]),
        ints,
      ),
    ).toBe('hit');
  });

  it('for a string, the one refused value a run can look up, the fallback writes the same bytes', () => {
    for (const s of ['x\ud800', '\udc00', 'a"b\\\ud83d', ''])
      expect(sortedJson(s)).toBe(JSON.stringify(s));
  });
});

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-cache-key-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CACHED = (input: string) => `version: "0.1"
name: cached
steps:
  - kind: cache
    name: c
    input: "${input}"
    wrapped_step:
      name: w
      agent: { id: flujo.builtins.passthrough }
`;

async function run(text: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  const plan = await withBlueprintCode(loaded);
  const { engine, ledger } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
  const r = await engine
    .run(plan, 'x', { runId: 'r1', context: { s: '\u{1F600}' } })
    .catch((e: unknown) => ({ thrown: e }));
  const events = (await ledger.read('r1')).map((e) => decodeRecord('r1', e.seq, e.body));
  return { r, types: events.map((e) => e.type) };
}

describe('no recorded run looked up through the fallback', () => {
  it('an object the codec refuses fails the run at the cache input, before any lookup', async () => {
    // `context.s[0]` is half of a surrogate pair.
    const { r, types } = await run(CACHED("{{ {'k': context.s[0]} }}"));
    expect(r).toMatchObject({
      status: 'failed',
      error: {
        code: 'PLAN_CODE_FAILED',
        message: expect.stringContaining('returned a value the ledger cannot record'),
      },
    });
    expect(types).toEqual(['RunStarted', 'RunClaimed', 'RunFailed']);
  });

  it("a string it refuses is looked up, in a batch the ledger refuses whole: no lookup's choice is recorded", async () => {
    const { types } = await run(CACHED('{{ context.s[0] }}'));
    expect(types).not.toContain('BranchSelected');
    expect(types).not.toContain('StepCompleted');
  });
});
