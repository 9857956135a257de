/**
 * `flujo lens serve [--port N] [--host H] [--token T]`: the web lens over the project's state.
 * Answers from the browser go through a TaskClient whose plans are the pipeline files the runs
 * recorded. Loopback by default; another host gets a token (given, FLUJO_LENS_TOKEN, or random),
 * printed with the URL on stderr. Ctrl-C stops the server; runs it was driving stay resumable.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { readFromCopy, refreshingState } from '../../adapters/ledger/copyRefresh.js';
import type { State } from '../../adapters/ledger/state.js';
import { openStateForReading } from '../../adapters/ledger/stateRead.js';
import { redactUri } from '../../adapters/ledger/stateUri.js';
import type { EffectiveConfig } from '../../config/load.js';
import type { Plan } from '../../dsl/ir.js';
import {
  ConfigError,
  EngineError,
  ErrorCode,
  ExitCode,
  isEngineError,
  withoutCode,
} from '../../errors.js';
import { decodeRecord } from '../../events/envelope.js';
import type { AgentPort } from '../../ports.js';
import { createEngine } from '../../runtime/engine.js';
import type { SkillRegistry } from '../../skills/types.js';
import { createTaskClient } from '../../tasks/index.js';
import { isLoopback } from '../../web/auth.js';
import { taskBackend } from '../../web/backend.js';
import { createLensServer } from '../../web/server.js';
import { agentsFor, projectSkills, skillsDirFor } from '../agents.js';
import type { Output } from '../output.js';
import { loadPipelineFile } from '../pipelineFile.js';
import {
  maxInputBytes,
  missingStateFile,
  openProjectState,
  projectConfig,
  type GlobalOptions,
} from '../context.js';
import { flujoCommand, runIdWords } from '../shell.js';
import type { Interrupts } from '../session.js';
import { hostOf, listenRefusal, portOf } from './lensServeAddress.js';

export interface LensServeOptions extends GlobalOptions {
  readonly port?: string;
  readonly host?: string;
  readonly token?: string;
}

export async function lensServe(
  opts: LensServeOptions,
  out: Output,
  interrupts: Interrupts,
): Promise<number> {
  const cfg = projectConfig(opts, process.env, process.cwd());
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  const port = portOf(opts.port);
  const host = hostOf(opts.host);
  // No state file: no run to show or answer, and a mistyped --state-uri would serve a new, empty
  // ledger. Refused, creating nothing, as the read commands create none (ADR 155).
  refuseMissingServeState(cfg);
  const token =
    opts.token ??
    process.env.FLUJO_LENS_TOKEN ??
    (isLoopback(host) ? undefined : randomBytes(24).toString('base64url'));
  const opened = await openServeState(cfg);
  const { readOnly, refusal } = opened;
  if (readOnly) out.info(`read-only: ${readOnly}; answers and cancels are refused`);
  // A SQLite file this user cannot read in place is served from a copy in memory (ADR 94),
  // taken again when the file changes (ADR 104).
  const state = readFromCopy(opened.state.ledger)
    ? followCopy(cfg, opened.state, out)
    : opened.state;
  // One engine for every run the inbox answers. Each run calls the skills of its own pipeline
  // (the skills.yaml beside it, else the project's), as `flujo resume` would.
  const ports = new Map<string, Promise<{ skills: SkillRegistry; agents: AgentPort }>>();
  const portFor = (file: string) => {
    const dir = skillsDirFor(cfg, file);
    let p = ports.get(dir);
    if (!p) {
      p = projectSkills(cfg, dir).then((skills) => ({ skills, agents: agentsFor(cfg, skills) }));
      ports.set(dir, p);
      p.catch(() => ports.delete(dir));
    }
    return p;
  };
  const runPorts = new Map<string, AgentPort>();
  const routed: AgentPort = {
    call: async (req, signal, hooks) => {
      const port =
        runPorts.get(req.runId) ?? (await portFor(join(cfg.root, 'pipeline.yaml'))).agents;
      return port.call(req, signal, hooks);
    },
    estimate: (req) => runPorts.get(req.runId)?.estimate?.(req) ?? { costMicros: 0, tokens: 0 },
  };
  const engine = createEngine({
    ledger: state.ledger,
    agents: routed,
    worker: `lens-${process.pid}`,
    // An answer sent to the web lens is bounded as one given to `flujo resume` (ADR 100).
    maxInputBytes: maxInputBytes(cfg),
  });
  const plans = new Map<string, Promise<Plan>>();
  async function planFor(runId: string): Promise<Plan> {
    const [first] = await state.ledger.read(runId, { limit: 1 });
    const started = first ? decodeRecord(runId, first.seq, first.body) : undefined;
    const recorded = started?.type === 'RunStarted' ? started.data.pipeline : undefined;
    const source = recorded?.source;
    const file = source ? resolve(cfg.root, source) : undefined;
    if (!file || !existsSync(file)) {
      throw new EngineError(
        ErrorCode.RUN_NOT_RESUMABLE,
        `run ${runId} ${source ? `recorded pipeline file ${source}, which is gone` : 'recorded no pipeline file'}; answer it with: ${flujoCommand(`resume --pipeline FILE --input … ${runIdWords(runId)}`)}`,
      );
    }
    const port = await portFor(file);
    runPorts.set(runId, port.agents);
    // Keyed by the file's modification time too: an edited pipeline is loaded again (and the
    // engine then refuses it for older runs with PLAN_CHANGED, as the CLI does), and by the name
    // the run recorded, which a blueprint with no name: of its own takes (ADR 142).
    const key = JSON.stringify([file, statSync(file).mtimeMs, recorded?.name]);
    let plan = plans.get(key);
    if (!plan) {
      // Only recorded runs are answered here (ADR 106).
      plan = loadPipelineFile(file, cfg, port.skills, {
        recordedRun: true,
        ...(recorded ? { recordedName: recorded.name } : {}),
      }).then((l) => l.plan);
      plans.set(key, plan);
      plan.catch(() => plans.delete(key));
    }
    return plan;
  }
  const tasks = createTaskClient({
    ledger: state.ledger,
    readModels: state.readModels,
    engine,
    planFor,
  });
  const backend = taskBackend(state, tasks, (runId, e) =>
    out.error(`lens serve: ${runId === '*' ? '' : `run ${runId}: `}${(e as Error)?.message ?? e}`),
  );
  let server;
  try {
    server = await createLensServer(backend, {
      host,
      port,
      ...(token ? { token } : {}),
      ...(refusal ? { readOnly: refusal } : {}),
    });
  } catch (e) {
    await state.close();
    throw listenRefusal(e, host, port) ?? e;
  }
  const url = token ? `${server.url}?token=${encodeURIComponent(token)}` : server.url;
  out.info(`flujo lens: ${url}`);
  out.info(`serving ${redactUri(cfg.stateUri)} — Ctrl-C stops`);
  // The listener stays: a second Ctrl-C exits at once if shutting down hangs.
  await new Promise<void>((done) => interrupts.onInterrupt(done));
  await engine.detach();
  await server.close();
  await state.close();
  return ExitCode.ok;
}

/**
 * The state served from a copy in memory, read again when the file changed, looked at on a
 * request at most once a second (ADR 104). A failed refresh keeps what was read and says why
 * once; it is tried again at the next look.
 */
