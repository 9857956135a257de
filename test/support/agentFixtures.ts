/** Shared bits of the agent tests: a fake server, a model port on it, one request builder. */
import { createModelAgents, type ModelAgentsOptions } from '../../src/adapters/agents/index.js';
import type { AgentRequest, AgentRetryInfo } from '../../src/ports.js';
import type { FakeLlm } from './fakeLlm.js';

export const OPENAI_KEY = 'sk-test-OPENAI-secret-0123456789';
export const ANTHROPIC_KEY = 'sk-ant-test-ANTHROPIC-secret-9876543210';

export function agentsOn(fake: FakeLlm, extra: Partial<ModelAgentsOptions> = {}) {
  return createModelAgents({
    env: {
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_BASE_URL: fake.openaiUrl,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: fake.anthropicUrl,
    },
    retry: { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20 },
    ...extra,
  });
}

let n = 0;
export function request(agent: string, input: unknown, config?: unknown): AgentRequest {
  n += 1;
  return {
    runId: 'run-a',
    path: String(n),
    attempt: 1,
    key: `run-a:${n}:1`,
    agent,
    input,
    ...(config !== undefined ? { config } : {}),
  };
}

export function retries() {
  const seen: AgentRetryInfo[] = [];
  return { seen, hooks: { onRetry: (i: AgentRetryInfo) => void seen.push(i) } };
}

export const never: AbortSignal = new AbortController().signal;
