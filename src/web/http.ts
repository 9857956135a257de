/**
 * The few HTTP pieces the web lens needs on top of node:http: a route table, JSON replies, a
 * bounded body reader and the security headers every response carries.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonText } from '../jsonText.js';

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** Headers the response carries besides the usual ones (a 405's `Allow`). */
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

/**
 * A percent-encoded piece of a request, decoded; malformed encoding (`%E0%A4%A`) is the client's
 * mistake, 400, where decodeURIComponent's URIError was answered 500 INTERNAL and logged.
 */
export function decodePart(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', `${what} is not valid percent-encoded UTF-8`);
  }
}

export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly params: readonly string[];
}

export type Handler = (ctx: RouteContext) => Promise<unknown>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** `:name` matches one path segment; its decoded value is passed in order in `params`. */
  on(method: string, path: string, handler: Handler): this {
    const pattern = new RegExp('^' + path.replace(/:[a-z]+/gi, '([^/]+)') + '$');
    this.routes.push({ method, pattern, handler });
    return this;
  }

  /**
   * The route for the method and path; `{ allow }` when the path has routes for other methods
   * only (a 405 names them in `Allow`); null when it has none.
   */
  match(
    method: string,
    pathname: string,
  ): { handler: Handler; params: string[] } | { allow: string[] } | null {
    const allow = new Set<string>();
    for (const r of this.routes) {
      const m = r.pattern.exec(pathname);
      if (!m) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) {
        allow.add(r.method);
        if (r.method === 'GET') allow.add('HEAD');
        continue;
      }
      return { handler: r.handler, params: m.slice(1).map((p) => decodePart(p, 'the path')) };
    }
    return allow.size > 0 ? { allow: [...allow] } : null;
  }
}

/** Same-origin scripts, styles and fetches only: an injected tag cannot run or phone home. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = jsonText(value) ?? 'null';
  res.writeHead(status, {
    ...headers,
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, { error: { code: e.code, message: e.message, ...e.details } }, e.headers);
}

const MAX_BODY = 1 << 20;

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  // A JSON content type cannot be sent cross-site without a CORS preflight we never grant.
  if (!/^application\/json\b/i.test(type)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'BODY_TOO_LARGE', 'the body exceeds 1 MiB');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (e) {
    throw new HttpError(400, 'BAD_JSON', `the body is not JSON: ${(e as Error).message}`);
  }
}

export function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new HttpError(400, 'BAD_QUERY', `${name} must be a non-negative integer, got ${raw}`);
  }
  return Math.min(n, max);
}
