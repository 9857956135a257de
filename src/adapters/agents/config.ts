/**
 * What a model step's `config` may hold (StepNode.config, passed as AgentRequest.config), and how a
 * model id `provider:model` is split. Checked at the boundary: a bad config is a ConfigError that
 * names the step and the key, before any request is made.
 */
import { z } from 'zod';

import { ConfigError, ErrorCode } from '../../errors.js';

const settings = z
  .object({
    temperature: z.number().optional(),
    top_p: z.number().optional(),
    max_tokens: z.number().int().positive().optional(),
    seed: z.number().int().optional(),
    stop: z.union([z.string(), z.array(z.string())]).optional(),
    /**
     * One completion per call (ADR 0125): a step reads one reply and a budget reserves for one,
     * so OpenAI's `n` is refused unless it is 1 (it billed n completions against one reservation).
     */
    n: z
      .literal(1, {
        error:
          'must be 1 (or left out): a step reads one completion and its budget reserves for one; for several answers run the step in a map or a parallel',
      })
      .optional(),
  })
  // Anything else is provider passthrough (e.g. reasoning_effort, top_k).
  .catchall(z.unknown());

export const AgentConfigSchema = z.object({
  system: z.string().optional(),
  outputSchema: z.record(z.string(), z.unknown()).optional(),
  settings: settings.optional(),
  baseUrl: z.url().optional(),
  recordRaw: z.boolean().optional(),
  deadlineMs: z.number().int().positive().optional(),
  maxResponseBytes: z.number().int().positive().optional(),
  schemaSupport: z.enum(['native', 'prompt']).optional(),
  /** OpenAI only: `chat` (Chat Completions, the default) or `responses` (the Responses API). */
  api: z.enum(['chat', 'responses']).optional(),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export const PROVIDERS = ['openai', 'anthropic'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ModelId {
  readonly provider: Provider;
  readonly model: string;
}

export function parseModelId(agent: string): ModelId {
  const i = agent.indexOf(':');
  const provider = i > 0 ? agent.slice(0, i) : '';
  const model = i > 0 ? agent.slice(i + 1) : '';
  if (!(PROVIDERS as readonly string[]).includes(provider) || !model) {
    throw new ConfigError(
      ErrorCode.CONFIG_UNKNOWN_MODEL,
      `unknown model id "${agent}": use openai:<model> (also for OpenAI-compatible servers such as Ollama or vLLM, with a base URL) or anthropic:<model>`,
      { agent },
    );
  }
  return { provider: provider as Provider, model };
}

/** Parses a step's config; `where` names the step for the error. */
export function parseAgentConfig(config: unknown, where: string): AgentConfig {
  const parsed = AgentConfigSchema.safeParse(config ?? {});
  if (parsed.success) return parsed.data;
  const reasons = parsed.error.issues.map(
    (i) => `config.${i.path.join('.') || '(root)'}: ${i.message}`,
  );
  throw new ConfigError(
    ErrorCode.CONFIG_INVALID,
    `${where}: invalid agent config: ${reasons.join('; ')}`,
    { reasons },
  );
}

/** Defaults when a step's config does not say. */
export const DEFAULTS = {
  /** Whole call, retries and backoff included. */
  deadlineMs: 120_000,
  maxResponseBytes: 8 * 1024 * 1024,
  /** Sent when unset, so the estimator's bound holds (see ADR 0012). */
  maxTokens: 4096,
  maxRetries: 4,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
} as const;
