/**
 * What `run` and `resume` share: the project's config, its ledger (tapped for live progress),
 * an engine with the project's agents, and SIGINT handling that leaves the run resumable.
 */
import { tapLedger } from '../adapters/ledger/tap.js';
import type { EffectiveConfig } from '../config/load.js';
import type { LedgerStore } from '../ports.js';
import type { ReadModels } from '../projections/readModels.js';
import { createEngine, type Engine, type EngineOptions } from '../runtime/engine.js';
import type { RunResult } from '../runtime/summary.js';
import { agentsFor, pipelineSkills, preflight } from './agents.js';
import {
  maxInputBytes,
  openProjectState,
  projectConfig,
  refuseMissingState,
  type GlobalOptions,
} from './context.js';
import { loadPipelineFile, type LoadedPipeline, type RecordedLoad } from './pipelineFile.js';
import type { Output } from './output.js';
import { createProgress } from './progress.js';

/** How a command learns of Ctrl-C; the entry point owns the process and its exit. */
export interface Interrupts {
  /** Calls `handler` on the first SIGINT; returns a function that stops listening. */
  onInterrupt(handler: () => void): () => void;
}

export interface Session {
  readonly cfg: EffectiveConfig;
  readonly ledger: LedgerStore;
  /** The project's read models (a run's status as `lens list` shows it). */
  readonly readModels: ReadModels;
  /**
   * Loads the pipeline file with the skills it may call (builtins plus the skills.yaml beside
   * it, else the project root's), and the engine that runs it with those skills and the models.
   */
  load(file: string, opts?: RecordedLoad): Promise<{ pipeline: LoadedPipeline; engine: Engine }>;
  /** Runs `work`, showing progress; a SIGINT detaches the run (it stays resumable). */
  drive(work: () => Promise<RunResult>): Promise<{ result: RunResult; interrupted: boolean }>;
  close(): Promise<void>;
}

export async function openSession(
  flags: GlobalOptions,
  out: Output,
  interrupts: Interrupts,
  options: {
    readonly progress: boolean;
    readonly env: NodeJS.ProcessEnv;
    readonly cwd: string;
    /**
     * The run the command is about, already recorded (resume): a SQLite state file that is not
     * there is refused naming it, before anything is opened (and an empty file created).
     */
    readonly recordedRun?: string;
  },
): Promise<Session> {
  const cfg = projectConfig(flags, options.env, options.cwd);
  if (options.recordedRun !== undefined) refuseMissingState(cfg, options.recordedRun);
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  // The ledger with its projections: runs recorded here show up in lens at once.
  const state = await openProjectState(cfg);
  const store = state.ledger;
  const progress = createProgress(out, (s) => process.stderr.write(s));
  const ledger = options.progress ? tapLedger(store, progress.onCommit) : store;
  let engine: Engine | undefined;
  return {
    cfg,
    ledger,
    readModels: state.readModels,
    async load(file, opts) {
      const loaded = await loadRunnable(
        cfg,
        file,
        { ...engineSettings(cfg), ledger, worker: `cli-${process.pid}` },
        (w) => out.info(`warning: ${w}`),
        opts,
      );
      engine = loaded.engine;
      return loaded;
    },
    async drive(work) {
      const stop = interrupts.onInterrupt(() => {
        progress.done();
        out.info('interrupted: stopping; the run stays resumable (Ctrl-C again to quit at once)');
        void engine?.detach();
      });
      try {
        const result = await work();
        // Ctrl-C just after the run finished changes nothing: report what the run did.
        return { result, interrupted: result.status === 'running' };
      } finally {
        stop();
        progress.done();
      }
    },
    close: () => state.close(),
  };
}

/** The engine options flujo.toml's [settings] give (snapshots, calls in flight, input size). */
export function engineSettings(
  cfg: EffectiveConfig,
): Pick<EngineOptions, 'snapshotEvery' | 'maxCallsInFlight' | 'maxInputBytes'> {
  const snapshotEvery = cfg.toml.settings?.snapshot_every;
  const maxCalls = cfg.toml.settings?.max_calls_in_flight;
  return {
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
    ...(maxCalls !== undefined ? { maxCallsInFlight: maxCalls } : {}),
    maxInputBytes: maxInputBytes(cfg),
  };
}

/**
 * Loads a pipeline file with the skills it may call (builtins plus the skills.yaml beside it,
 * else the project root's), checks its models can be called, and makes the engine that runs it.
 */
export async function loadRunnable(
  cfg: EffectiveConfig,
  file: string,
  engineOptions: Omit<EngineOptions, 'agents'>,
  /** The blueprint's validation warnings, before the models are checked. */
  warn: (warning: string) => void = () => {},
  /** The pipeline of a run already recorded (ADR 106, 142). */
  opts: RecordedLoad = {},
): Promise<{ pipeline: LoadedPipeline; engine: Engine }> {
  const skills = await pipelineSkills(cfg, file);
  const pipeline = await loadPipelineFile(file, cfg, skills, opts);
  for (const w of pipeline.warnings) warn(w);
  await preflight(cfg, pipeline.plan, warn);
  return { pipeline, engine: createEngine({ ...engineOptions, agents: agentsFor(cfg, skills) }) };
}
