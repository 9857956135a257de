/** Runs the built CLI (dist/) as a user would, capturing stdout, stderr and the exit code. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    input?: string | Buffer;
    uid?: number;
    gid?: number;
  },
): CliResult {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  delete env.FLUJO_STATE_URI;
  delete env.FLUJO_PROJECT_ROOT;
  // The caller's own values only: never the ones the test runner happens to have.
  for (const k of ['FLUJO_STATE_URI', 'FLUJO_PROJECT_ROOT'] as const)
    if (options.env?.[k]) env[k] = options.env[k];
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env,
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
    // Another user (root only): a file or folder that user may only read.
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The same, without blocking this process: a fake server living in the test process can answer
 * the child, and the test can signal it (`onStderr` sees stderr as it arrives).
 */
export function spawnCli(
  args: string[],
  options: {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    input?: string;
    onStderr?: (text: string, child: ChildProcess) => void;
  },
): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  delete env.FLUJO_STATE_URI;
  delete env.FLUJO_PROJECT_ROOT;
  delete env.FLUJO_INPUT;
  for (const k of ['FLUJO_STATE_URI', 'FLUJO_INPUT'] as const)
    if (options.env?.[k] !== undefined) env[k] = options.env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      options.onStderr?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A project folder `dir/name` holding `files` (paths relative to it; folders are made). */
export function writeProject(
  dir: string,
  name: string,
  files: Readonly<Record<string, string | Buffer>>,
): string {
  const p = join(dir, name);
  for (const [f, content] of Object.entries(files)) {
    const file = join(p, f);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return p;
}

/** The runs `flujo lens list --json` shows in the project at `cwd`. */
export const lensRuns = (cwd: string): unknown[] =>
  JSON.parse(runCli(['lens', 'list', '--json'], { cwd }).stdout || '[]') as unknown[];
