/** The keys each part of a blueprint accepts: unknown ones are V-K1 errors with a suggestion. */
import { MergeStrategy, ReducePreset } from '../dsl/ir.js';

/**
 * The most plan nodes a blueprint compiles to, its imports inlined (V-I7, ADR 153). The largest
 * blueprint in Flujo's and this project's examples has a few hundred; a basic step is one node,
 * an import step about ten plus its file's.
 */
export const MAX_PLAN_NODES = 20_000;

export const TOP_KEYS = ['version', 'name', 'agents', 'imports', 'steps'] as const;
/** Keys Flujo accepts and ignores: a warning, not an error. */
export const TOP_IGNORED = ['pipeline_config', 'description', 'vars', 'static_invariants'] as const;
export const VERSIONS = ['0.1', '2.0'] as const;

export const COMMON_KEYS = [
  'kind',
  'name',
  'step',
  'agent',
  'uses',
  'input',
  'config',
  'updates_context',
  'sink_to',
  'fallback',
  'input_schema',
  'output_schema',
  'meta',
  'use_history',
] as const;
/** Flujo step keys we parse but do not act on: a V-K5 warning. */
export const COMMON_IGNORED = [
  'validate_fields',
  'usage_limits',
  'plugins',
  'validators',
  'processing',
] as const;

export const KIND_KEYS: Readonly<Record<string, readonly string[]>> = {
  step: [],
  parallel: ['branches', 'merge_strategy', 'on_branch_failure', 'reduce'],
  conditional: ['branches', 'condition', 'condition_expression', 'default_branch'],
  loop: ['loop'],
  map: ['map'],
  dynamic_router: ['router', 'merge_strategy', 'on_branch_failure', 'reduce'],
  hitl: ['message'],
  cache: ['wrapped_step'],
  agentic_loop: ['planner', 'registry', 'output_template', 'max_loops'],
  tree_search: [],
  StateMachine: ['start_state', 'end_states', 'states', 'transitions', 'max_transitions'],
};
/**
 * Kind keys Flujo documents that this engine does not act on: a V-K5 warning, so a blueprint that
 * counts on them (a branch's context narrowed, its writes mapped) is told, not silently run.
 */
export const KIND_IGNORED: Readonly<Record<string, readonly string[]>> = {
  parallel: ['context_include_keys', 'field_mapping', 'ignore_branch_names'],
};
export const KINDS = [...Object.keys(KIND_KEYS), 'state_machine'] as const;
export const UNSUPPORTED_KINDS = ['tree_search'] as const;

export const LOOP_KEYS = [
  'body',
  'max_loops',
  'exit_condition',
  'exit_expression',
  'stop_when',
  'initial_input_mapper',
  'iteration_input_mapper',
  'loop_output_mapper',
  'state',
  'init',
  'propagation',
  'propagate',
  'output_template',
  'output',
  'conversation',
  'history_management',
  'history_template',
  'ai_turn_source',
  'user_turn_sources',
  'named_steps',
] as const;
export const CONVERSATION_KEYS = [
  'conversation',
  'history_management',
  'history_template',
  'ai_turn_source',
  'user_turn_sources',
  'named_steps',
] as const;
export const MAP_KEYS = ['iterable_input', 'body', 'init', 'finalize'] as const;
export const ROUTER_KEYS = ['router_agent', 'branches'] as const;
export const AGENT_KEYS = [
  'model',
  'system_prompt',
  'output_schema',
  'model_settings',
  'timeout',
  'max_retries',
] as const;
export const STEP_CONFIG_KEYS = [
  'max_retries',
  'timeout_s',
  'timeout',
  'temperature',
  'top_k',
  'top_p',
  'preserve_fallback_diagnostics',
  'execution_mode',
  'expected_cost_usd',
  'expected_tokens',
] as const;
/** The step `config:` keys a basic step acts on; the rest of STEP_CONFIG_KEYS warn (V-K5). */
export const STEP_CONFIG_ACTED = ['max_retries', 'timeout_s', 'timeout'] as const;
/** Flujo's per-step sampling settings: here they belong in the agent's `model_settings`. */
export const STEP_CONFIG_SAMPLING = ['temperature', 'top_k', 'top_p'] as const;
/**
 * The `config:` keys an import step acts on (Flujo's import options). The step keys of
 * STEP_CONFIG_KEYS it takes too, and acts on none of: the child's own steps retry and time out.
 */
export const IMPORT_CONFIG_KEYS = [
  'input_to',
  'input_scratchpad_key',
  'outputs',
  'inherit_context',
  'inherit_conversation',
  'propagate_hitl',
  'on_failure',
] as const;
export const TRANSITION_KEYS = ['from', 'on', 'to', 'when'] as const;
export const MERGE_STRATEGIES = MergeStrategy;
export const REDUCE_PRESETS = ReducePreset;
/** Template / expression roots a blueprint may read. */
export const SCOPE_ROOTS = [
  'context',
  'previous_step',
  'output',
  'steps',
  'resume_input',
  'this',
  'iteration',
] as const;
/** Model providers whose `provider:model` ids are model agents, not Python imports. */
export const PROVIDERS = [
  'openai',
  'anthropic',
  'google',
  'gemini',
  'ollama',
  'groq',
  'mistral',
  'azure',
  'bedrock',
  'openrouter',
  'openai-compatible',
  'test',
] as const;
