/** The same CLI commands against a Postgres ledger named by --state-uri (and FLUJO_STATE_URI). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { runCli } from './cli.js';

const reachable = await postgresReachable();
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;

describe.skipIf(!reachable)('flujo run / resume / lens verify on Postgres', () => {
  const schema = uniqueSchema('cli');
  const uri = `${PG_URL}?schema=${schema}`;
  let p: string;
  beforeAll(() => {
    p = mkdtempSync(join(tmpdir(), 'flujo-cli-pg-'));
    expect(runCli(['init', '--yes'], { cwd: p }).code).toBe(0);
  });
  afterAll(async () => {
    rmSync(p, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('pauses, refuses a bad answer, completes with a good one and verifies', () => {
    const run = runCli(['run', '--state-uri', uri, '--input', 'Grace', '--json'], { cwd: p });
    expect(run.code).toBe(0);
    const paused = json(run.stdout);
    expect(paused.status).toBe('paused');
    const id = paused.run_id as string;
    const bad = runCli(['resume', id, '--state-uri', uri, '--input', '{"approved":1}'], { cwd: p });
    expect(bad.code).toBe(1);
    const good = runCli(['resume', id.slice(0, 10), '--input', '{"approved":false}', '--json'], {
      cwd: p,
      env: { FLUJO_STATE_URI: uri },
    });
    expect(good.code).toBe(0);
    expect(json(good.stdout)).toMatchObject({ status: 'completed', output: 'Shelved.' });
    const verify = runCli(['lens', 'verify', '--all', '--json', '--state-uri', uri], { cwd: p });
    expect(verify.code).toBe(0);
    expect(json(verify.stdout)).toMatchObject({ ok: true, runs_checked: 1 });
    // Nothing went to the project's embedded SQLite ledger.
    const local = runCli(['lens', 'verify', '--all', '--json'], { cwd: p });
    expect(json(local.stdout)).toMatchObject({ runs_checked: 0 });
  });
});
