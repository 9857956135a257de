/**
 * What the fleet tests share: a `flujo worker` child process of the built CLI whose JSON log lines
 * are kept for assertions, and a poll that waits for a condition with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import { CLI } from '../e2e/cli.js';

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly logs: () => Record<string, unknown>[];
  readonly exited: Promise<number | null>;
}

/** `flujo worker ARGS` in `cwd` with `env` (FLUJO_PROJECT_ROOT removed); stderr's JSON lines kept. */
export function spawnWorker(
  args: readonly string[],
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv },
): WorkerProcess {
  const env = { ...options.env };
  delete env.FLUJO_PROJECT_ROOT;
  const child = spawn(process.execPath, [CLI, 'worker', ...args], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (text += s));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child,
    exited,
    logs: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Polls `probe` every `everyMs` until it gives a value (not undefined or false); throws at the deadline. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
