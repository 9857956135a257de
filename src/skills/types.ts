/**
 * What a skill is. A skill is a named piece of code a step can call with `agent: {id, params}`;
 * its description and schemas are what the Architect reads to choose it, and its side-effects
 * flag says whether running it changes the world. Every skill call goes through the AgentPort
 * (see ./agents.ts and docs/adr/0018), so it is recorded before it runs and never re-run once
 * its reply is in the ledger.
 */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** What a running skill may know about its call. */
export interface SkillCallContext {
  readonly runId: string;
  readonly path: string;
  readonly attempt: number;
  /** The call's idempotency key: pass it on to services that accept one. */
  readonly key: string;
  /** Aborted when the run stops or the attempt times out. */
  readonly signal: AbortSignal;
  /** The run context, only for skills declared `context: 'read'`. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/**
 * Named arguments, as Flujo binds a builtin's keyword arguments: each name comes from `params`
 * first, then from the step input's key of that name (when the input is an object); when the
 * input supplied none of them, the whole input becomes the `primary` argument.
 */
export interface SkillArgs {
  readonly names: readonly string[];
  readonly primary?: string;
}

export interface Skill {
  readonly id: string;
  /** One or two sentences for the Architect: what it does, what it takes, what it returns. */
  readonly description: string;
  /** `hitl` skills (ask_user) are compiled by the loader into a durable human step, never called. */
  readonly kind: 'skill' | 'hitl';
  readonly sideEffects: boolean;
  /**
   * `read`: the step's request input is `{ input, context }` (the loader builds it) and the skill
   * sees the context. `merge`: the skill returns an object the loader deep-merges into the
   * context (the node gets `updatesContext: true`). See docs/skills.md.
   */
  readonly context?: 'read' | 'merge';
  /** Present: `run` receives the bound argument object, validated against `inputSchema`. */
  readonly args?: SkillArgs;
  /** JSON Schema of what `run` receives as input (the bound arguments when `args` is set). */
  readonly inputSchema?: JsonSchema;
  /** JSON Schema of `params` (Flujo's `arg_schema`); builtins check params via `args` instead. */
  readonly paramsSchema?: JsonSchema;
  readonly outputSchema?: JsonSchema;
  /** For `kind: 'hitl'`: which param is the message, and what the human's answer must match. */
  readonly hitl?: { readonly messageParam: string; readonly inputSchema: JsonSchema };
  /** Where it was declared: `builtin` or `skills.yaml:12`. */
  readonly source?: string;
  run(
    input: unknown,
    params: Readonly<Record<string, unknown>>,
    ctx: SkillCallContext,
  ): unknown | Promise<unknown>;
}

/** The shape the YAML loader validates `agent: {id}` against. */
export interface SkillLookup {
  has(id: string): boolean;
  kind?(id: string): 'skill' | 'hitl';
}

export interface SkillRegistry extends SkillLookup {
  /** `skill` for unknown ids too: ask `has` first. */
  kind(id: string): 'skill' | 'hitl';
  get(id: string): Skill | undefined;
  /** A `hitl` skill's `hitl` declaration (the loader applies its `inputSchema`, ADR 95). */
  hitl(id: string): Skill['hitl'];
  list(): readonly Skill[];
  /**
   * Every id, for "did you mean" suggestions (the loader's SkillCatalog). Optional, so a registry
   * written before it was asked for still type-checks: without it the ids are `list()`'s.
   */
  ids?(): string[];
  /**
   * How a skill sees the run context (`Skill.context`): the loader builds its step from it.
   * Optional as `ids`: without it the loader reads `get(id)?.context`.
   */
  context?(id: string): Skill['context'];
  /** Adds a skill; an id already present is a SKILLS_CONFIG_INVALID error. */
  register(skill: Skill): void;
}
