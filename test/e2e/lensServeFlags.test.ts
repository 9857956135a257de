/**
 * `flujo lens serve`'s --host and --port, and a project with no state file, from the built CLI
 * (QA of abb6e62). A host the server cannot bind is a usage error naming what to pass (exit 2);
 * it was `internal error … a bug in Flujo` (exit 1) for `[::1]`, `999.1.1.1`, `localhost:80` and
 * an address of another machine, and `--host ''` bound every interface, printing `http://:7878/`.
 * `[::1]` is the address ::1, printed in brackets. --port takes decimal digits only (`''` was a
 * random port, `0x10` 16, `1e3` 1000). With no state file serve exits 2 naming it and creates
 * nothing (it created an empty .flujo/state.db and served it; ADR 155).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listenRefusal } from '../../src/cli/commands/lensServeAddress.js';
import { CLI, runCli } from './cli.js';

let project: string;
let empty: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'flujo-serve-flags-'));
  empty = mkdtempSync(join(tmpdir(), 'flujo-serve-empty-'));
  expect(runCli(['init'], { cwd: project }).code).toBe(0);
  expect(runCli(['run', '--input', 'Ada'], { cwd: project }).code).toBe(0);
});
afterAll(() => {
  rmSync(project, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

const serve = (cwd: string, ...args: string[]) =>
  runCli(['lens', 'serve', '--token', 'a-token-of-24-characters', ...args], { cwd });

describe('lens serve --host', () => {
  it.each([
    ['', '--host is empty: pass an address to bind, e.g. --host 127.0.0.1'],
    [' ', '--host is empty'],
    ['localhost:80', '--host "localhost:80" holds a port: pass --host localhost --port 80'],
    ['[::1]:8080', '--host "[::1]:8080" holds a port: pass --host [::1] --port 8080'],
    ['999.1.1.1', '--host "999.1.1.1" is not an IPv4 address (each part is 0–255)'],
    ['[127.0.0.1]', 'brackets are for an IPv6 address (as [::1]); pass --host 127.0.0.1'],
    ['http://example.com/', 'is not an address or host name (no scheme, port or path)'],
    // TEST-NET-1 (RFC 5737): never an address of this machine.
    ['192.0.2.1', '--host 192.0.2.1 is not an address of this machine'],
    // .invalid never resolves (RFC 2606).
    ['no-such-host.invalid', '--host no-such-host.invalid does not resolve to an address'],
  ])('%j is refused as USAGE, exit 2', (host, says) => {
    const r = serve(project, '--port', '0', '--host', host);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('error: [USAGE] ');
    expect(r.stderr).toContain(says);
    expect(r.stderr).not.toContain('a bug in Flujo');
  });

  it('takes [::1] as ::1 and prints the URL with brackets', async () => {
    const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete e.FLUJO_STATE_URI;
    delete e.FLUJO_PROJECT_ROOT;
    delete e.FLUJO_LENS_TOKEN;
    const child = spawn(
      process.execPath,
      [CLI, 'lens', 'serve', '--port', '0', '--host', '[::1]'],
      {
        cwd: project,
        env: e,
      },
    );
    const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /flujo lens: (\S+)/.exec(err);
        if (m?.[1]) resolve(m[1]);
      });
      void exit.then((code) => reject(new Error(`lens serve exited ${code}: ${err}`)));
    });
    expect(url).toMatch(/^http:\/\/\[::1\]:\d+\/$/);
    const runs = (await (await fetch(`${url}api/runs`)).json()) as { runs: unknown[] };
    expect(runs.runs).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exit).toBe(0);
  });
});

describe('lens serve --port', () => {
  it.each(['', '0x10', '1e3', '65536', '-1', '1.5', ' 80'])('%j is refused, exit 2', (port) => {
    const r = serve(project, '--port', port);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `error: [USAGE] --port must be 0–65535 in decimal digits (0 picks a free port), got ${JSON.stringify(port)}`,
    );
  });
});

describe('lens serve with no state file (ADR 155)', () => {
  it('exits 2 naming the file, and creates nothing', () => {
    const r = serve(empty, '--port', '0');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(
      `error: [CONFIG_STATE_URI] there is no state file at ${join(empty, '.flujo', 'state.db')}: no run has been recorded there`,
    );
    expect(r.stderr).toContain('Run a pipeline first (flujo run)');
    expect(r.stderr).toContain('nothing was created');
    expect(readdirSync(empty)).toEqual([]);
  });

  it('a mistyped --state-uri is refused, not served as a new, empty ledger', () => {
    const r = serve(project, '--port', '0', '--state-uri', 'sqlite:///.flujo/stat.db');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`there is no state file at ${join(project, '.flujo', 'stat.db')}`);
    expect(existsSync(join(project, '.flujo', 'stat.db'))).toBe(false);
  });
});

describe('a listen that fails', () => {
  it('names what to pass for each errno (EACCES cannot be met as root)', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(listenRefusal(err('EACCES'), '127.0.0.1', 80)?.message).toBe(
      '[USAGE] this user may not listen on 127.0.0.1:80 (ports below 1024 need privileges); pass --port 1024 or above, or --port 0 for a free one',
    );
    expect(listenRefusal(err('EADDRINUSE'), '::1', 7878)?.message).toBe(
      '[USAGE] port 7878 on ::1 is in use; pass --port (0 picks a free one)',
    );
    expect(listenRefusal(err('EAI_AGAIN'), 'h.example', 7878)?.exitCode).toBe(2);
    expect(listenRefusal(err('EMFILE'), 'h', 1)).toBeUndefined();
  });
});
