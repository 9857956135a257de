/**
 * docs/cli.md's "Error codes" lists every code Flujo can print or record, and nothing else: every
 * `ErrorCode`, and every code the engine writes into a run's or a step's error (the literals its
 * run machine and runtime give `errorAction`, `stepError`, `errorInfo` and `code:`). A code added
 * without a line in the docs, or a line left after its code is gone, fails here, naming it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ErrorCode, ExitCode } from '../../../src/errors.js';

const root = join(import.meta.dirname, '../../..');
const cliMd = readFileSync(join(root, 'docs/cli.md'), 'utf8');
const section = cliMd.split(/^## Error codes$/m)[1]?.split(/^## /m)[0] ?? '';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Codes the engine puts into ErrorInfo itself (not through ErrorCode). */
function engineCodes(): Set<string> {
  const found = new Set<string>();
  const literal =
    /(?:errorAction\(\s*\w+,\s*|stepError\(\s*|errorInfo\(\s*\w+,\s*|fallbackCode = |code: |export const [A-Z_]+ = )'([A-Z][A-Z0-9_]+)'/g;
  for (const dir of ['src/actors', 'src/runtime', 'src/projections', 'src/fleet'])
    for (const file of sources(join(root, dir)))
      for (const m of readFileSync(file, 'utf8').matchAll(literal)) found.add(m[1] as string);
  return found;
}

/** The codes the section's tables name: every backticked CAPS_WORD in a table row. */
function documented(): Set<string> {
  const rows = section.split('\n').filter((l) => l.startsWith('|'));
  return new Set(
    rows.flatMap((r) =>
      [...r.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`/g)].map((m) => m[1] as string),
    ),
  );
}

describe('docs/cli.md "Error codes"', () => {
  it('exists', () => {
    expect(section.length).toBeGreaterThan(500);
  });

  it('names every ErrorCode, with the exit code of a command that stops on it', () => {
    const rows = new Map(
      section
        .split('\n')
        .map((l) => l.match(/^\| `([A-Z_]+)` +\| (\d+)/))
        .filter((m): m is RegExpMatchArray => m !== null)
        .map((m) => [m[1] as string, Number(m[2])]),
    );
    const exits = new Set<number>(Object.values(ExitCode));
    // A code that only ends a step or a run (an agent's, a skill's, a template's) sits in the
    // second table: the run fails with it, exit 1.
    const runCodes = documented();
    for (const code of Object.values(ErrorCode)) {
      expect(
        rows.has(code) || runCodes.has(code),
        `${code} has no row in docs/cli.md "Error codes"`,
      ).toBe(true);
      if (rows.has(code))
        expect(exits.has(rows.get(code) as number), `${code}: exit ${rows.get(code)}`).toBe(true);
    }
  });

  it('names every code the engine records in a run or step error', () => {
    const codes = engineCodes();
    // The scan itself works: these are known to be written by the engine.
    for (const known of [
      'COST_LIMIT_EXCEEDED',
      'MAX_LOOPS',
      'STEP_ABANDONED',
      'HITL_NOT_PROPAGATED',
      'STEP_ERROR',
      'MAX_DELIVERIES',
    ])
      expect(codes.has(known), `the scan missed ${known}`).toBe(true);
    const docs = documented();
    for (const code of codes)
      expect(
        docs.has(code) || section.includes(`\`${code}\``),
        `${code} is not in docs/cli.md "Error codes"`,
      ).toBe(true);
  });

  it('names no code that Flujo does not have', () => {
    const known = new Set<string>([...Object.values(ErrorCode), ...engineCodes()]);
    for (const code of documented())
      expect(known.has(code), `docs/cli.md "Error codes" names ${code}, which no code writes`).toBe(
        true,
      );
  });
});
