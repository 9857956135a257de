/**
 * A step name holding a control character (ESC, a newline, a tab…) is refused when a blueprint
 * is loaded, as a V-K4 finding at the name's line and column (ADR 102): before, `a\u001b[2Jb`
 * validated and ran. A run recorded before with such a name is still read by the lens: only new
 * loads refuse, the ledger is read as it was written.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import type { Plan } from '../../src/dsl/ir.js';
import { createEngine } from '../../src/runtime/engine.js';
import { runCli } from './cli.js';

const HOSTILE = 'a\u001b[2Jb';
// eslint-disable-next-line no-control-regex
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
const BLUEPRINT = (name: string) => `version: "0.1"
name: names
steps:
  - name: ${name}
    kind: hitl
    message: "Go on?"
`;

let dir: string;
const cli = (...args: string[]) => runCli(args, { cwd: dir });
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-names-'));
  writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a step name with a control character', () => {
  it('is refused at load with V-K4 at its line and column, and run records nothing', () => {
    for (const [name, shown] of [
      ['"a\\u001b[2Jb"', 'a\\u001b[2Jb'],
      ['"two\\nlines"', 'two\\u000alines'],
      ['"tab\\there"', 'tab\\u0009here'],
    ] as const) {
      writeFileSync(join(dir, 'pipeline.yaml'), BLUEPRINT(name));
      const v = cli('validate', 'pipeline.yaml', '--format', 'json');
      expect(v.code, v.stderr).toBe(4);
      const report = JSON.parse(v.stdout) as { errors: unknown[] };
      expect(report.errors).toMatchObject([
        { rule_id: 'V-K4', line: 4, column: 11, message: expect.stringContaining(shown) },
      ]);
      const text = cli('validate', 'pipeline.yaml');
      expect(text.code).toBe(4);
      expect(text.stdout + text.stderr).toMatch(/pipeline\.yaml:4:11/);
      expect(text.stdout + text.stderr).not.toMatch(RAW);
      const run = cli('run', '--input', 'x');
      expect(run.code, run.stderr).toBe(4);
      const list = cli('lens', 'list', '--json');
      expect(JSON.parse(list.stdout || '[]')).toEqual([]);
    }
  });

  it('in a run recorded before is read by lens list, show and trace, escaped', async () => {
    // What the loader compiled before it refused such names: the same plan, the name in it.
    writeFileSync(join(dir, 'pipeline.yaml'), BLUEPRINT('placeholder'));
    const loaded = loadBlueprint(join(dir, 'pipeline.yaml'), {
      files: nodeBlueprintFiles,
      root: dir,
    });
    const plan = await withBlueprintCode(loaded);
    const ir = JSON.parse(
      JSON.stringify(plan.ir).replaceAll('placeholder', JSON.stringify(HOSTILE).slice(1, -1)),
    ) as Plan['ir'];
    const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
    const paused = await createEngine({ ledger: state.ledger }).run({ ...plan, ir }, 'x', {
      runId: 'old-run',
    });
    await state.close();
    expect(paused).toMatchObject({ status: 'paused', pause: { step: HOSTILE } });

    for (const args of [
      ['lens', 'list'],
      ['lens', 'show', 'old-run'],
      ['lens', 'trace', 'old-run'],
    ]) {
      const r = cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, args.join(' ')).not.toMatch(RAW);
      if (args[1] !== 'list') expect(r.stdout, args.join(' ')).toContain('a\\u001b[2Jb');
    }
    const json = JSON.parse(cli('lens', 'show', 'old-run', '--json').stdout) as {
      run: { status: string };
      steps: { name: string }[];
    };
    expect(json.run.status).toBe('paused');
    expect(json.steps.map((s) => s.name)).toContain(HOSTILE);
  });
});
