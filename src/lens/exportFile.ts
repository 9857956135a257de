/**
 * The self-verifying run export (`flujo lens export`, docs/audit.md, docs/adr/0023): the run's
 * exact stored records in one canonical CBOR value, so `lens verify --file` — or an auditor with
 * `b3sum` and scripts/verify-export.sh — recomputes the chain from genesis with no database.
 *
 *   file    = [header, records]
 *   header  = { format: "flujo.run-export", version: 1, runId, records: N, headSeq, headHash: bytes(32), terminal }
 *   records = [[seq, body: bytes, hash: bytes(32)], …]   in seq order, body = the stored bytes
 *
 * Nothing in it depends on when or where it was exported: the same run exports to the same bytes.
 */
import { decodeCanonical, encodeCanonical } from '../events/codec.js';
import { genesisHash, toHex } from '../events/chain.js';
import type { StoredRecord } from '../events/envelope.js';
import { createRunVerifier, type RunVerification } from '../events/verify.js';
import { EngineError, ErrorCode, ExitCode } from '../errors.js';

export const EXPORT_FORMAT = 'flujo.run-export';
export const EXPORT_VERSION = 1;

export interface ExportHeader {
  readonly format: string;
  readonly version: number;
  readonly runId: string;
  readonly records: number;
  readonly headSeq: number;
  readonly headHash: Uint8Array;
  readonly terminal: boolean;
}

export interface ExportRecord {
  readonly seq: number;
  readonly body: Uint8Array;
  readonly hash: Uint8Array;
}

export interface RunExport {
  readonly header: ExportHeader;
  readonly records: readonly ExportRecord[];
}

export function encodeExport(
  runId: string,
  records: readonly StoredRecord[],
  terminal: boolean,
): Uint8Array {
  const last = records[records.length - 1];
  const header = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    runId,
    records: records.length,
    headSeq: last?.seq ?? 0,
    headHash: last?.hash ?? genesisHash(runId),
    terminal,
  };
  return encodeCanonical([header, records.map((r) => [r.seq, r.body, r.hash])]);
}

const bad = (why: string): never => {
  throw new EngineError(
    ErrorCode.VERIFY_FAILED,
    `not a Flujo run export: ${why}; make one with: flujo lens export RUN > run.cbor`,
    { exitCode: ExitCode.runtime },
  );
};

const isBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array;
const isUint = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** Parses an export's structure (not its chain). Errors say what is wrong with the file. */
export function decodeExport(bytes: Uint8Array): RunExport {
  let value: unknown;
  try {
    value = decodeCanonical(bytes);
  } catch (e) {
    return bad(`not canonical CBOR (${(e as Error).message})`);
  }
  if (!Array.isArray(value) || value.length !== 2) return bad('expected [header, records]');
  const [h, recs] = value as [Record<string, unknown>, unknown];
  if (typeof h !== 'object' || h === null || h.format !== EXPORT_FORMAT)
    return bad(`the header's format is not "${EXPORT_FORMAT}"`);
  if (h.version !== EXPORT_VERSION)
    return bad(`format version ${String(h.version)}; this Flujo reads version ${EXPORT_VERSION}`);
  const { runId, records, headSeq, headHash, terminal } = h;
  if (typeof runId !== 'string' || !isUint(records) || !isUint(headSeq) || !isBytes(headHash))
    return bad('the header lacks runId, records, headSeq or headHash');
  if (!Array.isArray(recs)) return bad('records is not an array');
  const out = recs.map((r: unknown, i) => {
    if (!Array.isArray(r) || r.length !== 3 || !isUint(r[0]) || !isBytes(r[1]) || !isBytes(r[2]))
      return bad(`record ${i + 1} is not [seq, body, hash]`);
    return { seq: r[0], body: r[1], hash: r[2] };
  });
  return {
    header: {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      runId,
      records,
      headSeq,
      headHash,
      terminal: terminal === true,
    },
    records: out,
  };
}

export interface ExportVerification extends RunVerification {
  readonly header: {
    readonly runId: string;
    readonly records: number;
    readonly headSeq: number;
    readonly headHash: string;
  };
}

/**
 * Recomputes the chain from the run's genesis over the exported bodies, checks every stored
 * hash, and compares the end with the header's head and record count.
 */
export function verifyExport(file: RunExport): ExportVerification {
  const { header } = file;
  const summary = {
    runId: header.runId,
    records: header.records,
    headSeq: header.headSeq,
    headHash: toHex(header.headHash),
  };
  const verifier = createRunVerifier(header.runId, {
    seq: header.headSeq,
    hash: header.headHash,
    terminal: header.terminal,
  });
  // The export keeps no `prev` column: each record's prev is the hash stored before it.
  let prev = genesisHash(header.runId);
  for (const r of file.records) {
    const failed = verifier.push({
      runId: header.runId,
      seq: r.seq,
      prev,
      hash: r.hash,
      body: r.body,
    });
    if (failed) return { ...failed, header: summary };
    prev = r.hash;
  }
  const result = verifier.finish();
  if (result.ok && file.records.length !== header.records) {
    return {
      ...result,
      ok: false,
      failure: {
        runId: header.runId,
        seq: file.records.length + 1,
        reason: 'truncated',
        detail: `the header announces ${header.records} records; the file holds ${file.records.length}`,
      },
      header: summary,
    };
  }
  return { ...result, header: summary };
}
