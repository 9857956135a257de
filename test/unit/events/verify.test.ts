import { beforeAll, describe, expect, it } from 'vitest';

import { initFastHash, linkHash } from '../../../src/events/chain.js';
import { encodeCanonical } from '../../../src/events/codec.js';
import { emptyHead, sealBatch, type SealedRecord } from '../../../src/events/envelope.js';
import { verifyRun, type VerifiableRow } from '../../../src/events/verify.js';
import { completed, started, stepDone } from '../../support/events.js';

const AT = 1_764_000_000_000;
const seal = (runId = 'r', n = 4, finish = false): SealedRecord[] =>
  sealBatch(
    emptyHead(runId),
    [
      started(),
      ...Array.from({ length: n }, (_, i) => stepDone(String(i))),
      ...(finish ? [completed()] : []),
    ],
    AT,
  );

describe('verifyRun', () => {
  beforeAll(initFastHash);

  it('accepts an intact chain and reports its head', () => {
    const rows = seal();
    const v = verifyRun('r', rows);
    expect(v).toMatchObject({ ok: true, events: 5, headSeq: 5 });
    expect(v.headHash).toBe(Buffer.from(rows[4]!.hash).toString('hex'));
  });

  it('accepts an empty run with no recorded head', () => {
    expect(verifyRun('r', [])).toMatchObject({ ok: true, events: 0, headSeq: 0 });
  });

  it('names a duplicated event', () => {
    const rows = seal();
    expect(verifyRun('r', [...rows.slice(0, 3), rows[2]!, ...rows.slice(3)]).failure).toMatchObject(
      { seq: 3, reason: 'duplicate' },
    );
  });

  it('names events delivered out of order', () => {
    const rows = seal();
    const swapped = [rows[0]!, rows[1]!, rows[3]!, rows[2]!, rows[4]!];
    // Moved, not removed (docs/ledger.md): seq 3 is there, one place late.
    expect(verifyRun('r', swapped).failure).toMatchObject({ seq: 3, reason: 'reorder' });
    // Removed: seq 3 is nowhere.
    const dropped = [rows[0]!, rows[1]!, rows[3]!, rows[4]!];
    expect(verifyRun('r', dropped).failure).toMatchObject({ seq: 3, reason: 'gap' });
    const back = [rows[0]!, rows[1]!, rows[2]!, rows[3]!, rows[1]!];
    expect(verifyRun('r', back).failure).toMatchObject({ seq: 2, reason: 'reorder' });
  });

  it('names a body that claims another position', () => {
    const rows = seal();
    const moved: VerifiableRow[] = rows.map((r) => ({ ...r }));
    // Row 3 carries row 4's body, re-chained so only the position claim is wrong.
    moved[2] = { ...rows[3]!, seq: 3, prev: rows[1]!.hash };
    const verdict = verifyRun('r', moved).failure;
    expect(verdict?.seq).toBe(3);
    expect(['body_altered', 'reorder']).toContain(verdict?.reason);
  });

  it('names events whose seqs were swapped in place, and a row copied from another run', () => {
    // What an UPDATE of the seq columns leaves in a SQL ledger: every row whole, each at the
    // other's position. Its body says where it belongs.
    const rows = seal();
    const swapped = [rows[0]!, rows[1]!, { ...rows[3]!, seq: 3 }, { ...rows[2]!, seq: 4 }];
    expect(verifyRun('r', swapped).failure).toMatchObject({
      seq: 3,
      reason: 'reorder',
      detail: 'body at seq 3 claims seq 4',
    });
    const other = seal('other');
    const copied = [rows[0]!, { ...other[1]!, runId: 'r' }, rows[2]!];
    expect(verifyRun('r', copied).failure).toMatchObject({ seq: 2, reason: 'wrong_run' });
    // A broken link on a row that is not whole stays link_broken.
    const relinked = [rows[0]!, { ...rows[1]!, prev: new Uint8Array(32) }];
    expect(verifyRun('r', relinked).failure).toMatchObject({ seq: 2, reason: 'link_broken' });
  });

  it('names an event spliced in from another run', () => {
    const other = seal('other');
    const rows = seal();
    expect(verifyRun('r', [rows[0]!, { ...other[1]!, runId: 'r' }]).failure).toMatchObject({
      seq: 2,
    });
    expect(verifyRun('r', [rows[0]!, other[1]!]).failure).toMatchObject({
      seq: 2,
      reason: 'wrong_run',
    });
  });

  it('names events after the terminal event', () => {
    const rows = seal('r', 1, true);
    const extra = sealBatch({ runId: 'r', seq: 3, hash: rows[2]!.hash }, [stepDone('x')], AT);
    expect(verifyRun('r', [...rows, ...extra]).failure).toMatchObject({
      seq: 4,
      reason: 'after_terminal',
    });
  });

  it('names a valid-CBOR event of an unknown type', () => {
    const rows = seal('r', 0);
    // A well-formed, well-chained event the catalogue does not know: written by a foreign tool.
    const body = encodeCanonical({ runId: 'r', seq: 2, type: 'Bogus', v: 1, at: AT, data: {} });
    const forged = {
      runId: 'r',
      seq: 2,
      prev: rows[0]!.hash,
      hash: linkHash(rows[0]!.hash, body),
      body,
    };
    expect(verifyRun('r', [...rows, forged]).failure).toMatchObject({
      seq: 2,
      reason: 'bad_event',
    });
    const shapeless = encodeCanonical({ runId: 'r', seq: 2, kind: 'x' });
    const noEnvelope = { ...forged, body: shapeless, hash: linkHash(rows[0]!.hash, shapeless) };
    expect(verifyRun('r', [...rows, noEnvelope]).failure).toMatchObject({
      seq: 2,
      reason: 'bad_event',
    });
  });

  it('compares the chain with the head the store recorded', () => {
    const rows = seal('r', 2, true);
    const head = { seq: 4, hash: rows[3]!.hash, terminal: true };
    expect(verifyRun('r', rows, head).ok).toBe(true);
    expect(verifyRun('r', rows.slice(0, 3), head).failure).toMatchObject({
      seq: 4,
      reason: 'truncated',
    });
    expect(verifyRun('r', rows, { ...head, hash: new Uint8Array(32) }).failure).toMatchObject({
      reason: 'head_mismatch',
    });
    expect(
      verifyRun('r', rows.slice(0, 3), { seq: 3, hash: rows[2]!.hash, terminal: true }).failure,
    ).toMatchObject({
      seq: 4,
      reason: 'truncated',
    });
  });

  it('names a head row that says an ended run has not ended', () => {
    // Cleared, the flag would let the store take a cancel or an answer after RunCompleted.
    const rows = seal('r', 2, true);
    const head = { seq: 4, hash: rows[3]!.hash, terminal: false };
    expect(verifyRun('r', rows, head).failure).toMatchObject({
      seq: 4,
      reason: 'head_mismatch',
    });
  });

  it('tells an edited last hash from an edited last body using the recorded head', () => {
    const rows = seal();
    const head = { seq: 5, hash: rows[4]!.hash, terminal: false };
    const badHash = [...rows.slice(0, 4), { ...rows[4]!, hash: new Uint8Array(32) }];
    expect(verifyRun('r', badHash, head).failure).toMatchObject({ seq: 5, reason: 'hash_altered' });
    const body = new Uint8Array(rows[4]!.body);
    body[body.length - 2] = (body[body.length - 2] as number) ^ 1;
    const badBody = [...rows.slice(0, 4), { ...rows[4]!, body }];
    expect(['body_altered', 'bad_encoding']).toContain(
      verifyRun('r', badBody, head).failure?.reason,
    );
  });
  it('names a run that does not begin with RunStarted, re-chained so every link holds', () => {
    const rest = sealBatch(emptyHead('r'), [stepDone('0'), stepDone('1'), completed()], AT);
    expect(verifyRun('r', rest).failure).toMatchObject({
      seq: 1,
      reason: 'no_start',
      detail: 'seq 1 is StepCompleted, not RunStarted',
    });
    // With the recorded head agreeing: the chain alone would pass.
    const last = rest[2]!;
    expect(verifyRun('r', rest, { seq: 3, hash: last.hash, terminal: true }).failure).toMatchObject(
      { seq: 1, reason: 'no_start' },
    );
  });

  it('names a second RunStarted after seq 1', () => {
    const rows = sealBatch(emptyHead('r'), [started(), stepDone('0'), started(), completed()], AT);
    expect(verifyRun('r', rows).failure).toMatchObject({
      seq: 3,
      reason: 'second_start',
      detail: 'RunStarted again; the run started at seq 1',
    });
  });

  it('names a head row with no events under it', () => {
    const genesis = emptyHead('r').hash;
    expect(verifyRun('r', [], { seq: 0, hash: genesis, terminal: false }).failure).toMatchObject({
      seq: 1,
      reason: 'no_start',
    });
    // A head past seq 0 with nothing under it stays a removed tail.
    expect(verifyRun('r', [], { seq: 3, hash: genesis, terminal: true }).failure).toMatchObject({
      seq: 1,
      reason: 'truncated',
    });
  });
});
