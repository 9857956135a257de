/**
 * `flujo lens replay RUN [--pipeline FILE] [--json]`: refolds the run's events through its plan
 * offline — no agent is called — and reports whether every recorded decision was reproduced.
 * Exit 0 only when identical; 1 with the first divergence otherwise.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

import { ConfigError, ErrorCode, ExitCode } from '../../errors.js';
import { decodeRecord } from '../../events/envelope.js';
import { createEngine } from '../../runtime/engine.js';
import { corruptRun } from '../../runtime/verifyLedger.js';
import type { Output } from '../output.js';
import { loadPipelineFile, pipelinePath, renamedHint } from '../pipelineFile.js';
import { withRun, type LensFlags } from './lensCommon.js';
import { flujoCommand, shellWord } from '../shell.js';

export interface LensReplayFlags extends LensFlags {
  readonly pipeline?: string;
}

export async function lensReplay(
  run: string,
  flags: LensReplayFlags,
  out: Output,
): Promise<number> {
  // Replay only reads, so it opens the state read-only (withRun's default): a ledger restored with
  // its transaction ids ahead of the cluster (refused for writing until `lens renumber`, ADR 92)
  // still replays, and so does a role or user that may only read the state (ADR 94).
  return withRun(flags, run, async ({ cfg, ledger, runId }) => {
    const [first] = await ledger.read(runId, { limit: 1 });
    const started = first ? decodeRecord(runId, first.seq, first.body) : undefined;
    // Without its RunStarted the run has no recorded plan to ask for: the chain is damaged.
    if (started?.type !== 'RunStarted' || started.seq !== 1)
      throw await corruptRun(ledger, runId, 'the run was not replayed');
    const source = started?.type === 'RunStarted' ? started.data.pipeline.source : undefined;
    if (!flags.pipeline && !source) {
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `run ${runId} recorded no pipeline file; pass the plan with: ${flujoCommand(`lens replay ${shellWord(runId)} --pipeline FILE`)}`,
      );
    }
    // A `flujo create` run: the Architect's plan, rebuilt from the request it recorded (ADR 73).
    // (ARCHITECT_SOURCE, not imported: other replays need not load the Architect.)
    const architect = !flags.pipeline && source === 'flujo:create';
    // --pipeline is checked as run checks its file (CONFIG_INVALID, a close name); the recorded
    // file, gone, is named with the flag that replaces it (was the blueprint's V-I1 import error).
    const file = flags.pipeline
      ? pipelinePath(flags.pipeline, cfg.root, process.cwd())
      : isAbsolute(source as string)
        ? (source as string)
        : join(cfg.root, source as string);
    if (!flags.pipeline && !architect && !existsSync(file))
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `run ${runId} started from ${source}, which is ${isAbsolute(source as string) ? 'gone' : `no longer in ${cfg.root}`}; pass the pipeline with: ${flujoCommand(`lens replay ${shellWord(runId)} --pipeline PATH`)}`,
        { file },
      );
    const { plan } = architect
      ? {
          plan: (await import('../architect/pipeline.js')).recordedArchitectPlan(
            started.data.pipeline.name,
            started.data.input,
            {
              root: cfg.root,
              file: join(cfg.root, 'pipeline.yaml'),
              skills: { has: () => false },
            },
          ),
        }
      : await loadPipelineFile(file, cfg, undefined, {
          recordedRun: true,
          // A blueprint with no name: of its own is named as the run recorded (ADR 142).
          recordedName: started.data.pipeline.name,
        });
    // No agent port: a replay that needed a live call would fail, never reach a provider.
    const result = await createEngine({ ledger }).replay(plan, runId);
    const body = {
      run_id: result.runId,
      identical: result.identical,
      events: result.events,
      ...(result.output !== undefined ? { output: result.output } : {}),
      ...(result.firstDivergence ? { first_divergence: result.firstDivergence } : {}),
      ...(result.asRecorded ? { as_recorded: result.asRecorded } : {}),
    };
    if (flags.json) out.json(body);
    else if (result.identical) {
      out.data(
        `${out.color.ok('✓')} replay of ${runId} is identical: ${result.events} events refolded`,
      );
      // Identical in every decision, but not byte for byte where a release before ADR 40
      // wrote a message's keys in another order: said, never passed over (ADR 93).
      for (const a of result.asRecorded ?? [])
        out.data(
          `  seq ${a.seq}: the recorded hitl message lists the same value's keys in another order (recorded before ADR 40; taken as recorded, ADR 93)`,
        );
    } else {
      const d = result.firstDivergence;
      out.data(`${out.color.bad('✗')} replay of ${runId} diverges at seq ${d?.seq}`);
      out.data(`  recorded: ${JSON.stringify(d?.recorded)}`);
      out.data(`  replayed: ${JSON.stringify(d?.expected)}`);
      out.info(
        `the plan ${architect ? 'of flujo create' : `in ${file}`} no longer decides what the run recorded${renamedHint(plan.ir.name, started.data.pipeline.name)}`,
      );
    }
    return result.identical ? ExitCode.ok : ExitCode.runtime;
  });
}
