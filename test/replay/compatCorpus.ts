/**
 * The compatibility corpus (ADR 84) as the compat tests read it: every release's scenario files,
 * the blueprints today's loader gives, and what of a run's read models every release shows.
 * Used by compat.test.ts (the rows in a memory ledger) and compatPostgres.test.ts (a release's
 * Postgres dump restored).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import type { Plan } from '../../src/dsl/ir.js';
import { BLUEPRINTS, COMPAT_DIR, type CompatLedger } from '../fixtures/compat/generate.js';

export const releases = readdirSync(COMPAT_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'blueprints')
  .map((d) => d.name)
  .sort();

const revive = (_k: string, v: unknown) =>
  v !== null && typeof v === 'object' && '$bigint' in v
    ? BigInt((v as { $bigint: string }).$bigint)
    : v;

export const corpus: { release: string; file: string; ledger: CompatLedger }[] = releases.flatMap(
  (release) =>
    readdirSync(join(COMPAT_DIR, release))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((file) => ({
        release,
        file,
        ledger: JSON.parse(
          readFileSync(join(COMPAT_DIR, release, file), 'utf8'),
          revive,
        ) as CompatLedger,
      })),
);

const plans = new Map<string, Plan>();
export async function planOf(scenario: string): Promise<Plan> {
  let plan = plans.get(scenario);
  if (!plan) {
    const loaded = loadBlueprint(join(BLUEPRINTS, `${scenario}.yaml`), {
      files: nodeBlueprintFiles,
      root: BLUEPRINTS,
    });
    if (!loaded.plan)
      throw new Error(`${scenario}.yaml no longer loads: ${JSON.stringify(loaded.errors)}`);
    plan = await withBlueprintCode(loaded);
    plans.set(scenario, plan);
  }
  return plan;
}

export type Shown = { run: unknown; steps: unknown[] };
export const essentials = (s: Shown) => ({
  run: pick(s.run, ['status', 'pipeline', 'output', 'pause_message', 'error']),
  steps: s.steps.map((x) =>
    pick(x, ['path', 'name', 'kind', 'status', 'attempt', 'output', 'error']),
  ),
});
/**
 * The one deliberate change to how an old run shows (ADR 78): a completed run no longer shows a
 * step `running` — what its release left running, `RunCompleted` closes as abandoned.
 */
export function afterAdr78(s: ReturnType<typeof essentials>) {
  if ((s.run as { status?: string }).status !== 'completed') return s;
  return {
    run: s.run,
    steps: s.steps.map((x) =>
      x.status === 'running'
        ? {
            ...x,
            status: 'cancelled',
            error: {
              code: 'STEP_ABANDONED',
              message: 'left unfinished: still running when the run completed',
            },
          }
        : x,
    ),
  };
}
/**
 * Markers today's engine records where the run's release recorded none (the fold skips markers,
 * ADR 84): `StepAbandoned` (ADR 78) for every release in the corpus, and `HumanInputWithdrawn`
 * (ADR 45, c58d19e) for a2e5cd7, the one release older than it.
 */
export const markersAddedSince = (release: string): ReadonlySet<string> =>
  new Set(['StepAbandoned', ...(release === 'a2e5cd7' ? ['HumanInputWithdrawn'] : [])]);
const pick = (o: unknown, keys: string[]) =>
  Object.fromEntries(
    keys.filter((k) => k in (o as object)).map((k) => [k, (o as Record<string, unknown>)[k]]),
  );
