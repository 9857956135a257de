/**
 * `flujo init [--force] [--yes]`: scaffolds a project in the current folder (or --project).
 * Never overwrites without --force; asks for confirmation only on a terminal and without --yes.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';

import { ConfigError, ErrorCode, ExitCode } from '../../errors.js';
import type { Output } from '../output.js';
import { SCAFFOLD } from '../scaffold/files.js';

export interface InitFlags {
  readonly project?: string;
  readonly force?: boolean;
  readonly yes?: boolean;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [Y/n] `)).trim().toLowerCase();
    return answer === '' || answer === 'y' || answer === 'yes';
  } finally {
    rl.close();
  }
}

export async function init(flags: InitFlags, out: Output): Promise<number> {
  const root = resolve(process.cwd(), flags.project ?? '.');
  const existing = SCAFFOLD.filter((f) => existsSync(join(root, f.path))).map((f) => f.path);
  if (existing.length > 0 && !flags.force) {
    throw new ConfigError(
      ErrorCode.CONFIG_INVALID,
      `${root} already has ${existing.join(', ')}; nothing was written. Use --force to overwrite them`,
    );
  }
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  if (interactive && !flags.yes && !(await confirm(`Create a Flujo project in ${root}?`))) {
    out.info('nothing written');
    return ExitCode.ok;
  }
  for (const f of SCAFFOLD) {
    const file = join(root, f.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, f.text);
    out.info(`${existing.includes(f.path) ? 'overwrote' : 'created'} ${f.path}`);
  }
  out.info('');
  out.info('Next:');
  out.info('  flujo run --input "Ada"        # runs pipeline.yaml; it pauses for your approval');
  out.info('  flujo resume <run> --input \'{"approved": true}\'');
  out.info('  flujo lens show <run>          # what happened, step by step');
  return ExitCode.ok;
}
