/**
 * The node:fs side of the blueprint loader: reads files for src/blueprint (which is pure) and
 * imports the project modules a blueprint calls, turning them into plan functions.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import type { BlueprintFiles, CodeModuleRef, LoadResult } from '../../blueprint/loader.js';
import type { Plan, PlanFunction } from '../../dsl/ir.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';

export const nodeBlueprintFiles: BlueprintFiles = {
  read: (abs) => readFileSync(abs, 'utf8'),
  exists: (abs) => existsSync(abs) && statSync(abs).isFile(),
  realpath: (abs) => realpathSync(abs),
};

/** Imports each referenced module and returns the plan with its functions. Exit 3 on failure. */
export async function withBlueprintCode(
  result: LoadResult,
  load: (ref: CodeModuleRef) => Promise<Record<string, unknown>> = (ref) =>
    import(pathToFileURL(ref.absPath).href) as Promise<Record<string, unknown>>,
): Promise<Plan> {
  if (!result.plan) {
    throw new EngineError(ErrorCode.USAGE, `${result.path} is not a valid blueprint`, {
      exitCode: ExitCode.validation,
    });
  }
  const functions: Record<string, PlanFunction> = { ...result.plan.functions };
  for (const ref of result.modules) {
    let mod: Record<string, unknown>;
    try {
      mod = await load(ref);
    } catch (e) {
      throw new EngineError(
        ErrorCode.BLUEPRINT_MODULE,
        `${ref.file}:${ref.line}:${ref.column}: cannot import ${ref.absPath}: ${(e as Error).message}`,
        { exitCode: ExitCode.import, cause: e },
      );
    }
    const fn = mod[ref.exportName];
    if (typeof fn !== 'function') {
      throw new EngineError(
        ErrorCode.BLUEPRINT_MODULE,
        `${ref.file}:${ref.line}:${ref.column}: ${ref.absPath} has no exported function '${ref.exportName}' (exports: ${Object.keys(mod).join(', ') || 'none'})`,
        { exitCode: ExitCode.import },
      );
    }
    const f = fn as (...args: unknown[]) => unknown;
    functions[ref.name] = (
      ref.iterationMapper ? (out: unknown, ctx: unknown, i: number) => f(out, ctx, i - 1) : f
    ) as PlanFunction;
  }
  return { ir: result.plan.ir, functions };
}
