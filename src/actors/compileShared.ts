/** What every part of the compiler shares: config types, path joining, outcome checks. */
import type { Compiler } from './compile.js';
import { runtimePath, type RunMachineContext, type RunMachineEvent } from './vocabulary.js';

export type Cfg = Record<string, unknown>;
export type Fn = (...args: unknown[]) => unknown;

/** An error thrown by plan code (a mapper, a condition…), named by where it sits in the plan. */
export class PlanCodeError extends Error {
  override readonly name = 'PlanCodeError';
}

export const ROOT_PATH = '.';

export const join = (base: string, seg: string) => (base === ROOT_PATH ? seg : `${base}/${seg}`);

/** A child node's `onDone` event says whether it ended in `ok`. */
export const childOk = (e: RunMachineEvent) =>
  (e as unknown as { output?: { ok?: boolean } }).output?.ok === true;

/** Thrown while compiling: the plan cannot become a machine. */
export class PlanCompileError extends Error {
  override readonly name = 'PlanCompileError';
}

/**
 * A map item is done: what it kept by runtime path is read by nothing but its output, which the
 * map gathers when it ends (machine.ts `forgetItem`, a no-op for a run recorded before ADR 109).
 */
export const forgetItem = (bodyTpl: string) => ({
  type: 'forgetItem',
  params: ({ context }: { context: RunMachineContext }) => ({
    path: runtimePath(bodyTpl, context),
  }),
});

/**
 * The state that holds a loop's or map's body: it records the iteration on entry, fails the node
 * when the body fails, and otherwise tries `rules` (exit, next iteration…) in order.
 */
export function iterationState(
  cx: Compiler,
  body: Cfg,
  tpl: string,
  bodyTpl: string,
  iteration: (c: RunMachineContext) => number,
  rules: unknown[],
  /** Where a failed body sends the node (default: its sibling `fail` state). */
  failTarget?: string,
): Cfg {
  return {
    ...body,
    entry: [
      {
        type: 'startIteration',
        params: ({ context }: { context: RunMachineContext }) => ({
          path: runtimePath(tpl, context),
          iteration: iteration(context),
        }),
      },
      ...(body.entry as unknown[]),
    ],
    onDone: [
      {
        ...cx.failWithChild(tpl, bodyTpl),
        ...(failTarget ? { target: failTarget } : {}),
        guard: {
          type: 'holds',
          params: { test: (_c: RunMachineContext, e: RunMachineEvent) => !childOk(e) },
        },
      },
      ...rules,
    ],
  };
}
