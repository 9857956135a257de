/**
 * Requests at the edges of the web lens, over real HTTP to the real server on a real SQLite
 * ledger (QA of abb6e62): malformed %-escapes in the path or the token cookie are the client's
 * mistake (400 / no token), never 500 INTERNAL with a stderr log; a token redirect never leaves
 * the origin (`//evil.com/`); HEAD answers where GET does and a 405 names what the path takes
 * (`Allow`); a run whose id is `.` or `..` (recorded before ADR 154 refused such ids) is reached
 * by an empty segment and `?run=`, as the page asks for it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { createLensServer, type LensServer } from '../../src/web/server.js';
import { recordUnder } from './recordUnder.js';

const TOKEN = 'edge-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'flujo-web-edges-'));
let state: State;
let open: LensServer;
let guarded: LensServer;
const logged: unknown[] = [];

beforeAll(async () => {
  state = await openState('sqlite:///state.db', { projectRoot: dir });
  await recordUnder(state, '..');
  await recordUnder(state, '.');
  const backend = {
    ledger: state.ledger,
    readModels: state.readModels,
    resume: async () => ({ status: 'x' }),
    onBackgroundError: (_: string, e: unknown) => logged.push(e),
  };
  open = await createLensServer(backend, { port: 0 });
  guarded = await createLensServer(backend, { port: 0, token: TOKEN });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await state?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One request with the path sent as written (fetch and URL would normalise it). */
function raw(
  server: LensServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('malformed percent-encoding', () => {
  it('in a run path is 400 BAD_REQUEST, nothing logged (was 500 INTERNAL "URI malformed")', async () => {
    const r = await raw(open, 'GET', '/api/runs/%E0%A4%A');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({
      error: { code: 'BAD_REQUEST', message: 'the path is not valid percent-encoded UTF-8' },
    });
    expect((await raw(open, 'GET', '/api/runs/%E0%A4%A/verify')).status).toBe(400);
    expect(logged).toEqual([]);
  });

  it('in the token cookie is no token: 401 alone, the bearer still admitted', async () => {
    const bad = { cookie: 'flujo_lens_token=%E0' };
    const denied = await raw(guarded, 'GET', '/api/runs', bad);
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.body).error.code).toBe('UNAUTHORIZED');
    const page = await raw(guarded, 'GET', '/', bad);
    expect(page.status).toBe(401);
    const ok = await raw(guarded, 'GET', '/api/runs', {
      ...bad,
      authorization: `Bearer ${TOKEN}`,
    });
    expect(ok.status).toBe(200);
    // A page load with ?token= still swaps it for a good cookie.
    const adopt = await raw(guarded, 'GET', `/?token=${TOKEN}`, bad);
    expect(adopt.status).toBe(303);
    expect(logged).toEqual([]);
  });
});

describe('the token redirect', () => {
  it('never sends the browser to another host (was 303 location: //evil.com/)', async () => {
    const r = await raw(guarded, 'GET', `/x/..//evil.com/?token=${TOKEN}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/evil.com/');
    // A request target of //host reads as that host (its path '/'): no // either.
    for (const path of [`//evil.com/?token=${TOKEN}`, `/x/..//\\evil.com/?token=${TOKEN}`]) {
      const again = await raw(guarded, 'GET', path);
      expect(again.status, path).toBe(303);
      expect(String(again.headers.location), path).not.toMatch(/^[/\\]{2}/);
    }
    // An ordinary page keeps its path and query, less the token.
    const plain = await raw(guarded, 'GET', `/?token=${TOKEN}&a=1`);
    expect(plain.headers.location).toBe('/?a=1');
  });
});

describe('methods', () => {
  it('HEAD /api/events answers as GET does, without a stream (was 404)', async () => {
    const r = await raw(open, 'HEAD', '/api/events');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(r.body).toBe('');
    expect((await raw(open, 'HEAD', '/api/runs')).status).toBe(200);
  });

  it('a 405 names the methods the path takes in Allow', async () => {
    const cases: [string, string, string][] = [
      ['POST', '/api/events', 'GET, HEAD'],
      ['DELETE', '/api/runs', 'GET, HEAD'],
      ['GET', '/api/runs/x/resume', 'POST'],
      ['PUT', '/api/runs/x/cancel', 'POST'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await raw(open, method, path, { 'content-type': 'application/json' });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.allow, `${method} ${path}`).toBe(allow);
      expect(JSON.parse(r.body).error.code).toBe('METHOD_NOT_ALLOWED');
    }
  });
});

describe('a run whose id is "." or ".."', () => {
  it('is reached by an empty segment and ?run= (a URL drops the segment, %2E too)', async () => {
    // What the path would be: URL (and a browser) make /api/runs/%2E%2E/verify /api/verify.
    expect(new URL('/api/runs/%2E%2E/verify', 'http://x').pathname).toBe('/api/verify');
    for (const id of ['..', '.']) {
      const q = `run=${encodeURIComponent(id)}`;
      const run = await raw(open, 'GET', `/api/runs/?${q}`);
      expect(run.status, id).toBe(200);
      expect(JSON.parse(run.body).run).toMatchObject({ runId: id, status: 'completed' });
      const verify = await raw(open, 'GET', `/api/runs//verify?${q}`);
      expect(JSON.parse(verify.body)).toMatchObject({ runId: id, ok: true });
      const events = await raw(open, 'GET', `/api/runs//events?${q}&limit=1`);
      expect(JSON.parse(events.body).events[0]).toMatchObject({ runId: id, type: 'RunStarted' });
      const trace = await raw(open, 'GET', `/api/runs//trace?${q}`);
      expect(trace.status, id).toBe(200);
    }
    // Another id by ?run= reads that run; the list route is not taken for it.
    const other = await raw(open, 'GET', '/api/runs/?run=src-of-2-dots');
    expect(JSON.parse(other.body).run.runId).toBe('src-of-2-dots');
  });
});
