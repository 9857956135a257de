/**
 * Model agents: `openai:<model>` (OpenAI and any OpenAI-compatible server) and
 * `anthropic:<model>`, behind the AgentPort. The composition root passes the environment, the
 * parsed `[cost]` table and optionally a fetch and a logger; `fn:` steps stay with the engine.
 */
import type { AgentCallHooks, AgentPort, AgentReply, AgentRequest, Logger } from '../../ports.js';
import {
  DEFAULTS,
  parseAgentConfig,
  parseModelId,
  type AgentConfig,
  type ModelId,
} from './config.js';
import { endpointFor, type Env } from './env.js';
import { promptTokens, repairAllowance, repairTokens } from './estimate.js';
import { CallScope, type FetchLike, type RetryPolicy } from './http.js';
import { costMicros, parsePricing, rateFor, type Pricing, type Rate } from './pricing.js';
import {
  systemWithSchema,
  type ProviderReply,
  type ProviderRequest,
  type ProviderSend,
} from './provider.js';
import { schemaProblem } from '../../dsl/jsonSchema.js';
import { outputShape, userMessage, type OutputShape } from './schema.js';
import { callModel } from './structured.js';
import { ConfigError, ErrorCode } from '../../errors.js';
import { registerSecret } from '../../redact.js';

export interface ModelAgentsOptions {
  /** Where OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL come from. */
  readonly env: Env;
  /** flujo.toml's parsed `[cost]` table (or an already parsed Pricing). */
  readonly pricing?: unknown;
  readonly fetch?: FetchLike;
  readonly logger?: Logger;
  /** Default deadline of one call, retries included (a step's config.deadlineMs wins). */
  readonly deadlineMs?: number;
  /** In-call retries of 429/5xx/connection errors (defaults: 4 retries, 500 ms doubling, 20 s cap). */
  readonly retry?: Partial<RetryPolicy>;
}

interface Prepared {
  readonly id: ModelId;
  readonly config: AgentConfig;
  readonly request: Omit<ProviderRequest, 'native' | 'repair'>;
  readonly shape?: OutputShape;
}

const TOKEN_KEYS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'];

