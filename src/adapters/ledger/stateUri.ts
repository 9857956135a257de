/**
 * State URIs, as Flujo spells them:
 *   sqlite:///relative/path.db    relative to the project root
 *   sqlite:////absolute/path.db   absolute
 *   postgresql://… | postgres://… a Postgres database; `?schema=NAME` picks a schema (default public)
 *   memory://                     nothing kept
 * Default `.flujo/state.db` under the project root; FLUJO_STATE_URI overrides the configured one.
 */
import { isAbsolute, resolve } from 'node:path';

import { ConfigError, ErrorCode } from '../../errors.js';

export type StateLocation =
  | { readonly kind: 'memory' }
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly connectionString: string; readonly schema: string };

export const DEFAULT_STATE_PATH = '.flujo/state.db';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function parseStateUri(uri: string, projectRoot: string): StateLocation {
  const bad = (why: string): never => {
    throw new ConfigError(
      ErrorCode.CONFIG_STATE_URI,
      `unusable state URI ${JSON.stringify(redactUri(uri))}: ${why}. Use sqlite:///relative.db, sqlite:////absolute.db, postgresql://… or memory://`,
      { uri: redactUri(uri) },
    );
  };
  if (uri === 'memory://' || uri === 'memory:') return { kind: 'memory' };
  if (uri.startsWith('sqlite://')) {
    const rest = uri.slice('sqlite://'.length);
    if (rest.length > 0 && !rest.startsWith('/'))
      // sqlite://x.db: read as a host, not a file; the project-relative file was meant.
      return bad(
        `a SQLite URI has three slashes before a path in the project: write ${sqliteFor(rest)}`,
      );
    if (rest.length < 2) return bad('a SQLite URI needs a path after sqlite:///');
    // Not read as options: the file would be named with them (x.db?mode=ro).
    const extra = /[?#]/.exec(rest);
    if (extra)
      return bad(
        `a SQLite URI takes no ${extra[0] === '?' ? 'query string' : 'fragment'} (${JSON.stringify(rest.slice(extra.index))} is not supported; options such as ?mode=ro are not read); name the file only, writing a ? or # in its name as %3F or %23`,
      );
    let raw: string;
    try {
      raw = decodeURIComponent(rest.slice(1));
    } catch {
      return bad('the path has a % not followed by two hex digits; write % itself as %25');
    }
    // Escaped in the message: a NUL or newline would be printed as it is.
    const control = /\p{Cc}/u.exec(raw);
    if (control) return bad(`the path holds the control character ${JSON.stringify(control[0])}`);
    const path = raw.startsWith('/') ? raw : resolve(projectRoot, raw);
    if (raw.endsWith('/')) return bad('the path names a folder, not a database file');
    return { kind: 'sqlite', path };
  }
  if (uri.startsWith('postgresql://') || uri.startsWith('postgres://')) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return bad('not a valid URL');
    }
    const schema = url.searchParams.get('schema') ?? 'public';
    if (!SCHEMA_NAME.test(schema))
      return bad(`schema ${JSON.stringify(schema)} is not a plain lower-case identifier`);
    url.searchParams.delete('schema');
    return { kind: 'postgres', connectionString: url.toString(), schema };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1];
  if (scheme === undefined) {
    if (isAbsolute(uri) || uri.endsWith('.db'))
      return bad(`a bare path is not a URI; write ${sqliteFor(uri)}`);
    return bad('it names no scheme');
  }
  return bad(schemeProblem(uri, scheme));
}

/** The SQLite URI naming `path` as parseStateUri reads it: relative to the root, or absolute. */
const sqliteFor = (path: string): string => `sqlite:///${path}`;

/** What is wrong with a URI whose scheme is `scheme` (not one parseStateUri reads as written). */
function schemeProblem(uri: string, scheme: string): string {
  const rest = uri.slice(scheme.length + 1);
  const lower = scheme.toLowerCase();
  const base = lower.split('+')[0] as string;
  if (lower !== scheme && ['sqlite', 'memory', 'postgresql', 'postgres'].includes(lower))
    return `write the scheme in lower case: ${redactUri(`${lower}:${rest}`)}`;
  if (lower !== base && ['sqlite', 'postgresql', 'postgres'].includes(base))
    // SQLAlchemy's sqlite+aiosqlite://, postgresql+psycopg://: the driver is Flujo's own.
    return `the driver is not named here (${JSON.stringify(lower.slice(base.length))}): write ${redactUri(`${base}:${rest}`)}`;
  if (base === 'memory')
    return 'memory:// takes nothing after it (the run is kept in this process only): write memory:// alone';
  if (base === 'sqlite') {
    // sqlite:/x.db, sqlite:x.db: the slashes of sqlite:/// are missing.
    const path = rest.replace(/^\/+/, '/');
    return path.startsWith('/')
      ? `a SQLite URI is sqlite:/// followed by a path in the project or by an absolute path: write ${sqliteFor(path)} for the file ${path}, or ${sqliteFor(path.slice(1))} for ${path.slice(1)} in the project`
      : `a SQLite URI is sqlite:/// then a path in the project: write ${sqliteFor(path)}`;
  }
  if (base === 'file') {
    // file:///tmp/x.db, file:x.db (a host, as in file://host/x.db, is dropped).
    const path = rest.replace(/^\/\/[^/]*/, '');
    return path
      ? `a file: URI is not read; write the SQLite URI ${sqliteFor(path)}`
      : 'a file: URI is not read; write sqlite:///relative.db or sqlite:////absolute.db';
  }
  return `unknown scheme ${JSON.stringify(`${scheme}:`)}; Flujo records to SQLite, Postgres or memory`;
}

