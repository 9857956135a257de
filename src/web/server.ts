/**
 * The web lens server: node:http, a JSON API over the read models, Server-Sent Events for live
 * runs, and the hand-written page in ./assets (ADR 0025: no framework, no build step, nothing
 * from a CDN). Bound to loopback unless a token guards it (ADR 0026).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ErrorCode, isEngineError } from '../errors.js';
import { apiRoutes } from './api.js';
import { authorize, checkBind, hostAllowed, sameOrigin } from './auth.js';
import { HttpError, SECURITY_HEADERS, sendError, sendJson } from './http.js';
import { LiveHub } from './live.js';
import type { LensBackend, LensServerOptions } from './types.js';

export type { LensBackend, LensServerOptions } from './types.js';

/** `src/web/assets`, from src/web (tests, tsx) and from dist/web (the package) alike. */
const ASSETS = fileURLToPath(new URL('../../src/web/assets/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(ASSETS)) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { type, body: readFileSync(join(ASSETS, name)) });
  }
  return assets;
}

const notAllowed = (method: string, allow: readonly string[]) =>
  new HttpError(
    405,
    'METHOD_NOT_ALLOWED',
    `${method} not allowed; this path takes ${allow.join(', ')}`,
    {},
    { allow: allow.join(', ') },
  );

/**
 * The API path a request names. A run whose id is `.` or `..` cannot be a path segment: a
 * browser (and URL) removes it, as `%2E` and `%2E%2E` too. The page names such a run with an
 * empty segment and `?run=` (`/api/runs//verify?run=..`), read here as its id (ADR 154).
 */
function runPath(url: URL): string {
  const run = url.searchParams.get('run');
  const p = url.pathname;
  if (run === null || !(p === '/api/runs/' || p.startsWith('/api/runs//'))) return p;
  return `/api/runs/${encodeURIComponent(run)}${p.slice('/api/runs/'.length)}`;
}

export interface LensServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Resolves once live updates follow the ledger's end. */
  readonly live: Promise<void>;
  close(): Promise<void>;
}

export async function createLensServer(
  backend: LensBackend,
  options: LensServerOptions = {},
): Promise<LensServer> {
  // `[::1]` as a URL writes it is the address ::1.
  const host = (options.host ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const token = options.token;
  checkBind(host, token);
  const assets = loadAssets();
  const router = apiRoutes(backend);
  const hub = new LiveHub(backend.ledger, (e) => backend.onBackgroundError?.('*', e));

  function serveAsset(res: ServerResponse, name: string, head: boolean): boolean {
    const a = assets.get(name);
    if (!a) return false;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': a.type,
      'content-length': a.body.length,
    });
    res.end(head ? undefined : a.body);
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://lens.invalid');
    const method = req.method ?? 'GET';
    const api = url.pathname.startsWith('/api/');
    if (!hostAllowed(host, req.headers.host)) {
      throw new HttpError(403, 'FORBIDDEN_HOST', 'this server answers only to a loopback host');
    }
    const verdict = authorize(req, url, token);
    if (verdict.kind === 'adopt') {
      res.writeHead(303, { location: verdict.location, 'set-cookie': verdict.cookie });
      res.end();
      return;
    }
    if (verdict.kind === 'denied') {
      if (api) throw new HttpError(401, 'UNAUTHORIZED', 'send Authorization: Bearer <token>');
      res.writeHead(401, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end('This web lens needs its token: open the URL that `flujo lens serve` printed.\n');
      return;
    }
    if (method !== 'GET' && method !== 'HEAD' && !sameOrigin(req)) {
      throw new HttpError(403, 'CROSS_ORIGIN', 'cross-origin writes are refused');
    }
    if (api && options.readOnly && method !== 'GET' && method !== 'HEAD') {
      throw new HttpError(
        403,
        'READ_ONLY',
        `this web lens is read-only: ${options.readOnly}. Answers and cancels need flujo lens serve run by one that may write`,
      );
    }
    if (url.pathname === '/api/events') {
      if (method === 'GET') hub.attach(res, url.searchParams.get('run'));
      else if (method === 'HEAD') hub.head(res);
      else throw notAllowed(method, ['GET', 'HEAD']);
      return;
    }
    if (api) {
      const path = runPath(url);
      const m = router.match(method, path);
      if (m === null) throw new HttpError(404, 'NOT_FOUND', `no API route ${url.pathname}`);
      if ('allow' in m) throw notAllowed(method, m.allow);
      sendJson(res, 200, await m.handler({ req, res, url, params: m.params }));
      return;
    }
    if (method === 'GET' || method === 'HEAD') {
      const name = url.pathname === '/' ? 'index.html' : url.pathname.replace(/^\/assets\//, '');
      if (
        (url.pathname === '/' || url.pathname.startsWith('/assets/')) &&
        serveAsset(res, name, method === 'HEAD')
      )
        return;
    }
    throw new HttpError(404, 'NOT_FOUND', `nothing at ${url.pathname}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) sendError(res, e);
      else if (isEngineError(e) && e.code === ErrorCode.RUN_NOT_FOUND)
        sendError(res, new HttpError(404, e.code, e.message));
      else {
        backend.onBackgroundError?.('*', e);
        const code = isEngineError(e) ? e.code : 'INTERNAL';
        sendError(res, new HttpError(500, code, (e as Error)?.message ?? String(e)));
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7878, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // An IPv6 address in brackets, as a URL writes it (`--host '[::1]'` comes without them).
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    host,
    port,
    live: hub.whenReady(),
    async close() {
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
