/**
 * `--fleet` on `run`, `resume` and `cancel`: instead of driving the run in this process, publish
 * the work message for `flujo worker` processes (docs/fleet.md) and, unless `--wait 0`, wait for
 * the worker's outcome and report it as the local command would (the same JSON object, the same
 * exit codes). Needs only NATS: FLUJO_NATS_URL and FLUJO_NATS_NAMESPACE, not the ledger.
 */
import { connect } from '@nats-io/transport-node';

import { DEFAULT_NATS_URL } from '../adapters/nats/work.js';
import { EngineError, ErrorCode, ExitCode, withoutCode } from '../errors.js';
import { createFleetClient, type FleetClient, type Published } from '../fleet/client.js';
import { numberFlag } from './io.js';
import type { Output } from './output.js';
import { exampleAnswerWord, pausedLine, pausedWithoutAnswer, questionsHint } from './runReport.js';
import { flujoCommand, runIdWords } from './shell.js';

export interface FleetFlags {
  readonly fleet?: boolean;
  /** Seconds to wait for the worker's outcome (default 60; 0: only queue the message). */
  readonly wait?: string;
  readonly json?: boolean;
}

/** Exit codes of refusals that mean the same as they do locally. */
function exitCodeOfRefusal(code: string): ExitCode {
  if (code === ErrorCode.BLUEPRINT_INVALID) return ExitCode.validation;
  if (code === ErrorCode.MODULE_LOAD || code === ErrorCode.BLUEPRINT_MODULE) return ExitCode.import;
  if (code === ErrorCode.USAGE || code.startsWith('CONFIG_')) return ExitCode.config;
  return ExitCode.runtime;
}

/**
 * A command's own wording of a refusal the worker's engine gave, as the local command words it
 * (the next step it names): the message to say instead, or undefined to keep the worker's.
 */
export type FleetRefusalWording = (refusal: {
  readonly runId: string;
  readonly code: string;
  readonly message: string;
  readonly status: string | undefined;
}) => string | undefined;

export async function viaFleet(
  flags: FleetFlags,
  out: Output,
  publish: (fleet: FleetClient, wait: number) => Promise<Published>,
  reword?: FleetRefusalWording,
): Promise<number> {
  const env = process.env;
  const seconds = numberFlag('--wait', flags.wait) ?? 60;
  if (seconds < 0)
    throw new EngineError(ErrorCode.USAGE, `--wait takes seconds (0 or more), got ${seconds}`, {
      exitCode: ExitCode.config,
    });
  const url = env.FLUJO_NATS_URL ?? DEFAULT_NATS_URL;
  let nc;
  try {
    nc = await connect({ servers: url, timeout: 5_000, reconnect: false });
  } catch (e) {
    throw new EngineError(
      ErrorCode.NATS_UNREACHABLE,
      `cannot reach NATS at ${url}: ${(e as Error).message}; start it (docker compose up -d nats) or set FLUJO_NATS_URL, or drop --fleet to run here`,
      { exitCode: ExitCode.config },
    );
  }
  try {
    const fleet = await createFleetClient(nc, {
      ...(env.FLUJO_NATS_NAMESPACE ? { namespace: env.FLUJO_NATS_NAMESPACE } : {}),
      showRunCommand: (runId) => flujoCommand(`lens show ${runIdWords(runId)}`),
    });
    const published = await publish(fleet, Math.round(seconds * 1000));
    return report(published, flags, out, reword);
  } finally {
    await nc.close().catch(() => {});
  }
}

