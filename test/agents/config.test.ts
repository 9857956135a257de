import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  createModelAgents,
  loadEnvFile,
  parseEnv,
  parsePricing,
  preflightModelAgents,
  resolveBudget,
} from '../../src/adapters/agents/index.js';
import { strictify } from '../../src/adapters/agents/schema.js';
import { agentStep, definePipeline } from '../../src/dsl/builder.js';
import { ConfigError } from '../../src/errors.js';
import { request } from '../support/agentFixtures.js';

const env = { OPENAI_API_KEY: 'k', ANTHROPIC_API_KEY: 'k' };

describe('pricing', () => {
  it('overrides come from [cost.providers.<provider>."<model>"] in USD per 1k tokens', () => {
    const agents = createModelAgents({
      env,
      pricing: {
        providers: {
          openai: { 'llama3.1': { prompt_tokens_per_1k: 0.001, completion_tokens_per_1k: 0.002 } },
        },
      },
    });
    const est = agents.estimate?.(
      request('openai:llama3.1', 'hi', { settings: { max_tokens: 1000 } }),
    );
    const prompt = (est?.tokens ?? 0) - 1000;
    expect(est?.costMicros).toBe(Math.ceil(prompt * 1 + 1000 * 2));
  });

  it('strict mode refuses an unpriced model with a ConfigError naming the key to add', () => {
    const agents = createModelAgents({ env, pricing: { strict: true } });
    expect(() => agents.estimate?.(request('openai:my-local-model', 'hi'))).toThrow(
      /\[cost\.providers\.openai\."my-local-model"\]/,
    );
    expect(() =>
      preflightModelAgents({ env, pricing: { strict: true } }, [
        { agent: 'openai:my-local-model' },
      ]),
    ).toThrow(expect.objectContaining({ code: 'PRICING_NOT_CONFIGURED', exitCode: 2 }));
    expect(() =>
      preflightModelAgents({ env, pricing: { strict: true } }, [
        { agent: 'openai:gpt-4o-2024-08-06' },
      ]),
    ).not.toThrow();
  });

  it("prices a family's dated snapshots and -latest, and no other longer name (o1-pro is not o1)", () => {
    const strict = createModelAgents({ env, pricing: { strict: true } });
    const costOf = (agent: string) =>
      strict.estimate?.(request(agent, 'hi', { settings: { max_tokens: 1000 } }))?.costMicros;
    for (const [snapshot, family] of [
      ['openai:gpt-4o-2024-08-06', 'openai:gpt-4o'],
      ['openai:gpt-4o-20240806', 'openai:gpt-4o'],
      ['openai:gpt-4o-mini-2024-07-18', 'openai:gpt-4o-mini'],
      ['anthropic:claude-haiku-4-5-20251001', 'anthropic:claude-haiku-4-5'],
      ['anthropic:claude-3-5-haiku-latest', 'anthropic:claude-3-5-haiku'],
    ])
      expect(costOf(snapshot as string)).toBe(costOf(family as string));
    for (const unpriced of [
      'openai:o1-pro',
      'openai:o3-pro',
      'openai:gpt-5-pro',
      'openai:gpt-4o-audio-preview',
      'openai:o1-pro-2025-03-19',
      'openai:constructor',
      'anthropic:claude-opus-4-7',
    ]) {
      expect(() => costOf(unpriced), unpriced).toThrow(
        expect.objectContaining({ code: 'PRICING_NOT_CONFIGURED' }),
      );
    }
    // Not strict: unpriced counts as free, with the warning.
    const warned: unknown[] = [];
    const lax = createModelAgents({
      env,
      logger: { debug() {}, info() {}, error() {}, warn: (o) => void warned.push(o) },
    });
    expect(lax.estimate?.(request('openai:o1-pro', 'hi'))?.costMicros).toBe(0);
    expect(warned).toEqual([{ provider: 'openai', model: 'o1-pro' }]);
  });

  it("a user price for a model does not price a longer name (gpt-4o's is not gpt-4o-mini's)", () => {
    const agents = createModelAgents({
      env,
      pricing: {
        providers: {
          openai: { 'gpt-4o': { prompt_tokens_per_1k: 0.001, completion_tokens_per_1k: 0.002 } },
        },
      },
    });
    const est = agents.estimate?.(
      request('openai:gpt-4o-mini', 'hi', { settings: { max_tokens: 1000 } }),
    );
    const prompt = (est?.tokens ?? 0) - 1000;
    // The built-in gpt-4o-mini rate (0.15 / 0.6 per 1M), not the user's gpt-4o (1 / 2).
    expect(est?.costMicros).toBe(Math.ceil(prompt * 0.15 + 1000 * 0.6 - 1e-9));
    const dated = agents.estimate?.(
      request('openai:gpt-4o-2024-08-06', 'hi', { settings: { max_tokens: 1000 } }),
    );
    expect(dated?.costMicros).toBe(Math.ceil(((dated?.tokens ?? 0) - 1000) * 1 + 1000 * 2));
  });

  it('rejects a malformed [cost] table naming the key', () => {
    expect(() =>
      parsePricing({ providers: { openai: { 'gpt-4o': { prompt_tokens_per_1k: '1' } } } }),
    ).toThrow('cost.providers.openai."gpt-4o".prompt_tokens_per_1k must be a non-negative number');
    expect(() => parsePricing({ strict: 'yes' })).toThrow('cost.strict must be true or false');
  });
});

