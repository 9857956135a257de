/**
 * The skill registry: builtins plus whatever the project declares. It is plain lookup; running
 * skills is the AgentPort's job (./agents.ts), so the loader can validate `agent: {id}` against
 * the same registry the runtime calls.
 */
import { EngineError, ErrorCode, ExitCode } from '../errors.js';
import { builtinSkills, type BuiltinOptions } from './builtins/index.js';
import type { Skill, SkillRegistry } from './types.js';

export interface SkillRegistryOptions extends BuiltinOptions {
  /** Include Flujo's builtins (default true). */
  readonly builtins?: boolean;
  /** More skills, e.g. from loadProjectSkills. */
  readonly skills?: readonly Skill[];
}

export function createSkillRegistry(opts: SkillRegistryOptions = {}): SkillRegistry {
  const byId = new Map<string, Skill>();
  const registry: SkillRegistry = {
    has: (id) => byId.has(id),
    kind: (id) => byId.get(id)?.kind ?? 'skill',
    get: (id) => byId.get(id),
    hitl: (id) => {
      const s = byId.get(id);
      return s?.kind === 'hitl' ? s.hitl : undefined;
    },
    list: () => [...byId.values()],
    ids: () => [...byId.keys()],
    context: (id) => byId.get(id)?.context,
    register(skill) {
      const prior = byId.get(skill.id);
      if (prior) {
        throw new EngineError(
          ErrorCode.SKILLS_CONFIG_INVALID,
          `skill ${skill.id} is declared twice (${prior.source ?? 'programmatic'} and ${skill.source ?? 'programmatic'}); give one of them another id`,
          { exitCode: ExitCode.config, details: { id: skill.id } },
        );
      }
      byId.set(skill.id, skill);
    },
  };
  if (opts.builtins !== false) for (const s of builtinSkills(opts)) registry.register(s);
  for (const s of opts.skills ?? []) registry.register(s);
  return registry;
}
