/**
 * `flujo lens show RUN` lists steps in columns (path, name, kind, duration): a kind longer than
 * the column ('conditional') or a long name once pushed its row's duration out of line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-showcols-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flujo lens show', () => {
  it('keeps every step row in the same columns, whatever the longest kind, name or path', () => {
    writeFileSync(join(dir, 'flujo.toml'), '');
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      [
        'version: "0.1"',
        'name: cols',
        'steps:',
        '  - name: greet',
        '    agent: { id: flujo.builtins.stringify }',
        '  - kind: conditional',
        '    name: decide',
        '    condition_expression: "True"',
        '    branches:',
        '      "true":',
        '        - name: a_step_with_a_rather_long_name',
        '          agent: { id: flujo.builtins.passthrough }',
        '      "false":',
        '        - name: other',
        '          agent: { id: flujo.builtins.passthrough }',
        '',
      ].join('\n'),
    );
    const run = runCli(['run', '--input', 'x', '--run-id', 'cols-1'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    const shown = runCli(['lens', 'show', 'cols-1'], { cwd: dir });
    expect(shown.code, shown.stderr).toBe(0);
    const rows = shown.stdout.split('\n').filter((l) => /^ {2}✓ /.test(l));
    expect(rows.map((r) => r.split(/\s+/)[4])).toEqual(['step', 'conditional', 'step']);
    // The duration column starts at the same place on every row.
    const at = rows.map((r) => r.search(/\d+(ms|\.\d+s)\b/));
    expect(new Set(at).size, rows.join('\n')).toBe(1);
    expect(at[0]).toBeGreaterThan(0);
  });
});
