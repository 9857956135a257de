/**
 * Runs the built CLI on a pseudo-terminal (util-linux `script`), for what a person at a terminal
 * meets: prompts, Ctrl-C and Ctrl-D. stdout and stderr arrive merged, as on a terminal.
 */
import { spawn, spawnSync } from 'node:child_process';

import { CLI } from './cli.js';

/** Whether `script` is here to make a pseudo-terminal. */
export const hasScript = ((): boolean => {
  try {
    return spawnSync('script', ['--version']).status === 0;
  } catch {
    return false;
  }
})();

/**
 * `flujo ARGS` in `cwd` on a pseudo-terminal; once `prompt` shows, `keys` is typed (e.g. `y\r`,
 * `\x03` for Ctrl-C, `\x04` for Ctrl-D). Killed after 60 s.
 */
export function onTerminal(
  args: readonly string[],
  cwd: string,
  prompt: string,
  keys: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let output = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      if (!typed && output.includes(prompt)) {
        typed = true;
        child.stdin.write(keys);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
