/**
 * How deep a live reply of each step is recorded (ADR 100, review of ADR 100's "four fan-outs"):
 * two levels in its own record (the envelope's data, then output), and one more in the
 * `StepCompleted` of each map, parallel or router that gathers it. The compiler notes each step's
 * count by the shape of its path; the runtime measures a reply there, so a reply too deep for
 * the gatherers around it fails its step, not the commit of a gatherer's output (which failed
 * the driver and left the run running with its call unanswered).
 *
 * A shape is a path without its iterations: `2/body@3/0` and the template `2/body@{2}/0` are both
 * `2/body/0`. A name holding `@`, `{` or `}` is percent-encoded in a path (paths.ts), so what
 * is stripped is always an iteration.
 */
import type { RunMachine } from './machine.js';

/** What the compiler noted, by machine (the machine's own config is XState's). */
export const replyDepthsOf = new WeakMap<RunMachine, ReadonlyMap<string, number>>();

/**
 * The least depth a reply is measured at, and the depth for a path the compiler did not note:
 * room for four gatherers, around the step or after it (a reply passed on unchanged).
 */
export const DEFAULT_REPLY_DEPTH = 6;

export const pathShape = (path: string): string => path.replace(/@(\d+|\{[^}]*\})/g, '');

/** The depth a reply of the step at runtime path `path` is measured at. */
export function replyDepth(machine: RunMachine, path: string): number {
  return replyDepthsOf.get(machine)?.get(pathShape(path)) ?? DEFAULT_REPLY_DEPTH;
}