describe('estimator', () => {
  it('bounds a call above by counted prompt tokens plus max_tokens (default 4096), priced', () => {
    const agents = createModelAgents({ env });
    const input = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    const est = agents.estimate?.(request('openai:gpt-4o', input));
    expect(est?.tokens).toBeGreaterThanOrEqual(countTokens(input) + 4096);
    expect(est?.tokens).toBeLessThan(countTokens(input) + 4096 + 40);
    expect(est?.costMicros).toBe(Math.ceil((est!.tokens - 4096) * 2.5 + 4096 * 10));
  });

  it('bounds Anthropic prompts by bytes, above any real count for text', () => {
    const agents = createModelAgents({ env });
    const input = '日本語のテキスト。'.repeat(50);
    const est = agents.estimate?.(
      request('anthropic:claude-haiku-4-5', input, { settings: { max_tokens: 10 } }),
    );
    expect(est!.tokens - 10).toBeGreaterThanOrEqual(input.length * 2); // ≥ 2 tokens per CJK char
  });
});

describe('budgets from flujo.toml', () => {
  const budgets = {
    default: { total_cost_usd_limit: 5, total_tokens_limit: 100_000 },
    pipeline: {
      'orders-*': { total_cost_usd_limit: 1.5 },
      'orders-eu': { total_tokens_limit: 200_000, total_cost_usd_limit: 2 },
    },
  };

  it('applies the smallest of every matching limit, per field', () => {
    expect(resolveBudget(budgets, 'orders-eu')).toEqual({ costMicros: 1_500_000, tokens: 100_000 });
    expect(resolveBudget(budgets, 'billing')).toEqual({ costMicros: 5_000_000, tokens: 100_000 });
    expect(resolveBudget(budgets, 'orders-eu', { costMicros: 900_000 })).toEqual({
      costMicros: 900_000,
      tokens: 100_000,
    });
    expect(resolveBudget(undefined, 'x')).toEqual({});
  });

  it('names the bad key', () => {
    expect(() => resolveBudget({ pipeline: { a: { total_cost_usd_limit: -1 } } }, 'a')).toThrow(
      'budgets.pipeline."a".total_cost_usd_limit must be a non-negative number',
    );
    expect(() => resolveBudget({ default: { max_usd: 1 } }, 'a')).toThrow(
      'budgets.default.max_usd is not a budget key',
    );
  });
});

