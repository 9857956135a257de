/**
 * `flujo run [PIPELINE]`: starts a run (or resumes it, when --run-id names an existing one) and
 * reports it. Exit 0 when it completed or paused, 1 when it failed, 130 when interrupted.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { resolveBudget } from '../../adapters/agents/budgets.js';
import { planFingerprint } from '../../dsl/fingerprint.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { initFastHash } from '../../events/chain.js';
import {
  checkGiven,
  numberFlag,
  parseContextFlag,
  readInput,
  runIdFlag,
  type InputSource,
} from '../io.js';
import type { Output } from '../output.js';
import { loadPipelineFile, pipelinePath, renamedHint, startedPipeline } from '../pipelineFile.js';
import { pipelineSkills } from '../agents.js';
import {
  exitCodeOf,
  pausedWithoutAnswer,
  planChangedSaying,
  printRefusal,
  printRun,
  runJsonAt,
} from '../runReport.js';
import type { Question } from '../../runtime/summary.js';
import { maxInputBytes, projectConfig, type GlobalOptions } from '../context.js';
import { viaFleet, type FleetFlags } from '../fleet.js';
import { openSession, type Interrupts } from '../session.js';
import { flujoCommand, shellWord } from '../shell.js';

export interface RunFlags extends GlobalOptions, FleetFlags {
  readonly input?: string;
  readonly runId?: string;
  readonly json?: boolean;
  readonly dryRun?: boolean;
  readonly context?: string;
  readonly budgetUsd?: string;
  readonly budgetTokens?: string;
}

export async function run(
  pipelineArg: string | undefined,
  flags: RunFlags,
  out: Output,
  interrupts: Interrupts,
): Promise<number> {
  const env = process.env;
  const cwd = process.cwd();
  const budgetUsd = numberFlag('--budget-usd', flags.budgetUsd);
  const budgetTokens = numberFlag('--budget-tokens', flags.budgetTokens, true);
  const chosenRunId = runIdFlag(flags.runId);
  const context = flags.context ? parseContextFlag(flags.context, cwd) : undefined;
  const contextPrompt = context !== undefined && Object.hasOwn(context, 'initial_prompt');
  if (contextPrompt && flags.input !== undefined)
    throw new EngineError(
      ErrorCode.USAGE,
      '--input and --context both set initial_prompt (the input is context.initial_prompt): drop one, either --input or the initial_prompt key of --context',
      { exitCode: ExitCode.config },
    );

  if (flags.fleet) {
    if (flags.dryRun)
      throw new EngineError(ErrorCode.USAGE, '--dry-run checks the pipeline here: drop --fleet', {
        exitCode: ExitCode.config,
      });
    // The workers load the pipeline: PIPELINE names a file relative to their project root.
    const input = await readInput(flags.input, env, process.stdin);
    // Against the default limit: the client reads no project (the workers have theirs) and the
    // workers check again with their own; a NATS message holds at most 1 MiB anyway.
    checkRunValues(input, context);
    return viaFleet(flags, out, (fleet, wait) =>
      fleet.start({
        ...(chosenRunId !== undefined ? { runId: chosenRunId } : {}),
        ...(pipelineArg !== undefined ? { pipeline: pipelineArg } : {}),
        input: input.value,
        ...(context ? { context } : {}),
        ...(budgetUsd !== undefined || budgetTokens !== undefined
          ? {
              budget: {
                ...(budgetUsd !== undefined ? { costUsd: budgetUsd } : {}),
                ...(budgetTokens !== undefined ? { tokens: budgetTokens } : {}),
              },
            }
          : {}),
        wait,
      }),
    );
  }

  if (flags.dryRun) {
    const cfg = projectConfig(flags, env, cwd);
    const file = pipelinePath(pipelineArg, cfg.root, cwd);
    // The skills run reads, read as run reads them: a broken skills.yaml stops a dry run too.
    const loaded = await loadPipelineFile(file, cfg, await pipelineSkills(cfg, file));
    await initFastHash();
    const report = {
      validated: true,
      pipeline: loaded.plan.ir.name,
      file: loaded.source,
      fingerprint: planFingerprint(loaded.plan),
      warnings: loaded.warnings,
    };
    if (flags.json) out.json(report);
    else
      out.info(
        `${loaded.source}: valid pipeline "${report.pipeline}" (${report.fingerprint.slice(0, 12)}…)`,
      );
    return ExitCode.ok;
  }

  const session = await openSession(flags, out, interrupts, {
    progress: !flags.json || Boolean(process.stderr.isTTY),
    env,
    cwd,
  });
  try {
    const { cfg } = session;
    // --run-id of a run already recorded takes it up (ADR 107): its blueprint is loaded as resume
    // loads it (ADR 106), and the limits on what a new run is given do not apply. One head read.
    const recordedRun =
      chosenRunId !== undefined &&
      (await session.ledger.head(chosenRunId).catch(() => null)) !== null;
    // Its name, which a blueprint with no name: of its own takes (ADR 142). A damaged RunStarted
    // is left to the engine's checks (ADR 124), as before.
    const startedWith = recordedRun
      ? await startedPipeline(session.ledger, chosenRunId).catch(() => undefined)
      : undefined;
    const { pipeline: loaded, engine } = await session.load(
      pipelinePath(pipelineArg, cfg.root, cwd),
      { recordedRun, ...(startedWith ? { recordedName: startedWith.name } : {}) },
    );
    const input = await readInput(flags.input, env, process.stdin);
    if (!recordedRun) checkRunValues(input, context, maxInputBytes(cfg));
    if (contextPrompt)
      out.info(
        `note: --context's initial_prompt is replaced by the input (${input.from === 'empty' ? 'none was given, so the empty string' : `from ${input.from}`}): the input is context.initial_prompt; pass the text with --input instead`,
      );
    // The smallest of --budget-*, [budgets.default] and every matching [budgets.pipeline."…"].
    const budget = resolveBudget(cfg.toml.budgets, loaded.plan.ir.name, {
      ...(budgetUsd !== undefined ? { costMicros: Math.round(budgetUsd * 1e6) } : {}),
      ...(budgetTokens !== undefined ? { tokens: budgetTokens } : {}),
    });
    const runId = chosenRunId ?? randomUUID();
    const t0 = performance.now();
    const { result, interrupted } = await session
      .drive(() =>
        engine.run(loaded.plan, input.value, {
          runId,
          source: loaded.source,
          // The input is context.initial_prompt (CONTRACTS.md); --context goes beside it, never over it.
          context: { ...context, initial_prompt: input.value },
          ...(Object.keys(budget).length > 0 ? { budget } : {}),
        }),
      )
      .catch(async (caught: unknown) => {
        // An id that exists is resumed, and a resume can be refused (a paused run with no answer,
        // a damaged chain): under --json that is still one object, as `flujo resume` prints it.
        // Under another pipeline: the file it started with is named, and said gone when it is.
        const started = startedWith?.source;
        const from = started
          ? ` (${started}${existsSync(resolve(cfg.root, started)) ? '' : `, which is no longer in ${cfg.root}`})`
          : '';
        const renamed = renamedHint(loaded.plan.ir.name, startedWith?.name);
        const e = recordedRun ? takenUpRefusal(caught, runId, from, renamed) : caught;
        if (flags.json) printRefusal(out, runId, e);
        throw e;
      });
    if (flags.json)
      out.json(runJsonAt(result, interrupted ? 'interrupted' : result.status, loaded.plan));
    else printRun(out, result, performance.now() - t0, loaded.plan);
    return interrupted ? ExitCode.interrupted : exitCodeOf(result);
  } finally {
    await session.close();
  }
}

/**
 * A run taken up by --run-id under another pipeline is refused with the library's words ("allow
 * the change explicitly"); run has no flag for that: say which command continues it.
 */
