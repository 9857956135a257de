import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../../src/errors.js';
import {
  parseStateUri,
  redactUri,
  resolveStateUri,
} from '../../../src/adapters/ledger/stateUri.js';

const ROOT = '/home/me/project';

describe('state URIs', () => {
  it('resolves sqlite:/// relative to the project root', () => {
    expect(parseStateUri('sqlite:///.flujo/state.db', ROOT)).toEqual({
      kind: 'sqlite',
      path: '/home/me/project/.flujo/state.db',
    });
    expect(parseStateUri('sqlite:///data/x.db', ROOT)).toEqual({
      kind: 'sqlite',
      path: '/home/me/project/data/x.db',
    });
  });

  it('refuses a query string or fragment on a SQLite URI, naming it, rather than a file named with it', () => {
    for (const [uri, part] of [
      ['sqlite:///x.db?mode=ro', 'query string ("?mode=ro"'],
      ['sqlite:////abs/x.db#frag', 'fragment ("#frag"'],
    ] as const) {
      expect(() => parseStateUri(uri, ROOT)).toThrow(ConfigError);
      expect(() => parseStateUri(uri, ROOT)).toThrow(part);
    }
    // A ? in a file name, escaped, is still that file.
    expect(parseStateUri('sqlite:///what%3F.db', ROOT)).toEqual({
      kind: 'sqlite',
      path: '/home/me/project/what?.db',
    });
  });

  it('refuses a control character or a bad %-escape in a SQLite path, printing neither raw', () => {
    let message = '';
    try {
      parseStateUri('sqlite:///%00', ROOT);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('the control character "\\u0000"');
    expect(message).not.toMatch(/\p{Cc}/u);
    expect(() => parseStateUri('sqlite:///a%0Ab.db', ROOT)).toThrow('control character');
    expect(() => parseStateUri('sqlite:///%E0%A4%A', ROOT)).toThrow(ConfigError);
  });

  it('takes sqlite://// as an absolute path', () => {
    expect(parseStateUri('sqlite:////var/lib/flujo/state.db', ROOT)).toEqual({
      kind: 'sqlite',
      path: '/var/lib/flujo/state.db',
    });
  });

  it('reads postgres URIs with an optional schema and keeps the rest for pg', () => {
    expect(
      parseStateUri('postgresql://u:p@db:5432/flujo?schema=tenant_a&sslmode=require', ROOT),
    ).toEqual({
      kind: 'postgres',
      connectionString: 'postgresql://u:p@db:5432/flujo?sslmode=require',
      schema: 'tenant_a',
    });
    expect(parseStateUri('postgres://db/flujo', ROOT)).toMatchObject({
      kind: 'postgres',
      schema: 'public',
    });
  });

  it('accepts memory://', () => {
    expect(parseStateUri('memory://', ROOT)).toEqual({ kind: 'memory' });
  });

  it.each([
    ['sqlite://', /needs a path/],
    ['sqlite:///dir/', /folder/],
    ['mysql://x/y', /unknown scheme/],
    ['/var/state.db', /bare path/],
    ['postgresql://db/x?schema=Robert%27);DROP', /schema/],
  ])('refuses %s as a config error that says what to write', (uri, why) => {
    let err: unknown;
    try {
      parseStateUri(uri, ROOT);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).toMatch(/sqlite:\/\/\/relative\.db/);
  });

  it.each([
    // The fix written was the URI itself behind sqlite:/// (QA L9).
    ['sqlite:/x.db', ['write sqlite:////x.db for the file /x.db', 'sqlite:///x.db for x.db']],
    ['sqlite:x.db', ['write sqlite:///x.db']],
    ['sqlite://x.db', ['three slashes', 'write sqlite:///x.db']],
    ['file:///tmp/x.db', ['a file: URI is not read', 'write the SQLite URI sqlite:////tmp/x.db']],
    ['file:x.db', ['write the SQLite URI sqlite:///x.db']],
    ['memory://foo', ['memory:// takes nothing after it', 'write memory:// alone']],
    ['MEMORY://', ['lower case: memory://']],
    ['sqlite+aiosqlite:///x.db', ['driver is not named here', 'write sqlite:///x.db']],
    ['mysql://x/y', ['unknown scheme "mysql:"', 'SQLite, Postgres or memory']],
    ['/var/state.db', ['write sqlite:////var/state.db']],
    ['state.db', ['write sqlite:///state.db']],
  ])('says what to write instead of %s', (uri, says) => {
    let message = '';
    try {
      parseStateUri(uri, ROOT);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    for (const s of says) expect(message).toContain(s);
    // A URI's scheme is never kept behind sqlite:/// (sqlite:///file:///tmp/x.db).
    if (/^[a-z+]+:/i.test(uri)) expect(message).not.toContain(`sqlite:///${uri}`);
  });

  it('names no password in the fix it suggests', () => {
    let message = '';
    try {
      parseStateUri('postgresql+psycopg://flujo:s3cret@db/x', ROOT);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('write postgresql://flujo:***@db/x');
    expect(message).not.toContain('s3cret');
  });

  it('never shows a password', () => {
    expect(redactUri('postgresql://flujo:s3cret@db/x')).toBe('postgresql://flujo:***@db/x');
    let msg = '';
    try {
      parseStateUri('postgresql://flujo:s3cret@db/x?schema=BAD-NAME', ROOT);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('***');
    expect(msg).not.toContain('s3cret');
  });

  it('lets FLUJO_STATE_URI override the configured URI, which overrides the default', () => {
    expect(resolveStateUri(undefined, {})).toBe('sqlite:///.flujo/state.db');
    expect(resolveStateUri('memory://', {})).toBe('memory://');
    expect(resolveStateUri('memory://', { FLUJO_STATE_URI: 'sqlite:////tmp/x.db' })).toBe(
      'sqlite:////tmp/x.db',
    );
  });
});

describe('redactUri', () => {
  it('hides passwords in the authority and in query parameters', () => {
    expect(redactUri('postgresql://u:hunter2@h/db')).toBe('postgresql://u:***@h/db');
    expect(redactUri('postgresql://:hunter2@h/db')).toBe('postgresql://:***@h/db');
    expect(redactUri('postgresql://h/db?password=hunter2&schema=x')).toBe(
      'postgresql://h/db?password=***&schema=x',
    );
    expect(redactUri('postgresql://h/db?sslpassword=a&apikey=b')).not.toMatch(/=a|=b/);
    expect(redactUri('sqlite:///.flujo/state.db')).toBe('sqlite:///.flujo/state.db');
  });

  it('returns a URI with nothing to hide as written: the file it names is the file used', () => {
    // Normalised by URL, these named another file than the one parseStateUri opens.
    for (const uri of [
      'sqlite:///../outside.db',
      'sqlite:///sub/../../../escape.db',
      'sqlite:///dir with spaces/s.db',
      'sqlite:///dir%20x/s.db',
      'sqlite:////abs/./x.db',
      'postgresql://u@h:5432/db?schema=a',
      'postgresql://h/a/../db',
      'memory://',
    ])
      expect(redactUri(uri)).toBe(uri);
    expect(parseStateUri('sqlite:///../outside.db', '/p/root')).toEqual({
      kind: 'sqlite',
      path: '/p/outside.db',
    });
  });
});