function followCopy(cfg: EffectiveConfig, first: State, out: Output): State {
  out.info(
    'the SQLite file is served from a copy in memory taken now (this user may not create its -shm); it is read again when the file changes',
  );
  let said: string | undefined;
  return refreshingState(first, {
    open: async (release) => {
      const read = await openStateForReading(cfg.stateUri, { projectRoot: cfg.root }, release);
      if ('stale' in read) throw new ConfigError(ErrorCode.CONFIG_STATE_URI, read.stale);
      return read.state;
    },
    onError: (e) => {
      const why = `lens serve: the SQLite file changed and could not be read again (${withoutCode((e as Error)?.message ?? String(e))}); serving what was read before`;
      if (why !== said) out.error(why);
      said = why;
    },
    onRefresh: () => {
      said = undefined;
    },
  });
}

/**
 * The state to serve: opened to write (answers, cancels), or, when this role or user may only
 * read it, read-only with those refused (ADR 94), if it is this release's as it stands.
 */
async function openServeState(
  cfg: EffectiveConfig,
): Promise<{ state: State; readOnly?: string; refusal?: string }> {
  try {
    return { state: await openProjectState(cfg) };
  } catch (e) {
    if (!isEngineError(e, ErrorCode.CONFIG_STATE_URI) || e.details.readOnly !== true) throw e;
    const why = withoutCode(e.message);
    const read = await openStateForReading(cfg.stateUri, { projectRoot: cfg.root });
    if ('stale' in read)
      throw new ConfigError(ErrorCode.CONFIG_STATE_URI, `${read.stale}; ${why}`, e.details);
    return {
      state: read.state,
      readOnly: why,
      refusal: 'it runs as a role or user that may only read the state',
    };
  }
}

/**
 * A SQLite state file that is not there holds no run: serving it would create an empty ledger
 * (and its -wal and -shm) and show nothing, which a mistyped --state-uri did without a word.
 */
function refuseMissingServeState(cfg: EffectiveConfig): void {
  const missing = missingStateFile(cfg);
  if (missing)
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `there is no state file at ${missing}: no run has been recorded there, and the web lens creates none. Run a pipeline first (${flujoCommand('run')}), or point --state-uri (FLUJO_STATE_URI, state_uri in flujo.toml) at the project's state; nothing was created`,
      { path: missing },
    );
}
