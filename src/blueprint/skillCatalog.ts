/**
 * What the loader asks of a skill catalog beyond `has`: how a skill sees the run context and
 * every id. A `SkillRegistry` written before it answered `context` and `ids` is read through its
 * `get` and `list`, as the CLI's catalog read such a registry then, so its context skills are
 * built the same (docs/skills.md).
 */
import type { SkillCatalog } from './envTypes.js';

/** The catalog with `ids` and `context` answered from `list` and `get` when it lacks them. */
export function withSkillLookups(skills: SkillCatalog): SkillCatalog {
  if (skills.ids && skills.context) return skills;
  const catalog: SkillCatalog = {
    has: (id) => skills.has(id),
    context: (id) => skillContext(skills, id),
  };
  const ids = skillIds(skills);
  if (ids) catalog.ids = () => skillIds(skills) ?? [];
  if (skills.kind) catalog.kind = (id) => skills.kind?.(id) ?? 'skill';
  if (skills.hitl) catalog.hitl = (id) => skills.hitl?.(id);
  return catalog;
}

export function skillContext(skills: SkillCatalog, id: string): 'read' | 'merge' | undefined {
  return skills.context ? skills.context(id) : skills.get?.(id)?.context;
}

/** Every id, for "did you mean"; undefined when the catalog cannot list them. */
export function skillIds(skills: SkillCatalog): Iterable<string> | undefined {
  if (skills.ids) return skills.ids();
  const list = skills.list?.();
  return list ? Array.from(list, (s) => s.id) : undefined;
}
