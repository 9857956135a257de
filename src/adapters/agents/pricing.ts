/**
 * What a call costs: a built-in table of list prices for common models, overridable from
 * flujo.toml's `[cost]` table with Flujo's keys. Money leaves here as integer micro-dollars.
 *
 * A rate in USD per million tokens is exactly micro-dollars per token, so cost is
 * `input * in + output * out`, rounded up (never under-report spend).
 */
import { ConfigError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../ports.js';

/** The date the built-in prices were taken from the providers' public pricing pages. */
export const PRICES_AS_OF = '2025-11-01';

/** USD per 1M tokens (= micro-dollars per token), standard tier, no caching or batch discounts. */
export interface Rate {
  readonly input: number;
  readonly output: number;
}

const r = (input: number, output: number): Rate => ({ input, output });

/**
 * Keys match a model exactly, or its family before a snapshot suffix: a date
 * (`gpt-4o-2024-08-06`, `claude-haiku-4-5-20251001`) or `-latest` (`claude-3-5-haiku-latest`).
 * Nothing else: `o1-pro` is not `o1`, nor `gpt-4o-mini` `gpt-4o` (SNAPSHOT).
 */
export const BUILTIN_PRICES: Readonly<Record<string, Readonly<Record<string, Rate>>>> = {
  openai: {
    'gpt-4o': r(2.5, 10),
    'gpt-4o-mini': r(0.15, 0.6),
    'gpt-4.1': r(2, 8),
    'gpt-4.1-mini': r(0.4, 1.6),
    'gpt-4.1-nano': r(0.1, 0.4),
    'gpt-5': r(1.25, 10),
    'gpt-5-mini': r(0.25, 2),
    'gpt-5-nano': r(0.05, 0.4),
    o1: r(15, 60),
    o3: r(2, 8),
    'o3-mini': r(1.1, 4.4),
    'o4-mini': r(1.1, 4.4),
  },
  anthropic: {
    'claude-opus-4': r(15, 75),
    'claude-opus-4-0': r(15, 75),
    'claude-opus-4-1': r(15, 75),
    'claude-opus-4-5': r(5, 25),
    'claude-sonnet-4': r(3, 15),
    'claude-sonnet-4-0': r(3, 15),
    'claude-sonnet-4-5': r(3, 15),
    'claude-haiku-4-5': r(1, 5),
    'claude-3-7-sonnet': r(3, 15),
    'claude-3-5-haiku': r(0.8, 4),
  },
};

export interface Pricing {
  readonly strict: boolean;
  /** provider -> model -> rate, from `[cost.providers.<provider>."<model>"]`. */
  readonly overrides: Readonly<Record<string, Readonly<Record<string, Rate>>>>;
}

export const NO_PRICING: Pricing = { strict: false, overrides: {} };

const isObj = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/** Checks and reads flujo.toml's parsed `[cost]` table. Errors name the offending key. */
export function parsePricing(cost: unknown): Pricing {
  if (cost === undefined || cost === null) return NO_PRICING;
  const bad = (key: string, what: string): never => {
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `flujo.toml: ${key} ${what}`, { key });
  };
  if (!isObj(cost)) return bad('[cost]', 'must be a table');
  if (cost.strict !== undefined && typeof cost.strict !== 'boolean')
    bad('cost.strict', 'must be true or false');
  const overrides: Record<string, Record<string, Rate>> = {};
  const providers = cost.providers ?? {};
  if (!isObj(providers)) return bad('cost.providers', 'must be a table');
  for (const [provider, models] of Object.entries(providers)) {
    if (!isObj(models)) return bad(`cost.providers.${provider}`, 'must be a table of models');
    const table: Record<string, Rate> = {};
    for (const [model, prices] of Object.entries(models)) {
      const key = `cost.providers.${provider}."${model}"`;
      if (!isObj(prices)) return bad(key, 'must be a table');
      const num = (field: string): number => {
        const v = prices[field];
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
          return bad(`${key}.${field}`, 'must be a non-negative number (USD per 1,000 tokens)');
        return v;
      };
      // Per 1k USD -> per 1M USD (= micro-dollars per token).
      table[model] = r(num('prompt_tokens_per_1k') * 1000, num('completion_tokens_per_1k') * 1000);
    }
    overrides[provider] = table;
  }
  return { strict: cost.strict === true, overrides };
}

/** A snapshot of a family: `-YYYY-MM-DD`, `-YYYYMMDD` or `-latest` at the end of its id. */
const SNAPSHOT = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

function lookup(table: Readonly<Record<string, Rate>> | undefined, model: string): Rate | null {
  if (!table) return null;
  const own = (key: string): Rate | null =>
    Object.prototype.hasOwnProperty.call(table, key) ? (table[key] ?? null) : null;
  const exact = own(model);
  if (exact) return exact;
  // A family's price covers its dated snapshots only, never a longer name (o1-pro, gpt-4o-mini).
  const family = model.replace(SNAPSHOT, '');
  return family !== model ? own(family) : null;
}

/**
 * The rate for a model: an override, then the built-in table. Unpriced: a ConfigError in strict
 * mode; otherwise free (local models), with a warning.
 */
export function rateFor(pricing: Pricing, provider: string, model: string, logger?: Logger): Rate {
  const rate =
    lookup(pricing.overrides[provider], model) ?? lookup(BUILTIN_PRICES[provider], model);
  if (rate) return rate;
  if (pricing.strict) {
    throw new ConfigError(
      ErrorCode.PRICING_NOT_CONFIGURED,
      `no price for ${provider}:${model} and [cost] strict = true: add [cost.providers.${provider}."${model}"] with prompt_tokens_per_1k and completion_tokens_per_1k to flujo.toml`,
      { provider, model },
    );
  }
  logger?.warn({ provider, model }, 'model has no price; counting it as free');
  return r(0, 0);
}

export function costMicros(rate: Rate, usage: { input: number; output: number }): number {
  // Math.max: a free model's ceil(-1e-9) is -0, which is not the 0 the ledger should record.
  return Math.max(0, Math.ceil(usage.input * rate.input + usage.output * rate.output - 1e-9));
}
