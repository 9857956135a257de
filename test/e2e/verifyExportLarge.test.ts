/**
 * scripts/verify-export.sh on an export larger than the window it reads the file through
 * (64 Ki hex digits): records that straddle a refill, and a body longer than the window itself,
 * are read as written; a cut file is named as cut. The export is built here from the file format
 * docs/audit.md gives, with @noble/hashes' BLAKE3, so the script is checked against the format.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { blake3 } from '@noble/hashes/blake3.js';
import { afterAll, describe, expect, it } from 'vitest';

import { encodeCanonical } from '../../src/events/codec.js';

const SCRIPT = join(import.meta.dirname, '../../scripts/verify-export.sh');
const hasTools = spawnSync('sh', ['-c', 'command -v b3sum && command -v xxd']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'flujo-verify-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const concat = (a: Uint8Array, b: Uint8Array) => new Uint8Array([...a, ...b]);

/** An export of `sizes.length` records whose bodies have those sizes (bytes; not events). */
function exportOf(runId: string, sizes: readonly number[]) {
  let prev = blake3(new Uint8Array([...Buffer.from('flujo.ledger.v1\0'), ...Buffer.from(runId)]));
  const records = sizes.map((size, k) => {
    const body = new Uint8Array(size).map((_, j) => (j * 31 + k) & 0xff);
    prev = blake3(concat(prev, body));
    return [k + 1, body, prev] as const;
  });
  const header = {
    format: 'flujo.run-export',
    version: 1,
    runId,
    records: records.length,
    headSeq: records.length,
    headHash: prev,
    terminal: true,
  };
  return { bytes: encodeCanonical([header, records] as never), head: hex(prev) };
}

const verify = (file: string) => spawnSync('bash', [SCRIPT, file], { encoding: 'utf8' });

describe.skipIf(!hasTools && process.env.FLUJO_REQUIRE_SERVICES !== '1')(
  'verify-export.sh past its read window',
  () => {
    // 120 records of 300..899 bytes (about 70 KB) and one of 40 KB: longer than the window.
    const sizes = Array.from({ length: 120 }, (_, k) => 300 + ((k * 37) % 600));
    sizes.splice(60, 0, 40_000);
    const { bytes, head } = exportOf('big-run', sizes);

    it('reads every record as written and prints the head', () => {
      expect(bytes.length).toBeGreaterThan(100_000);
      const file = join(dir, 'big.cbor');
      writeFileSync(file, bytes);
      const r = verify(file);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(`ok big-run ${sizes.length} events ${head}`);
    });

    it('names a body altered past the window at its seq', () => {
      const altered = Buffer.from(bytes);
      const at = altered.length - 2_000;
      altered.writeUInt8(altered.readUInt8(at) ^ 0xff, at); // inside one of the last records
      const file = join(dir, 'altered.cbor');
      writeFileSync(file, altered);
      const r = verify(file);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^seq (11[0-9]|12[01]): hash does not match body\n$/);
    });

    it('names a file cut short as cut, with the byte it ends at', () => {
      const file = join(dir, 'cut.cbor');
      writeFileSync(file, bytes.subarray(0, 90_000));
      const r = verify(file);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('the file ends at byte 90000 inside a record\n');
    });
  },
);
