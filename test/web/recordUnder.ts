/** Runs recorded under ids the engine refuses for a new run today (ADR 117, ADR 154). */
import type { State } from '../../src/adapters/ledger/state.js';
import { definePipeline, step } from '../../src/dsl/builder.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import { emptyHead } from '../../src/events/envelope.js';
import { createEngine } from '../../src/runtime/engine.js';

/**
 * A run recorded under `id`, which the engine now refuses for a new run: the events of a run
 * recorded under another id, sealed anew under it (as a release before the rule recorded it).
 */
export async function recordUnder(s: Pick<State, 'ledger'>, id: string): Promise<void> {
  const engine = createEngine({ ledger: s.ledger });
  const plan = definePipeline(
    'tally',
    step('count', (x: number) => x + 1),
  ).plan;
  const src = `src-of-${id.length}-dots`;
  await engine.run(plan, 1, { runId: src });
  const events = (await engine.events(src)).map((e) => {
    const data = e.data as { key?: string };
    return {
      type: e.type,
      data: data.key ? { ...data, key: data.key.replace(`${src}:`, `${id}:`) } : data,
    } as NewEvent;
  });
  await s.ledger.append({ runId: id, expected: emptyHead(id), events, at: Date.now() });
}