describe('env and schemas', () => {
  it('loadEnvFile parses dotenv lines into a record', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-env-'));
    const file = join(dir, '.env');
    writeFileSync(
      file,
      '# keys\nexport OPENAI_API_KEY=sk-1 # trailing\nANTHROPIC_API_KEY="a\\"b"\nEMPTY=\n',
    );
    expect(loadEnvFile(file)).toEqual({
      OPENAI_API_KEY: 'sk-1',
      ANTHROPIC_API_KEY: 'a"b',
      EMPTY: '',
    });
    writeFileSync(file, 'not a line');
    expect(() => loadEnvFile(file)).toThrow(`${file}:1:5: expected KEY=value`);
    expect(() => loadEnvFile(join(dir, 'missing'))).toThrow(
      /env_file .* cannot be read \(ENOENT\)/,
    );
  });

  it('rejects a malformed .env line naming file:line:column, never echoing the value', () => {
    const secret = 'sk-proj-REALSECRET-0123456789';
    const cases: [string, string][] = [
      [
        `# keys\nOPENAI_API_KEY: ${secret}\n`,
        '.env:2:15: expected KEY=value: "=" after OPENAI_API_KEY',
      ],
      [`  OPENAI_API_KEY ${secret}`, '.env:1:18: expected KEY=value: "=" after OPENAI_API_KEY'],
      [secret, '.env:1:3: expected KEY=value'],
      [`-${secret}`, '.env:1:1: expected KEY=value, KEY being letters, digits and _'],
      ['sk0123456789abcdef', '.env:1:19: expected KEY=value'],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        parseEnv(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
      const shown = (error as Error).message;
      expect(shown).toBe(`[CONFIG_INVALID] ${message}`);
      expect(shown).not.toContain('REALSECRET');
      expect(shown).not.toContain('sk-');
      expect(shown).not.toContain('0123456789');
    }
  });

  it('rejects an unterminated quoted value, and accepts a comment after a closed one', () => {
    expect(() => parseEnv('A=1\nOPENAI_API_KEY="sk-abc')).toThrow(
      '.env:2:16: unterminated double-quoted value of OPENAI_API_KEY',
    );
    expect(() => parseEnv("K='sk-abc", 'x.env')).toThrow(
      'x.env:1:3: unterminated single-quoted value of K',
    );
    expect(() => parseEnv('K="a\\"')).toThrow('.env:1:3: unterminated double-quoted value');
    expect(() => parseEnv('K="sk-abc" sk-def')).toThrow(
      '.env:1:11: expected only a # comment after the closing " of K',
    );
    expect(() => parseEnv('K="sk-abc" sk-def')).not.toThrow(/sk-/);
    expect(parseEnv('K="a b" # note\nJ=\'c"d\'  \nE=""')).toEqual({ K: 'a b', J: 'c"d', E: '' });
  });

  it('strictify makes every property required and optional ones nullable, recursively', () => {
    expect(
      strictify({
        type: 'object',
        properties: {
          a: { type: 'string' },
          b: { type: 'array', items: { type: 'object', properties: { c: { type: 'number' } } } },
        },
        required: ['b'],
      }),
    ).toEqual({
      type: 'object',
      properties: {
        a: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        b: {
          type: 'array',
          items: {
            type: 'object',
            properties: { c: { anyOf: [{ type: 'number' }, { type: 'null' }] } },
            required: ['c'],
            additionalProperties: false,
          },
        },
      },
      required: ['a', 'b'],
      additionalProperties: false,
    });
  });

  it('agentStep sends its zod output type as config.outputSchema', () => {
    const p = definePipeline(
      'z',
      agentStep('ask', 'openai:gpt-4o', {
        output: z.object({ n: z.number() }),
        config: { system: 's' },
      }),
    );
    const node = p.plan.ir.root as { config?: Record<string, unknown> };
    expect(node.config).toMatchObject({
      system: 's',
      outputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
    });
  });
});
