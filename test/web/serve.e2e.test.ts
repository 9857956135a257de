/**
 * `flujo lens serve` from the built CLI: a module pipeline paused by `flujo run` is answered over
 * HTTP (through TaskClient, with the plan loaded from the recorded file) and completes; a
 * non-loopback bind prints a token URL; Ctrl-C stops the server with exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { webLensActor } from '../../src/web/api.js';
import { CLI, runCli } from '../e2e/cli.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** A module pipeline (the CLI loads .mjs files): a draft, then a question for a person. */
const PIPELINE = `
import { definePipeline, sequence, step, flowOf } from '${DIST}dsl/builder.js';
const approve = flowOf(() => ({
  kind: 'hitl', name: 'approve', message: 'Ship it?',
  inputSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
}));
export default definePipeline('ship', sequence(
  step('draft', (x) => ({ draft: String(x) })),
  approve,
  step('publish', (x) => ({ published: x.ok })),
)).plan;
`;

let dir: string;
/** The ledger the tests use: SQLite in the project folder, or a Postgres schema. */
let stateUri = '';
const env = () => ({ FLUJO_STATE_URI: stateUri || `sqlite:///${join(dir, 'state.db')}` });
const pgSchema = uniqueSchema('serve');
const pgReachable = await postgresReachable();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flujo-lens-serve-'));
  writeFileSync(join(dir, 'flujo.toml'), '# web lens e2e\n');
  writeFileSync(join(dir, 'ship.mjs'), PIPELINE);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (pgReachable) await dropSchema(pgSchema);
});

/** Starts the server and resolves with its printed URL once it listens. */
function serve(
  args: string[],
): Promise<{ child: ChildProcess; url: string; exit: Promise<number | null> }> {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env() };
  delete e.FLUJO_PROJECT_ROOT;
  delete e.FLUJO_LENS_TOKEN;
  const child = spawn(process.execPath, [CLI, 'lens', 'serve', '--port', '0', ...args], {
    cwd: dir,
    env: e,
  });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /flujo lens: (\S+)/.exec(err);
      if (m?.[1]) resolve({ child, url: m[1], exit });
    });
    void exit.then((code) => reject(new Error(`lens serve exited ${code}: ${err}`)));
  });
}

const backends = [
  { name: 'sqlite', uri: () => '', skip: false },
  { name: 'postgres', uri: () => `${PG_URL}?schema=${pgSchema}`, skip: !pgReachable },
];

