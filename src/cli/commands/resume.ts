/**
 * `flujo resume RUN_ID [--input V|-]`: answers a paused run's question, or continues an
 * interrupted run (no input). The pipeline is the file the run recorded, unless --pipeline says
 * otherwise; a changed pipeline is refused (PLAN_CHANGED) rather than resumed by accident, unless
 * --allow-changed-pipeline says to continue under it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { ConfigError, EngineError, ErrorCode, ExitCode, withoutCode } from '../../errors.js';
import { maxInputBytes, resolveRunId } from '../context.js';
import { answerNotUtf8, byFlag, parseAnswer, readStdin, runArgument } from '../io.js';
import type { Output } from '../output.js';
import { pipelinePath, renamedHint, startedPipeline } from '../pipelineFile.js';
import {
  exitCodeOf,
  pausedWithoutAnswer,
  planChangedSaying,
  resaid,
  printRun,
  runJsonAt,
  printRefusal,
} from '../runReport.js';
import type { LedgerStore } from '../../ports.js';
import type { RunResult } from '../../runtime/summary.js';
import type { GlobalOptions } from '../context.js';
import { viaFleet, type FleetFlags } from '../fleet.js';
import { openSession, type Interrupts, type Session } from '../session.js';
import { flujoCommand, runIdWords, shellWord } from '../shell.js';

export interface ResumeFlags extends GlobalOptions, FleetFlags {
  readonly input?: string;
  readonly json?: boolean;
  readonly pipeline?: string;
  readonly by?: string;
  readonly question?: string;
  readonly allowChangedPipeline?: boolean;
}

/** What a PLAN_CHANGED refusal of a resume says to do, here and through the fleet. */
const PLAN_CHANGED_NEXT =
  'resume with the pipeline the run started with, or add --allow-changed-pipeline to continue under this one (a recorded decision that comes out differently then stops it with NONDETERMINISM)';

