/**
 * The node:fs side of the blueprint loader: reads files for src/blueprint (which is pure) and
 * imports the project modules a blueprint calls, turning them into plan functions.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import {
  byPosition,
  exitCodeOf,
  finding,
  markResolution,
  type Finding,
} from '../../blueprint/findings.js';
import type { BlueprintFiles, CodeModuleRef, LoadResult } from '../../blueprint/loader.js';
import type { Plan, PlanFunction } from '../../dsl/ir.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import { exportProblem } from '../../moduleExports.js';
import { utf8Text } from './utf8Text.js';

export const nodeBlueprintFiles: BlueprintFiles = {
  read: (abs) => utf8Text(readFileSync(abs)),
  exists: (abs) => existsSync(abs) && statSync(abs).isFile(),
  realpath: (abs) => realpathSync(abs),
};

type ModuleLoader = (ref: CodeModuleRef) => Promise<Record<string, unknown>>;

const importModule: ModuleLoader = (ref) =>
  import(pathToFileURL(ref.absPath).href) as Promise<Record<string, unknown>>;

/** Node without a TypeScript loader refuses `.ts` by its extension: say how to load one. */
const TS_LOADER =
  'a .ts module needs a TypeScript loader: run flujo under tsx (node --import tsx node_modules/.bin/flujo …) or point at the compiled .js/.mjs';

function tsLoaderMissing(ref: CodeModuleRef, e: unknown): boolean {
  return (
    /\.[cm]?ts$/.test(ref.absPath) &&
    (e as { code?: unknown } | null)?.code === 'ERR_UNKNOWN_FILE_EXTENSION'
  );
}

/**
 * `flujo validate`'s check of the modules a blueprint calls, as `flujo run` imports them: each
 * one that cannot be imported or lacks the export is a V-A6 resolution finding (exit 3) at the
 * `uses:` value that named it (ADR 76). Importing runs the module's top-level code, as Flujo's
 * validate imports its Python callables.
 */
export async function moduleFindings(
  result: LoadResult,
  load: ModuleLoader = importModule,
): Promise<LoadResult> {
  const found: Finding[] = [];
  for (const ref of result.modules) {
    const at = { file: ref.file, line: ref.line, column: ref.column };
    let mod: Record<string, unknown>;
    try {
      mod = await load(ref);
    } catch (e) {
      found.push(
        markResolution(
          finding('V-A6', `cannot import ${ref.absPath}: ${(e as Error).message}`, at, {
            suggestion: tsLoaderMissing(ref, e)
              ? TS_LOADER
              : 'fix the module so that it loads (node imports it as flujo run does)',
          }),
        ),
      );
      continue;
    }
    const wrong = exportProblem(mod, ref.exportName, (n) => `'#${n}'`);
    if (wrong)
      found.push(
        markResolution(
          finding('V-A6', `${ref.absPath} ${wrong.problem}`, at, { suggestion: wrong.fix }),
        ),
      );
  }
  if (found.length === 0) return result;
  const findings = byPosition([...result.findings, ...found]);
  return {
    ...result,
    findings,
    errors: findings.filter((f) => f.severity === 'error'),
    warnings: findings.filter((f) => f.severity === 'warning'),
    isValid: false,
    exitCode: exitCodeOf(findings),
  };
}

/** Imports each referenced module and returns the plan with its functions. Exit 3 on failure. */
export async function withBlueprintCode(
  result: LoadResult,
  load: ModuleLoader = importModule,
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
        `${ref.file}:${ref.line}:${ref.column}: cannot import ${ref.absPath}: ${(e as Error).message}${tsLoaderMissing(ref, e) ? `; ${TS_LOADER}` : ''}`,
        { exitCode: ExitCode.import, cause: e },
      );
    }
    const fn = mod[ref.exportName];
    const wrong = exportProblem(mod, ref.exportName, (n) => `'#${n}'`);
    if (wrong) {
      throw new EngineError(
        ErrorCode.BLUEPRINT_MODULE,
        `${ref.file}:${ref.line}:${ref.column}: ${ref.absPath} ${wrong.problem}; ${wrong.fix}`,
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
