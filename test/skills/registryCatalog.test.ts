/**
 * The skill registry is itself a full SkillCatalog for the blueprint loader (docs/skills.md shows
 * `loadBlueprint(path, { files, root, skills: registry })`): a context skill's step is built the
 * same as through the CLI's catalogOf, and an unknown id gets the same suggestion. Before, the
 * registry had no `context` and no `ids`: `context_set` lost its merge into the context and
 * `context_get` its `{ input, context }` input, silently, and no id was suggested.
 */
import { describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { catalogOf } from '../../src/cli/agents.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import type { PlanNode } from '../../src/dsl/ir.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import { blueprintDir } from '../support/blueprintDir.js';

const BLUEPRINT = `version: "0.1"
name: context-skills
steps:
  - name: remember
    agent: { id: flujo.builtins.context_set, params: { path: note, value: kept } }
  - name: recall
    agent: { id: flujo.builtins.context_get, params: { path: note } }
`;

const load = blueprintDir('flujo-registry-catalog-');

describe('the skill registry as the loader catalog', () => {
  it('builds context skills as the CLI catalog does', async () => {
    const registry = createSkillRegistry();
    const direct = load(BLUEPRINT, registry);
    const viaCli = load(BLUEPRINT, catalogOf(registry));
    expect(direct.errors).toEqual([]);
    const [a, b] = [await withBlueprintCode(direct), await withBlueprintCode(viaCli)];
    const steps = (root: PlanNode) => (root as unknown as { steps: PlanNode[] }).steps;
    const remember = steps(a.ir.root)[0] as { updatesContext?: boolean };
    expect(remember.updatesContext).toBe(true);
    const recall = steps(a.ir.root)[1] as { input?: unknown };
    expect(recall.input).toBeDefined(); // { input, context } is built for a `read` skill
    expect(planFingerprint(a)).toBe(planFingerprint(b));
  });

  it('suggests a known id for a mistyped one', () => {
    const registry = createSkillRegistry();
    const typo = BLUEPRINT.replace('context_get', 'contex_get');
    const direct = load(typo, registry).errors.map((e) => JSON.stringify(e));
    const viaCli = load(typo, catalogOf(registry)).errors.map((e) => JSON.stringify(e));
    expect(direct.join('\n')).toContain('flujo.builtins.context_get');
    expect(direct).toEqual(viaCli);
  });
});
