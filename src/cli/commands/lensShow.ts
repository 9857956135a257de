/**
 * `flujo lens show RUN [--verbose] [--json]`: one run — failures first, then a summary, the
 * steps with their input, output and error inline, pending questions and the final output.
 * Rows come from the read models; --verbose reads the run's events for full values.
 */
import { ExitCode } from '../../errors.js';
import type { LedgerStore } from '../../ports.js';
import { decodeRecord } from '../../events/envelope.js';
import { readRunEvents } from '../../lens/events.js';
import { cancelOf } from '../../lens/report.js';
import { cancelLine } from '../../lens/reportRender.js';
import {
  duration,
  indentedMessage,
  inLine,
  isoTime,
  MARK,
  preview,
  usd,
} from '../../lens/format.js';
import { attemptOutcomes, runDetailJson, stepJson, unpreview } from '../../lens/rows.js';
import { engineStepsLine, rowVisibility } from '../../lens/engineSteps.js';
import { passthroughPaths, presentedKind } from '../../dsl/passthrough.js';
import { chainDamage, recordedStart } from '../../runtime/verifyLedger.js';
import { HITL_NOT_PROPAGATED as NOT_ASKED } from '../../actors/vocabulary.js';
import type { Output } from '../output.js';
import { resolveRunId } from '../context.js';
import { flujoCommand, runIdWords } from '../shell.js';
import type { LensFlags } from './lensCommon.js';
import { withState } from './lensState.js';

export interface LensShowFlags extends LensFlags {
  readonly verbose?: boolean;
  /** Show the steps the engine made too (ADR 88). */
  readonly all?: boolean;
}

/** Full inputs and outputs by step path, from the events (the rows keep bounded previews). */
async function fullValues(ledger: LedgerStore, runId: string) {
  const input = new Map<string, unknown>();
  const output = new Map<string, unknown>();
  let final: unknown = null;
  for (const e of await readRunEvents(ledger, runId)) {
    if (e.type === 'AgentCallRequested') input.set(e.data.path, e.data.input);
    else if (e.type === 'StepCompleted') output.set(e.data.path, e.data.output);
    else if (e.type === 'RunCompleted') final = e.data.output;
  }
  return { input, output, final };
}

/** Who cancelled the run, why and when: its last event, read only for a cancelled run. */
async function cancelOfRun(ledger: LedgerStore, runId: string, headSeq: number) {
  const [last] = await ledger.read(runId, { fromSeq: headSeq, limit: 1 });
  if (!last) return undefined;
  const e = decodeRecord(runId, last.seq, last.body);
  return e.type === 'RunCancelled' ? cancelOf(e) : undefined;
}

/** What followed an attempt's error: the step tried again, or its fallback took over. */
function afterError(s: { attempt: number; final_attempt: boolean; rescued_by?: string }): string {
  if (!s.final_attempt) return ` (attempt ${s.attempt}; tried again)`;
  return s.rescued_by ? ` (its fallback ${s.rescued_by} took over)` : '';
}

