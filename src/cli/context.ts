/**
 * The composition root shared by commands: resolve the project, its config and the ledger.
 */
import { existsSync } from 'node:fs';

import { openLedger } from '../adapters/ledger/open.js';
import { openState, type State } from '../adapters/ledger/state.js';
import { parseStateUri } from '../adapters/ledger/stateUri.js';
import { ConfigError, EngineError, ErrorCode, ExitCode, withoutCode } from '../errors.js';
import type { LedgerStore } from '../ports.js';
import { loadConfig, type EffectiveConfig } from '../config/load.js';
import { DEFAULT_MAX_INPUT_BYTES } from '../runtime/inputLimits.js';
import { runArgument } from './io.js';
import { findProjectRoot, type FindRootOptions } from './project.js';
import { flujoCommand } from './shell.js';

export interface GlobalOptions {
  readonly project?: string;
  readonly stateUri?: string;
}

/**
 * The project's effective config (root from --project, FLUJO_PROJECT_ROOT or the nearest marker
 * file), its state URI checked. Kept apart from session.ts so that read commands do not load the
 * model SDKs.
 */
export function projectConfig(
  flags: GlobalOptions,
  env: NodeJS.ProcessEnv,
  cwd: string,
  options: FindRootOptions = {},
) {
  if (flags.stateUri !== undefined && flags.stateUri.trim() === '')
    // An unset shell variable (`--state-uri "$URI"`): not the default state in silence.
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      '--state-uri is empty: give a state URI (sqlite:///relative.db, sqlite:////absolute.db, postgresql://…, memory://), or leave the flag out for the configured state; nothing was done',
    );
  const root = findProjectRoot(flags.project, env, cwd, options);
  const cfg = loadConfig({ root, env, ...(flags.stateUri ? { stateUri: flags.stateUri } : {}) });
  checkStateUri(cfg);
  return cfg;
}

/**
 * A state URI that cannot be used is refused where it was set (QA L9): `flujo.toml:LINE:COL:
 * state_uri: …`, `FLUJO_STATE_URI: …` or `--state-uri: …`, as show-config names each setting's
 * source, so the user knows which of the three to fix.
 */
function checkStateUri(cfg: EffectiveConfig): void {
  try {
    parseStateUri(cfg.stateUri, cfg.root);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const source = cfg.sources.state_uri ?? 'state_uri';
    const where =
      source === '--state-uri' || /^FLUJO_STATE_/.test(source) ? source : `${source}: state_uri`;
    const unset =
      source === 'FLUJO_STATE_URI' ? ' (unset FLUJO_STATE_URI for the configured one)' : '';
    throw new ConfigError(e.code, `${where}: ${withoutCode(e.message)}${unset}`, {
      ...e.details,
      source,
    });
  }
}

export async function openProjectLedger(
  opts: GlobalOptions,
  access: { readonly readOnly?: boolean } = {},
): Promise<LedgerStore> {
  const cfg = projectConfig(opts, process.env, process.cwd());
  return openLedger(cfg.stateUri, { projectRoot: cfg.root, ...access });
}

/** The project's ledger with its read models, as its config says (state URI, SQLite sync). */
export function openProjectState(cfg: EffectiveConfig): Promise<State> {
  const sync = cfg.toml.settings?.sqlite_synchronous;
  return openState(cfg.stateUri, {
    projectRoot: cfg.root,
    ...(sync ? { sqliteSynchronous: sync } : {}),
  });
}

/** The largest input, --context or answer a run takes, in bytes as recorded (ADR 100). */
export const maxInputBytes = (cfg: EffectiveConfig): number =>
  cfg.toml.settings?.max_input_bytes ?? DEFAULT_MAX_INPUT_BYTES;

/** Resolves a unique run-id prefix to the full id; an empty one is refused (it matches every run). */
export async function resolveRunId(store: LedgerStore, prefix: string): Promise<string> {
  runArgument(prefix);
  const exact = await store.head(prefix);
  if (exact) return prefix;
  const matches = await store.listRuns({ prefix, limit: 6 });
  if (matches.length === 1) return (matches[0] as { runId: string }).runId;
  if (matches.length === 0) {
    throw new EngineError(
      ErrorCode.LEDGER_UNKNOWN_RUN,
      `no run matches ${JSON.stringify(prefix)}; list runs with: ${flujoCommand('lens list')}`,
      {
        exitCode: ExitCode.runtime,
      },
    );
  }
  const shown = matches.slice(0, 5).map((m) => m.runId);
  throw new EngineError(
    ErrorCode.LEDGER_AMBIGUOUS_RUN,
    `${JSON.stringify(prefix)} matches several runs (${shown.join(', ')}${matches.length > 5 ? ', …' : ''}); give more characters`,
    { exitCode: ExitCode.runtime },
  );
}

/**
 * The SQLite file the project's state URI names, when it does not exist yet: a project that has
 * recorded no run. The lens reads that as an empty ledger and creates nothing.
 */
export function missingStateFile(cfg: EffectiveConfig): string | undefined {
  const location = parseStateUri(cfg.stateUri, cfg.root);
  return location.kind === 'sqlite' && !existsSync(location.path) ? location.path : undefined;
}

/**
 * For a command about a run already recorded (resume, cancel): a SQLite state file that is not
 * there holds no run, so the run is unknown and no empty file is made. A mistyped --state-uri
 * made one and then said the run was unknown.
 */
export function refuseMissingState(cfg: EffectiveConfig, run: string): void {
  const missing = missingStateFile(cfg);
  if (missing)
    throw new EngineError(
      ErrorCode.LEDGER_UNKNOWN_RUN,
      `no run matches ${JSON.stringify(run)}: there is no state file at ${missing} (check --state-uri, FLUJO_STATE_URI or state_uri in flujo.toml); nothing was created`,
    );
}
