/**
 * `--state-uri` on the command line: an empty one (an unset shell variable) is refused rather
 * than read as "not given", and a SQLite URI with a query string is refused rather than opening
 * a file named with it. Nothing is created either way.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

let p: string;

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-stateuri-'));
  expect(runCli(['init'], { cwd: p }).code).toBe(0);
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

describe('--state-uri', () => {
  it('refuses an empty one (exit 2) instead of using the default state', () => {
    for (const uri of ['', ' ']) {
      const r = runCli(['--state-uri', uri, 'run', '--input', 'Ada'], { cwd: p });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('error: [CONFIG_STATE_URI] --state-uri is empty');
    }
    const cancel = runCli(['cancel', 'x', '--state-uri', '', '--json'], { cwd: p });
    expect(cancel.code).toBe(2);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ error: { code: 'CONFIG_STATE_URI' } });
    expect(existsSync(join(p, '.flujo', 'state.db'))).toBe(false);
  });

  it('refuses a SQLite URI with a query string, creating no file named with it', () => {
    const r = runCli(['--state-uri', 'sqlite:///x.db?mode=ro', 'run', '--input', 'Ada'], {
      cwd: p,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('[CONFIG_STATE_URI]');
    expect(r.stderr).toContain('takes no query string ("?mode=ro" is not supported');
    expect(readdirSync(p).filter((f) => f.startsWith('x.db'))).toEqual([]);
  });

  it('prints a NUL in the path escaped', () => {
    const r = runCli(['--state-uri', 'sqlite:///%00', 'lens', 'verify', '--all'], { cwd: p });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the control character "\\u0000"');
    expect(r.stderr).not.toContain('\0');
  });
});
