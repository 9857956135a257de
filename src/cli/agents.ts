/**
 * The agent port a CLI run uses, configured from the project: the skill registry (Flujo's
 * builtins with [settings] http_allowed_hosts, plus skills.yaml next to the pipeline) in front of
 * the model providers (OPENAI_*, ANTHROPIC_* from the environment or env_file; [cost] pricing).
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import {
  createModelAgents,
  loadProviders,
  parseModelId,
  preflightModelAgents,
} from '../adapters/agents/index.js';
import type { SkillCatalog } from '../blueprint/env.js';
import { skillContext, skillIds } from '../blueprint/skillCatalog.js';
import type { EffectiveConfig } from '../config/load.js';
import type { Plan, PlanNode, StepNode } from '../dsl/ir.js';
import type { AgentPort } from '../ports.js';
import { ConfigError, EngineError, ExitCode } from '../errors.js';
import { SKILL_PREFIX, composeAgents, createSkillAgents, notCallable } from '../skills/agents.js';
import { loadProjectSkills } from '../skills/project.js';
import { createSkillRegistry } from '../skills/registry.js';
import type { SkillRegistry } from '../skills/types.js';

/**
 * The folder whose skills.yaml a run of the pipeline at `file` reads: the file's own folder when
 * it holds one, else the project root. One rule for run, resume, validate, lens replay and the web
 * lens (each had written it; a dry run and lens replay read only the file's folder).
 */
export function skillsDirFor(cfg: EffectiveConfig, file: string): string {
  return existsSync(join(dirname(file), 'skills.yaml')) ? dirname(file) : cfg.root;
}

/**
 * flujo.toml's `blueprint_allowed_imports` and the file a fix names, as the blueprint loader and
 * skills.yaml take them: `run`, `validate`, `explain` and `visualize` read the same (ADR 152).
 */
export function allowedImportsOf(cfg: EffectiveConfig): {
  allowedImports: readonly string[];
  configFile: string;
} {
  // A caller's hand-made config may hold only the root (tests do): no list, then.
  const toml = cfg.toml as EffectiveConfig['toml'] | undefined;
  return {
    allowedImports: toml?.blueprint_allowed_imports ?? [],
    configFile: cfg.file ? relative(cfg.root, cfg.file) || cfg.file : 'flujo.toml',
  };
}

/** The skills a run of the pipeline at `file` may call: Flujo's builtins and its skills.yaml. */
export function pipelineSkills(cfg: EffectiveConfig, file: string): Promise<SkillRegistry> {
  return projectSkills(cfg, skillsDirFor(cfg, file));
}

export async function projectSkills(cfg: EffectiveConfig, dir = cfg.root): Promise<SkillRegistry> {
  const file = join(dir, 'skills.yaml');
  const skills = existsSync(file)
    ? await loadProjectSkills(file, { projectRoot: cfg.root, ...allowedImportsOf(cfg) })
    : [];
  return createSkillRegistry({
    projectRoot: cfg.root,
    http: { allowedHosts: cfg.toml.settings?.http_allowed_hosts ?? [] },
    skills,
  });
}

/**
 * The model ids a CLI run's agents take, as `preflight` decides before a run starts: undefined,
 * or why not (CONFIG_UNKNOWN_MODEL's message). `validate` and the blueprint loads of `run` pass it
 * to the loader (LoadOptions.modelProblem), so `agent: "mistral:large"` is a V-A6 finding there,
 * not valid and then refused by `run`.
 */
export function modelIdProblem(agent: string): string | undefined {
  try {
    parseModelId(agent);
    return undefined;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.message.slice(`[${e.code}] `.length);
  }
}

/** What the blueprint loader needs to know of the registry. */
export function catalogOf(registry: SkillRegistry): SkillCatalog {
  return {
    has: (id) => registry.has(id),
    kind: (id) => registry.kind(id),
    ids: () => skillIds(registry) ?? [],
    context: (id) => skillContext(registry, id),
    hitl: (id) => registry.hitl(id),
  };
}

export function agentsFor(cfg: EffectiveConfig, registry: SkillRegistry): AgentPort {
  return composeAgents(
    createSkillAgents(registry),
    createModelAgents({
      env: cfg.env,
      pricing: cfg.toml.cost,
      ...(cfg.toml.settings?.agent_timeout
        ? { deadlineMs: Math.round(cfg.toml.settings.agent_timeout * 1000) }
        : {}),
    }),
  );
}