function prepare(req: Pick<AgentRequest, 'agent' | 'config' | 'input' | 'path'>): Prepared {
  const id = parseModelId(req.agent);
  const where = `step ${req.path} (${req.agent})`;
  const config = parseAgentConfig(req.config, where);
  const settings: Record<string, unknown> = { ...config.settings };
  let maxTokens: number = DEFAULTS.maxTokens;
  for (const k of TOKEN_KEYS) {
    if (typeof settings[k] === 'number') maxTokens = settings[k];
    delete settings[k];
  }
  let shape: OutputShape | undefined;
  if (config.outputSchema) {
    const problem = schemaProblem(config.outputSchema);
    if (problem)
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${where}: output schema is invalid: ${problem}`,
      );
    shape = outputShape(config.outputSchema);
  }
  return {
    id,
    config,
    shape,
    request: {
      model: id.model,
      ...(config.system !== undefined ? { system: config.system } : {}),
      user: userMessage(req.input),
      maxTokens,
      settings,
      ...(shape ? { schema: shape.sent } : {}),
    },
  } as Prepared;
}

interface Bound {
  /** The prompt's token bound (with the schema, in either structured-output mode). */
  readonly prompt: number;
  readonly tokens: number;
  readonly costMicros: number;
}

/**
 * The most a call can cost (ADR 0012): its prompt plus max_tokens and, with an output schema,
 * the one repair request it may make (ADR 0056): the prompt again, the rejected reply and the
 * repair message (repairAllowance), and another max_tokens.
 */
function boundOf(p: Prepared, rate: Rate): Bound {
  const r = p.request;
  // Prompt mode carries the schema in the system prompt; native mode sends it beside: count both.
  const system = r.schema ? systemWithSchema({ ...r, native: false }) : r.system;
  const parts = [system ?? '', r.user, r.schema ? JSON.stringify(r.schema) : ''];
  const prompt = promptTokens(p.id.provider, parts);
  const usage = p.shape
    ? { input: 2 * prompt + repairAllowance(r.maxTokens), output: 2 * r.maxTokens }
    : { input: prompt, output: r.maxTokens };
  return { prompt, tokens: usage.input + usage.output, costMicros: costMicros(rate, usage) };
}

/**
 * Whether the repair of `first` keeps the call within its bound: null when it does, else why
 * not. The bound is an upper estimate, so this only fails when a reply or its prompt came out
 * larger than the estimate allowed for (a provider counting more prompt tokens than it).
 */
function repairWithin(p: Prepared, rate: Rate, first: ProviderReply, message: string) {
  const b = boundOf(p, rate);
  const again = repairTokens(p.id.provider, first.text, first.usage.output, message);
  const usage = {
    input: first.usage.input + b.prompt + again,
    output: first.usage.output + p.request.maxTokens,
  };
  const tokens = usage.input + usage.output;
  const cost = costMicros(rate, usage);
  const overTokens = tokens > b.tokens;
  const overCost = cost > b.costMicros;
  if (!overTokens && !overCost) return null;
  const reserves = "the most a run's budget reserves for it";
  // Name the bound that is exceeded: a call can pass its tokens and stay within its cost.
  if (overTokens && overCost)
    return `with it the call could use up to ${tokens} tokens costing up to ${usdText(cost)}, above its estimate (${b.tokens} tokens, ${usdText(b.costMicros)}), ${reserves}`;
  if (overTokens)
    return `with it the call could use up to ${tokens} tokens, more than its estimate of ${b.tokens} tokens, ${reserves} (its cost, up to ${usdText(cost)}, is within the estimate's ${usdText(b.costMicros)})`;
  return `with it the call could cost up to ${usdText(cost)}, more than its estimate of ${usdText(b.costMicros)}, ${reserves} (its ${tokens} tokens are within the estimate's ${b.tokens})`;
}

const usdText = (micros: number) => `$${(micros / 1e6).toFixed(6)}`;

/**
 * Each provider's SDK is loaded on its first call: together they are about 1,800 modules and
 * 0.7 s of a CLI start, which a run of function and skill steps (or a lens command) never needs.
 */
const senders = new Map<string, Promise<ProviderSend>>();
function senderFor(provider: ModelId['provider']): Promise<ProviderSend> {
  let send = senders.get(provider);
  if (!send) {
    send =
      provider === 'openai'
        ? import('./openai.js').then((m) => m.sendOpenAI)
        : import('./anthropic.js').then((m) => m.sendAnthropic);
    senders.set(provider, send);
  }
  return send;
}

/**
 * Loads the SDKs of these agents' providers ahead of a run, so that the first call's latency and
 * timeout do not include loading one. Code agents (`fn:`, `skill:`) and unknown ids are skipped.
 */
export async function loadProviders(agents: readonly string[]): Promise<void> {
  const providers = new Set<ModelId['provider']>();
  for (const a of agents) {
    if (a.startsWith('fn:') || a.startsWith('skill:')) continue;
    try {
      providers.add(parseModelId(a).provider);
    } catch {
      // preflight reports a bad id; nothing to load for it
    }
  }
  await Promise.all([...providers].map(senderFor));
}

function isPricing(x: unknown): x is Pricing {
  return (
    typeof x === 'object' &&
    x !== null &&
    'overrides' in x &&
    typeof (x as Pricing).strict === 'boolean'
  );
}

export function createModelAgents(options: ModelAgentsOptions): AgentPort {
  const pricing = isPricing(options.pricing) ? options.pricing : parsePricing(options.pricing);
  const policy: RetryPolicy = {
    maxRetries: options.retry?.maxRetries ?? DEFAULTS.maxRetries,
    baseDelayMs: options.retry?.baseDelayMs ?? DEFAULTS.baseDelayMs,
    maxDelayMs: options.retry?.maxDelayMs ?? DEFAULTS.maxDelayMs,
    ...(options.retry?.random ? { random: options.retry.random } : {}),
  };
  const baseFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const noNative = new Set<string>();

  return {
    async call(
      req: AgentRequest,
      signal: AbortSignal,
      hooks?: AgentCallHooks,
    ): Promise<AgentReply> {
      const p = prepare(req);
      const endpoint = endpointFor(p.id.provider, options.env, p.config.baseUrl);
      registerSecret(endpoint.apiKey);
      const send = await senderFor(p.id.provider);
      const rate = rateFor(pricing, p.id.provider, p.id.model, options.logger);
      const scope = new CallScope(
        signal,
        p.config.deadlineMs ?? options.deadlineMs ?? DEFAULTS.deadlineMs,
        p.config.maxResponseBytes ?? DEFAULTS.maxResponseBytes,
        baseFetch,
      );
      try {
        return await callModel({
          send,
          request: p.request,
          ...(p.shape ? { shape: p.shape } : {}),
          ctx: {
            endpoint,
            scope,
            key: req.key,
            config: p.config,
            price: (usage) => costMicros(rate, usage),
          },
          policy,
          ...(hooks ? { hooks } : {}),
          price: (usage) => costMicros(rate, usage),
          repairWithin: (first, message) => repairWithin(p, rate, first, message),
          noNative,
          ...(options.logger ? { logger: options.logger } : {}),
        });
      } finally {
        scope.dispose();
      }
    },

    /** Prompt tokens counted plus max_tokens, priced, and the repair with a schema (ADR 0012, 0056). */
    estimate(req: AgentRequest) {
      const p = prepare(req);
      const { tokens, costMicros } = boundOf(
        p,
        rateFor(pricing, p.id.provider, p.id.model, options.logger),
      );
      return { costMicros, tokens };
    },
  };
}

/**
 * Checks a pipeline's model steps before a run starts, so a missing key, an unknown model, a bad
 * config or (with `[cost] strict = true`) an unpriced model is a ConfigError (exit 2) up front.
 */
export function preflightModelAgents(
  options: Pick<ModelAgentsOptions, 'env' | 'pricing' | 'logger'>,
  steps: readonly { readonly agent: string; readonly config?: unknown; readonly path?: string }[],
): void {
  const pricing = isPricing(options.pricing) ? options.pricing : parsePricing(options.pricing);
  for (const s of steps) {
    if (s.agent.startsWith('fn:')) continue;
    const p = prepare({ agent: s.agent, config: s.config, input: '', path: s.path ?? s.agent });
    endpointFor(p.id.provider, options.env, p.config.baseUrl);
    rateFor(pricing, p.id.provider, p.id.model, options.logger);
  }
}

export { AgentConfigSchema, parseModelId, type AgentConfig } from './config.js';
export { loadEnvFile, parseEnv, type Env } from './env.js';
export { resolveBudget, type RunBudget } from './budgets.js';
export { parsePricing, BUILTIN_PRICES, PRICES_AS_OF, type Pricing, type Rate } from './pricing.js';
export { createRecordedAgents } from './recorded.js';
export { AgentCallError, type FetchLike, type RetryPolicy } from './http.js';
