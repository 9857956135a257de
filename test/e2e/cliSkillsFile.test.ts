/**
 * A `skills.yaml` that cannot be read as a file (a folder of that name) is a bad skills.yaml,
 * named, exit 2: not an internal error asking for a bug report.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

let p: string;

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-skillsfile-'));
  expect(runCli(['init'], { cwd: p }).code).toBe(0);
  rmSync(join(p, 'skills.yaml'));
  mkdirSync(join(p, 'skills.yaml'));
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

describe('a skills.yaml that is a folder', () => {
  it.each([[['run', '--input', 'Ada']], [['run', '--dry-run']], [['validate']]])(
    'is SKILLS_CONFIG_INVALID naming it, exit 2: flujo %j',
    (args) => {
      const r = runCli(args, { cwd: p });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `error: [SKILLS_CONFIG_INVALID] ${join(p, 'skills.yaml')} cannot be read (EISDIR: it is a folder)`,
      );
      expect(r.stderr).not.toContain('internal error');
    },
  );
});
