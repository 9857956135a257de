/**
 * What a finished node kept is dropped without scanning the context (ADR 97). A map keeps an entry
 * per item done until it ends, and `forget` scanned every record for each item's body: a map over
 * n items took time in n². The engine-level test counts the keys enumerated (never the time).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { dropBelow, dropEntry, setEntry } from '../../../src/actors/pathIndex.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { nestedMapPlan } from '../../fixtures/pipelines/nestedMap.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('pathIndex', () => {
  it('drops exactly the entries below a path, the rest kept in their order', () => {
    const rec: Record<string, unknown> = {};
    for (const k of ['0', '0/a', '0/a/1', '0/ab', '0/a/b/c', '1/a', 'x/y', '0/a~2/z'])
      setEntry(rec, k, k);
    dropBelow(rec, '0/a');
    expect(Object.keys(rec)).toEqual(['0', '0/a', '0/ab', '1/a', 'x/y', '0/a~2/z']);
    // The index follows later updates, including entries set again after being dropped.
    setEntry(rec, '0/a/again', 1);
    setEntry(rec, '0/a/1', 2);
    dropEntry(rec, '0/a/1');
    setEntry(rec, '0/a/1/2', 3);
    dropBelow(rec, '0');
    expect(Object.keys(rec)).toEqual(['0', '1/a', 'x/y']);
    dropBelow(rec, 'nothing');
    dropEntry(rec, 'nothing');
    expect(rec).toEqual({ '0': '0', '1/a': '1/a', 'x/y': 'x/y' });
  });

  it('a map with a nested body enumerates keys in proportion to its items, not their square', async () => {
    const keysEnumerated = async (n: number): Promise<number> => {
      const engine = createEngine({ ledger: createMemoryLedger(), snapshotEvery: 0 });
      const plan = nestedMapPlan('map-nested-body');
      const items = Array.from({ length: n }, (_, i) => i);
      let total = 0;
      const keys = Object.keys;
      const spy = vi.spyOn(Object, 'keys').mockImplementation((o: object) => {
        const r = keys(o);
        total += r.length;
        return r;
      });
      const r = await engine.run(plan, items);
      spy.mockRestore();
      expect(r.status).toBe('completed');
      expect(r.output).toEqual(items.map((x) => (x + 1) * 2));
      return total;
    };
    const small = await keysEnumerated(300);
    const large = await keysEnumerated(900);
    // Linear: about 3 times as many; the scan per item made it about 9 times.
    expect(large / small).toBeLessThan(4.5);
  });
});
