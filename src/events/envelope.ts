/**
 * The record envelope and the two boundary operations on it: sealing new events into chained
 * records (encode + hash, before any store transaction) and decoding stored bytes back into
 * validated, upcast events. The stored body is the canonical CBOR of
 * `{ runId, seq, type, v, at, data }`; the row also keeps `prev` and `hash` beside it.
 */
import { LedgerDecodeError } from '../errors.js';
import {
  currentVersion,
  eventSchemas,
  isEventType,
  type EventData,
  type EventType,
  type NewEvent,
} from './catalogue.js';
import { decodeCanonical, encodeFixedBatch, fixedKeys } from './codec.js';
import { genesisHash, HASH_BYTES, linkHashInto } from './chain.js';
import { upcast } from './upcast.js';

/** A decoded event with its envelope. `data` is at the current schema version. */
export type LedgerEvent = {
  [T in EventType]: {
    runId: string;
    seq: number;
    type: T;
    v: number;
    at: number;
    data: EventData<T>;
  };
}[EventType];

/** What a store persists per event: the exact bytes and the chain links around them. */
export interface SealedRecord {
  readonly runId: string;
  readonly seq: number;
  readonly type: EventType;
  readonly at: number;
  readonly prev: Uint8Array;
  readonly hash: Uint8Array;
  readonly body: Uint8Array;
}

/** A record read back from a store; `pos` is its opaque position in global commit order. */
export interface StoredRecord extends SealedRecord {
  readonly pos: string;
}

/** The tip of a run's chain: an append must name it. `seq` 0 is the empty run. */
export interface Head {
  readonly runId: string;
  readonly seq: number;
  readonly hash: Uint8Array;
}

export function emptyHead(runId: string): Head {
  return { runId, seq: 0, hash: genesisHash(runId) };
}

/** The stored body is the canonical map of these keys; sealBatch passes values in this order. */
const ENVELOPE = fixedKeys(['runId', 'seq', 'type', 'v', 'at', 'data']);

/**
 * Encodes and chains a batch on top of `head`. Pure: the store checks `head` is still current.
 * The records' bodies and hashes are views into one array holding the whole batch.
 */
export function sealBatch(head: Head, events: readonly NewEvent[], at: number): SealedRecord[] {
  const rows = new Array<unknown[]>(events.length);
  let seq = head.seq;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as NewEvent;
    seq += 1;
    rows[i] = [head.runId, seq, e.type, currentVersion[e.type], at, e.data];
  }
  const { bytes, ends } = encodeFixedBatch(ENVELOPE, rows, HASH_BYTES * events.length);
  const out: SealedRecord[] = [];
  let prev = head.hash;
  let start = 0;
  let hashAt = ends[ends.length - 1] ?? 0;
  seq = head.seq;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as NewEvent;
    const end = ends[i] as number;
    const body = bytes.subarray(start, end);
    linkHashInto(prev, body, bytes, hashAt);
    const hash = bytes.subarray(hashAt, hashAt + HASH_BYTES);
    seq += 1;
    out.push({ runId: head.runId, seq, type: e.type, at, prev, hash, body });
    prev = hash;
    start = end;
    hashAt += HASH_BYTES;
  }
  return out;
}

export function headAfter(head: Head, records: readonly SealedRecord[]): Head {
  const last = records[records.length - 1];
  return last ? { runId: head.runId, seq: last.seq, hash: last.hash } : head;
}

const ENVELOPE_KEYS = ['at', 'data', 'runId', 'seq', 'type', 'v'];

/** The envelope as written, before its type and data are checked. */
export interface RawEnvelope {
  readonly runId: string;
  readonly seq: number;
  readonly type: string;
  readonly v: number;
  readonly at: number;
  readonly data: unknown;
}

/** Decodes a stored body into its envelope; checks the bytes and the envelope's shape only. */
export function decodeEnvelope(runId: string, seq: number, body: Uint8Array): RawEnvelope {
  let raw: unknown;
  try {
    raw = decodeCanonical(body);
  } catch (e) {
    throw new LedgerDecodeError(runId, seq, 'cbor', `bad CBOR: ${(e as Error).message}`, e);
  }
  const bad = (why: string): never => {
    throw new LedgerDecodeError(runId, seq, 'event', why);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return bad('envelope is not a map');
  const env = raw as Record<string, unknown>;
  const keys = Object.keys(env).sort();
  if (keys.join() !== ENVELOPE_KEYS.join()) return bad(`envelope keys are [${keys.join(', ')}]`);
  const { runId: r, seq: s, type, v, at } = env;
  if (typeof r !== 'string' || typeof type !== 'string')
    return bad('envelope runId/type are not strings');
  if (!Number.isSafeInteger(s) || !Number.isSafeInteger(v) || !Number.isSafeInteger(at)) {
    return bad('envelope seq/v/at are not integers');
  }
  return { runId: r, seq: s as number, type, v: v as number, at: at as number, data: env.data };
}

/** Checks an envelope's type and data, upcasting old versions. Errors name the run and seq. */
export function toLedgerEvent(runId: string, seq: number, env: RawEnvelope): LedgerEvent {
  const bad = (why: string, cause?: unknown): never => {
    throw new LedgerDecodeError(runId, seq, 'event', why, cause);
  };
  if (!isEventType(env.type)) return bad(`unknown event type ${JSON.stringify(env.type)}`);
  const current = currentVersion[env.type];
  if (env.v > current) {
    return bad(
      `${env.type} v${env.v} was written by a newer Flujo (this one reads up to v${current}); upgrade to read it`,
    );
  }
  let data: unknown = env.data;
  if (env.v < current) {
    try {
      data = upcast(env.type, env.v, current, data);
    } catch (e) {
      return bad((e as Error).message, e);
    }
  }
  const parsed = eventSchemas[env.type].safeParse(data);
  if (!parsed.success) {
    const why = parsed.error.issues
      .map((i) => `${i.path.join('.') || 'data'}: ${i.message}`)
      .join('; ');
    return bad(`bad ${env.type} data: ${why}`, parsed.error);
  }
  return { ...env, type: env.type, v: current, data: parsed.data } as LedgerEvent;
}

/** Decodes, validates and upcasts one stored event. Errors name the run and seq. */
export function decodeRecord(runId: string, seq: number, body: Uint8Array): LedgerEvent {
  return toLedgerEvent(runId, seq, decodeEnvelope(runId, seq, body));
}
