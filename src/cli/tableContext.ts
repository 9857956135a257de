/**
 * What the entries of the command table share (main.ts builds the program; runTable.ts,
 * fleetTable.ts, lensTable.ts and blueprintTable.ts add their commands): the output, Ctrl-C
 * handling, the global flags, and where a command's exit code goes. Only main.ts calls
 * process.exit.
 */
import type { Output } from './output.js';
import type { Interrupts } from './session.js';

export interface TableContext {
  readonly out: Output;
  readonly interrupts: Interrupts;
  /** `--project` and `--state-uri`, as parsed. */
  readonly global: () => { project?: string; stateUri?: string };
  /** The command's exit code: the process's once main() returns. */
  readonly exit: (code: number) => void;
  /** The process should end as the command returns (main.ts). */
  readonly exitWhenDone: () => void;
}
