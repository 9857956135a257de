/**
 * Flujo's public API. Named exports only; types in their own block.
 */
export { createFlujo } from './runtime/flujo.js';
export { createEngine, ENGINE_VERSION } from './runtime/engine.js';
export { verifyStoredRun, verifyStoredRuns } from './runtime/verifyLedger.js';
export {
  DEFAULT_MAX_INPUT_BYTES,
  InputLimitError,
  MAX_INPUT_DEPTH,
} from './runtime/inputLimits.js';
export type { InputProblem } from './runtime/inputLimits.js';
export {
  agentStep,
  conditional,
  definePipeline,
  hitl,
  loop,
  map,
  parallel,
  router,
  sequence,
  stateMachine,
  step,
} from './dsl/builder.js';
export { subPipeline } from './dsl/subPipeline.js';
export { PlanBuildError } from './dsl/checks.js';
export { planFingerprint } from './dsl/fingerprint.js';
export { loadBlueprint } from './blueprint/loader.js';
export { explainPlan, visualizePlan } from './blueprint/describe.js';
export { nodeBlueprintFiles, withBlueprintCode } from './adapters/fs/blueprintFiles.js';
export { openLedger } from './adapters/ledger/open.js';
export { createMemoryLedger } from './adapters/ledger/memory.js';
export { createSqliteLedger } from './adapters/ledger/sqlite.js';
export { parseStateUri, resolveStateUri } from './adapters/ledger/stateUri.js';
export {
  openState,
  type State,
  type OpenStateOptions,
  type RebuildReport,
} from './adapters/ledger/state.js';
export type {
  CostDimension,
  CostRow,
  HitlRow,
  ReadModels,
  RunQuery,
  RunRow,
  RunStatusRow,
  StepRow,
} from './projections/readModels.js';
export { PROJECTION_VERSIONS, type ProjectionName } from './projections/changes.js';
export {
  createTaskClient,
  type PendingInput,
  type Task,
  type TaskClient,
  type TaskClientOptions,
  type TaskQuery,
} from './tasks/index.js';
export {
  createFleetClient,
  type FleetClient,
  type FleetClientOptions,
  type FleetResult,
  type Published,
} from './fleet/client.js';
export { fleetNames, type FleetNames } from './adapters/nats/work.js';
export { emptyHead, decodeRecord } from './events/envelope.js';
export {
  AgentCallError,
  AgentConfigSchema,
  BUILTIN_PRICES,
  PRICES_AS_OF,
  createModelAgents,
  createRecordedAgents,
  loadEnvFile,
  loadProviders,
  parseEnv,
  parseModelId,
  parsePricing,
  preflightModelAgents,
  resolveBudget,
} from './adapters/agents/index.js';
export { verifyRun } from './events/verify.js';
export { createSkillRegistry } from './skills/registry.js';
export { builtinSkills, ASK_USER_INPUT_SCHEMA } from './skills/builtins/index.js';
export { contextReadInput } from './skills/builtins/context.js';
export { hostAllowed } from './skills/builtins/http.js';
export { createSkillAgents, composeAgents, SKILL_PREFIX } from './skills/agents.js';
export { loadProjectSkills } from './skills/project.js';
export {
  EngineError,
  ErrorCode,
  ExitCode,
  LedgerConflictError,
  LedgerDecodeError,
  LedgerEncodeError,
  LedgerFencedError,
  LedgerStartError,
  NondeterminismError,
  isEngineError,
} from './errors.js';

export type {
  AgentStepOptions,
  AgentStepOutput,
  Flow,
  ModelAgentId,
  Pipeline,
  StepOptions,
  LoopOptions,
  MapOptions,
  ParallelOptions,
} from './dsl/builder.js';
export type { Plan, PlanIR, PlanNode } from './dsl/ir.js';
export type {
  BlueprintFiles,
  CodeModuleRef,
  LoadOptions,
  LoadResult,
  SkillCatalog,
} from './blueprint/loader.js';
export type { Finding } from './blueprint/findings.js';
export type {
  Engine,
  EngineOptions,
  ReplayResult,
  ResumeOptions,
  RunOptions,
} from './runtime/engine.js';
export type { TypedRunResult } from './runtime/flujo.js';
export type { WatchOptions } from './runtime/watch.js';
export type { RunResult, StepSummary } from './runtime/summary.js';
export type { EventType, NewEvent } from './events/catalogue.js';
export type { LedgerEvent, StoredRecord, Head } from './events/envelope.js';
export type {
  JsonSchema,
  Skill,
  SkillArgs,
  SkillCallContext,
  SkillLookup,
  SkillRegistry,
} from './skills/types.js';
export type { SkillRegistryOptions } from './skills/registry.js';
export type { BuiltinOptions } from './skills/builtins/index.js';
export type { HttpOptions, HttpResult } from './skills/builtins/http.js';
export type { RoutedAgentPort } from './skills/agents.js';
export type { LoadProjectSkillsOptions, ProjectSkillFn } from './skills/project.js';
export type {
  AgentCallHooks,
  AgentPort,
  AgentRepair,
  AgentReply,
  AgentRequest,
  AgentRetryInfo,
  Clock,
  LedgerStore,
  RunHead,
} from './ports.js';
export type {
  AgentConfig,
  Env,
  ModelAgentsOptions,
  Pricing,
  Rate,
  RetryPolicy,
  RunBudget,
} from './adapters/agents/index.js';
// The template and expression language (docs/templates.md), for tools that check or render
// blueprint values as the loader does.
export {
  parseTemplate,
  renderTemplate,
  renderTemplateValue,
  templatePaths,
  hasTemplate,
  TEMPLATE_FILTERS,
  type Template,
  type RenderOptions,
} from './blueprint/template.js';
export {
  parseExpression,
  evaluateExpression,
  expressionNames,
  truthy,
  type Expr,
} from './blueprint/expr.js';
export {
  TemplateSyntaxError,
  TemplateUndefinedError,
  ExpressionError,
} from './blueprint/templateErrors.js';
// The web lens, to embed in an application's own server (docs/lens.md, "Embed it").
export {
  createLensServer,
  type LensServer,
  type LensBackend,
  type LensServerOptions,
} from './web/server.js';
export { taskBackend } from './web/backend.js';
