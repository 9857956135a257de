/**
 * The one shape both provider adapters speak: a normalised request in, a normalised reply out.
 * The structured-output flow (structured.ts) is written once against this.
 */
import type { AgentConfig } from './config.js';
import type { Endpoint } from './env.js';
import type { CallScope } from './http.js';

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
  readonly usage: { readonly input: number; readonly output: number };
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

/** Drops values that are not plain data (SDK helpers add functions and getters). */
export function plain(x: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(x)) as unknown;
  } catch {
    return null;
  }
}
