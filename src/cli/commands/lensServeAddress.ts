/**
 * `lens serve`'s --port and --host, checked before the state is opened, and what a failed listen
 * says: a flag the server cannot bind is a usage error naming what to pass (exit 2), not an
 * internal error (QA: `--host '[::1]'`, `999.1.1.1`, `localhost:80` and an address of another
 * machine all ended in "a bug in Flujo").
 */
import { isIP } from 'node:net';

import { EngineError, ErrorCode, ExitCode } from '../../errors.js';

const usage = (message: string) =>
  new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });

const EXAMPLE = 'e.g. --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)';

/**
 * --port: a whole number 0–65535 written in decimal digits (0 picks a free port). Number() read
 * `''` as 0 (a random port), `0x10` as 16 and `1e3` as 1000.
 */
export function portOf(raw: string | undefined): number {
  if (raw === undefined) return 7878;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 0 && n <= 65535))
    throw usage(
      `--port must be 0–65535 in decimal digits (0 picks a free port), got ${JSON.stringify(raw)}`,
    );
  return n;
}

/**
 * --host as listen() takes it: an IPv6 address may come in brackets, as a URL writes it
 * (`[::1]`). Refused: an empty one (it bound every interface and printed `http://:7878/`), a
 * `host:port` (the port is --port's), a URL, and a dotted quad that is no IPv4 address.
 */
export function hostOf(raw: string | undefined): string {
  if (raw === undefined) return '127.0.0.1';
  const shown = JSON.stringify(raw);
  if (raw.trim() === '') throw usage(`--host is empty: pass an address to bind, ${EXAMPLE}`);
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(raw);
  if (bracketed) {
    const [, inner = '', port] = bracketed;
    if (isIP(inner) !== 6)
      throw usage(
        `--host ${shown}: brackets are for an IPv6 address (as [::1]); ${inner.trim() ? `pass --host ${inner}` : EXAMPLE}`,
      );
    if (port !== undefined)
      throw usage(`--host ${shown} holds a port: pass --host [${inner}] --port ${port}`);
    return inner;
  }
  if (isIP(raw) !== 0) return raw;
  const hostPort = /^([^:]+):(\d+)$/.exec(raw);
  if (hostPort)
    throw usage(`--host ${shown} holds a port: pass --host ${hostPort[1]} --port ${hostPort[2]}`);
  if (/^\d+(\.\d+){3}$/.test(raw))
    throw usage(`--host ${shown} is not an IPv4 address (each part is 0–255); ${EXAMPLE}`);
  // A host name: letters, digits, dots, hyphens (and underscores some resolvers take).
  if (!/^[\w.-]+$/.test(raw))
    throw usage(
      `--host ${shown} is not an address or host name (no scheme, port or path); ${EXAMPLE}`,
    );
  return raw;
}

/** An address as a URL writes it: an IPv6 one in brackets. */
export const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * Why the server could not listen on host:port, as a usage error naming what to pass; undefined
 * for an error that is not about the address (it stays what it is).
 */
export function listenRefusal(e: unknown, host: string, port: number): EngineError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const at = `${urlHost(host)}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return usage(`port ${port} on ${host} is in use; pass --port (0 picks a free one)`);
    case 'EADDRNOTAVAIL':
      return usage(
        `--host ${host} is not an address of this machine, so nothing can listen on it; pass one of its addresses, ${EXAMPLE}`,
      );
    case 'EACCES':
    case 'EPERM':
      return usage(
        `this user may not listen on ${at}${port > 0 && port < 1024 ? ' (ports below 1024 need privileges)' : ''}; pass --port 1024 or above, or --port 0 for a free one`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
      return usage(
        `--host ${host} does not resolve to an address (${code}); pass an IP address or a host name this machine resolves, ${EXAMPLE}`,
      );
    case 'EAFNOSUPPORT':
      return usage(
        `--host ${host}: this machine does not support its address family (IPv6 off?); ${EXAMPLE}`,
      );
    case 'EINVAL':
      return usage(`cannot listen on ${at} (${code}); check --host and --port, ${EXAMPLE}`);
    default:
      return undefined;
  }
}
