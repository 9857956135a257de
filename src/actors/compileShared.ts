/** What every part of the compiler shares: config types, path joining, outcome checks. */
import type { RunMachineEvent } from './vocabulary.js';

export type Cfg = Record<string, unknown>;
export type Fn = (...args: unknown[]) => unknown;

export const ROOT_PATH = '.';

export const join = (base: string, seg: string) => (base === ROOT_PATH ? seg : `${base}/${seg}`);

/** A child node's `onDone` event says whether it ended in `ok`. */
export const childOk = (e: RunMachineEvent) =>
  (e as unknown as { output?: { ok?: boolean } }).output?.ok === true;

/** Thrown while compiling: the plan cannot become a machine. */
export class PlanCompileError extends Error {
  override readonly name = 'PlanCompileError';
}
