/**
 * Rules on plan fields that both front ends (the TypeScript builder and the YAML loader) apply
 * when a plan is built, so a plan that cannot mean what it says is refused with the step's name
 * (and, in YAML, its line and column) before it runs. Each returns the problem, or undefined.
 */

import type { PlanNode } from './ir.js';
import { allNodes } from './nodes.js';
import { branchOrderProblem, isIndexLike } from './paths.js';

/** A plan the builder refuses: the message names the step and what is wrong. */
export class PlanBuildError extends Error {
  override readonly name = 'PlanBuildError';
}

/** `maxLoops` counts iterations: a whole number of at least 1 (0, -1 and NaN ran once or threw). */
export function maxLoopsProblem(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1
    ? undefined
    : `must be a whole number of at least 1, got ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`;
}

/**
 * A count or a number of milliseconds given to the builder (ADR 116), or an engine or run option
 * (ADR 117): a whole number from `min` to `max` (2^53 - 1). Before, -1 retries ran none, 1.5 ran one more, a timeout of -5 ms failed every
 * attempt at once, a timeout of NaN was no timeout, and a map's concurrency of 0 or 1.5 ran one
 * item at a time; NaN and Infinity in a recorded field were refused by the ledger, naming no step.
 */
export function wholeNumberProblem(
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max)
    return undefined;
  const upTo = max === Number.MAX_SAFE_INTEGER ? '2^53 - 1' : String(max);
  const got = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return `must be a whole number from ${min} to ${upTo}, got ${got}`;
}

/** A map runs at most this many items at once: each slot is compiled into the machine. */
export const MAX_MAP_CONCURRENCY = 64;

/** Throws PlanBuildError for the first of `fields` (given ones only) that is not such a number. */
export function checkWholeNumbers(
  name: string,
  fields: readonly (readonly [field: string, value: unknown, min: number, max?: number])[],
): void {
  for (const [field, value, min, max] of fields) {
    if (value === undefined) continue;
    const problem = wholeNumberProblem(value, min, max);
    if (problem) throw new PlanBuildError(`${name}: ${field} ${problem}`);
  }
}

/**
 * A `sinkTo` path names a context key: dotted segments, none empty, none `__proto__` (the one key
 * that is not data), after an optional `context.` prefix. Anything else wrote nothing, silently.
 */
export function sinkToProblem(path: string): string | undefined {
  const bare = path.replace(/^context\./, '');
  if (bare === '') return `${JSON.stringify(path)} names no context key`;
  const segments = bare.split('.');
  if (segments.some((s) => s === ''))
    return `${JSON.stringify(path)} has an empty segment (write 'a.b', without leading, trailing or doubled dots)`;
  if (segments.includes('__proto__'))
    return `${JSON.stringify(path)} goes through __proto__, which is not a context key`;
  return undefined;
}

/**
 * The declared order of a DSL parallel's or router's branches: `order` when given (each branch
 * once), else the object's keys — refused when two or more names include an integer-like one,
 * since a JS object lists those first, in ascending order, whatever order they were written in
 * (ADR 51).
 */
export function declaredOrder(
  name: string,
  branches: Readonly<Record<string, unknown>>,
  order: readonly string[] | undefined,
): readonly string[] {
  const keys = Object.keys(branches);
  if (order) {
    const problem = branchOrderProblem(branches, order);
    if (problem) throw new PlanBuildError(`${name}: order ${problem}`);
    return order;
  }
  if (keys.length > 1 && keys.some(isIndexLike)) {
    throw new PlanBuildError(
      `${name}: branch names that look like integers (${keys.filter(isIndexLike).join(', ')}) lose their written order in a JS object; pass { order: [...] } naming every branch in the order to run and merge them`,
    );
  }
  return keys;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A step name with a control character (C0 with the newline and tab, DEL, C1): it is printed by
 * every lens command and recorded in every event of the step (docs/validation.md, V-K4).
 * The message writes the name with its control characters as `\u` escapes.
 */
export function stepNameProblem(name: string): string | undefined {
  const found = name.match(CONTROL);
  if (!found) return undefined;
  const esc = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  const chars = [...new Set(found)].map(esc).join(', ');
  return `"${name.replace(CONTROL, esc)}" holds the control character${chars.includes(',') ? 's' : ''} ${chars}`;
}

/**
 * Each name a run of a plan records and the lens prints that holds a control character: the
 * pipeline's, a node's, a branch key, a state or end state (ADR 108), one sentence each, escaped.
 * For plans built in code; a blueprint's loader reports them at their places (V-K4).
 */
export function controlNameProblems(name: string, root: PlanNode): string[] {
  const found = new Set<string>();
  const check = (what: string, n: string) => {
    const problem = stepNameProblem(n);
    if (problem) found.add(`${what} ${problem}`);
  };
  check('pipeline name', name);
  for (const n of allNodes(root)) {
    // The root sequence is named after the pipeline: said once, as its name.
    if (n !== root || n.name !== name) check('step name', n.name);
    if ('branches' in n)
      for (const k of Object.keys(n.branches)) check(`${n.name}: branch name`, k);
    if (n.kind === 'state_machine')
      for (const s of new Set([...Object.keys(n.states), ...n.end]))
        check(`${n.name}: state name`, s);
  }
  return [...found];
}
