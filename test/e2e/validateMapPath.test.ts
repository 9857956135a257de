/**
 * A map's `iterable_input` written as template text (`"{{ ['x'] }}"`) passed `flujo validate`,
 * and `flujo run` stopped with "internal error: m.items: [TEMPLATE_SYNTAX] … This is a bug in
 * Flujo" (exit 1). It is V-K4 at the value in both now (exit 4), and for the pipeline of a run
 * already recorded too: `resume` refuses it as invalid (was the same internal error). A path the
 * map's template reads but not key by key (`items[0]`) ran: a recorded run's pipeline takes it
 * with a warning ending `(a new run is refused)` and resumes to the end (ADR 106, 143).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createSkillAgents } from '../../src/skills/agents.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { runCli } from './cli.js';

let dir: string;
const cli = (...args: string[]) => runCli(args, { cwd: dir });
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-map-path-'));
  writeFileSync(join(dir, 'flujo.toml'), '# test project\n');
  writeFileSync(
    join(dir, 'steps.mjs'),
    'export async function up(x) { return String(x).toUpperCase(); }\n',
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pipeline = (iterable: string) =>
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    `version: "0.1"
name: mp
steps:
  - kind: map
    name: m
    map:
      iterable_input: ${iterable}
      body:
        - name: u
          uses: ./steps.mjs#up
          input: "{{ this }}"
  - name: ask
    agent: { id: flujo.builtins.ask_user, params: { question: "go?" } }
`,
  );

const MUST = 'm: iterable_input must be a context path (items or context.items), got';

/** Records a run of pipeline.yaml as the loader before ADR 143 did, paused at its question. */
async function recorded(runId: string): Promise<void> {
  const file = join(dir, 'pipeline.yaml');
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir, recordedRun: true });
  expect(loaded.errors).toEqual([]);
  const plan = await withBlueprintCode(loaded);
  const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
  try {
    const run = await createEngine({
      ledger: state.ledger,
      agents: createSkillAgents(createSkillRegistry()),
    }).run(plan, 'x', { runId, source: 'pipeline.yaml', context: { items: [['a', 'b']] } });
    expect(run.status).toBe('paused');
  } finally {
    await state.close();
  }
}

describe('a map iterable_input that is not a context path', () => {
  it('template text: validate and run say V-K4 at the value (run was an internal error)', () => {
    pipeline(`"{{ ['x'] }}"`);
    const checked = cli('validate', 'pipeline.yaml');
    expect(checked.code, checked.stderr).toBe(4);
    expect(checked.stdout).toContain(`pipeline.yaml:7:23: error V-K4: ${MUST} "{{ ['x'] }}"`);
    expect(checked.stdout).toContain(`set it first with the map's init`);
    const run = cli('run', 'pipeline.yaml', '--input', 'hi');
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain('[BLUEPRINT_INVALID]');
    expect(run.stderr).toContain(`pipeline.yaml:7:23: error V-K4: ${MUST}`);
    expect(run.stderr).not.toMatch(/internal error|bug in Flujo/);
  });

  it('a path the template reads but not key by key: a recorded run resumes with a warning; edited to template text, resume refuses it', async () => {
    pipeline('"items[0]"');
    const fresh = cli('run', 'pipeline.yaml', '--input', 'hi');
    expect(fresh.code, fresh.stderr).toBe(4);
    expect(fresh.stderr).toContain(`error V-K4: ${MUST} "items[0]"`);

    await recorded('old-map');
    await recorded('old-map-2');
    const resumed = cli('resume', 'old-map', '--input', 'yes', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'completed', output: 'yes' });
    expect(resumed.stderr).toContain(`${MUST} "items[0]" (a new run is refused)`);
    const shown = JSON.parse(cli('lens', 'show', 'old-map', '--json').stdout) as {
      run: { output: unknown };
      steps: { name: string; output?: unknown }[];
    };
    expect(shown.steps.find((s) => s.name === 'm')?.output).toEqual(['A', 'B']);

    // No run recorded text the map's template cannot parse: its pipeline is refused, not run.
    pipeline(`"{{ ['x'] }}"`);
    const refused = cli('resume', 'old-map-2', '--input', 'yes');
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`error V-K4: ${MUST} "{{ ['x'] }}"`);
    expect(refused.stderr).not.toMatch(/internal error|bug in Flujo/);
  });
});