describe.each(backends)('flujo lens serve on $name (built CLI)', ({ uri, skip }) => {
  it.skipIf(skip)(
    'answers a paused run from HTTP and the run completes; Ctrl-C exits 0',
    async () => {
      stateUri = uri();
      const run = runCli(['run', 'ship.mjs', '--input', 'v1', '--json'], { cwd: dir, env: env() });
      expect(run.code, run.stderr).toBe(0);
      const { run_id: runId, status } = JSON.parse(run.stdout) as {
        run_id: string;
        status: string;
      };
      expect(status).toBe('paused');

      const { child, url, exit } = await serve([]);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const inbox = (await (await fetch(`${url}api/hitl?status=pending`)).json()) as {
        items: { runId: string; message: string }[];
      };
      expect(inbox.items).toEqual([expect.objectContaining({ runId, message: 'Ship it?' })]);
      const post = (input: unknown) =>
        fetch(`${url}api/runs/${runId}/resume`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input, by: 'e2e' }),
        });
      const rejected = await post({ ok: 'yes' });
      expect(rejected.status).toBe(422);
      expect(await rejected.json()).toMatchObject({
        error: { code: 'HUMAN_INPUT_REJECTED', reasons: ['/ok must be boolean'] },
      });
      const accepted = await post({ ok: true });
      expect(accepted.status).toBe(200);
      expect(await accepted.json()).toEqual({ runId, status: 'completed' });
      const after = (await (await fetch(`${url}api/runs/${runId}`)).json()) as {
        run: { status: string };
        hitl: { answeredBy: string }[];
      };
      expect(after.run.status).toBe('completed');
      expect(after.hitl[0]?.answeredBy).toBe('e2e');

      child.kill('SIGINT');
      expect(await exit).toBe(0);
      stateUri = '';
    },
  );

  it.skipIf(skip)(
    'refuses an answer nested past 200 levels with 422 and its reason, recording nothing (ADR 100)',
    async () => {
      stateUri = uri();
      const run = runCli(['run', 'ship.mjs', '--input', 'v3', '--json'], { cwd: dir, env: env() });
      const { run_id: runId } = JSON.parse(run.stdout) as { run_id: string };
      const { child, url, exit } = await serve([]);
      const events = async () =>
        ((await (await fetch(`${url}api/runs/${runId}/events`)).json()) as { events: unknown[] })
          .events.length;
      const before = await events();
      let note: unknown = 1;
      for (let i = 0; i < 201; i++) note = [note];
      const res = await fetch(`${url}api/runs/${runId}/resume`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { ok: true, note }, by: 'e2e' }),
      });
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({
        error: {
          code: 'HUMAN_INPUT_REJECTED',
          reasons: [
            expect.stringMatching(/^it is 202 levels deep: .* nests deeper than 200 levels/),
          ],
        },
      });
      expect(await events()).toBe(before);
      child.kill('SIGINT');
      expect(await exit).toBe(0);
      stateUri = '';
    },
  );

  it.skipIf(skip)(
    "refuses an answer over flujo.toml's max_input_bytes with 422, as flujo resume does (ADR 100)",
    async () => {
      stateUri = uri();
      const run = runCli(['run', 'ship.mjs', '--input', 'v4', '--json'], { cwd: dir, env: env() });
      const { run_id: runId } = JSON.parse(run.stdout) as { run_id: string };
      writeFileSync(join(dir, 'flujo.toml'), '[settings]\nmax_input_bytes = 1024\n');
      try {
        const { child, url, exit } = await serve([]);
        const res = await fetch(`${url}api/runs/${runId}/resume`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: { ok: true, note: 'n'.repeat(2000) }, by: 'e2e' }),
        });
        expect(res.status).toBe(422);
        expect(await res.json()).toMatchObject({
          error: {
            code: 'HUMAN_INPUT_REJECTED',
            reasons: [expect.stringMatching(/over the limit of 1 KiB \(1024 bytes\)/)],
          },
        });
        child.kill('SIGINT');
        expect(await exit).toBe(0);
      } finally {
        writeFileSync(join(dir, 'flujo.toml'), '# web lens e2e\n');
        stateUri = '';
      }
    },
  );

  it.skipIf(skip)(
    'cancels a paused run from HTTP (TaskClient.cancelTask); flujo cancel then refuses it as ended',
    async () => {
      stateUri = uri();
      const run = runCli(['run', 'ship.mjs', '--input', 'v2', '--json'], { cwd: dir, env: env() });
      expect(run.code, run.stderr).toBe(0);
      const { run_id: runId } = JSON.parse(run.stdout) as { run_id: string };
      const { child, url, exit } = await serve([]);
      const cancel = () =>
        fetch(`${url}api/runs/${runId}/cancel`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'wrong version' }),
        });
      const res = await cancel();
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ runId, status: 'cancelled' });
      const again = await cancel();
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({
        error: { code: 'RUN_NOT_RESUMABLE', status: 'cancelled' },
      });
      child.kill('SIGINT');
      expect(await exit).toBe(0);
      const show = runCli(['lens', 'show', runId, '--json'], { cwd: dir, env: env() });
      expect(JSON.parse(show.stdout)).toMatchObject({ status: 'cancelled' });
      // Recorded as the OS user running the server, marked as the web lens (was `lens-<pid>`).
      const state = await openState(env().FLUJO_STATE_URI, { projectRoot: dir });
      try {
        const last = (await state.ledger.read(runId)).at(-1)!;
        expect(decodeRecord(runId, last.seq, last.body)).toMatchObject({
          type: 'RunCancelled',
          data: { reason: 'wrong version', by: webLensActor() },
        });
      } finally {
        await state.close();
      }
      const cli = runCli(['cancel', runId, '--json'], { cwd: dir, env: env() });
      expect(cli.code).toBe(1);
      expect(JSON.parse(cli.stdout)).toMatchObject({ status: 'cancelled' });
      stateUri = '';
    },
  );
});

describe('flujo lens serve (built CLI)', () => {
  it('off loopback generates a token and prints the URL carrying it', async () => {
    const { child, url, exit } = await serve(['--host', '0.0.0.0']);
    const m = /^http:\/\/0\.0\.0\.0:(\d+)\/\?token=([\w-]{32,})$/.exec(url);
    expect(m, url).not.toBeNull();
    const base = `http://127.0.0.1:${m?.[1]}/`;
    expect((await fetch(`${base}api/runs`)).status).toBe(401);
    const ok = await fetch(`${base}api/runs`, { headers: { authorization: `Bearer ${m?.[2]}` } });
    expect(ok.status).toBe(200);
    child.kill('SIGINT');
    expect(await exit).toBe(0);
  });

  it('refuses a bad port with exit 2', () => {
    const r = runCli(['lens', 'serve', '--port', 'http'], { cwd: dir, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port must be 0–65535/);
  });
});
