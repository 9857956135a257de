/**
 * Commands start fast: `flujo lens …`, `validate`, `show-config`, and `run` of a pipeline that
 * calls no model load neither the model SDKs nor the tokenizer (about 1,800 modules and 0.7 s of
 * a `lens list` before they were kept out); a provider's SDK loads on its first call, the
 * tokenizer on the first budget estimate. Each command is spawned from the built CLI with a
 * resolve hook that lists every module it loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { CLI } from './cli.js';

const TRACE = fileURLToPath(new URL('../support/importTrace.mjs', import.meta.url));
const HEAVY = [
  '/node_modules/openai/',
  '/node_modules/@anthropic-ai/',
  '/node_modules/gpt-tokenizer/',
];

const dir = mkdtempSync(join(tmpdir(), 'flujo-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modulesOf(args: string[]): string[] {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FLUJO_STATE_URI;
  delete env.FLUJO_PROJECT_ROOT;
  const r = spawnSync(process.execPath, ['--import', TRACE, CLI, ...args], {
    cwd: dir,
    env,
    encoding: 'utf8',
    input: '',
    timeout: 60_000,
  });
  const loaded = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('IMPORT '))
    .map((l) => l.slice('IMPORT '.length));
  expect(loaded.length, r.stderr).toBeGreaterThan(0);
  return loaded;
}

describe('CLI start-up', () => {
  it('initialises a project to read from', () => {
    expect(spawnSync(process.execPath, [CLI, 'init', '--yes'], { cwd: dir }).status).toBe(0);
  });

  for (const args of [
    ['lens', 'list', '--json'],
    ['lens', 'show', 'nope', '--json'],
    ['lens', 'trace', 'nope'],
    ['lens', 'costs', '--json'],
    ['lens', 'verify', '--all', '--json'],
    ['validate', 'pipeline.yaml', '--json'],
    ['show-config', '--json'],
    // The scaffolded pipeline calls a skill and asks a person: no model, so no SDK either.
    ['run', '--input', 'Ada', '--json'],
  ])
    it(`flujo ${args.join(' ')} loads no model SDK`, () => {
      const loaded = modulesOf(args);
      // The hook saw the command's own module load.
      expect(loaded.some((url) => url.includes('/dist/cli/commands/'))).toBe(true);
      expect(loaded.filter((url) => HEAVY.some((h) => url.includes(h)))).toEqual([]);
    });

  it('loadProviders loads the SDK of each provider a pipeline calls, and only those', () => {
    const script = join(dir, 'load.mjs');
    const index = new URL('../../dist/adapters/agents/index.js', import.meta.url).href;
    writeFileSync(
      script,
      `import { loadProviders } from ${JSON.stringify(index)};\n` +
        `await loadProviders(['fn:x', 'skill:y', 'anthropic:claude-sonnet-4-5']);\n`,
    );
    const r = spawnSync(process.execPath, ['--import', TRACE, script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/IMPORT .*\/node_modules\/@anthropic-ai\/sdk\//);
    expect(r.stderr).not.toMatch(/IMPORT .*\/node_modules\/openai\//);
  });
});
