/**
 * A `SkillRegistry` written by hand with the methods it had before `ids` and `context` (has,
 * kind, get, hitl, list, register) still type-checks (this file is compiled by `tsc -p
 * tsconfig.json`, which failed on it while the two were required), and it is read as the CLI's
 * catalog read such a registry: context skills built from `get(id).context`, suggestions from
 * `list()`.
 */

import { describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { catalogOf } from '../../src/cli/agents.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import type { PlanNode } from '../../src/dsl/ir.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import type { Skill, SkillRegistry } from '../../src/skills/types.js';
import { blueprintDir } from '../support/blueprintDir.js';

const BLUEPRINT = `version: "0.1"
name: context-skills
steps:
  - name: remember
    agent: { id: flujo.builtins.context_set, params: { path: note, value: kept } }
  - name: recall
    agent: { id: flujo.builtins.context_get, params: { path: note } }
`;

/** The registry a library user wrote against the interface as it was: no ids, no context. */
function handWritten(skills: readonly Skill[]): SkillRegistry {
  const byId = new Map(skills.map((s) => [s.id, s]));
  return {
    has: (id) => byId.has(id),
    kind: (id) => byId.get(id)?.kind ?? 'skill',
    get: (id) => byId.get(id),
    hitl: (id) => byId.get(id)?.hitl,
    list: () => [...byId.values()],
    register: (skill) => void byId.set(skill.id, skill),
  };
}

const load = blueprintDir('flujo-handwritten-registry-');

const steps = (root: PlanNode) =>
  (root as unknown as { steps: [{ updatesContext?: boolean }, { input?: unknown }] }).steps;

describe('a hand-written skill registry without ids() and context()', () => {
  const builtins = createSkillRegistry().list();

  it('builds context skills from get(id).context, directly and through the CLI catalog', async () => {
    const registry = handWritten(builtins);
    const expected = planFingerprint(
      await withBlueprintCode(load(BLUEPRINT, createSkillRegistry())),
    );
    for (const skills of [registry, catalogOf(registry)]) {
      const r = load(BLUEPRINT, skills);
      expect(r.errors).toEqual([]);
      const plan = await withBlueprintCode(r);
      const [remember, recall] = steps(plan.ir.root);
      expect(remember.updatesContext).toBe(true);
      expect(recall.input).toBeDefined();
      expect(planFingerprint(plan)).toBe(expected);
    }
  });

  it('suggests a known id from list()', () => {
    const registry = handWritten(builtins);
    const typo = BLUEPRINT.replace('context_get', 'contex_get');
    for (const skills of [registry, catalogOf(registry)]) {
      const [finding] = load(typo, skills).errors;
      expect(finding).toMatchObject({
        rule_id: 'V-A6',
        suggestion: "use 'flujo.builtins.context_get'",
      });
    }
    expect(catalogOf(registry).ids?.()).toEqual(builtins.map((s) => s.id));
  });
});
