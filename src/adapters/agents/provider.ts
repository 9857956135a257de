/**
 * The one shape both provider adapters speak: a normalised request in, a normalised reply out.
 * The structured-output flow (structured.ts) is written once against this.
 */
import type { AgentConfig } from './config.js';
import type { Endpoint } from './env.js';
import { AgentCallError, type CallScope } from './http.js';
import { ErrorCode } from '../../errors.js';
import { redactSecrets } from '../../redact.js';

export interface ProviderRequest {
  readonly model: string;
  readonly system?: string;
  readonly user: string;
  readonly maxTokens: number;
  /** Provider passthrough settings, max_tokens removed. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The object-rooted schema, sent natively when `native`; otherwise described in the prompt. */
  readonly schema?: Readonly<Record<string, unknown>>;
  readonly native: boolean;
  /** A second request after a rejected reply: the reply and what was wrong with it. */
  readonly repair?: { readonly previous: string; readonly errors: readonly string[] };
}

export interface ProviderReply {
  readonly text: string;
  /** What the provider said the request used; 0 and 0 when it did not say (`usageUnknown`). */
  readonly usage: { readonly input: number; readonly output: number };
  /** The reply said nothing (or nothing readable) of what it used: counted at its reservation. */
  readonly usageUnknown?: true;
  readonly model: string;
  readonly finishReason?: string;
  readonly refusal?: string;
  /** The response body as the provider sent it. */
  readonly raw: unknown;
}

export interface ProviderContext {
  readonly endpoint: Endpoint;
  readonly scope: CallScope;
  /** The call's idempotency key, sent as the Idempotency-Key header on every retry. */
  readonly key: string;
  readonly config: AgentConfig;
  /** What usage costs at the model's rate (for a rejected reply that says what it used). */
  readonly price: (usage: { input: number; output: number }) => number;
}

export type ProviderSend = (req: ProviderRequest, ctx: ProviderContext) => Promise<ProviderReply>;

/** In prompt mode the schema rides in the system prompt. */
export function systemWithSchema(req: ProviderRequest): string | undefined {
  if (!req.schema || req.native) return req.system;
  const ask = `Reply with only a JSON value (no prose, no code fence) that matches this JSON Schema:\n${JSON.stringify(req.schema)}`;
  return req.system ? `${req.system}\n\n${ask}` : ask;
}

export function repairMessage(errors: readonly string[]): string {
  return `Your previous reply was rejected:\n- ${errors.join('\n- ')}\nReply again with only the corrected JSON.`;
}

const isTokens = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/**
 * A reply's usage from the provider's two counts, or unknown when either is missing or not a
 * count (a server that leaves `usage` out): never read as 0 tokens (ADR 0055).
 */
export function usageFrom(
  input: unknown,
  output: unknown,
): Pick<ProviderReply, 'usage' | 'usageUnknown'> {
  return isTokens(input) && isTokens(output)
    ? { usage: { input, output } }
    : { usage: { input: 0, output: 0 }, usageUnknown: true };
}

/**
 * A 200 whose body is not a reply (no choices, no content): the call fails at once, not
 * retried (the same request would likely get the same body), with what it used if it said so
 * and otherwise counted at its reservation (ADR 0055).
 */
export function replyInvalid(
  what: string,
  body: unknown,
  usage: Pick<ProviderReply, 'usage' | 'usageUnknown'>,
  price: (usage: { input: number; output: number }) => number,
): AgentCallError {
  let shown = '';
  try {
    shown = JSON.stringify(body) ?? String(body);
  } catch {
    shown = String(body);
  }
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`;
  const err = new AgentCallError(
    ErrorCode.AGENT_REPLY_INVALID,
    `the provider's reply is not a ${what}: ${redactSecrets(shown)}`,
    { retryable: false },
  );
  if (usage.usageUnknown) err.usageUnknown = true;
  else {
    err.usage = usage.usage;
    err.costMicros = price(usage.usage);
  }
  return err;
}

/** Drops values that are not plain data (SDK helpers add functions and getters). */
export function plain(x: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(x)) as unknown;
  } catch {
    return null;
  }
}
