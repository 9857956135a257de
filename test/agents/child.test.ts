import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { bundledChild } from '../support/bundle.js';

const CHILD = await bundledChild(
  fileURLToPath(new URL('../support/agentChild.ts', import.meta.url)),
);

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

function runChild(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const db = join(mkdtempSync(join(tmpdir(), 'flujo-child-')), 'state.db');
  const {
    OPENAI_API_KEY: _a,
    ANTHROPIC_API_KEY: _b,
    OPENAI_BASE_URL: _c,
    ANTHROPIC_BASE_URL: _d,
    ...rest
  } = process.env;
  const child = spawn(process.execPath, [CHILD, db], {
    env: { ...rest, ...env },
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('a separate process wired from its environment', () => {
  it('reaches the fake through OPENAI_BASE_URL and ANTHROPIC_BASE_URL and completes the run', async () => {
    fake.script(
      { text: '{"total":42}', usage: { input: 50, output: 5 } },
      { text: 'Two times 21.' },
    );
    const out = await runChild({
      OPENAI_API_KEY: 'sk-child',
      ANTHROPIC_API_KEY: 'sk-ant-child',
      OPENAI_BASE_URL: fake.openaiUrl,
      ANTHROPIC_BASE_URL: fake.anthropicUrl,
    });
    expect(out.stderr.replace(/.*deprecated.*\n?/g, '')).toBe('');
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout.slice(out.stdout.indexOf('result ') + 7)) as Record<
      string,
      unknown
    >;
    expect(result).toMatchObject({
      status: 'completed',
      output: 'Two times 21.',
      tokens: { input: 61, output: 12 },
    });
    expect(fake.requests.map((r) => r.route)).toEqual(['chat', 'messages']);
    expect(fake.requests[1]?.body.messages).toEqual([{ role: 'user', content: '{"total":42}' }]);
  });

  it('a missing key fails the step with CONFIG_MISSING_KEY and makes no request', async () => {
    const before = fake.requests.length;
    const out = await runChild({ OPENAI_BASE_URL: fake.openaiUrl });
    const result = JSON.parse(out.stdout.slice(out.stdout.indexOf('result ') + 7)) as Record<
      string,
      unknown
    >;
    expect(result).toMatchObject({
      status: 'failed',
      error: {
        code: 'CONFIG_MISSING_KEY',
        message: expect.stringContaining('OPENAI_API_KEY is not set'),
      },
    });
    expect(fake.requests).toHaveLength(before);
  });
});
