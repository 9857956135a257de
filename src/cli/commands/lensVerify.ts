/**
 * `flujo lens verify [RUN | --all | --file run.cbor] [--json]`: re-walks hash chains and names the
 * first bad seq of every broken run; `--file` checks an export with no database
 * (./lensVerifyFile.ts). Exit 0 when every checked run is intact, 1 otherwise.
 */
import { EngineError, ErrorCode, ExitCode, isEngineError, withoutCode } from '../../errors.js';
import {
  orphanedRuns,
  verifyStoredRuns,
  verifyWholeLedger,
  type LedgerVerification,
} from '../../runtime/verifyLedger.js';
import type { LedgerStore } from '../../ports.js';
import { openProjectLedger, resolveRunId, type GlobalOptions } from '../context.js';
import { runArgument } from '../io.js';
import type { Output } from '../output.js';
import { flujoCommand } from '../shell.js';

export interface LensVerifyOptions extends GlobalOptions {
  readonly run?: string;
  readonly all?: boolean;
  readonly file?: string;
  readonly json?: boolean;
}

/**
 * With --json, every outcome is one JSON object on stdout, a refusal included (an unusable state
 * file, an unknown run): `ok` false, no runs checked, and `error` { code, message }; the message
 * also goes to stderr for a person.
 */
export async function lensVerify(opts: LensVerifyOptions, out: Output): Promise<number> {
  if (!opts.json) return verify(opts, out);
  try {
    return await verify(opts, out);
  } catch (e) {
    if (!isEngineError(e)) throw e;
    out.error(`error: ${e.message}`);
    out.json({
      ok: false,
      runs_checked: 0,
      events_checked: 0,
      failures: [],
      error: { code: e.code, message: withoutCode(e.message) },
    });
    return e.exitCode;
  }
}

async function verify(opts: LensVerifyOptions, out: Output): Promise<number> {
  // An empty RUN (`flujo lens verify "$RUN"` with RUN unset) is refused as the other commands
  // refuse it, not taken for no RUN.
  if (opts.run !== undefined) runArgument(opts.run);
  if (opts.file !== undefined && !opts.run && !opts.all) {
    const { lensVerifyFile } = await import('./lensVerifyFile.js');
    return lensVerifyFile(opts.file, Boolean(opts.json), out);
  }
  const refused = whichToDrop(opts);
  if (refused !== undefined)
    throw new EngineError(ErrorCode.USAGE, refused, { exitCode: ExitCode.config });
  // Verify vouches for the file as it is: it changes nothing in it, creates nothing (ADR 83).
  const store = await openProjectLedger(opts, { readOnly: true });
  try {
    let shown = false;
    const progress =
      (out.live ?? out.interactive) && !opts.json
        ? (done: number, total: number) => {
            if (total <= 20 || (done % 20 !== 0 && done !== total)) return;
            shown = true;
            process.stderr.write(`\rverified ${done}/${total} runs`);
          }
        : undefined;
    // --all also looks for events of runs the store no longer lists (a deleted head row).
    const result = opts.all
      ? await verifyWholeLedger(store, progress)
      : await verifyOne(store, opts.run as string);
    if (shown) process.stderr.write('\n');
    const failures = [
      ...result.runs.flatMap((r) => (r.failure ? [r.failure] : [])),
      ...(result.orphans ?? []),
    ].map((f) => ({ run_id: f.runId, seq: f.seq, reason: f.reason, detail: f.detail }));
    if (opts.json) {
      out.json({
        ok: result.ok,
        runs_checked: result.runsChecked,
        events_checked: result.eventsChecked,
        failures,
      });
    } else {
      for (const f of failures) {
        out.data(`${out.color.bad('✗')} run ${f.run_id} seq ${f.seq}: ${f.reason} — ${f.detail}`);
      }
      const summary = `${result.runsChecked} run${result.runsChecked === 1 ? '' : 's'}, ${result.eventsChecked} events`;
      out.data(
        result.ok
          ? `${out.color.ok('✓')} ledger intact: ${summary}`
          : `${out.color.bad('✗')} ${failures.length} failure${failures.length === 1 ? '' : 's'} in ${result.runsChecked} runs checked (${summary})`,
      );
    }
    return result.ok ? ExitCode.ok : ExitCode.runtime;
  } finally {
    await store.close();
  }
}

/**
 * One run. A RUN the store does not list may be one whose head row was deleted: its events are
 * hidden from every read but `orphans()` (ADR 130), so before calling it unknown, verify looks
 * for those of the runs whose id starts with RUN (an index range, not every event: ADR 139) and
 * names them `orphaned`, as --all does.
 */
async function verifyOne(store: LedgerStore, run: string): Promise<LedgerVerification> {
  let runId: string;
  try {
    runId = await resolveRunId(store, run);
  } catch (e) {
    if (!isEngineError(e) || e.code !== ErrorCode.LEDGER_UNKNOWN_RUN) throw e;
    const orphans = await orphanedRuns(store, run);
    if (orphans.length === 0) throw e;
    return { ok: false, runsChecked: 0, eventsChecked: 0, runs: [], orphans };
  }
  return verifyStoredRuns(store, [runId]);
}

/**
 * What to drop when RUN, --all and --file are given together (they do not combine; QA: `--all
 * --file` was told to pass --all), or what to give when none is; undefined when one is given.
 */
function whichToDrop(opts: LensVerifyOptions): string | undefined {
  const given = [
    opts.run ? 'RUN' : undefined,
    opts.all ? '--all' : undefined,
    opts.file !== undefined ? '--file' : undefined,
  ].filter((w): w is string => w !== undefined);
  if (given.length === 1) return undefined;
  if (given.length === 0)
    return `name one run or pass --all (or check an export with --file run.cbor), e.g. ${flujoCommand('lens verify 3fa2c1d9')}`;
  const what: Record<string, string> = {
    RUN: 'one run of the ledger',
    '--all': 'every run of the ledger',
    '--file': 'an export, with no ledger',
  };
  const checks = given.map((w, i) => `${w} ${i === 0 ? 'checks ' : ''}${what[w]}`).join(', ');
  return `${given.join(', ').replace(/, ([^,]*)$/, ' and $1')} do not combine (${checks}): drop ${given.length === 2 ? 'one of them' : 'all but one'}`;
}
