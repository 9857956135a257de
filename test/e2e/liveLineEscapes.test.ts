/**
 * `flujo run` on a terminal (a pseudo-terminal from util-linux `script`) redraws one live line
 * with `\r` and erase-line; under `NO_COLOR` or `TERM=dumb` it writes no escape sequence at all
 * and prints each step's start and end as plain lines instead, as off a terminal.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CLI } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-live-'));
mkdirSync(join(dir, 'mods'));
writeFileSync(
  join(dir, 'mods/m.mjs'),
  `export async function slow(x) { await new Promise((r) => setTimeout(r, 150)); return x; }\n`,
);
writeFileSync(
  join(dir, 'pipeline.yaml'),
  `version: '0.1'
name: live
steps:
  - name: one
    uses: ./mods/m.mjs#slow
  - name: two
    uses: ./mods/m.mjs#slow
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the terminal receives from `flujo run` under `env` (stdout and stderr, as typed). */
function onTerminal(env: Record<string, string>): string {
  const base: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...env };
  for (const k of ['CI', 'NO_COLOR', 'FORCE_COLOR', 'FLUJO_STATE_URI', 'FLUJO_PROJECT_ROOT'])
    if (!(k in env)) delete base[k];
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run --input x`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    cwd: dir,
    env: base,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.stdout;
}

describe('flujo run on a terminal: the live line and escape sequences', () => {
  it('redraws a live line by default (the check below can fail)', () => {
    expect(onTerminal({})).toContain('\r\u001b[2K');
  });

  it.each([[{ NO_COLOR: '1' }], [{ TERM: 'dumb' }]])(
    'writes no escape sequence under %o',
    (env) => {
      const text = onTerminal(env);
      expect(text).not.toContain('\u001b');
      expect(text).toMatch(/step one started/);
      expect(text).toMatch(/✓ two /);
    },
  );
});
