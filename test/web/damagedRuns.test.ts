/**
 * The web lens's API on runs the ledger does not record as the read models list them, over real
 * HTTP to the real server on a real SQLite file (QA of abb6e62). Its verify agrees with
 * `flujo lens verify`: a run with no head row is not "✓ chain intact · 0 events" but fails as
 * `unrecorded` with LEDGER_UNKNOWN_RUN. Its trace refuses a run it cannot present as `lens trace`
 * does: 404 LEDGER_UNKNOWN_RUN, or 409 LEDGER_CORRUPT naming run, seq and reason (was 500
 * INTERNAL "a run starts with RunStarted"). An answer whose `by` holds a control character is
 * refused, 400, nothing recorded (a newline in it forged a line of `lens show`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import type { SqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { definePipeline, hitl, sequence, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createLensServer, type LensServer } from '../../src/web/server.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-web-damaged-runs-'));
let state: State;
let server: LensServer;
const logged: unknown[] = [];
const plan = definePipeline(
  'ask',
  sequence(
    step('draft', (x: number) => x + 1),
    hitl('approve', { message: 'Go on?', schema: z.boolean() }),
  ),
).plan;

beforeAll(async () => {
  state = await openState('sqlite:///state.db', { projectRoot: dir });
  const engine = createEngine({ ledger: state.ledger });
  for (const runId of ['intact', 'ghost<script>', 'no-head', 'no-start', 'paused'])
    await engine.run(plan, 1, { runId });
  const db = (state.ledger as SqliteLedger).db;
  // A read-model row and nothing else of its run (QA's ghost), and one whose head row is gone.
  db.exec(`DELETE FROM run_heads WHERE run_id IN ('ghost<script>', 'no-head')`);
  db.exec(`DELETE FROM events WHERE run_id = 'ghost<script>'`);
  db.exec(`DELETE FROM events WHERE run_id = 'no-start' AND seq = 1`);
  server = await createLensServer(
    {
      ledger: state.ledger,
      readModels: state.readModels,
      resume: (runId, input, answeredBy) =>
        engine.resume(plan, runId, { humanInput: input, answeredBy }),
      onBackgroundError: (_, e) => logged.push(e),
    },
    { port: 0 },
  );
});

afterAll(async () => {
  await server?.close();
  await state?.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (path: string) => {
  const res = await fetch(`${server.url}api/${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('/api/runs/:id/verify', () => {
  it.each(['ghost<script>', 'no-head'])(
    'of %j, which the ledger holds no head row of, fails as `lens verify --all` names it',
    async (id) => {
      const { status, body } = await get(`runs/${encodeURIComponent(id)}/verify`);
      expect(status).toBe(200);
      expect(body).toEqual({
        runId: id,
        ok: false,
        events: 0,
        headSeq: 0,
        headHash: '',
        failure: {
          runId: id,
          seq: 1,
          reason: 'unrecorded',
          detail:
            'the read models list this run but the ledger holds no head row of it (removed from the ledger, or never recorded)',
        },
        error: { code: 'LEDGER_UNKNOWN_RUN', message: `the ledger holds no run ${id}` },
      });
    },
  );

  it('of an intact run is ok; of one with no RunStarted names seq 1', async () => {
    const intact = (await get('runs/intact/verify')).body;
    expect(intact).toMatchObject({ runId: 'intact', ok: true });
    expect(intact.events).toBeGreaterThan(1);
    const { body } = await get('runs/no-start/verify');
    expect(body).toMatchObject({ ok: false, failure: { runId: 'no-start', seq: 1 } });
  });
});

describe('/api/runs/:id/trace', () => {
  it.each(['ghost<script>', 'no-head'])('of %j is 404 LEDGER_UNKNOWN_RUN', async (id) => {
    const { status, body } = await get(`runs/${encodeURIComponent(id)}/trace`);
    expect(status).toBe(404);
    expect(body.error).toEqual({
      code: 'LEDGER_UNKNOWN_RUN',
      message: `the ledger holds no run ${id} (the read models still list it); check it with: flujo lens verify --all`,
    });
  });

  it('of a run with no RunStarted is 409 LEDGER_CORRUPT naming run, seq and reason', async () => {
    const { status, body } = await get('runs/no-start/trace');
    expect(status).toBe(409);
    const error = body.error as Record<string, unknown>;
    expect(error).toMatchObject({ code: 'LEDGER_CORRUPT', runId: 'no-start', seq: 1 });
    expect(error.message).toMatch(
      /^run no-start seq 1: \w+ \(.+\); nothing was traced\. Check it with: flujo lens verify no-start$/,
    );
    expect(typeof error.reason).toBe('string');
  });

  it('of an intact run is its trace; nothing was logged as a server fault', async () => {
    const { status, body } = await get('runs/intact/trace');
    expect(status).toBe(200);
    expect(body.name).toBe('pipeline_run');
    expect(logged).toEqual([]);
  });
});

describe('POST /api/runs/:id/resume', () => {
  const answer = (by: unknown) =>
    fetch(`${server.url}api/runs/paused/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: true, by }),
    });

  it.each(['evil\nFAKE LINE', 'a\tb', 'a\u001b[2Jb', 'a\u202eb'])(
    'with a control character in "by" (%j) is 400, nothing recorded',
    async (by) => {
      const res = await answer(by);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(body.error.message).toMatch(
        /^"by" holds a control character \(.+\): give a name on one line, e\.g\. ana or "Ana Ruiz"; nothing was recorded$/,
      );
      expect((await state.readModels.getRun('paused'))?.status).toBe('paused');
    },
  );

  it('with a name on one line is recorded', async () => {
    const res = await answer('  Ana Ruiz  ');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ runId: 'paused', status: 'completed' });
    const [item] = await state.readModels.hitl({ runId: 'paused' });
    expect(item?.answeredBy).toBe('Ana Ruiz');
  });
});