/** The state URI in force: FLUJO_STATE_URI, then the configured one, then the default. */
export function resolveStateUri(
  configured: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return env.FLUJO_STATE_URI || configured || `sqlite:///${DEFAULT_STATE_PATH}`;
}

/** Connection failures that mean the state URI cannot be used (exit 2), not a runtime fault. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);
const UNUSABLE_SQLSTATE = new Set(['28P01', '28000', '3D000']); // bad password, no role, no database
const INSUFFICIENT_PRIVILEGE = '42501';

/** `e` and its causes, in order (a cycle ends the walk). */
function* causes(e: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  for (let c: unknown = e; c && !seen.has(c); c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    yield c;
  }
}

/**
 * SQLSTATE 42501 (insufficient privilege): the role may not read a table of the ledger (granted
 * SELECT before the table was made or remade, or never) or may not write one. A configuration
 * error that names the state (`where`: a redacted URI, or the schema), the table, and what the
 * role needs, not a fault in Flujo (ADR 94); undefined when `e` is not that.
 */
export function privilegeRefused(
  where: string,
  e: unknown,
  access: 'read' | 'write',
): ConfigError | undefined {
  for (const c of causes(e)) {
    if ((c as { code?: unknown }).code !== INSUFFICIENT_PRIVILEGE) continue;
    const why = (c as Error).message;
    return access === 'read'
      ? new ConfigError(
          ErrorCode.CONFIG_STATE_URI,
          `the role in ${where} may not read the ledger: ${why}. Reading needs USAGE on the ledger's schema and SELECT on every table in it (GRANT SELECT ON ALL TABLES IN SCHEMA …; docs/ledger.md, "Database roles and read-only files")`,
          { where, reason: INSUFFICIENT_PRIVILEGE },
        )
      : // A role granted only SELECT reads with `lens list`, `show`, `costs`, `trace`, `verify`
        // (ADR 94); recording or rebuilding needs one that may write the schema's tables.
        new ConfigError(
          ErrorCode.CONFIG_STATE_URI,
          `the role in ${where} may not write the ledger's tables, which this command needs: ${why}. Use a role that may (docs/ledger.md, "Database roles and read-only files"); the lens commands that only read need SELECT alone`,
          { where, reason: INSUFFICIENT_PRIVILEGE, readOnly: true },
        );
  }
  return undefined;
}

/**
 * Opening a Postgres ledger failed: a ConfigError when the URI itself is unusable or its role
 * lacks a privilege (`access`: what the command does), else `e`.
 */
export function unusablePostgres(
  uri: string,
  e: unknown,
  access: 'read' | 'write' = 'write',
): unknown {
  const refused = privilegeRefused(redactUri(uri), e, access);
  if (refused) return refused;
  for (const c of causes(e)) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && (UNREACHABLE.has(code) || UNUSABLE_SQLSTATE.has(code))) {
      return new ConfigError(
        ErrorCode.CONFIG_STATE_URI,
        `cannot use the Postgres ledger at ${redactUri(uri)}: ${(c as Error).message || code}. Check the URI (host, port, database, user) and that the server is running`,
        { uri: redactUri(uri), reason: code },
      );
    }
  }
  return e;
}

/**
 * Hides a password in a URI before it is shown or logged. A URI with nothing to hide is returned
 * as written: a SQLite URI names a file the way parseStateUri reads it (`sqlite:///../x.db` is
 * one folder up, `%20` a space), which URL normalisation would change (`sqlite:///x.db`).
 */
export function redactUri(uri: string): string {
  if (/^(sqlite|memory):/i.test(uri)) return uri;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    // Not a URL: hide anything between `:` and `@` in the authority, to be safe.
    return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
  }
  let hidden = false;
  if (url.password) {
    url.password = '***';
    hidden = true;
  }
  for (const k of [...url.searchParams.keys()]) {
    if (/pass|secret|token|key/i.test(k)) {
      url.searchParams.set(k, '***');
      hidden = true;
    }
  }
  return hidden ? url.toString() : uri;
}
