/**
 * `flujo worker`: one process of the fleet. Pulls start, resume and cancel messages from the
 * NATS JetStream work queue (FLUJO_WORK) and runs them against the project's ledger — Postgres
 * for a fleet on several machines, a SQLite file for several workers on one. Logs are JSON lines
 * on stderr (pino). SIGTERM or SIGINT stops pulling, leaves the runs being driven resumable and
 * hands their messages back at once; exit 0 (130 after SIGINT).
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';

import { publishCommits } from '../../adapters/nats/events.js';
import { DEFAULT_NATS_URL, ensureWorkQueue, fleetNames } from '../../adapters/nats/work.js';
import { resolveBudget } from '../../adapters/agents/budgets.js';
import { ConfigError, EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { startWorker, type LoadedRunPipeline } from '../../fleet/worker.js';
import { createEngine } from '../../runtime/engine.js';
import { openProjectState, projectConfig, type GlobalOptions } from '../context.js';
import { numberFlag } from '../io.js';
import { findingAsShown } from '../jsonRefusal.js';
import type { Output } from '../output.js';
import { DEFAULT_PIPELINE, startedPipeline } from '../pipelineFile.js';
import { engineSettings, loadRunnable } from '../session.js';

export interface WorkerFlags extends GlobalOptions {
  readonly nats?: string;
  readonly namespace?: string;
  readonly concurrency?: string;
  readonly ackWait?: string;
  readonly maxDeliver?: string;
  readonly reconcileAfter?: string;
  readonly name?: string;
}

function whole(flag: string, raw: string | undefined, fallback: number, min: number): number {
  const n = numberFlag(flag, raw, true);
  if (n === undefined) return fallback;
  if (n < min)
    throw new EngineError(ErrorCode.USAGE, `${flag} must be at least ${min}, got ${n}`, {
      exitCode: ExitCode.config,
    });
  return n;
}

export async function worker(flags: WorkerFlags, out: Output): Promise<number> {
  const env = process.env;
  const cwd = process.cwd();
  const concurrency = whole('--concurrency', flags.concurrency, 4, 1);
  const ackWaitMs = whole('--ack-wait', flags.ackWait, 30, 1) * 1000;
  const maxDeliver = whole('--max-deliver', flags.maxDeliver, 20, 1);
  const reconcileAfterMs = whole('--reconcile-after', flags.reconcileAfter, 300, 0) * 1000;
  const url = flags.nats ?? env.FLUJO_NATS_URL ?? DEFAULT_NATS_URL;
  const name = flags.name ?? `worker-${process.pid}`;
  const names = fleetNames(flags.namespace ?? env.FLUJO_NATS_NAMESPACE ?? undefined);

  const cfg = projectConfig(flags, env, cwd);
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  if (cfg.stateUri.startsWith('memory:'))
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `a worker needs a ledger other processes can read; ${cfg.stateUri} lives in this process only: set FLUJO_STATE_URI to a postgresql:// URI (or a SQLite file for workers on one machine)`,
    );
  const log = pino(
    { name: 'flujo-worker', base: { worker: name } },
    pino.destination({ dest: 2, sync: true }),
  );

  let nc;
  try {
    nc = await connect({
      servers: url,
      name,
      timeout: 5_000,
      // A NATS outage is waited out, however long: the worker is useless without it, and a
      // supervisor restarting it would only wait the same way.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 2_000,
    });
  } catch (e) {
    throw new ConfigError(
      ErrorCode.NATS_UNREACHABLE,
      `cannot reach NATS at ${url}: ${(e as Error).message}; start it (docker compose up -d nats) or point --nats / FLUJO_NATS_URL at it`,
    );
  }
  const state = await openProjectState(cfg).catch(async (e: unknown) => {
    await nc.close();
    throw e;
  });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureWorkQueue(jsm, names, { ackWaitMs, maxDeliver });
    const ledger = publishCommits(state.ledger, nc, names, (e) =>
      log.warn({ err: e.message }, 'could not publish committed events'),
    );
    const engineOptions = { ...engineSettings(cfg), ledger, worker: name };

    // One engine per pipeline file, loaded again when the file changes.
    const loaded = new Map<string, { mtimeMs: number; pipeline: Promise<LoadedRunPipeline> }>();
    const loadPipeline = (
      file: string | undefined,
      recordedRun = false,
      recordedName?: string,
    ): Promise<LoadedRunPipeline> => {
      const rel = file ?? DEFAULT_PIPELINE;
      const abs = resolve(cfg.root, rel);
      const inside = relative(cfg.root, abs);
      if (isAbsolute(rel) || inside.startsWith('..') || isAbsolute(inside))
        return Promise.reject(
          new ConfigError(
            ErrorCode.CONFIG_INVALID,
            `pipeline ${JSON.stringify(rel)} is outside the worker's project ${cfg.root}: name a file relative to it`,
          ),
        );
      if (!existsSync(abs))
        return Promise.reject(
          new ConfigError(
            ErrorCode.CONFIG_INVALID,
            `pipeline file ${rel} does not exist in the worker's project ${cfg.root}`,
          ),
        );
      const mtimeMs = statSync(abs).mtimeMs;
      // A resume's load may take what a start's refuses (ADR 106), and a nameless blueprint is
      // named as the run recorded (ADR 142): cached apart.
      const key = JSON.stringify([abs, recordedRun, recordedName ?? null]);
      const cached = loaded.get(key);
      if (cached && cached.mtimeMs === mtimeMs) return cached.pipeline;
      const pipeline = loadRunnable(cfg, abs, engineOptions, undefined, {
        recordedRun,
        ...(recordedName !== undefined ? { recordedName } : {}),
      }).then(
        ({ pipeline: p, engine }) => ({ plan: p.plan, source: p.source, engine }),
        (e: unknown) => {
          // An invalid blueprint's findings name files as the message names the pipeline:
          // relative to the worker's project, not this machine's absolute paths.
          const findings = e instanceof EngineError ? e.details.errors : undefined;
          if (e instanceof EngineError && Array.isArray(findings))
            e.details.errors = findings.map((f) => findingAsShown(f, cfg.root));
          throw e;
        },
      );
      loaded.set(key, { mtimeMs, pipeline });
      pipeline.catch(() => loaded.delete(key));
      return pipeline;
    };

    const w = startWorker({
      nc,
      js: jetstream(nc),
      jsm,
      names,
      readModels: state.readModels,
      engine: createEngine(engineOptions),
      loadPipeline,
      runExists: async (runId) => (await state.ledger.head(runId).catch(() => null)) !== null,
      // Its file, or `gone` when that is no longer here: a resume is then refused, never given
      // pipeline.yaml, which is the file of a run that recorded none (ADR 138, 146).
      async recordedPipeline(runId) {
        const { name, source } = await startedPipeline(state.ledger, runId);
        if (!source) return { name };
        return existsSync(resolve(cfg.root, source))
          ? { name, source }
          : { name, gone: { file: source, project: cfg.root } };
      },
      runOptions(plan, m) {
        const b = m.body.budget;
        const budget = resolveBudget(cfg.toml.budgets, plan.ir.name, {
          ...(b?.cost_usd !== undefined ? { costMicros: Math.round(b.cost_usd * 1e6) } : {}),
          ...(b?.tokens !== undefined ? { tokens: b.tokens } : {}),
        });
        const input = m.body.input ?? '';
        return {
          // As `flujo run`: the input is context.initial_prompt, beside the given context.
          context: { ...m.body.context, initial_prompt: input },
          ...(Object.keys(budget).length > 0 ? { budget } : {}),
        };
      },
      log,
      concurrency,
      ackWaitMs,
      maxDeliver,
      reconcileAfterMs,
      name,
    });
    log.info(
      {
        nats: url,
        stream: names.stream,
        state: state.ledger.kind,
        concurrency,
        ack_wait_s: ackWaitMs / 1000,
      },
      `worker started: pulling ${names.namespace}.work.> (stop with Ctrl-C or SIGTERM)`,
    );
    const conn = nc;
    void (async () => {
      for await (const st of conn.status())
        if (st.type === 'disconnect' || st.type === 'reconnect')
          log.warn(
            { nats: st.type },
            `NATS ${st.type === 'disconnect' ? 'connection lost; reconnecting' : 'reconnected'}`,
          );
    })();
    const why = await new Promise<'SIGINT' | 'SIGTERM' | 'closed'>((resolveWhy) => {
      process.once('SIGINT', () => resolveWhy('SIGINT'));
      process.once('SIGTERM', () => resolveWhy('SIGTERM'));
      // The connection closed for good, or every loop ended: nothing is being pulled any more.
      void conn.closed().then(() => resolveWhy('closed'));
      void w.stopped.then(() => resolveWhy('closed'));
    });
    if (why === 'closed') {
      log.error({}, 'the NATS connection closed or the worker stopped pulling: exiting');
      await w.stop();
      throw new EngineError(
        ErrorCode.NATS_UNREACHABLE,
        `lost NATS at ${url} and stopped pulling; the runs it drove stay resumable: restart the worker once NATS is back`,
        { exitCode: ExitCode.runtime },
      );
    }
    log.info({ signal: why }, 'stopping: runs being driven stay resumable');
    await w.stop();
    log.info({ ...w.counts }, 'worker stopped');
    return why === 'SIGINT' ? ExitCode.interrupted : ExitCode.ok;
  } finally {
    await nc.drain().catch(() => {});
    await state.close();
  }
}
