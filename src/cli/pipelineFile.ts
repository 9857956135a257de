/**
 * Finds and loads the pipeline a command names: a YAML blueprint, or a JS/TS module exporting a
 * pipeline built with the DSL (`export default definePipeline(…)`, or `export const pipeline`).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { compilePlan } from '../actors/compile.js';
import { nearest } from '../blueprint/findings.js';
import { controlNameProblems } from '../dsl/checks.js';
import type { Plan } from '../dsl/ir.js';
import type { LedgerStore } from '../ports.js';
import { recordedStart } from '../runtime/verifyLedger.js';
import { ConfigError, EngineError, ErrorCode, ExitCode } from '../errors.js';
import type { EffectiveConfig } from '../config/load.js';
import type { SkillRegistry } from '../skills/types.js';
import { flujoCommand } from './shell.js';

export interface LoadedPipeline {
  readonly plan: Plan;
  /** Absolute path of the file. */
  readonly file: string;
  /** The file relative to the project root: what RunStarted records for `flujo resume`. */
  readonly source: string;
  /** Validation warnings to show (YAML). */
  readonly warnings: readonly string[];
}

export const DEFAULT_PIPELINE = 'pipeline.yaml';

/**
 * How the pipeline of a run already recorded is loaded: `recordedRun`, leniently (ADR 106);
 * `recordedName`, the name the run recorded, which a blueprint with no `name:` takes (ADR 142).
 */
export interface RecordedLoad {
  readonly recordedRun?: boolean;
  readonly recordedName?: string;
}

/** The extensions of a pipeline module (a pipeline built with the DSL), not a YAML blueprint. */
const MODULE_EXTENSIONS: ReadonlySet<string> = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts']);

/** Whether `file` names a pipeline module (loaded by import), by its extension. */
export const isPipelineModule = (file: string): boolean =>
  MODULE_EXTENSIONS.has(extname(file).toLowerCase());

/**
 * The pipeline a run recorded when it started (its name and file, whether or not the file is
 * still there). Its RunStarted is read alone and must be seq 1, intact (ADR 122, 124): read
 * before resume's own chain check (which starts at the latest snapshot, ADR 43), a damaged or
 * missing RunStarted is named as lens verify names it, not decoded as whatever row comes first
 * (which made a resume without --pipeline a PLAN_CHANGED against the default pipeline).
 */
export async function startedPipeline(
  ledger: LedgerStore,
  runId: string,
): Promise<{ readonly name: string; readonly source?: string }> {
  const [first] = await ledger.read(runId, { fromSeq: 1, limit: 1 });
  if (!first && !(await ledger.head(runId)))
    throw new EngineError(ErrorCode.RUN_NOT_FOUND, `no run ${runId} in the ledger`);
  const started = await recordedStart(
    ledger,
    runId,
    'the run was not resumed and nothing was recorded',
    { hashed: true, row: first ?? null },
  );
  return started.data.pipeline;
}

/**
 * Said with a PLAN_CHANGED whose pipeline is named otherwise than the run recorded (its own
 * `name:`): a file named so, with nothing else changed, takes the run up (ADR 142).
 */
export function renamedHint(
  planName: string | undefined,
  recordedName: string | undefined,
): string {
  return planName === undefined || recordedName === undefined || recordedName === planName
    ? ''
    : `; the pipeline is named ${JSON.stringify(planName)} where the run recorded ${JSON.stringify(recordedName)}: if that is all that changed, set name: ${JSON.stringify(recordedName)} in the file (or remove its name: line)`;
}

