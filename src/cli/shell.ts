/**
 * Words the CLI prints for a person to paste into a POSIX shell (next-step hints): a run id or
 * an example answer goes through `shellWord` so that the pasted command means what it says, and
 * every printed `flujo …` command is built by `flujoCommand`, which repeats the global options
 * the user gave on the command line (ADR 144).
 */
import { resolve } from 'node:path';

import { redactUri } from '../adapters/ledger/stateUri.js';
import { shellWord } from '../shellWords.js';

export { runIdWords, shellWord } from '../shellWords.js';

/**
 * The global options of this process's command line, as printed commands repeat them. Set once
 * by the entry point (main.ts) before the command runs: a process runs one command, and the
 * hints are built in many places, some deep in a command's helpers.
 */
let globals = '';
/** Said once, the first time a command is printed without the --state-uri given (a password). */
let withheld: (() => void) | undefined;

/** The note printed once when `--state-uri` holds a secret and so is left out of the commands. */
export const WITHHELD_STATE_URI_NOTE =
  'note: the flujo commands printed here leave out --state-uri, which holds a password that is not shown: give them the same --state-uri, or set FLUJO_STATE_URI to it';

/**
 * Records the global options given on the command line: `--project` (made absolute from `cwd`,
 * so the command works pasted anywhere) and `--state-uri` (as given, unless it holds a password
 * or another secret, which is never printed: then `note` is called once, with
 * WITHHELD_STATE_URI_NOTE, when the first command is printed). The environment and flujo.toml
 * are not repeated: they still apply to a command pasted in the same shell.
 */
export function setCommandGlobals(
  given: { readonly project?: string; readonly stateUri?: string },
  cwd: string,
  note?: (text: string) => void,
): void {
  const words: string[] = [];
  if (given.project) words.push('--project', shellWord(resolve(cwd, given.project)));
  const uri = given.stateUri;
  withheld = undefined;
  if (uri && holdsSecret(uri)) {
    let said = false;
    withheld = () => {
      if (said) return;
      said = true;
      note?.(WITHHELD_STATE_URI_NOTE);
    };
  } else if (uri) words.push('--state-uri', shellWord(uri));
  globals = words.map((w) => `${w} `).join('');
}

/** Whether redactUri hides part of `uri` (it returns a URI with nothing to hide as written). */
const holdsSecret = (uri: string): boolean => redactUri(uri) !== uri;

/** `flujo <the global options given> <args>`: a command to print for a person to paste. */
export function flujoCommand(args: string): string {
  withheld?.();
  return `flujo ${globals}${args}`;
}