function takenUpRefusal(e: unknown, runId: string, from = '', renamed = ''): unknown {
  if (!(e instanceof EngineError)) return e;
  const pause = e.details.pause as Question | undefined;
  // Paused on a person: `run` takes no answer; say which question and the command that does.
  if (e.code === ErrorCode.RUN_NOT_RESUMABLE && pause) return pausedWithoutAnswer(e, runId, pause);
  if (e.code !== ErrorCode.PLAN_CHANGED) return e;
  return planChangedSaying(
    e,
    `run it with the pipeline it started with${from}, or continue it under this one with: ${flujoCommand(`resume ${shellWord(runId)} --pipeline PATH --allow-changed-pipeline`)}${renamed}`,
  );
}

/**
 * The input and --context over a run's limits (ADR 100), refused naming where each came from
 * before anything is recorded. The run's context holds the input as initial_prompt, which its
 * RunStarted leaves out (ADR 110): the context is measured as recorded, as the engine measures it,
 * so an input just under the limit is not refused as part of the context.
 */
function checkRunValues(
  input: InputSource,
  context: Record<string, unknown> | undefined,
  maxBytes?: number,
): void {
  const named = { '--input': '--input', stdin: 'the input on stdin', FLUJO_INPUT: 'FLUJO_INPUT' };
  const where = input.from === 'empty' ? 'the empty input' : named[input.from];
  checkGiven(input.value, where, 'input', maxBytes);
  if (!context) return;
  // --context's own initial_prompt is replaced by the input (above): recorded without either.
  const { initial_prompt: _, ...recorded } = context;
  checkGiven(recorded, '--context', 'context', maxBytes, ErrorCode.CONFIG_INVALID);
}
