/**
 * The web lens over HTTP without a browser: binds and tokens, the JSON API's answers and errors,
 * Server-Sent Events of committed records.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';

import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import { openState } from '../../src/adapters/ledger/state.js';
import { definePipeline, hitl, parallel } from '../../src/dsl/builder.js';
import { decodeRecord } from '../../src/events/envelope.js';
import { foldingReadModels } from '../../src/projections/index.js';
import { createEngine } from '../../src/runtime/engine.js';
import { webLensActor } from '../../src/web/api.js';
import { createLensServer } from '../../src/web/server.js';
import { tailPosition } from '../../src/web/live.js';
import { approvalPipeline, gatedPipeline, webHarness, type WebHarness } from './support.js';

const TOKEN = 'test-token-0123456789abcdef';
let web: WebHarness | undefined;

afterEach(async () => {
  await web?.close();
  web = undefined;
});

/** A raw request (fetch refuses to set Host): status, headers and body. */
function raw(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('binding and tokens', () => {
  const backend = () => {
    const ledger = createMemoryLedger();
    return {
      ledger,
      readModels: foldingReadModels(ledger),
      resume: async () => ({ status: 'paused' }),
    };
  };

  it('refuses a non-loopback bind without a token', async () => {
    await expect(createLensServer(backend(), { host: '0.0.0.0', port: 0 })).rejects.toThrow(
      /refusing to serve the web lens on 0\.0\.0\.0 without a token/,
    );
    await expect(
      createLensServer(backend(), { host: '0.0.0.0', port: 0, token: 'short' }),
    ).rejects.toThrow(/at least 16 characters/);
  });

  it('accepts a non-loopback bind with a token and requires it on every request', async () => {
    const server = await createLensServer(backend(), { host: '0.0.0.0', port: 0, token: TOKEN });
    try {
      const base = `http://127.0.0.1:${server.port}/`;
      expect((await fetch(base + 'api/runs')).status).toBe(401);
      expect((await fetch(base)).status).toBe(401);
      expect((await fetch(base + 'api/events')).status).toBe(401);
      const wrong = await fetch(base + 'api/runs', { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const ok = await fetch(base + 'api/runs', { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ runs: [], counts: { paused: 0 } });
    } finally {
      await server.close();
    }
  });

  it('trades ?token= on a page load for an HttpOnly cookie and drops it from the URL', async () => {
    const server = await createLensServer(backend(), { host: '0.0.0.0', port: 0, token: TOKEN });
    try {
      const base = `http://127.0.0.1:${server.port}/`;
      const first = await fetch(`${base}?token=${TOKEN}#/inbox`, { redirect: 'manual' });
      expect(first.status).toBe(303);
      expect(first.headers.get('location')).toBe('/');
      const cookie = first.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/^flujo_lens_token=.+; HttpOnly; SameSite=Strict; Path=\//);
      const jar = cookie.split(';')[0] as string;
      const page = await fetch(base, { headers: { cookie: jar } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>Flujo lens</title>');
      expect((await fetch(base + 'api/hitl', { headers: { cookie: jar } })).status).toBe(200);
      expect((await fetch(`${base}?token=wrong-token-0123456789`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('on loopback answers only to loopback host names (DNS rebinding)', async () => {
    const server = await createLensServer(backend(), { port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const ok = await raw(`${server.url}api/runs`, { host: `localhost:${server.port}` });
      expect(ok.status).toBe(200);
      const evil = await raw(`${server.url}api/runs`, { host: `evil.example:${server.port}` });
      expect(evil.status).toBe(403);
    } finally {
      await server.close();
    }
  });
});

describe('JSON API', () => {
  it('lists, pages and filters runs with counts by status', async () => {
    web = await webHarness();
    for (let i = 0; i < 3; i++) await web.engine.run(approvalPipeline.plan, { order: i });
    const page1 = (await (await fetch(`${web.server.url}api/runs?limit=2`)).json()) as {
      runs: unknown[];
      more: boolean;
      counts: Record<string, number>;
    };
    expect(page1.runs).toHaveLength(2);
    expect(page1.more).toBe(true);
    expect(page1.counts.paused).toBe(3);
    const page2 = (await (await fetch(`${web.server.url}api/runs?limit=2&offset=2`)).json()) as {
      runs: unknown[];
      more: boolean;
    };
    expect(page2.runs).toHaveLength(1);
    expect(page2.more).toBe(false);
    const none = (await (await fetch(`${web.server.url}api/runs?status=failed`)).json()) as {
      runs: unknown[];
    };
    expect(none.runs).toHaveLength(0);
    const bad = await fetch(`${web.server.url}api/runs?status=exploded`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_QUERY' } });
  });

  it('answers 404 for an unknown run and 409 when resuming a run that is not paused', async () => {
    web = await webHarness();
    expect((await fetch(`${web.server.url}api/runs/nope`)).status).toBe(404);
    const { pipeline, open } = gatedPipeline();
    open();
    const done = await web.engine.run(pipeline.plan, {});
    const res = await fetch(`${web.server.url}api/runs/${done.runId}/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { approved: true } }),
    });
    expect(res.status).toBe(409);
  });

  it('refuses a resume that is not JSON or comes from another origin', async () => {
    web = await webHarness();
    const { runId } = await web.engine.run(approvalPipeline.plan, { order: 1 });
    const url = `${web.server.url}api/runs/${runId}/resume`;
    const form = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'input=1',
    });
    expect(form.status).toBe(415);
    const cross = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: JSON.stringify({ input: {} }),
    });
    expect(cross.status).toBe(403);
    expect((await web.readModels.getRun(runId))?.status).toBe('paused');
  });

  it('sends a strict Content-Security-Policy and nosniff with every page and asset', async () => {
    web = await webHarness();
    for (const path of ['', 'assets/app.js', 'assets/style.css', 'api/runs']) {
      const res = await fetch(web.server.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect((await fetch(web.server.url + 'assets/../server.ts')).status).toBe(404);
  });

  it('verifies a run through the chain verifier', async () => {
    web = await webHarness();
    const { runId } = await web.engine.run(approvalPipeline.plan, { order: 9 });
    const v = (await (await fetch(`${web.server.url}api/runs/${runId}/verify`)).json()) as {
      ok: boolean;
      events: number;
    };
    expect(v.ok).toBe(true);
    expect(v.events).toBeGreaterThan(5);
  });
});

describe('live updates', () => {
  it('starts at the end of a ledger with history and streams each record committed after', async () => {
    web = await webHarness();
    await web.engine.run(approvalPipeline.plan, { order: 1 });
    const tail = await tailPosition(web.ledger);
    expect((await web.ledger.readAll(tail, 1)).length).toBe(0);
    expect((await web.ledger.readAll(String(Number(tail) - 1), 5)).length).toBe(1);

    // A server started on a ledger with history follows its end.
    const late = await createLensServer(
      { ledger: web.ledger, readModels: web.readModels, resume: async () => ({ status: 'x' }) },
      { port: 0 },
    );
    await late.live;
    const ctrl = new AbortController();
    const res = await fetch(`${late.url}api/events`, { signal: ctrl.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const frames: { runId: string; type: string; seq: number }[] = [];
    const { pipeline, open } = gatedPipeline();
    const run = web.engine.run(pipeline.plan, { n: 1 });
    let text = '';
    while (!frames.some((f) => f.type === 'StepScheduled')) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      const parts = text.split('\n\n');
      text = parts.pop() ?? '';
      for (const p of parts) {
        const data = /^data: (.*)$/m.exec(p)?.[1];
        if (data) frames.push(JSON.parse(data) as (typeof frames)[number]);
      }
    }
    open();
    const done = await run;
    ctrl.abort();
    await late.close();
    // The history before the connection is not replayed; the new run starts at seq 1.
    expect(frames[0]).toMatchObject({ runId: done.runId, seq: 1, type: 'RunStarted' });
    expect(frames.every((f) => f.runId === done.runId)).toBe(true);
    expect(Object.keys(frames[0] as object).sort()).toEqual(['at', 'runId', 'seq', 'type']);
  });
});

describe('answering one of several open questions', () => {
  it('POST /resume answers the question it names, not the oldest; an unknown one is refused with nothing recorded', async () => {
    const web = await webHarness();
    try {
      const two = definePipeline(
        'two-questions',
        parallel('both', {
          a: hitl('qa', { message: 'A?', schema: z.string() }),
          b: hitl('qb', { message: 'B?', schema: z.object({ n: z.number() }) }),
        }),
      );
      web.plans.set(two.plan.ir.name, two.plan);
      const run = await web.engine.run(two.plan, null);
      expect(run.questions?.map((q) => q.step)).toEqual(['qa', 'qb']);
      const qb = run.questions![1]!.path;
      const post = (body: unknown) =>
        fetch(`${web.server.url}api/runs/${run.runId}/resume`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const unknown = await post({ input: 'x', question: 'no/such' });
      expect(unknown.status).toBe(409);
      const before = (await web.ledger.head(run.runId))!.seq;
      // The second form: its answer fits only qb's schema, and goes to qb.
      const res = await post({ input: { n: 3 }, question: qb });
      expect(res.status).toBe(200);
      const rows = await web.ledger.read(run.runId, { fromSeq: before + 1 });
      const answers = rows
        .map((r) => decodeRecord(run.runId, r.seq, r.body))
        .filter((e) => e.type === 'HumanInputReceived');
      expect(answers.map((e) => (e.data as { path: string }).path)).toEqual([qb]);
      expect((await post({ input: 1, question: 42 })).status).toBe(400);
    } finally {
      await web.close();
    }
  });
});

describe('cancelling a run', () => {
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const cancelled = async (ledger: WebHarness['ledger'], runId: string) =>
    (await ledger.read(runId))
      .map((r) => decodeRecord(runId, r.seq, r.body))
      .filter((e) => e.type === 'RunCancelled')
      .map((e) => e.data);

  it('POST /cancel cancels a paused run with its reason; its question is withdrawn', async () => {
    web = await webHarness();
    const { runId } = await web.engine.run(approvalPipeline.plan, { order: 1 });
    const res = await post(`${web.server.url}api/runs/${runId}/cancel`, {
      reason: '  duplicate order  ',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ runId, status: 'cancelled' });
    expect(await cancelled(web.ledger, runId)).toEqual([
      { reason: 'duplicate order', by: 'web-test' },
    ]);
    expect((await web.readModels.getRun(runId))?.status).toBe('cancelled');
    expect((await web.readModels.hitl({ runId }))[0]?.status).toBe('withdrawn');
  });

  it('stops a running run the backend drives before recording the cancel; no reason is fine', async () => {
    web = await webHarness();
    const { pipeline, open } = gatedPipeline();
    const running = web.engine.run(pipeline.plan, {}, { runId: 'gated-1' });
    await expect
      .poll(async () => (await web!.readModels.steps('gated-1')).map((s) => s.name))
      .toContain('wait');
    const res = await post(`${web.server.url}api/runs/gated-1/cancel`, {});
    expect(res.status).toBe(200);
    await expect(running).resolves.toMatchObject({ status: 'cancelled' });
    open();
    expect(await cancelled(web.ledger, 'gated-1')).toEqual([{ by: 'web-test' }]);
    const steps = await web.readModels.steps('gated-1');
    expect(steps.map((s) => s.name)).not.toContain('load');
  });

  it('refuses an ended run naming its state, as flujo cancel does, and records nothing', async () => {
    web = await webHarness();
    const { pipeline, open } = gatedPipeline();
    open();
    const done = await web.engine.run(pipeline.plan, {});
    const head = (await web.ledger.head(done.runId))!.seq;
    const res = await post(`${web.server.url}api/runs/${done.runId}/cancel`, { reason: 'late' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: {
        code: 'RUN_NOT_RESUMABLE',
        message: `run ${done.runId} already ended (completed); there is nothing to cancel and nothing was recorded`,
        runId: done.runId,
        status: 'completed',
      },
    });
    expect((await web.ledger.head(done.runId))!.seq).toBe(head);

    // A second cancel is refused too: the first one happened, this one did not.
    const { runId } = await web.engine.run(approvalPipeline.plan, { order: 2 });
    expect((await post(`${web.server.url}api/runs/${runId}/cancel`, {})).status).toBe(200);
    const again = await post(`${web.server.url}api/runs/${runId}/cancel`, {});
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { status: 'cancelled' } });
    expect(await cancelled(web.ledger, runId)).toHaveLength(1);

    expect((await post(`${web.server.url}api/runs/nope/cancel`, {})).status).toBe(404);
  });

  it('refuses by the ledger when the read models have not seen the end yet', async () => {
    const ledger = createMemoryLedger();
    const { pipeline, open } = gatedPipeline();
    open();
    const engine = createEngine({ ledger });
    const done = await engine.run(pipeline.plan, {});
    // Read models that still show the run running (projections behind the ledger).
    const lagging = foldingReadModels(ledger);
    const row = (await lagging.getRun(done.runId))!;
    const readModels = { ...lagging, getRun: async () => ({ ...row, status: 'running' as const }) };
    const server = await createLensServer(
      { ledger, readModels, resume: async () => ({ status: 'x' }) },
      { port: 0 },
    );
    try {
      const res = await post(`${server.url}api/runs/${done.runId}/cancel`, {});
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({
        error: { code: 'RUN_NOT_RESUMABLE', status: 'completed' },
      });
    } finally {
      await server.close();
    }
  });

  it('cancels through an engine over the ledger when the backend has no cancel', async () => {
    const ledger = createMemoryLedger();
    const readModels = foldingReadModels(ledger);
    const ask = definePipeline('ask', hitl('q', { message: 'Go?', schema: z.boolean() }));
    const { runId, status } = await createEngine({ ledger }).run(ask.plan, null);
    expect(status).toBe('paused');
    const server = await createLensServer(
      { ledger, readModels, resume: async () => ({ status: 'x' }) },
      { port: 0 },
    );
    try {
      const res = await post(`${server.url}api/runs/${runId}/cancel`, { reason: 'r' });
      expect(res.status).toBe(200);
      const [data] = await cancelled(ledger, runId);
      // Who: the OS user running the server, marked as the web lens (not `lens-<pid>`).
      expect(data).toMatchObject({ reason: 'r', by: webLensActor() });
      expect(webLensActor()).toMatch(/^\S.* \(web lens\)$/);
      expect(webLensActor({ USER: 'ada' })).toBe('ada (web lens)');
    } finally {
      await server.close();
    }
  });

  it('has the guards of resume: JSON only, same origin, a token off loopback, a string reason', async () => {
    web = await webHarness();
    const { runId } = await web.engine.run(approvalPipeline.plan, { order: 4 });
    const url = `${web.server.url}api/runs/${runId}/cancel`;
    const form = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'reason=x',
    });
    expect(form.status).toBe(415);
    const bare = await fetch(url, { method: 'POST' });
    expect(bare.status).toBe(415);
    expect((await post(url, {}, { origin: 'http://evil.example' })).status).toBe(403);
    const rebound = await raw(url, { host: `evil.example:${web.server.port}` }, 'POST');
    expect(rebound.status).toBe(403);
    expect((await post(url, { reason: 42 })).status).toBe(400);
    expect((await post(url, { reason: 'x'.repeat(2001) })).status).toBe(400);
    expect((await post(url, ['x'])).status).toBe(400);
    expect((await fetch(url)).status).toBe(405);
    expect((await web.readModels.getRun(runId))?.status).toBe('paused');
    expect(await cancelled(web.ledger, runId)).toEqual([]);

    const guarded = await createLensServer(
      {
        ledger: web.ledger,
        readModels: web.readModels,
        resume: async () => ({ status: 'x' }),
        cancel: (id, reason) => web!.engine.cancel(id, reason),
      },
      { host: '0.0.0.0', port: 0, token: TOKEN },
    );
    try {
      const at = `http://127.0.0.1:${guarded.port}/api/runs/${runId}/cancel`;
      expect((await post(at, {})).status).toBe(401);
      expect((await post(at, {}, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(
        401,
      );
      expect((await web.readModels.getRun(runId))?.status).toBe('paused');
      expect((await post(at, {}, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
      expect((await web.readModels.getRun(runId))?.status).toBe('cancelled');
    } finally {
      await guarded.close();
    }
  });
});

describe('cancelling a run whose head row was tampered with (a real SQLite file)', () => {
  it('refuses with LEDGER_CORRUPT as flujo cancel does, whatever the read models say, and records nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-web-tampered-'));
    const file = join(dir, 'state.db');
    const state = await openState(`sqlite:///${file}`, { projectRoot: dir });
    const server = await createLensServer(
      { ledger: state.ledger, readModels: state.readModels, resume: async () => ({ status: 'x' }) },
      { port: 0 },
    );
    const tamper = (runId: string, terminal: 0 | 1) => {
      const db = new Database(file);
      try {
        db.prepare('UPDATE run_heads SET terminal = ? WHERE run_id = ?').run(terminal, runId);
      } finally {
        db.close();
      }
    };
    try {
      const engine = createEngine({ ledger: state.ledger });
      const ask = definePipeline('ask', hitl('q', { message: 'Go?', schema: z.boolean() }));
      const done = definePipeline('done', hitl('q', { message: 'Go?', schema: z.boolean() }));
      const paused = await engine.run(ask.plan, null);
      const completed = await engine.run(done.plan, null);
      await engine.resume(done.plan, completed.runId, { humanInput: true });
      // Paused, its head row says ended; completed, its head row says it has not ended.
      tamper(paused.runId, 1);
      tamper(completed.runId, 0);
      for (const runId of [paused.runId, completed.runId]) {
        const seq = (await state.ledger.head(runId))!.seq;
        const res = await fetch(`${server.url}api/runs/${runId}/cancel`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        });
        expect(res.status, runId).toBe(500);
        expect(await res.json()).toMatchObject({ error: { code: 'LEDGER_CORRUPT' } });
        expect((await state.ledger.head(runId))!.seq).toBe(seq);
      }
    } finally {
      await server.close();
      await state.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
