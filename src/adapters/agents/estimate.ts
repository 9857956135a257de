/**
 * The upper bound reserved against a run's budget before a call (ADR 0012): prompt tokens
 * counted (o200k for OpenAI; a byte-based bound for Anthropic, whose tokenizer is not public)
 * plus the max_tokens the request is sent with, priced at the model's rates.
 */
import { createRequire } from 'node:module';

import type { Provider } from './config.js';

/**
 * The o200k tokenizer, loaded on the first OpenAI estimate (only runs with a budget make one):
 * its tables take about 150 ms to load. Required synchronously, from gpt-tokenizer's CommonJS
 * build, because a reservation is made synchronously.
 */
let countTokens: ((text: string) => number) | undefined;
function tokenizer(): (text: string) => number {
  countTokens ??= (
    createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as {
      countTokens: (text: string) => number;
    }
  ).countTokens;
  return countTokens;
}

/** Chat framing per message and per reply (OpenAI's cookbook counts 3-4; we round up). */
const PER_MESSAGE = 8;
const PER_REPLY = 8;
/** BPE on a long run without spaces is quadratic in gpt-tokenizer: past this, bound by bytes. */
const EXACT_LIMIT = 16_384;

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** Byte-level BPE never makes more tokens than bytes; counted exactly when cheap to do so. */
function openaiTokens(text: string): number {
  return text.length > EXACT_LIMIT ? utf8(text) : tokenizer()(text);
}

/**
 * Claude's tokenizer is not published and exact counting needs a network call (countTokens),
 * which a synchronous reservation cannot make. Bound it by UTF-8 bytes / 1.5: English runs at
 * about 4 bytes per token (so this over-reserves ~2.7x), CJK at 3 bytes per character and at most
 * about 1.5 tokens per character, and the reply's max_tokens usually dominates anyway.
 */
function anthropicTokens(text: string): number {
  return Math.ceil((utf8(text) * 2) / 3);
}

export function promptTokens(provider: Provider, parts: readonly string[]): number {
  const count = provider === 'openai' ? openaiTokens : anthropicTokens;
  let n = PER_REPLY;
  for (const p of parts) n += count(p) + PER_MESSAGE;
  return n;
}

/**
 * The most a repair's message (provider.ts repairMessage, errors included) may take, in UTF-8
 * bytes: callModel cuts the error list to fit. Both bounds above give at most one token a byte.
 */
export const REPAIR_MESSAGE_MAX_BYTES = 512;

/**
 * The input tokens a repair request adds to the call's prompt (ADR 0056): the
 * rejected reply sent back, which was at most max_tokens when the model wrote it, and the repair
 * message, at most REPAIR_MESSAGE_MAX_BYTES; one message each.
 */
export function repairAllowance(maxTokens: number): number {
  return maxTokens + PER_MESSAGE + REPAIR_MESSAGE_MAX_BYTES + PER_MESSAGE;
}

/**
 * The same for a repair about to be sent, from its actual texts: the rejected reply counts as
 * many tokens as the provider billed for writing it (for OpenAI, or as o200k counts it, if more),
 * and the message as its prompt bound.
 */
export function repairTokens(
  provider: Provider,
  previous: string,
  previousOutput: number,
  message: string,
): number {
  const count = provider === 'openai' ? openaiTokens : anthropicTokens;
  const reply = provider === 'openai' ? Math.max(previousOutput, count(previous)) : previousOutput;
  return reply + PER_MESSAGE + count(message) + PER_MESSAGE;
}