export function pipelinePath(arg: string | undefined, root: string, cwd: string): string {
  const file = arg ? resolve(cwd, arg) : join(root, DEFAULT_PIPELINE);
  if (existsSync(file) && statSync(file).isDirectory())
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${file} is a folder, not a pipeline file; pass the file in it (e.g. ${join(file, DEFAULT_PIPELINE)})`,
      { file },
    );
  if (!existsSync(file)) {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      arg
        ? `pipeline file ${file} does not exist; check the path (relative to ${cwd})${nearbyPipeline(file)}`
        : `no ${DEFAULT_PIPELINE} in ${root}; pass a pipeline file, or create a project with: ${flujoCommand('init')}`,
      { file },
    );
  }
  return file;
}

/** `; did you mean x.yaml?` for a pipeline file beside the missing one with a close name. */
function nearbyPipeline(file: string): string {
  let names: string[];
  try {
    names = readdirSync(dirname(file)).filter((n) => /\.(ya?ml|m?js|[cm]?ts)$/.test(n));
  } catch {
    return '';
  }
  const near = nearest(basename(file), names);
  return near ? `; did you mean ${join(dirname(file), near)}?` : '';
}

const isPlan = (x: unknown): x is Plan =>
  typeof x === 'object' && x !== null && 'ir' in x && 'functions' in x;

function planOf(mod: Record<string, unknown>): Plan | undefined {
  for (const candidate of [mod.default, mod.pipeline]) {
    if (isPlan(candidate)) return candidate;
    const inner = (candidate as { plan?: unknown } | undefined)?.plan;
    if (isPlan(inner)) return inner;
  }
  return undefined;
}

async function loadModule(file: string): Promise<Plan> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    // The hint only when Node could not read TypeScript (no loader), not for a .ts module that a
    // loader ran and that threw. A module may throw anything, not only an Error.
    const ts =
      /\.[cm]?ts$/.test(file) &&
      (e as { code?: unknown } | null)?.code === 'ERR_UNKNOWN_FILE_EXTENSION';
    throw new EngineError(
      ErrorCode.MODULE_LOAD,
      `${file}: could not be loaded: ${e instanceof Error ? e.message : `it threw ${String(e)}`}${ts ? '. TypeScript pipelines need a loader: run `node --import tsx node_modules/.bin/flujo …` or compile them to .js' : ''}`,
      { exitCode: ExitCode.import, cause: e },
    );
  }
  const plan = planOf(mod);
  if (!plan) {
    throw new EngineError(
      ErrorCode.MODULE_LOAD,
      `${file}: exports no pipeline; write \`export default definePipeline('name', …)\``,
      { exitCode: ExitCode.import },
    );
  }
  try {
    // A plan written by hand (not with the DSL) is checked here, before --dry-run vouches for it
    // and before a run is recorded, rather than failing as an internal error when it starts.
    compilePlan(plan);
  } catch (e) {
    throw new EngineError(
      ErrorCode.MODULE_LOAD,
      `${file}: exports a pipeline that cannot run: ${(e as Error).message}; build it with the DSL (definePipeline, step, …), which checks each node`,
      { exitCode: ExitCode.import, cause: e },
    );
  }
  return plan;
}

/**
 * Loads a pipeline file. `recordedRun`: for a run already recorded (resume, replay, an answer),
 * whose blueprint a rule added since may refuse for new runs (ADR 106).
 */
export async function loadPipelineFile(
  file: string,
  cfg: EffectiveConfig,
  registry?: SkillRegistry,
  opts: RecordedLoad = {},
): Promise<LoadedPipeline> {
  const ext = extname(file).toLowerCase();
  const source = isAbsolute(relative(cfg.root, file)) ? file : relative(cfg.root, file);
  if (ext === '.yaml' || ext === '.yml') {
    const { loadYamlPipeline } = await import('./yamlPipeline.js');
    const { pipelineSkills } = await import('./agents.js');
    const { plan, warnings } = await loadYamlPipeline(
      file,
      cfg,
      registry ?? (await pipelineSkills(cfg, file)),
      opts,
    );
    return { plan, file, source, warnings };
  }
  if (isPipelineModule(file)) {
    const plan = await loadModule(file);
    // The names a blueprint's V-K4 refuses (ADR 108), refused in a module too (MODULE_LOAD, as
    // its other plan problems), and only warned of for a run already recorded with them.
    const named = controlNameProblems(plan.ir.name, plan.ir.root);
    // Only a module can call a hitl skill as an agent (a blueprint compiles it to a person's step).
    // A run already recorded is not refused (ADR 106): its step fails at the call (a custom hitl
    // skill's `run` was called before ADR 111; a reply recorded then folds as it was).
    if (opts.recordedRun) {
      const warnings = named.map((n) => `${source}: ${n}; a new run is refused (ADR 108)`);
      return { plan, file, source, warnings };
    }
    if (named.length > 0)
      throw new EngineError(
        ErrorCode.MODULE_LOAD,
        `${file}: exports a pipeline whose ${named.join('; ')}: a run records these names and the lens prints them; write them without control characters (a newline, a tab, ESC…)`,
        { exitCode: ExitCode.import },
      );
    const { pipelineSkills, refuseHitlSkillCalls } = await import('./agents.js');
    await refuseHitlSkillCalls(file, plan, async () => registry ?? pipelineSkills(cfg, file));
    return { plan, file, source, warnings: [] };
  }
  throw new ConfigError(
    ErrorCode.CONFIG_INVALID,
    `${file}: unknown pipeline file type ${ext || '(none)'}; use a .yaml blueprint or a .js/.ts module`,
  );
}
