/** Loads blueprint fixtures from disk and runs them end to end on an in-memory ledger. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint, type LoadResult, type SkillCatalog } from '../../src/blueprint/loader.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = join(HERE, 'fixtures');

export function load(
  rel: string,
  options: { skills?: SkillCatalog; root?: string } = {},
): LoadResult {
  return loadBlueprint(join(HERE, rel), {
    files: nodeBlueprintFiles,
    root: options.root ?? HERE,
    ...(options.skills ? { skills: options.skills } : {}),
  });
}

/** Skills the fixtures use, run as scripted agents (the real registry is built elsewhere). */
export const skillScript: Record<string, (input: unknown) => unknown> = {
  'skill:flujo.builtins.passthrough': (x) => x,
  'skill:flujo.builtins.stringify': (x) => (typeof x === 'string' ? x : JSON.stringify(x)),
};

export async function runFixture(
  rel: string,
  input: unknown,
  script: Record<string, (input: unknown, attempt: number) => unknown> = {},
  context?: Record<string, unknown>,
) {
  const result = load(rel);
  if (!result.plan) {
    throw new Error(
      `${rel} is invalid:\n${result.errors.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.message}`).join('\n')}`,
    );
  }
  const plan = await withBlueprintCode(result);
  const agents = scriptedAgents({ ...skillScript, ...script });
  const { engine, ledger } = harness({ agents: agents.port as AgentPort });
  const run = await engine.run(plan, input, context ? { context } : {});
  return { run, engine, ledger, plan, calls: agents.calls, result };
}
