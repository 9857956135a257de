/**
 * Reaching the real services tests need. Without FLUJO_REQUIRE_SERVICES a missing service skips
 * its suites (a laptop without Postgres still runs everything else); with it — as CI sets — an
 * unreachable service fails the run.
 */
import pg from 'pg';

export const PG_URL = process.env.FLUJO_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
export const REQUIRE_SERVICES = process.env.FLUJO_REQUIRE_SERVICES === '1';

export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (e) {
    if (REQUIRE_SERVICES) {
      throw new Error(
        `Postgres at ${PG_URL} is required (FLUJO_REQUIRE_SERVICES=1) but unreachable: ${(e as Error).message}`,
      );
    }
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export const NATS_URL = process.env.FLUJO_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Whether NATS with JetStream answers (under FLUJO_REQUIRE_SERVICES, a throw if it does not). */
export async function natsReachable(): Promise<boolean> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 2000, reconnect: false });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
    } finally {
      await nc.close();
    }
    return true;
  } catch (e) {
    if (REQUIRE_SERVICES)
      throw new Error(
        `NATS JetStream at ${NATS_URL} is required (FLUJO_REQUIRE_SERVICES=1) but unreachable: ${(e as Error).message}`,
      );
    return false;
  }
}

let counter = 0;
/** A fresh schema name per suite, so tests never see each other's rows. */
export function uniqueSchema(prefix = 't'): string {
  counter += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