export async function resume(
  runArg: string,
  flags: ResumeFlags,
  out: Output,
  interrupts: Interrupts,
): Promise<number> {
  let answeredBy: string;
  try {
    runArgument(runArg);
    // Who answers, as recorded: one line (a newline in it forged a line of `lens show`).
    answeredBy = byFlag(flags.by) ?? process.env.USER ?? 'cli';
  } catch (e) {
    if (flags.json) printRefusal(out, runArg, e);
    throw e;
  }
  const cwd = process.cwd();
  if (flags.fleet) {
    const text = flags.input === '-' ? await readStdin(process.stdin, answerNotUtf8) : flags.input;
    // Refused before NATS is reached; the worker checks again with its own limit (ADR 100).
    const answer = text !== undefined ? parseAnswer(text) : undefined;
    // RUN is the whole id: the fleet's ledger may not be reachable from here to expand a prefix.
    return viaFleet(
      flags,
      out,
      (fleet, wait) =>
        fleet.resume(runArg, {
          ...(text !== undefined ? { input: answer } : {}),
          answeredBy,
          ...(flags.question !== undefined ? { question: flags.question } : {}),
          ...(flags.allowChangedPipeline ? { allowChangedPipeline: true } : {}),
          // As run --fleet's PIPELINE: a file relative to the workers' project root (ADR 149).
          ...(flags.pipeline !== undefined ? { pipeline: flags.pipeline } : {}),
          wait,
        }),
      // The engine's words name no flag ("allow the change explicitly"): say which, as here.
      ({ code, message }) =>
        code === ErrorCode.PLAN_CHANGED
          ? `${message.replace(/; resume with .*$/, '')}; ${PLAN_CHANGED_NEXT}`
          : undefined,
    );
  }
  let session: Session;
  try {
    session = await openSession(flags, out, interrupts, {
      progress: !flags.json || Boolean(process.stderr.isTTY),
      env: process.env,
      cwd,
      recordedRun: runArg,
    });
  } catch (e) {
    if (flags.json) printRefusal(out, runArg, e);
    throw e;
  }
  let runId = runArg;
  let answered = false;
  /** The answer itself was refused (parseAnswer), before the run's state was read. */
  let answerRefused = false;
  let pausedNow: (() => Promise<RunResult>) | undefined;
  let startedWith: { readonly name: string; readonly source?: string } | undefined;
  let planName: string | undefined;
  try {
    const { cfg, ledger } = session;
    runId = await resolveRunId(ledger, runArg);
    // Its RunStarted: the file it recorded, and the name a blueprint with no name: of its own
    // takes (ADR 142). Under --pipeline, a damaged one is left to the engine's checks, as before.
    startedWith = flags.pipeline
      ? await startedPipeline(ledger, runId).catch(() => undefined)
      : await startedPipeline(ledger, runId);
    // A flujo create run (the Architect): create writes the file it drafts, and has stopped; no
    // pipeline file takes the run up (ADR 158).
    // (ARCHITECT_SOURCE, not imported: a resume need not load the Architect.)
    if (startedWith?.source === 'flujo:create') throw await architectRun(ledger, runId);
    const started = flags.pipeline ? undefined : startedWith?.source;
    const recorded = started && existsSync(resolve(cfg.root, started)) ? started : undefined;
    if (started && !recorded)
      // The file the run started from is gone (moved, renamed): name it, not `flujo init`, and
      // never fall back to pipeline.yaml, an unrelated pipeline (ADR 138); pipeline.yaml stays
      // the file of a run that recorded none (ADR 28).
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `run ${runId} started from ${started}, which is no longer in ${cfg.root}; pass the pipeline with: ${flujoCommand(`resume ${shellWord(runId)} --pipeline PATH`)} (add --allow-changed-pipeline if it changed)`,
        { file: resolve(cfg.root, started) },
      );
    const file = flags.pipeline
      ? pipelinePath(flags.pipeline, cfg.root, cwd)
      : recorded
        ? resolve(cfg.root, recorded)
        : pipelinePath(undefined, cfg.root, cwd);
    // Leniency for the blueprint the run recorded only (ADR 106): a changed pipeline is a new
    // plan, loaded with every rule, so it cannot record what they refuse.
    const { pipeline: loaded, engine } = await session.load(file, {
      recordedRun: !flags.allowChangedPipeline,
      ...(startedWith ? { recordedName: startedWith.name } : {}),
    });
    planName = loaded.plan.ir.name;
    // Refused before the run is touched: the answer alone is wrong, whatever the run's state.
    answerRefused = true;
    const text =
      // Only --input answers a person: FLUJO_INPUT is a run's input, never a human's answer.
      flags.input === '-' ? await readStdin(process.stdin, answerNotUtf8) : flags.input;
    answered = text !== undefined;
    const answer = text !== undefined ? parseAnswer(text, maxInputBytes(cfg)) : undefined;
    answerRefused = false;
    const id = runId;
    pausedNow = () => engine.result(id);
    const t0 = performance.now();
    const { result, interrupted } = await session.drive(() =>
      engine.resume(loaded.plan, runId, {
        ...(text !== undefined ? { humanInput: answer } : {}),
        answeredBy,
        ...(flags.question !== undefined ? { question: flags.question } : {}),
        ...(flags.allowChangedPipeline ? { allowChangedPlan: true } : {}),
      }),
    );
    if (flags.json)
      out.json(runJsonAt(result, interrupted ? 'interrupted' : result.status, loaded.plan));
    else printRun(out, result, performance.now() - t0, loaded.plan);
    return interrupted ? ExitCode.interrupted : exitCodeOf(result);
  } catch (caught) {
    let e = caught;
    if (e instanceof EngineError && e.code === ErrorCode.PLAN_CHANGED) {
      // The engine's words are the library's ("allow the change explicitly"): say how, here.
      e = planChangedSaying(e, `${PLAN_CHANGED_NEXT}${renamedHint(planName, startedWith?.name)}`);
    }
    if (
      e instanceof EngineError &&
      e.code === ErrorCode.RUN_NOT_RESUMABLE &&
      !answered &&
      pausedNow
    ) {
      // The engine's words say an answer is missing; say which question and how to give one.
      const { pause } = await pausedNow();
      if (pause) e = pausedWithoutAnswer(e, runId, pause);
    }
    if (
      e instanceof EngineError &&
      e.code === ErrorCode.RUN_NOT_RESUMABLE &&
      answered &&
      // Not for a paused run (a --question it does not have): the answer goes with the right one.
      !['completed', 'failed', 'cancelled', 'paused'].includes(String(e.details.status))
    ) {
      // An answer to a run that asks nothing (interrupted, or running elsewhere), or that asked
      // while work of it is still out (ADR 133): say how to continue it, which is the same
      // command without the answer.
      const said = withoutCode(e.message);
      e = resaid(
        e,
        'outstanding' in e.details
          ? said.replace(
              /by resuming it without an answer \(it runs until it pauses\)/,
              `with: ${flujoCommand(`resume ${runIdWords(runId)}`)} (without --input; it runs until it pauses)`,
            )
          : `${said}; to continue it, run: ${flujoCommand(`resume ${runIdWords(runId)}`)} (without --input)`,
      );
    }
    if (e instanceof EngineError && e.code === ErrorCode.HUMAN_INPUT_REJECTED && !answerRefused) {
      const why = withoutCode(e.message);
      if (flags.json)
        out.json({ run_id: runId, status: 'paused', error: { code: e.code, message: why } });
      throw resaid(
        e,
        `${why}. The run is still paused and nothing was recorded; resume again with a valid --input`,
      );
    }
    if (e instanceof EngineError && answerRefused && flags.json) {
      // The answer alone was refused, before the engine read the run: its status is the read
      // model's (one row, as `lens list` shows it), so the object has the shape a schema
      // refusal has; none when that row cannot be read (ADR 108).
      const row = await session.readModels.getRun(runId).catch(() => null);
      out.json({
        run_id: runId,
        ...(row ? { status: row.status } : {}),
        error: { code: e.code, message: withoutCode(e.message) },
      });
      throw e;
    }
    // Under --json a refusal is still one JSON object on stdout (CONTRACTS): an ended run that
    // cannot take an answer, a ledger that fails its chain check, and the like.
    if (flags.json) printRefusal(out, runId, e);
    throw e;
  } finally {
    await session.close();
  }
}

/** The refusal of a resume of a flujo create run: what to do instead (ADR 158). */
async function architectRun(ledger: LedgerStore, runId: string): Promise<EngineError> {
  const ended = (await ledger.head(runId))?.terminal;
  const see = flujoCommand(`lens show ${runIdWords(runId)}`);
  return new EngineError(
    ErrorCode.RUN_NOT_RESUMABLE,
    ended
      ? `run ${runId} is a flujo create run (the Architect), and it has ended: there is nothing to resume. See it with: ${see}`
      : `run ${runId} is a flujo create run (the Architect), stopped before it wrote a file; resume cannot take it up, since create writes the file. Run ${flujoCommand('create --goal "…"')} again, and end this run with: ${flujoCommand(`cancel ${runIdWords(runId)}`)}`,
    { exitCode: ExitCode.runtime, details: { run_id: runId } },
  );
}
