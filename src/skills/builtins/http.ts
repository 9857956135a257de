/**
 * `flujo.builtins.http_get`: Flujo's `{status_code, headers, body}` GET, fenced in. Only http and
 * https; only hosts on the allow-list (`[settings] http_allowed_hosts`; empty allows none), and
 * every redirect hop is checked against it too, so an allowed host cannot bounce the call
 * elsewhere; a deadline over the whole exchange; a cap on the body size. Non-2xx statuses are
 * data, as in Flujo; transport failures and timeouts are retryable errors, refusals are not.
 */
import http from 'node:http';
import https from 'node:https';

import { EngineError, ErrorCode } from '../../errors.js';
import type { Skill } from '../types.js';

export interface HttpOptions {
  /** Hostnames (`api.example.com`), `*.example.com` for subdomains, or `*` for any host. */
  readonly allowedHosts?: readonly string[];
  /** Upper bound on any call's timeout (default 30 s, Flujo's default `timeout`). */
  readonly maxTimeoutMs?: number;
  /** Largest body accepted (default 5 MiB). */
  readonly maxResponseBytes?: number;
  /** Redirects followed (default 5). */
  readonly maxRedirects?: number;
}

export interface HttpResult {
  readonly status_code: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const ID = 'flujo.builtins.http_get';

export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return allowed.some((raw) => {
    const a = raw.trim().toLowerCase();
    if (a === '*') return true;
    if (a.startsWith('*.')) return h.endsWith(a.slice(1));
    return h === a;
  });
}

function refuse(code: ErrorCode, message: string, details: Record<string, unknown>): never {
  throw new EngineError(code, `${ID}: ${message}`, { retryable: false, details });
}

function checkUrl(raw: string, allowed: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    refuse(ErrorCode.SKILL_INPUT_INVALID, `'${raw}' is not a URL`, { url: raw });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    refuse(
      ErrorCode.SKILL_INPUT_INVALID,
      `only http and https URLs are fetched, not ${url.protocol}`,
      {
        url: raw,
      },
    );
  if (!hostAllowed(url.hostname, allowed)) {
    refuse(
      ErrorCode.SKILL_HTTP_HOST_NOT_ALLOWED,
      `host '${url.hostname}' is not allowed; add it to [settings] http_allowed_hosts in flujo.toml (allowed now: ${allowed.length ? allowed.join(', ') : 'none'})`,
      { host: url.hostname, configKey: 'settings.http_allowed_hosts' },
    );
  }
  return url;
}

interface Hop extends HttpResult {
  readonly location?: string;
}

function getOnce(url: URL, maxBytes: number, signal: AbortSignal): Promise<Hop> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<Hop>((resolve, reject) => {
    const req = lib.get(url, { signal, headers: { 'user-agent': 'flujo-ts' } }, (res) => {
      const declared = Number(res.headers['content-length'] ?? NaN);
      const tooLarge = () =>
        new EngineError(
          ErrorCode.SKILL_HTTP_TOO_LARGE,
          `${ID}: the response from ${url.host} is larger than the ${maxBytes}-byte cap`,
          { retryable: false, details: { url: url.href, maxBytes } },
        );
      if (declared > maxBytes) {
        res.destroy();
        return reject(tooLarge());
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          res.destroy();
          reject(tooLarge());
        } else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers))
          if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({
          status_code: res.statusCode ?? 0,
          headers,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(res.headers.location ? { location: res.headers.location } : {}),
        });
      });
    });
    req.on('error', reject);
  });
}

export async function httpGet(
  rawUrl: string,
  timeoutMs: number,
  opts: HttpOptions,
  outer: AbortSignal,
): Promise<HttpResult> {
  const allowed = opts.allowedHosts ?? [];
  let url = checkUrl(rawUrl, allowed);
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([outer, deadline]);
  try {
    for (let hop = 0; ; hop++) {
      const res = await getOnce(url, opts.maxResponseBytes ?? 5 * 1024 * 1024, signal);
      if (!res.location || res.status_code < 300 || res.status_code >= 400) {
        const { location: _l, ...result } = res;
        return result;
      }
      if (hop >= (opts.maxRedirects ?? 5))
        throw new EngineError(
          ErrorCode.SKILL_HTTP_FAILED,
          `${ID}: too many redirects from ${rawUrl}`,
          {
            retryable: false,
          },
        );
      url = checkUrl(new URL(res.location, url).href, allowed);
    }
  } catch (e) {
    if (e instanceof EngineError) throw e;
    if (deadline.aborted)
      throw new EngineError(
        ErrorCode.SKILL_HTTP_TIMEOUT,
        `${ID}: ${url.href} did not answer within ${timeoutMs} ms`,
        {
          retryable: true,
          details: { url: url.href, timeoutMs },
        },
      );
    throw new EngineError(
      ErrorCode.SKILL_HTTP_FAILED,
      `${ID}: GET ${url.href} failed: ${(e as Error).message}`,
      {
        retryable: true,
        cause: e,
      },
    );
  }
}

export function httpGetSkill(opts: HttpOptions): Skill {
  const cap = opts.maxTimeoutMs ?? 30_000;
  return {
    id: ID,
    description:
      'Fetches a URL with GET and returns {status_code, headers, body}; `timeout` in seconds (default 30). Only hosts listed in [settings] http_allowed_hosts are reachable.',
    kind: 'skill',
    sideEffects: false,
    source: 'builtin',
    args: { names: ['url', 'timeout'], primary: 'url' },
    inputSchema: {
      type: 'object',
      properties: { url: { type: 'string' }, timeout: { type: 'number', exclusiveMinimum: 0 } },
      required: ['url'],
    },
    outputSchema: {
      type: 'object',
      properties: {
        status_code: { type: 'integer' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: { type: 'string' },
      },
      required: ['status_code', 'headers', 'body'],
    },
    run: (a, _p, ctx) => {
      const { url, timeout = 30 } = a as { url: string; timeout?: number };
      return httpGet(url, Math.min(timeout * 1000, cap), opts, ctx.signal);
    },
  };
}
