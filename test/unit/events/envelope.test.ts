import { afterEach, describe, expect, it } from 'vitest';

import { LedgerDecodeError } from '../../../src/errors.js';
import { currentVersion } from '../../../src/events/catalogue.js';
import { encodeCanonical } from '../../../src/events/codec.js';
import { decodeRecord, emptyHead, sealBatch } from '../../../src/events/envelope.js';
import { upcasters } from '../../../src/events/upcast.js';
import { stepDone } from '../../support/events.js';

const AT = 1_764_000_000_000;
const body = (over: Record<string, unknown>) =>
  encodeCanonical({
    runId: 'r',
    seq: 7,
    type: 'StepCompleted',
    v: 1,
    at: AT,
    data: { path: '0', output: 1 },
    ...over,
  });

const decodeError = (b: Uint8Array): LedgerDecodeError => {
  try {
    decodeRecord('r', 7, b);
  } catch (e) {
    if (e instanceof LedgerDecodeError) return e;
    throw e;
  }
  throw new Error('decoded without error');
};

describe('decoding stored events', () => {
  afterEach(() => {
    currentVersion.StepCompleted = 1;
    delete upcasters.StepCompleted;
  });

  it('round-trips a sealed event with its envelope', () => {
    const [rec] = sealBatch(emptyHead('r'), [stepDone('3', { a: [1, 'x'] })], AT);
    expect(decodeRecord('r', 1, rec!.body)).toEqual({
      runId: 'r',
      seq: 1,
      type: 'StepCompleted',
      v: 1,
      at: AT,
      data: { path: '3', output: { a: [1, 'x'] } },
    });
  });

  it.each([
    [
      'an unknown type',
      body({ type: 'Teleported' }),
      'event',
      /run r seq 7: unknown event type "Teleported"/,
    ],
    [
      'a bad payload',
      body({ data: { path: 0 } }),
      'event',
      /run r seq 7: bad StepCompleted data: path/,
    ],
    [
      'a missing envelope field',
      encodeCanonical({ runId: 'r', seq: 7, type: 'StepCompleted', v: 1, data: {} }),
      'event',
      /envelope keys/,
    ],
    ['a non-integer seq', body({ seq: 1.5 }), 'event', /not integers/],
    ['bytes that are not CBOR', new Uint8Array([0xff, 0xfe]), 'cbor', /run r seq 7: bad CBOR/],
  ])('raises a typed error naming run and seq for %s', (_name, bytes, stage, message) => {
    const e = decodeError(bytes);
    expect(e).toMatchObject({ runId: 'r', seq: 7, stage, code: 'LEDGER_DECODE' });
    expect(e.message).toMatch(message);
  });

  it('upcasts an old version on read and leaves the stored bytes alone', () => {
    const stored = body({ v: 1, data: { path: '0', output: 1 } });
    const before = Buffer.from(stored).toString('hex');
    currentVersion.StepCompleted = 2;
    upcasters.StepCompleted = {
      1: (d) => ({ ...(d as object), output: { wrapped: (d as { output: unknown }).output } }),
    };
    expect(decodeRecord('r', 7, stored)).toMatchObject({
      v: 2,
      data: { path: '0', output: { wrapped: 1 } },
    });
    expect(Buffer.from(stored).toString('hex')).toBe(before);
  });

  it('refuses an event from a newer Flujo and says to upgrade', () => {
    expect(decodeError(body({ v: 9 })).message).toMatch(
      /StepCompleted v9 was written by a newer Flujo.*upgrade/,
    );
  });

  it('fails loudly when an upcaster is missing', () => {
    currentVersion.StepCompleted = 3;
    upcasters.StepCompleted = { 1: (d) => d };
    expect(decodeError(body({ v: 1 })).message).toMatch(/no upcaster for StepCompleted v2 -> v3/);
  });
});