function report(
  p: Published,
  flags: FleetFlags,
  out: Output,
  reword: FleetRefusalWording | undefined,
): number {
  const arg = runIdWords(p.runId);
  if (!p.result) {
    if (flags.json)
      out.json({ run_id: p.runId, status: 'queued', ...(p.duplicate ? { duplicate: true } : {}) });
    else
      out.info(
        `${p.duplicate ? 'already queued (the same message was published before)' : 'queued'}: run ${p.runId}, for the fleet's workers; follow it with: ${flujoCommand(`lens watch ${arg}`)}`,
      );
    return ExitCode.ok;
  }
  const { message: _message, kind: _kind, ...reported } = p.result as Record<string, unknown>;
  // A duplicate reports the run as it stands (src/fleet/duplicate.ts), and says it was one.
  const outcome = p.duplicate ? { ...reported, duplicate: true } : reported;
  const error = p.result.error;
  const status = typeof outcome.status === 'string' ? outcome.status : undefined;
  if (error && status !== 'failed') {
    // A refusal: as locally, one JSON object on stdout under --json, the reason on stderr.
    const { pause, ...refusal } = outcome;
    let said = error.message;
    const question = pause as { step: string; message: string; input_schema: unknown } | undefined;
    if (error.code === ErrorCode.RUN_NOT_RESUMABLE && status === 'paused' && question) {
      // A resume without an answer: which question, and the command that answers it, as the
      // local `flujo resume` says (the worker's engine only says an answer is missing).
      const { message } = pausedWithoutAnswer(
        new EngineError(ErrorCode.RUN_NOT_RESUMABLE, said),
        p.runId,
        { step: question.step, message: question.message, inputSchema: question.input_schema },
        true,
      );
      said = withoutCode(message);
      refusal.error = { ...error, message: said };
    } else {
      const own = reword?.({ runId: p.runId, code: error.code, message: said, status });
      if (own !== undefined) {
        said = own;
        refusal.error = { ...error, message: said };
      }
    }
    const dead = outcome.dead_letter as { stream?: unknown } | undefined;
    if (dead && typeof dead.stream === 'string')
      // Given up after its last delivery: where the message is kept and how to send it again.
      said += `; the message is kept as a dead letter in ${dead.stream}: find it with: ${flujoCommand(`fleet dead-letters list --run ${arg}`)}, and once the cause is fixed publish it again with: ${flujoCommand('fleet dead-letters retry SEQ')}`;
    if (flags.json) out.json(refusal);
    throw new EngineError(error.code as ErrorCode, `${said} (refused by the fleet)`, {
      exitCode: exitCodeOfRefusal(error.code),
      ...(status ? { details: { status } } : {}),
    });
  }
  if (flags.json) out.json(outcome);
  else {
    if (p.duplicate)
      out.info(
        'already queued (the same message was published before); the run as it stands, as the fleet reports it:',
      );
    printOutcome(out, p.runId, outcome);
  }
  return status === 'failed' ? ExitCode.runtime : ExitCode.ok;
}

function printOutcome(out: Output, runId: string, o: Record<string, unknown>): void {
  const arg = runIdWords(runId);
  const pause = o.pause as { step: string; message: string; input_schema: unknown } | undefined;
  const error = o.error as { code: string; message: string } | undefined;
  if (o.status === 'completed') {
    out.data(typeof o.output === 'string' ? o.output : JSON.stringify(o.output ?? null, null, 2));
    out.info(`${out.color.ok('✓')} run ${runId} completed by the fleet`);
  } else if (o.status === 'paused' && pause) {
    out.info(pausedLine(runId, pause.step, pause.message));
    out.info(`  expected input (JSON Schema): ${JSON.stringify(pause.input_schema)}`);
    out.info(
      `  resume: ${flujoCommand(`resume --fleet --input ${exampleAnswerWord(pause.input_schema)} ${arg}`)}`,
    );
    const questions = o.questions as { path: string; message: string }[] | undefined;
    if (questions) out.info(questionsHint(questions));
  } else if (o.status === 'failed') {
    out.info(
      `${out.color.bad('✗')} run ${runId} failed: ${error ? `${error.code}: ${error.message}` : 'unknown error'}`,
    );
  } else out.info(`run ${runId} ${String(o.status)}`);
  const tokens = o.tokens as { input: number; output: number } | undefined;
  const steps = Array.isArray(o.steps) ? o.steps.length : 0;
  out.info(
    out.color.dim(
      `  cost $${Number(o.cost_usd ?? 0).toFixed(4)} · tokens ${tokens?.input ?? 0} in / ${tokens?.output ?? 0} out · ${steps} step${steps === 1 ? '' : 's'}`,
    ),
  );
  out.info(out.color.dim(`  inspect: ${flujoCommand(`lens show ${arg}`)}`));
}
