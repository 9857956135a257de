/**
 * `flujo lens export RUN [-o FILE] [--json]`: writes the run's exact stored records as a
 * self-verifying CBOR file (format: src/lens/exportFile.ts, docs/audit.md). Without -o the bytes
 * go to stdout, so `flujo lens export RUN > run.cbor` works; a terminal is refused. A run that
 * `flujo lens verify` would fail is refused (LEDGER_CORRUPT, exit 1) and nothing is written.
 */
import { ExitCode } from '../../errors.js';
import { toHex } from '../../events/chain.js';
import { readRunRecords } from '../../lens/events.js';
import { encodeExport } from '../../lens/exportFile.js';
import { chainDamage } from '../../runtime/verifyLedger.js';
import type { Output } from '../output.js';
import { outputFlag, usage, withRun, writeOutputFile, type LensFlags } from './lensCommon.js';
import { flujoCommand } from '../shell.js';

export interface LensExportFlags extends LensFlags {
  readonly output?: string;
}

export async function lensExport(
  run: string,
  flags: LensExportFlags,
  out: Output,
): Promise<number> {
  const file = outputFlag(flags.output);
  if (!file && flags.json)
    throw usage('--json describes the export on stdout, so the file needs -o FILE');
  if (!file && process.stdout.isTTY)
    throw usage(
      `the export is binary CBOR: redirect it (${flujoCommand('lens export RUN')} > run.cbor) or pass -o FILE`,
    );
  // Read only: an export changes nothing in the state file and creates none (ADR 83).
  return withRun(
    flags,
    run,
    async ({ cfg, ledger, runId }) => {
      // An export vouches for the run it carries (its header names the head): a run whose stored
      // chain or shape does not verify is refused before anything is written, not exported as is.
      const damage = await chainDamage(ledger, runId, 'nothing was exported');
      if (damage) throw damage;
      const head = await ledger.head(runId);
      const records = await readRunRecords(ledger, runId);
      const bytes = encodeExport(runId, records, head?.terminal ?? false);
      const last = records[records.length - 1];
      if (file) {
        writeOutputFile(file, bytes, cfg);
        const summary = {
          run_id: runId,
          file,
          records: records.length,
          bytes: bytes.length,
          head_seq: last?.seq ?? 0,
          head_hash: last ? toHex(last.hash) : null,
        };
        if (flags.json) out.json(summary);
        else
          out.info(
            `exported ${runId}: ${records.length} records, head ${summary.head_hash} → ${file}`,
          );
      } else {
        await new Promise<void>((done, fail) =>
          process.stdout.write(bytes, (e) => (e ? fail(e) : done())),
        );
        out.info(
          `exported ${runId}: ${records.length} records; check it with: ${flujoCommand('lens verify --file FILE')}`,
        );
      }
      return ExitCode.ok;
    },
    { readOnly: true },
  );
}
