/**
 * A question on the terminal, for the commands that ask one (`init`, `create`). Ctrl-C (readline
 * takes it, not the process) or Ctrl-D (the input ends) before an answer is INTERRUPTED, exit
 * 130, with nothing written.
 */
import { createInterface } from 'node:readline/promises';

import { EngineError, ErrorCode, ExitCode } from '../errors.js';

/** The answer to `question`, trimmed. */
export async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const ac = new AbortController();
  rl.on('SIGINT', () => ac.abort());
  rl.on('close', () => ac.abort());
  try {
    return (await rl.question(question, { signal: ac.signal })).trim();
  } catch (e) {
    if (!ac.signal.aborted) throw e;
    process.stderr.write('\n');
    throw new EngineError(ErrorCode.INTERRUPTED, 'interrupted; nothing was written', {
      exitCode: ExitCode.interrupted,
    });
  } finally {
    rl.close();
  }
}

/** A yes/no question, yes by default (`[Y/n]` is added). */
export async function confirm(question: string): Promise<boolean> {
  const answer = (await ask(`${question} [Y/n] `)).toLowerCase();
  return answer === '' || answer === 'y' || answer === 'yes';
}
