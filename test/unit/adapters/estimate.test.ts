/**
 * The budget reservation's prompt count (ADR 0012): exact o200k tokens for OpenAI (the tokenizer
 * is loaded on first use), a byte bound for Anthropic, plus the chat framing.
 */
import { describe, expect, it } from 'vitest';

import { createModelAgents } from '../../../src/adapters/agents/index.js';
import { promptTokens } from '../../../src/adapters/agents/estimate.js';

describe('prompt token estimates', () => {
  it('count OpenAI prompts exactly with o200k, plus framing per message and reply', () => {
    // "hello world" is 2 tokens in o200k; 8 per message and 8 for the reply.
    expect(promptTokens('openai', ['hello world'])).toBe(2 + 8 + 8);
    expect(promptTokens('openai', ['hello world', ''])).toBe(2 + 8 + 0 + 8 + 8);
    // Long text without spaces is bounded by its bytes instead of tokenized.
    const long = 'x'.repeat(20_000);
    expect(promptTokens('openai', [long])).toBe(20_000 + 16);
  });

  it('bound Anthropic prompts by two tokens per three bytes', () => {
    expect(promptTokens('anthropic', ['abcdef'])).toBe(4 + 16);
    expect(promptTokens('anthropic', ['é'])).toBe(Math.ceil((2 * 2) / 3) + 16);
  });

  it('reserve the prompt and max_tokens through the agent port', () => {
    const agents = createModelAgents({ env: { OPENAI_API_KEY: 'sk-test' } });
    const est = agents.estimate!({
      runId: 'r',
      path: 'p',
      attempt: 1,
      key: 'k',
      agent: 'openai:gpt-4o-mini',
      input: 'hello world',
      config: { settings: { max_tokens: 100 } },
    });
    expect(est.tokens).toBeGreaterThan(100);
    expect(est.tokens).toBeLessThan(140);
    expect(est.costMicros).toBeGreaterThan(0);
  });
});
