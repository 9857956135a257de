/**
 * A NATS outage longer than the client library's default reconnect budget (10 attempts, 2 s
 * apart): the worker must wait it out and serve again, not sit alive and idle. Runs its own
 * nats-server on a free port (the shared one is left alone) and a SQLite ledger.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';

import { createFleetClient } from '../../src/fleet/client.js';
import { CLI, runCli } from '../e2e/cli.js';
import { REQUIRE_SERVICES } from '../support/services.js';

const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']
  .concat(
    (spawnSync('sh', ['-c', 'command -v nats-server']).stdout?.toString().trim() || []) as string[],
  )
  .find((p) => p && existsSync(p));
if (!NATS_SERVER && REQUIRE_SERVICES)
  throw new Error('nats-server is required (FLUJO_REQUIRE_SERVICES=1) but not installed');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(!NATS_SERVER)('flujo worker through a NATS outage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-nats-outage-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits out a 25 s outage and serves again', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const store = join(dir, 'js');
    const nats = () => {
      const c = spawn(NATS_SERVER!, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], {
        stdio: 'ignore',
      });
      children.push(c);
      return c;
    };
    const reachable = async () => {
      for (let i = 0; i < 100; i++) {
        try {
          const nc = await connect({ servers: url, reconnect: false, timeout: 500 });
          return nc;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error(`nats-server on ${port} did not come up`);
    };
    let server = nats();
    let nc = await reachable();
    const project = join(dir, 'p');
    spawnSync('mkdir', ['-p', project]);
    expect(runCli(['init', '--yes'], { cwd: project }).code).toBe(0);
    let log = '';
    const worker = spawn(process.execPath, [CLI, 'worker', '--ack-wait', '5'], {
      cwd: project,
      env: { ...process.env, FLUJO_NATS_URL: url, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(worker);
    worker.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
    const start = async (runId: string) => {
      const fleet = await createFleetClient(nc);
      return fleet.start({ runId, input: 'Ada', wait: 20_000 });
    };
    for (let i = 0; i < 100 && !log.includes('worker started'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await start('before')).result).toMatchObject({ status: 'paused' });

    await nc.close();
    server.kill('SIGKILL');
    await new Promise((r) => server.on('close', r));
    await new Promise((r) => setTimeout(r, 25_000));
    expect(worker.exitCode).toBeNull();
    server = nats();
    nc = await reachable();
    expect((await start('after')).result).toMatchObject({ status: 'paused' });
    expect(log).toContain('reconnected');
    await nc.close();
    worker.kill('SIGTERM');
    expect(await new Promise((r) => worker.on('close', r))).toBe(0);
  }, 90_000);
});