export async function lensShow(run: string, flags: LensShowFlags, out: Output): Promise<number> {
  return withState(flags, async ({ ledger, readModels }) => {
    const runId = await resolveRunId(ledger, run);
    const row = await readModels.getRun(runId);
    if (!row) {
      // A run whose events do not verify (its RunStarted removed) has no row to rebuild either.
      const damage = await chainDamage(ledger, runId, 'nothing was shown');
      if (damage) throw damage;
      out.error(
        `run ${runId} has events but no read-model row; rebuild them with: ${flujoCommand('lens rebuild')}`,
      );
      return ExitCode.runtime;
    }
    // The row outlives the events it was folded from: a run whose RunStarted (or every event) was
    // removed is damage to name, not a run to show as it was (one row read; ADR 124).
    await recordedStart(ledger, runId, 'nothing was shown');
    const steps = (await readModels.steps(runId)).filter((s) => s.path !== '.');
    const hitl = await readModels.hitl({ runId });
    const full = flags.verbose ? await fullValues(ledger, runId) : undefined;
    const seen = rowVisibility(steps);
    const hiddenPaths = new Set(
      flags.all ? [] : [...seen].filter(([, v]) => v.hidden).map(([p]) => p),
    );
    const outcome = attemptOutcomes(steps);
    // A sequence with no steps is shown as the passthrough the user wrote (ADR 148).
    const through = passthroughPaths(steps);
    const stepsJson = steps.map((s) => {
      const o = outcome.get(s);
      const j = {
        ...stepJson(s),
        kind: presentedKind(s, through),
        internal: seen.get(s.path)?.internal ?? false,
        final_attempt: o?.final ?? true,
        ...(o?.rescuedBy ? { rescued_by: o.rescuedBy } : {}),
      };
      return full
        ? {
            ...j,
            input: full.input.has(s.path) ? full.input.get(s.path) : j.input,
            output: full.output.has(s.path) ? full.output.get(s.path) : j.output,
            truncated: false,
          }
        : j;
    });
    // A step failed when its last attempt did: an attempt tried again is shown, not counted.
    const failures = stepsJson.filter((s) => s.status === 'failed' && s.final_attempt);
    const cancelled =
      row.status === 'cancelled' ? await cancelOfRun(ledger, runId, row.headSeq) : undefined;
    if (flags.json) {
      out.json({
        run_id: runId,
        status: row.status,
        run: { ...runDetailJson(row), ...(cancelled ? { cancelled } : {}) },
        failures,
        steps: stepsJson,
        hitl: hitl.map((h) => ({
          path: h.path,
          step: h.step,
          message: h.message,
          status: h.status,
          answer: h.answer,
          answered_by: h.answeredBy,
          requested_at: isoTime(h.requestedAt),
          answered_at: h.answeredAt === null ? null : isoTime(h.answeredAt),
        })),
      });
      return ExitCode.ok;
    }
    const len = flags.verbose ? -1 : 100;
    const L: string[] = [];
    // The steps the user wrote; the engine's own are counted, not listed, unless --all (ADR 88).
    const shown = stepsJson.filter((s) => !hiddenPaths.has(s.path));
    // A hitl step that did not ask (its import has propagate_hitl: false) and the steps between
    // it and the import stopped by design: still `failed` (the ledger's StepFailed, the JSON's
    // status), but not reported as a failure of the run (ADR 78).
    const unasked = (s: { error?: { code: string } | null }) => s.error?.code === NOT_ASKED;
    const failed = failures.filter((s) => !unasked(s) && !hiddenPaths.has(s.path));
    if (row.status === 'failed' || failed.length > 0) {
      // A run can complete with failed steps (a branch whose failure is ignored): those are
      // shown first too, but the run is not said to have failed (a rescued step is not failed).
      L.push(
        row.status === 'failed'
          ? out.color.bad(`✗ run failed: ${row.errorCode ?? ''} ${row.errorMessage ?? ''}`.trim())
          : out.color.bad(
              `✗ ${failed.length} step${failed.length === 1 ? '' : 's'} failed; the run is ${row.status}`,
            ),
      );
      for (const f of failed) {
        L.push(`  ✗ step ${f.path} ${f.name}: ${f.error?.code ?? ''} ${f.error?.message ?? ''}`);
        // A composite step (a parallel, a loop) records no input of its own.
        if (f.input !== null && f.input !== undefined)
          L.push(`    input:  ${preview(f.input, len)}`);
      }
      L.push('');
    }
    L.push(
      `run       ${runId}`,
      `pipeline  ${row.pipeline}`,
      `status    ${MARK[row.status] ?? ''} ${row.status}`,
      `started   ${isoTime(row.startedAt)}   duration ${duration(row.durationMs)}`,
      `cost      ${usd(row.costMicros)}   tokens ${row.tokensIn} in / ${row.tokensOut} out`,
      `input     ${preview(unpreview(row.inputPreview), len)}`,
      '',
      `steps (${shown.length})`,
    );
    // Columns as wide as their longest cell (at least the old widths), so a 'conditional' or a
    // deep path does not push the durations out of line.
    const width = (min: number, cells: string[]) => Math.max(min, ...cells.map((c) => c.length));
    const pathW = width(
      10,
      shown.map((s) => s.path),
    );
    const nameW = width(
      16,
      shown.map((s) => s.name),
    );
    const kindW = width(
      10,
      shown.map((s) => s.kind),
    );
    for (const s of shown) {
      // An attempt that failed and was tried again is `↻`, not a failure of its step.
      const retried = s.status === 'failed' && !s.final_attempt;
      const mark = unasked(s) ? '⊘' : retried ? '↻' : (MARK[s.status] ?? '?');
      const painted =
        s.status === 'failed' && !unasked(s) && !retried
          ? out.color.bad(mark)
          : s.status === 'completed'
            ? out.color.ok(mark)
            : mark;
      const extra = [
        s.model && !s.model.startsWith('fn:') ? s.model : '',
        s.cost_usd ? usd(Math.round(s.cost_usd * 1e6)) : '',
        s.retries ? `retries=${s.retries}` : '',
      ]
        .filter(Boolean)
        .join(' ');
      L.push(
        `  ${painted} ${s.path.padEnd(pathW)} ${s.name.padEnd(nameW)} ${s.kind.padEnd(kindW)} ${duration(s.latency_ms)} ${extra}`.trimEnd(),
      );
      if (s.input !== null && s.input !== undefined) L.push(`      in:  ${preview(s.input, len)}`);
      if (s.error && unasked(s)) L.push(`      not asked: ${s.error.message ?? ''}`);
      else if (s.error)
        L.push(`      err: ${s.error.code} ${s.error.message ?? ''}${afterError(s)}`);
      else if (s.output !== null && s.output !== undefined)
        L.push(`      out: ${preview(s.output, len)}`);
    }
    if (shown.length < stepsJson.length)
      L.push(`  ${engineStepsLine(stepsJson.length - shown.length)}`);
    for (const h of hitl) {
      L.push(
        '',
        h.status === 'pending'
          ? `${indentedMessage(`⏸ waiting at ${h.path} ${h.step}`, h.message)}\n  answer with: ${flujoCommand(`resume --input '…' ${runIdWords(runId)}`)}`
          : h.status === 'withdrawn'
            ? indentedMessage(`⊘ ${h.step} (${h.path}) withdrawn unanswered`, h.message)
            : // Who answered, in its line: a newline in it printed a line of its own.
              `▶ ${h.step} answered by ${inLine(h.answeredBy ?? 'unknown')} at ${isoTime(h.answeredAt)}: ${preview(h.answer, len)}`,
      );
    }
    if (cancelled) L.push('', `⊘ ${inLine(cancelLine(cancelled))}`);
    if (row.status === 'completed')
      L.push('', `output    ${preview(full ? full.final : unpreview(row.outputPreview), len)}`);
    out.data(L.join('\n'));
    return ExitCode.ok;
  });
}