/** Every agent step of the plan, fallbacks included, in the plan's order. */
function stepsOf(node: PlanNode, out: StepNode[]): StepNode[] {
  if (node.kind === 'step') {
    out.push(node);
    if (node.fallback) stepsOf(node.fallback, out);
    return out;
  }
  const children: PlanNode[] = [];
  switch (node.kind) {
    case 'sequence':
      children.push(...node.steps);
      break;
    case 'parallel':
    case 'conditional':
      children.push(...Object.values(node.branches));
      if (node.kind === 'conditional' && node.default) children.push(node.default);
      break;
    case 'dynamic_router':
      children.push(node.router, ...Object.values(node.branches));
      break;
    case 'loop':
    case 'map':
      children.push(node.body);
      break;
    case 'state_machine':
      children.push(...Object.values(node.states));
      break;
    case 'hitl':
      break;
  }
  for (const c of children) stepsOf(c, out);
  return out;
}

const modelSteps = (node: PlanNode) =>
  stepsOf(node, []).filter((s) => !s.agent.startsWith('fn:') && !s.agent.startsWith('skill:'));

/**
 * A pipeline module's steps that call a hitl skill as an agent (`agentStep(name, 'skill:<id>')`)
 * are refused when it is loaded, as the call would be (ADR 111): SKILL_NOT_CALLABLE, exit 3, the
 * first such step named (and how many there are), before anything is recorded.
 */
export async function refuseHitlSkillCalls(
  file: string,
  plan: Plan,
  /** Loaded only for a plan with skill steps (skills.yaml is read then, as the run would). */
  registryOf: () => Promise<SkillRegistry>,
): Promise<void> {
  const skillSteps = stepsOf(plan.ir.root, []).filter((s) => s.agent.startsWith(SKILL_PREFIX));
  if (!skillSteps.length) return;
  const registry = await registryOf();
  const calls = skillSteps.filter(
    (s) => registry.get(s.agent.slice(SKILL_PREFIX.length))?.kind === 'hitl',
  );
  const [first] = calls;
  if (!first) return;
  const e = notCallable(first.agent.slice(SKILL_PREFIX.length), first.name, ExitCode.import);
  const more =
    calls.length > 1
      ? ` (and ${calls.length - 1} more step(s): ${calls
          .slice(1)
          .map((s) => s.name)
          .join(', ')})`
      : '';
  throw new EngineError(e.code, `${file}: ${e.message.slice(e.code.length + 3)}${more}`, {
    exitCode: ExitCode.import,
    details: { ...e.details, file, steps: calls.map((s) => s.name) },
  });
}

/**
 * Before a run starts: every model step has a known provider, a key and (with [cost] strict) a
 * price, so a missing OPENAI_API_KEY is a configuration error (exit 2), not a failed run; and
 * the SDKs of those providers are loaded.
 */
export async function preflight(
  cfg: EffectiveConfig,
  plan: Plan,
  /** Told once per model without a price (counted as free unless [cost] strict = true). */
  warn: (warning: string) => void = () => {},
): Promise<void> {
  const steps = modelSteps(plan.ir.root).map((s) => ({
    agent: s.agent,
    config: s.config,
    path: s.name,
  }));
  if (steps.length === 0) return;
  const unpriced = new Set<string>();
  const quiet = () => {};
  const logger = {
    debug: quiet,
    info: quiet,
    error: quiet,
    warn: (obj: object) => {
      const { provider, model } = obj as { provider?: string; model?: string };
      if (provider === undefined || model === undefined) return;
      const id = `${provider}:${model}`;
      if (unpriced.has(id)) return;
      unpriced.add(id);
      warn(
        `${id} has no price: its calls count as $0 against budgets; add [cost.providers.${provider}."${model}"] with prompt_tokens_per_1k and completion_tokens_per_1k to flujo.toml (0 for a local model), or set [cost] strict = true to refuse unpriced models`,
      );
    },
  };
  preflightModelAgents({ env: cfg.env, pricing: cfg.toml.cost, logger }, steps);
  // The providers' SDKs load on first use; load the ones this pipeline calls before it starts.
  await loadProviders(steps.map((s) => s.agent));
}
