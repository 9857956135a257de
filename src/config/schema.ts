/**
 * The shape of flujo.toml. Every key we act on is checked here; a key we do not know is an error
 * naming it (with the nearest known key), except the sections Flujo's own projects carry for
 * features this engine does not have, which are accepted with a warning so those files load.
 */
import { z } from 'zod';

const usd = z.number().nonnegative().finite();
const tokens = z.number().int().nonnegative();

export const Limits = z.strictObject({
  total_cost_usd_limit: usd.optional(),
  total_tokens_limit: tokens.optional(),
});
export type Limits = z.infer<typeof Limits>;

export const Price = z.strictObject({
  prompt_tokens_per_1k: usd,
  completion_tokens_per_1k: usd,
});
export type Price = z.infer<typeof Price>;

export const FlujoToml = z.strictObject({
  state_uri: z.string().min(1).optional(),
  env_file: z.string().min(1).optional(),
  /**
   * Code modules blueprints and skills.yaml may load outside the project (Flujo's key): paths
   * (absolute or relative to the root), globs, or package names (src/blueprint/allowedImports.ts).
   */
  blueprint_allowed_imports: z.array(z.string()).optional(),
  settings: z
    .strictObject({
      /** Default per-call deadline for model agents, seconds. */
      agent_timeout: z.number().positive().optional(),
      /** Hosts `flujo.builtins.http_get` may reach. */
      http_allowed_hosts: z.array(z.string()).optional(),
      /** At most this many calls of a run with unrecorded outcomes at once (ADR 41). */
      max_calls_in_flight: z.number().int().positive().optional(),
      /** Record a snapshot every this many events (0: never). */
      snapshot_every: z.number().int().nonnegative().optional(),
      /** The largest run input, --context or answer, in bytes as recorded (ADR 100); at most
       * 256 MiB, as RunStarted holds a run's input twice. */
      max_input_bytes: z
        .number()
        .int()
        .positive()
        .max(256 * 1024 * 1024)
        .optional(),
      /** SQLite durability: FULL (default) or NORMAL. */
      sqlite_synchronous: z.enum(['FULL', 'NORMAL']).optional(),
    })
    .optional(),
  cost: z
    .strictObject({
      strict: z.boolean().optional(),
      providers: z.record(z.string(), z.record(z.string(), Price)).optional(),
    })
    .optional(),
  budgets: z
    .strictObject({
      default: Limits.optional(),
      pipeline: z.record(z.string(), Limits).optional(),
    })
    .optional(),
});
export type FlujoToml = z.infer<typeof FlujoToml>;

/** Flujo sections and keys with no meaning here: loaded with a warning, never an error. */
export const FLUJO_ONLY_KEYS: ReadonlySet<string> = new Set([
  'governance_policy_module',
  'architect',
  'aros',
  'validation',
  'template',
  'lockfile',
  'background_tasks',
  'run',
  'solve',
  'bench',
]);

/** Flujo [settings] keys with no meaning here (warned about, then ignored). */
export const FLUJO_ONLY_SETTINGS: ReadonlySet<string> = new Set([
  'default_solution_model',
  'default_review_model',
  'default_validator_model',
  'default_reflection_model',
  'max_iters',
  'k_variants',
  'reflection_limit',
  'scorer',
  't_schedule',
  'otlp_endpoint',
  'telemetry_export_enabled',
  'otlp_export_enabled',
  'state_backend_span_export_enabled',
  'memory_indexing_enabled',
  'memory_embedding_model',
  'memory_embedding_dimensions',
  'postgres_pool_min',
  'postgres_pool_max',
  'enabled_template_filters',
  'governance_mode',
  'governance_tool_allowlist',
  'shadow_eval_sink',
  'granular_resume_fingerprint_mode',
  'sandbox',
]);
