/**
 * Binding a call's params and step input to a skill's named arguments, the way Flujo normalises
 * builtin parameters (`agent.params` over `step.input` over the raw data): YAML authors may pass
 * `path`/`value` either as params or as the step's input object, and a transform such as
 * `to_csv` takes the previous step's output as its data argument.
 */
import { EngineError, ErrorCode } from '../errors.js';
import type { SkillArgs } from './types.js';

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);

/** Keys that must never be read or written through a user-supplied name. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

const own = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k);

export function bindArgs(
  skillId: string,
  spec: SkillArgs,
  input: unknown,
  params: Readonly<Obj>,
): Obj {
  const unknown = Object.keys(params).filter((k) => !spec.names.includes(k));
  if (unknown.length > 0) {
    throw new EngineError(
      ErrorCode.SKILL_INPUT_INVALID,
      `${skillId} does not take param${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; it takes ${spec.names.map((n) => `'${n}'`).join(', ')}`,
      { retryable: false, details: { skill: skillId, unknown } },
    );
  }
  const args: Obj = {};
  let fromInput = 0;
  for (const name of spec.names) {
    if (own(params, name)) args[name] = params[name];
    else if (isObj(input) && own(input, name)) {
      args[name] = input[name];
      fromInput += 1;
    }
  }
  if (spec.primary && !own(args, spec.primary) && fromInput === 0 && input !== undefined)
    args[spec.primary] = input;
  return args;
}

/** Splits a dotted context path, refusing empty segments and prototype keys. */
export function pathSegments(skillId: string, path: string): string[] {
  const segs = path.replace(/^context\./, '').split('.');
  const bad = segs.find((s) => s === '' || FORBIDDEN_KEYS.has(s));
  if (bad !== undefined) {
    throw new EngineError(
      ErrorCode.SKILL_INPUT_INVALID,
      `${skillId}: path '${path}' is not a dotted context path (${bad === '' ? 'an empty segment' : `'${bad}' is not allowed`})`,
      { retryable: false, details: { skill: skillId, path } },
    );
  }
  return segs;
}
