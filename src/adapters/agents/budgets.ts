/**
 * Run budgets from flujo.toml's parsed `[budgets]` table: `[budgets.default]` and
 * `[budgets.pipeline."<name or glob>"]`, each with `total_cost_usd_limit` and
 * `total_tokens_limit`. Every matching entry counts and the smallest limit per field applies
 * (together with limits given in code), so a glob can only tighten a budget, never loosen it.
 * Pure: returns what engine RunOptions.budget expects.
 */
import { ConfigError, ErrorCode } from '../../errors.js';

export interface RunBudget {
  readonly costMicros?: number;
  readonly tokens?: number;
}

const isObj = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

function bad(key: string, what: string): never {
  throw new ConfigError(ErrorCode.CONFIG_INVALID, `flujo.toml: ${key} ${what}`, { key });
}

function limitsOf(key: string, table: unknown): RunBudget {
  if (!isObj(table)) return bad(key, 'must be a table');
  const out: { costMicros?: number; tokens?: number } = {};
  for (const field of Object.keys(table)) {
    const v = table[field];
    if (field === 'total_cost_usd_limit') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        bad(`${key}.${field}`, 'must be a non-negative number of US dollars');
      out.costMicros = Math.round((v as number) * 1e6);
    } else if (field === 'total_tokens_limit') {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
        bad(`${key}.${field}`, 'must be a non-negative integer');
      out.tokens = v as number;
    } else {
      bad(`${key}.${field}`, 'is not a budget key: use total_cost_usd_limit or total_tokens_limit');
    }
  }
  return out;
}

/** `*` matches any run of characters, `?` one; everything else literally. */
export function globMatches(glob: string, name: string): boolean {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

const min = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);

/**
 * The budget for a run of `pipeline`: the per-field minimum of `[budgets.default]`, every
 * `[budgets.pipeline."<pattern>"]` matching the name, and `fromCode` (CLI or API limits).
 */
export function resolveBudget(
  budgets: unknown,
  pipeline: string,
  fromCode: RunBudget = {},
): RunBudget {
  let costMicros = fromCode.costMicros;
  let tokens = fromCode.tokens;
  const take = (b: RunBudget) => {
    costMicros = min(costMicros, b.costMicros);
    tokens = min(tokens, b.tokens);
  };
  if (budgets !== undefined && budgets !== null) {
    if (!isObj(budgets)) bad('[budgets]', 'must be a table');
    const table = budgets as Record<string, unknown>;
    for (const k of Object.keys(table)) {
      if (k !== 'default' && k !== 'pipeline')
        bad(
          `budgets.${k}`,
          'is not a budgets table: use [budgets.default] or [budgets.pipeline."<name>"]',
        );
    }
    if (table.default !== undefined) take(limitsOf('budgets.default', table.default));
    if (table.pipeline !== undefined) {
      if (!isObj(table.pipeline)) bad('budgets.pipeline', 'must be a table of pipeline names');
      for (const [pattern, limits] of Object.entries(table.pipeline as Record<string, unknown>)) {
        const parsed = limitsOf(`budgets.pipeline."${pattern}"`, limits);
        if (globMatches(pattern, pipeline)) take(parsed);
      }
    }
  }
  return {
    ...(costMicros !== undefined ? { costMicros } : {}),
    ...(tokens !== undefined ? { tokens } : {}),
  };
}
