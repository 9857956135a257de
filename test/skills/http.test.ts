import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSkillAgents } from '../../src/skills/agents.js';
import { hostAllowed } from '../../src/skills/builtins/http.js';
import { createSkillRegistry } from '../../src/skills/registry.js';
import type { HttpOptions } from '../../src/skills/builtins/http.js';
import { callSkill, out } from './support.js';

const ID = 'flujo.builtins.http_get';
let server: Server;
let base = '';
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits += 1;
    if (req.url === '/json') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-n': '1' });
      res.end('{"ok":true}');
    } else if (req.url === '/missing') {
      res.writeHead(404);
      res.end('nope');
    } else if (req.url === '/big') {
      res.writeHead(200); // no content-length: the cap must hold while streaming
      for (let i = 0; i < 64; i++) res.write('x'.repeat(1024));
      res.end();
    } else if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 2_000).unref();
    } else if (req.url === '/hop') {
      res.writeHead(302, { location: '/json' });
      res.end();
    } else if (req.url === '/away') {
      res.writeHead(302, { location: 'http://localhost:1/steal' });
      res.end();
    } else res.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const port = (http: HttpOptions) => createSkillAgents(createSkillRegistry({ http }));
const allowed = port({ allowedHosts: ['127.0.0.1'] });

describe('http_get', () => {
  it("fetches an allowed host and returns Flujo's {status_code, headers, body}", async () => {
    const r = (await out(callSkill(allowed, ID, null, { url: `${base}/json` }))) as {
      status_code: number;
      headers: Record<string, string>;
      body: string;
    };
    expect(r.status_code).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-n']).toBe('1');
    expect(r.body).toBe('{"ok":true}');
  });

  it('takes the url from the step input, and reports a 404 as data', async () => {
    expect(await out(callSkill(allowed, ID, `${base}/missing`))).toMatchObject({
      status_code: 404,
      body: 'nope',
    });
  });

  it('refuses a host that is not allowed, naming it and the setting, before any request', async () => {
    const before = hits;
    const none = port({});
    await expect(callSkill(none, ID, `${base}/json`)).rejects.toMatchObject({
      code: 'SKILL_HTTP_HOST_NOT_ALLOWED',
      retryable: false,
      message: expect.stringMatching(
        /host '127\.0\.0\.1' is not allowed; add it to \[settings\] http_allowed_hosts .*allowed now: none/,
      ),
    });
    const other = port({ allowedHosts: ['api.example.com'] });
    await expect(callSkill(other, ID, `${base}/json`)).rejects.toThrow(
      /allowed now: api\.example\.com/,
    );
    expect(hits).toBe(before);
  });

  it('follows redirects on allowed hosts and refuses one that leaves them', async () => {
    expect(await out(callSkill(allowed, ID, `${base}/hop`))).toMatchObject({ body: '{"ok":true}' });
    await expect(callSkill(allowed, ID, `${base}/away`)).rejects.toThrow(
      /SKILL_HTTP_HOST_NOT_ALLOWED.*'localhost'/,
    );
  });

  it('stops reading at the size cap', async () => {
    const small = port({ allowedHosts: ['127.0.0.1'], maxResponseBytes: 10_000 });
    await expect(callSkill(small, ID, `${base}/big`)).rejects.toMatchObject({
      code: 'SKILL_HTTP_TOO_LARGE',
      retryable: false,
    });
    expect(await out(callSkill(allowed, ID, `${base}/big`))).toMatchObject({ status_code: 200 });
  });

  it('times out after `timeout` seconds as a retryable failure', async () => {
    const started = Date.now();
    await expect(
      callSkill(allowed, ID, null, { url: `${base}/slow`, timeout: 0.2 }),
    ).rejects.toMatchObject({ code: 'SKILL_HTTP_TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('fetches only http and https', async () => {
    const any = port({ allowedHosts: ['*'] });
    await expect(callSkill(any, ID, 'file:///etc/passwd')).rejects.toThrow(
      /only http and https URLs are fetched, not file:/,
    );
  });

  it('matches exact hosts, *.subdomains and *', () => {
    expect(hostAllowed('API.example.com', ['api.example.com'])).toBe(true);
    expect(hostAllowed('a.example.com', ['*.example.com'])).toBe(true);
    expect(hostAllowed('example.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('evilexample.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('anything', ['*'])).toBe(true);
    expect(hostAllowed('anything', [])).toBe(false);
  });
});
