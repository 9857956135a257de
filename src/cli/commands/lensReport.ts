/**
 * `flujo lens report RUN [--format md|json|html] [-o FILE]`: the audit report of one run — input,
 * every step and agent attempt, human decisions, budget, chain head and its verification.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { ExitCode } from '../../errors.js';
import { readRunEvents } from '../../lens/events.js';
import { buildReport } from '../../lens/report.js';
import { reportHtml, reportMarkdown } from '../../lens/reportRender.js';
import { verifyStoredRun } from '../../runtime/verifyLedger.js';
import type { Output } from '../output.js';
import { usage, withRun, type LensFlags } from './lensCommon.js';

export interface LensReportFlags extends LensFlags {
  readonly format?: string;
  readonly output?: string;
}

const FORMATS = ['md', 'json', 'html'] as const;

export async function lensReport(
  run: string,
  flags: LensReportFlags,
  out: Output,
): Promise<number> {
  const format = flags.json ? 'json' : (flags.format ?? 'md');
  if (!(FORMATS as readonly string[]).includes(format))
    throw usage(`--format ${format} is not one of md, json, html`);
  return withRun(flags, run, async ({ ledger, runId }) => {
    // Verify first: a report on a broken chain says so at the top instead of failing to decode.
    const verification = await verifyStoredRun(ledger, runId);
    const report = buildReport(await readRunEvents(ledger, runId), verification);
    const text =
      format === 'json'
        ? JSON.stringify(report, null, 2) + '\n'
        : format === 'html'
          ? reportHtml(report)
          : reportMarkdown(report);
    if (flags.output) {
      const file = resolve(process.cwd(), flags.output);
      writeFileSync(file, text);
      out.info(`wrote the ${format} report of ${runId} to ${file}`);
    } else out.data(text);
    return verification.ok ? ExitCode.ok : ExitCode.runtime;
  });
}
