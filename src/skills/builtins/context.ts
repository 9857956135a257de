/**
 * Flujo's context helpers. A skill cannot touch the run context directly: the context is fold
 * state, changed only by recorded outputs. So `context_get` is declared `context: 'read'` (its
 * request input carries a copy of the context) and `context_set` / `context_merge` are declared
 * `context: 'merge'` (they return a patch the engine deep-merges, as `updates_context` does).
 */
import { isObj, pathSegments, type Obj } from '../bind.js';
import type { Skill } from '../types.js';

/** `{ a: { b: value } }` for the path `a.b`. */
function patchAt(skillId: string, path: string, value: unknown): Obj {
  return pathSegments(skillId, path)
    .reverse()
    .reduce<unknown>((inner, seg) => ({ [seg]: inner }), value) as Obj;
}

/** The request input a `context: 'read'` step must be given: what the loader builds. */
export function contextReadInput(
  input: unknown,
  context: unknown,
): { input: unknown; context: unknown } {
  return { input, context };
}

const pathArg = { type: 'string', minLength: 1 } as const;

export const contextSkills: readonly Skill[] = [
  {
    id: 'flujo.builtins.context_set',
    description:
      "Sets a context field at a dot-separated path (e.g. 'counter' or 'settings.theme') to `value` (default: the step input). The step's output is the patch merged into the context.",
    kind: 'skill',
    sideEffects: true,
    context: 'merge',
    source: 'builtin',
    args: { names: ['path', 'value'], primary: 'value' },
    inputSchema: {
      type: 'object',
      properties: { path: pathArg, value: {} },
      required: ['path', 'value'],
    },
    outputSchema: { type: 'object' },
    run: (a) => {
      const { path, value } = a as { path: string; value: unknown };
      return patchAt('flujo.builtins.context_set', path, value);
    },
  },
  {
    id: 'flujo.builtins.context_merge',
    description:
      "Merges an object `value` (default: the step input) into the context at a dot-separated path (e.g. 'settings'). The step's output is the patch merged into the context.",
    kind: 'skill',
    sideEffects: true,
    context: 'merge',
    source: 'builtin',
    args: { names: ['path', 'value'], primary: 'value' },
    inputSchema: {
      type: 'object',
      properties: { path: pathArg, value: { type: 'object' } },
      required: ['path', 'value'],
    },
    outputSchema: { type: 'object' },
    run: (a) => {
      const { path, value } = a as { path: string; value: Obj };
      return patchAt('flujo.builtins.context_merge', path, value);
    },
  },
  {
    id: 'flujo.builtins.context_get',
    description:
      'Returns the context value at a dot-separated path, or `default` (null when absent) when the path does not exist.',
    kind: 'skill',
    sideEffects: false,
    context: 'read',
    source: 'builtin',
    args: { names: ['path', 'default'] },
    inputSchema: {
      type: 'object',
      properties: { path: pathArg, default: {} },
      required: ['path'],
    },
    run: (a, _params, ctx) => {
      const { path, default: fallback = null } = a as { path: string; default?: unknown };
      let cur: unknown = ctx.context ?? {};
      for (const seg of pathSegments('flujo.builtins.context_get', path)) {
        if (!isObj(cur) || !Object.prototype.hasOwnProperty.call(cur, seg)) return fallback;
        cur = cur[seg];
      }
      return cur === undefined ? fallback : cur;
    },
  },
];
