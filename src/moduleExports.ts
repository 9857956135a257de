/**
 * What a module's named export is when a function was asked for, in the words a refusal uses:
 * a blueprint's `uses: ./m.mjs#fn` and agent `path:` (src/adapters/fs/blueprintFiles.ts) and a
 * skills.yaml module (src/skills/project.ts) say the same thing of the same mistake.
 */
import { nearest } from './blueprint/findings.js';

/** `a number`, `an object`, `null`…: what a value is, for a message. */
export function kindOfValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : `a ${t === 'bigint' ? 'bigint' : t}`;
}

/**
 * Why `mod[name]` cannot be called, with what to write instead (`refOf` writes an export as the
 * caller's file names one: `'#fn'`); undefined when it is a function. An export that exists is
 * named with what it is (`exports 'x' as a number, not a function`), never suggested as its own
 * fix; a missing one lists the exports and suggests the nearest function export.
 */
export function exportProblem(
  mod: Record<string, unknown>,
  name: string,
  refOf: (exportName: string) => string = (n) => `'${n}'`,
): { problem: string; fix: string } | undefined {
  const v = mod[name];
  if (typeof v === 'function') return undefined;
  const exports = Object.keys(mod);
  const functions = exports.filter((k) => typeof mod[k] === 'function');
  if (name in mod)
    return {
      problem: `exports '${name}' as ${kindOfValue(v)}, not a function`,
      fix:
        functions.length > 0
          ? `make '${name}' a function, or use a function it exports: ${functions.map(refOf).join(', ')}`
          : `make '${name}' a function (the module exports none)`,
    };
  const near = nearest(name, functions);
  return {
    problem: `has no export '${name}' (exports: ${exports.join(', ') || 'none'})`,
    fix: near ? `use ${refOf(near)}` : `export a function named '${name}' from the module`,
  };
}
