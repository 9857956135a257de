/**
 * `flujo lens report RUN [--format md|json|html] [--all] [-o FILE]`: the audit report of one run —
 * input, every step and agent attempt, human decisions, budget, chain head and its verification.
 * md and html leave out the steps the engine made and count them, unless `--all`; the JSON keeps
 * every step, marked `internal` (ADR 88).
 */
import { ExitCode } from '../../errors.js';
import { decodeRecord } from '../../events/envelope.js';
import { readRunRecords } from '../../lens/events.js';
import { buildReport } from '../../lens/report.js';
import { reportHtml, reportMarkdown } from '../../lens/reportRender.js';
import { verifyStoredRun } from '../../runtime/verifyLedger.js';
import type { Output } from '../output.js';
import { outputFlag, usage, withRun, writeOutputFile, type LensFlags } from './lensCommon.js';
import { jsonText } from '../../jsonText.js';
import { flujoCommand, runIdWords } from '../shell.js';

export interface LensReportFlags extends LensFlags {
  readonly format?: string;
  /** --format was on the command line (not its default). */
  readonly formatGiven?: boolean;
  readonly output?: string;
  /** md/html: list the steps the engine made too (ADR 88). */
  readonly all?: boolean;
}

const FORMATS = ['md', 'json', 'html'] as const;

export async function lensReport(
  run: string,
  flags: LensReportFlags,
  out: Output,
): Promise<number> {
  if (flags.json && flags.formatGiven && flags.format !== 'json')
    throw usage(
      `--json is --format json, and --format says ${String(flags.format)}: give one of them`,
    );
  const format = flags.json ? 'json' : (flags.format ?? 'md');
  if (!(FORMATS as readonly string[]).includes(format))
    throw usage(`--format ${format} is not one of md, json, html`);
  const file = outputFlag(flags.output);
  return withRun(flags, run, async ({ cfg, ledger, runId }) => {
    // Verify first: a report on a broken chain says so at the top, and covers only the events
    // before the first bad seq (those are still proven by the chain).
    const verification = await verifyStoredRun(ledger, runId);
    const bad = verification.failure?.seq;
    const events = (await readRunRecords(ledger, runId))
      .filter((r) => bad === undefined || r.seq < bad)
      .map((r) => decodeRecord(r.runId, r.seq, r.body));
    if (events.length === 0) {
      out.error(
        `run ${runId} fails verification at seq ${bad} (${verification.failure?.reason}); nothing before it to report. See: ${flujoCommand(`lens verify ${runIdWords(runId)}`)}`,
      );
      return ExitCode.runtime;
    }
    const report = buildReport(events, verification);
    const text =
      format === 'json'
        ? `${jsonText(report, 2)}\n`
        : format === 'html'
          ? reportHtml(report, { all: flags.all })
          : reportMarkdown(report, { all: flags.all });
    if (file) {
      writeOutputFile(file, text, cfg);
      out.info(`wrote the ${format} report of ${runId} to ${file}`);
    } else if (format === 'md') out.data(text);
    else out.document(text); // json, html: the bytes -o writes
    return verification.ok ? ExitCode.ok : ExitCode.runtime;
  });
}
