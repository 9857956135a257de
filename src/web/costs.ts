/**
 * Cost over time by model: the read models sum by one dimension since a time, so the spend of
 * model m on day d is costs(by model, since d) minus costs(by model, since d+1). Days are UTC.
 */
import type { CostRow, ReadModels } from '../projections/readModels.js';

const DAY = 86_400_000;

export interface ModelDayCosts {
  readonly by: 'model-day';
  readonly days: readonly string[];
  readonly models: readonly string[];
  /** cells[model][day index]: micro-dollars, calls and tokens spent that day. */
  readonly cells: Record<string, { costMicros: number; calls: number; tokens: number }[]>;
}

export async function costsByModelAndDay(
  rm: ReadModels,
  days: number,
  now: number,
): Promise<ModelDayCosts> {
  const today = Math.floor(now / DAY) * DAY;
  const starts = Array.from({ length: days }, (_, i) => today - (days - 1 - i) * DAY);
  // One cumulative query per day boundary (plus "after today" = nothing): days + 1 queries.
  const since = await Promise.all(starts.map((s) => rm.costs({ by: 'model', since: s })));
  const byKey = since.map((rows) => new Map(rows.map((r) => [r.key, r])));
  const models = [...new Set(since.flatMap((rows) => rows.map((r) => r.key)))].sort();
  const zero: CostRow = { key: '', calls: 0, tokensIn: 0, tokensOut: 0, costMicros: 0 };
  const cells: ModelDayCosts['cells'] = {};
  for (const m of models) {
    cells[m] = starts.map((_, i) => {
      const a = byKey[i]?.get(m) ?? zero;
      const b = byKey[i + 1]?.get(m) ?? zero;
      return {
        costMicros: a.costMicros - b.costMicros,
        calls: a.calls - b.calls,
        tokens: a.tokensIn + a.tokensOut - b.tokensIn - b.tokensOut,
      };
    });
  }
  return {
    by: 'model-day',
    days: starts.map((s) => new Date(s).toISOString().slice(0, 10)),
    models,
    cells,
  };
}
