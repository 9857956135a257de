/**
 * Who may talk to the web lens. On a loopback address the machine's own users are trusted, as
 * with `flujo lens` on the same ledger; anywhere else a token is required (ADR 0026). The token
 * comes as `Authorization: Bearer`, or once as `?token=` on a page load, which is swapped for an
 * HttpOnly SameSite=Strict cookie and dropped from the address bar.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { EngineError, ErrorCode, ExitCode } from '../errors.js';

export const COOKIE = 'flujo_lens_token';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** The library refuses what the CLI would never do: an open, unauthenticated network bind. */
export function checkBind(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new EngineError(
      ErrorCode.USAGE,
      `refusing to serve the web lens on ${host} without a token: anyone who can reach it could read every run and answer paused ones; pass --token (or FLUJO_LENS_TOKEN), or bind 127.0.0.1`,
      { exitCode: ExitCode.config },
    );
  }
  if (token !== undefined && token.length < 16) {
    throw new EngineError(
      ErrorCode.USAGE,
      'the web lens token must be at least 16 characters; omit it to get a random one',
      { exitCode: ExitCode.config },
    );
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time comparison: equal-length digests, so length leaks nothing either. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  return given !== undefined && timingSafeEqual(digest(expected), digest(given));
}

/**
 * The token the cookie holds. One that is not valid percent-encoding (`%E0`) was never set by
 * this server: it is no token, so the request is asked for one (401) or adopts a `?token=`,
 * where decodeURIComponent's URIError was answered 500 INTERNAL.
 */
function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== COOKIE) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      continue;
    }
  }
  return undefined;
}

function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1]?.trim();
}

export type AuthVerdict =
  | { readonly kind: 'ok' }
  /** The token was in the query of a page load: set the cookie and redirect to `location`. */
  | { readonly kind: 'adopt'; readonly location: string; readonly cookie: string }
  | { readonly kind: 'denied' };

export function authorize(req: IncomingMessage, url: URL, token: string | undefined): AuthVerdict {
  if (!token) return { kind: 'ok' };
  if (tokenMatches(token, bearerToken(req)) || tokenMatches(token, cookieToken(req))) {
    return { kind: 'ok' };
  }
  const query = url.searchParams.get('token') ?? undefined;
  if (!tokenMatches(token, query)) return { kind: 'denied' };
  if (req.method !== 'GET' || url.pathname.startsWith('/api/')) return { kind: 'ok' };
  const clean = new URL(url);
  clean.searchParams.delete('token');
  return {
    kind: 'adopt',
    // Never `//host` (or `/\host`): a browser reads that as another site. `/x/..//evil.com/`
    // normalises to the path `//evil.com/`, and the redirect went there.
    location: clean.pathname.replace(/^[/\\]+/, '/') + clean.search,
    cookie: `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
  };
}

/**
 * DNS rebinding: a page from evil.example re-resolved to 127.0.0.1 reaches a loopback server with
 * its own Host header. A loopback bind answers only to loopback host names.
 */
export function hostAllowed(bindHost: string, hostHeader: string | undefined): boolean {
  if (!isLoopback(bindHost)) return true;
  if (!hostHeader) return false;
  const name = hostHeader.startsWith('[')
    ? hostHeader.slice(0, hostHeader.indexOf(']') + 1)
    : hostHeader.replace(/:\d+$/, '');
  return isLoopback(name);
}

/** Writes must come from our own pages: a browser always sends Origin on a cross-site POST. */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
