/**
 * The work queue's consumer settings belong to the workers (ADR 57): a worker brings an existing
 * consumer to its --ack-wait and --max-deliver; a client (the fleet client, `--fleet`) only
 * creates what is missing and never changes it. Real NATS JetStream.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ensureWorkQueue, fleetNames } from '../../src/adapters/nats/work.js';
import { createFleetClient } from '../../src/fleet/client.js';
import { NATS_URL, natsReachable } from '../support/services.js';

const up = await natsReachable();

describe.skipIf(!up)('ensureWorkQueue: who may change the consumer', () => {
  const namespace = `wqtest_${process.pid}_${Date.now().toString(36)}`;
  const names = fleetNames(namespace);
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await jsm?.streams.delete(names.stream).catch(() => {});
    await jsm?.streams.delete(names.deadStream).catch(() => {});
    await nc?.close();
  });

  const consumer = async () => (await jsm.consumers.info(names.stream, names.consumer)).config;

  it("a client's ensure leaves a worker's max_deliver and ack_wait as the worker set them", async () => {
    // A worker started with --max-deliver 7 --ack-wait 45.
    await ensureWorkQueue(jsm, names, { ackWaitMs: 45_000, maxDeliver: 7 });
    expect(await consumer()).toMatchObject({ max_deliver: 7, ack_wait: 45_000 * 1e6 });

    // A client: default options, update false (what createFleetClient passes).
    await ensureWorkQueue(jsm, names, undefined, false);
    expect(await consumer()).toMatchObject({ max_deliver: 7, ack_wait: 45_000 * 1e6 });

    // And the fleet client itself.
    await createFleetClient(nc, { namespace });
    expect(await consumer()).toMatchObject({ max_deliver: 7, ack_wait: 45_000 * 1e6 });

    // Another worker still brings the consumer to its own settings (the last one started wins).
    await ensureWorkQueue(jsm, names, { ackWaitMs: 30_000, maxDeliver: 9 });
    expect(await consumer()).toMatchObject({ max_deliver: 9, ack_wait: 30_000 * 1e6 });
  }, 30_000);

  it('a client creates a missing queue with the defaults', async () => {
    await jsm.streams.delete(names.stream);
    await ensureWorkQueue(jsm, names, undefined, false);
    expect(await consumer()).toMatchObject({ max_deliver: 20, ack_wait: 30_000 * 1e6 });
  }, 30_000);
});
