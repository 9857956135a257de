/**
 * Live views for the fleet: a ledger that publishes every event it committed on
 * `flujo.events.<run>` (core NATS, at most once), after the commit. The ledger stays the record:
 * a subscriber that misses a message reads the run from the ledger (`flujo lens watch`, the
 * TaskClient), and a publish that fails can never hold up or undo a commit.
 *
 * Each message is one JSON object: `{run_id, seq, type, v, at, data, hash}` (hash: the event's
 * chain hash in hex), with the header `Nats-Msg-Id: <run>:<seq>`; an event too big for one NATS
 * message goes without its data, marked `data_truncated: true`.
 */
import { headers, type NatsConnection } from '@nats-io/transport-node';

import { decodeRecord } from '../../events/envelope.js';
import type { LedgerStore } from '../../ports.js';
import { withAppend } from '../ledger/tap.js';
import { eventsSubject, type FleetNames } from './work.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** JSON for event data: bigints as decimal strings, bytes as hex. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return hex(value);
  return value;
}

export function publishCommits(
  store: LedgerStore,
  nc: NatsConnection,
  names: FleetNames,
  onError: (e: Error) => void = () => {},
): LedgerStore {
  return withAppend(store, async (request) => {
    const result = await store.append(request);
    // Each record alone: one that cannot go out (too big for a NATS message) does not keep the
    // rest of the batch from going.
    for (const r of result.records) {
      try {
        const e = decodeRecord(r.runId, r.seq, r.body);
        const h = headers();
        h.set('Nats-Msg-Id', `${r.runId}:${r.seq}`);
        const head = { run_id: e.runId, seq: e.seq, type: e.type, v: e.v, at: e.at };
        let text = JSON.stringify({ ...head, data: e.data, hash: hex(r.hash) }, jsonSafe);
        // Too big for one message: its place in the chain, without its data (the ledger has it).
        if (Buffer.byteLength(text) > (nc.info?.max_payload ?? 1 << 20) - 4096)
          text = JSON.stringify({ ...head, hash: hex(r.hash), data_truncated: true });
        nc.publish(eventsSubject(names, r.runId), text, { headers: h });
      } catch (e) {
        onError(e as Error);
      }
    }
    return result;
  });
}
