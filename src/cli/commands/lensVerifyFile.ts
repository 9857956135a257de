/**
 * `flujo lens verify --file run.cbor`: checks an exported run with no database — the chain is
 * recomputed from the run's genesis over the exported bodies and compared with the header.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { initFastHash } from '../../events/chain.js';
import { EngineError, ErrorCode, ExitCode, isEngineError, withoutCode } from '../../errors.js';
import { decodeExport, verifyExport, type RunExport } from '../../lens/exportFile.js';
import type { Output } from '../output.js';

export async function lensVerifyFile(path: string, json: boolean, out: Output): Promise<number> {
  const file = resolve(process.cwd(), path);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new EngineError(ErrorCode.USAGE, `cannot read ${file}: ${(e as Error).message}`, {
      exitCode: ExitCode.config,
    });
  }
  await initFastHash();
  let parsed: RunExport;
  try {
    parsed = decodeExport(bytes);
  } catch (e) {
    if (!isEngineError(e, ErrorCode.VERIFY_FAILED)) throw e;
    // Not an export at all (truncated, not CBOR, another format): a failed verify of no run.
    const detail = withoutCode(e.message);
    if (json)
      out.json({
        ok: false,
        runs_checked: 0,
        events_checked: 0,
        failures: [{ run_id: null, seq: null, reason: 'bad_export', detail }],
        file,
      });
    out.error(`${out.color.bad('✗')} ${file}: ${detail}`);
    return ExitCode.runtime;
  }
  const r = verifyExport(parsed);
  const failures = r.failure
    ? [{ run_id: r.runId, seq: r.failure.seq, reason: r.failure.reason, detail: r.failure.detail }]
    : [];
  if (json) {
    out.json({
      ok: r.ok,
      runs_checked: 1,
      events_checked: r.events,
      failures,
      file,
      run_id: r.runId,
      head_seq: r.header.headSeq,
      head_hash: r.header.headHash,
    });
  } else if (r.ok) {
    out.data(
      `${out.color.ok('✓')} export intact: run ${r.runId}, ${r.events} events, head ${r.headHash}`,
    );
    out.info(
      'compare the head hash with one obtained independently (the report, a published anchor)',
    );
  } else {
    const f = failures[0];
    out.data(`${out.color.bad('✗')} run ${r.runId} seq ${f?.seq}: ${f?.reason} — ${f?.detail}`);
  }
  return r.ok ? ExitCode.ok : ExitCode.runtime;
}
