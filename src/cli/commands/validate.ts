/**
 * `flujo validate [PATH] [--format text|json|sarif] [--no-strict] [--imports]`: loads the
 * blueprint with every check, imports the modules it calls, and prints the findings sorted by
 * file, line and column. Exit 0 when valid (or --no-strict), 3 when a file, module or export
 * could not be resolved (whatever else is wrong: ADR 76), else 4 when an error finding exists in
 * strict mode.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import { moduleFindings, nodeBlueprintFiles } from '../../adapters/fs/blueprintFiles.js';
import type { Finding } from '../../blueprint/findings.js';
import type { SkillCatalog } from '../../blueprint/env.js';
import { loadBlueprint, type LoadResult } from '../../blueprint/loader.js';
import { loadConfig } from '../../config/load.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { catalogOf, projectSkills } from '../agents.js';
import { findProjectRoot } from '../project.js';
import { docsBase, sarif } from './validateSarif.js';

export interface ValidateOptions extends GlobalOptions {
  readonly path?: string;
  readonly format?: string;
  readonly strict?: boolean;
  readonly imports?: boolean;
}

/** The blueprint PATH names (default: pipeline.yaml) and the project root it is checked in. */
function blueprintTarget(opts: GlobalOptions & { path?: string }): { file: string; root: string } {
  const cwd = process.cwd();
  const file = resolve(cwd, opts.path ?? 'pipeline.yaml');
  const root = opts.project
    ? resolve(cwd, opts.project)
    : findProjectRoot(undefined, process.env, existsSync(file) ? resolve(file, '..') : cwd);
  return { file, root };
}

/**
 * The skills `flujo run` would give this blueprint: Flujo's builtins and the skills.yaml beside
 * it, else the project root's. Without them an unknown skill id passed validation and was
 * refused by run.
 */
async function skillCatalog(opts: GlobalOptions & { path?: string }): Promise<SkillCatalog> {
  const { file, root } = blueprintTarget(opts);
  const cfg = loadConfig({ root, env: process.env });
  const beside = existsSync(join(dirname(file), 'skills.yaml')) ? dirname(file) : cfg.root;
  return catalogOf(await projectSkills(cfg, beside));
}

/** Resolves PATH (default: pipeline.yaml in the project) and loads it. Shared with explain/visualize. */
export function loadFromCli(
  opts: GlobalOptions & { path?: string },
  skills?: SkillCatalog,
): LoadResult {
  const { file, root } = blueprintTarget(opts);
  if (!existsSync(file)) {
    throw new EngineError(
      ErrorCode.USAGE,
      `${file} does not exist; pass the blueprint path, e.g. flujo validate pipeline.yaml`,
      {
        exitCode: ExitCode.config,
      },
    );
  }
  return loadBlueprint(file, {
    files: nodeBlueprintFiles,
    root,
    allowOutsideRoot: !file.startsWith(root),
    ...(skills ? { skills } : {}),
  });
}

export async function validate(opts: ValidateOptions, out: Output): Promise<number> {
  const format = opts.format ?? 'text';
  if (!['text', 'json', 'sarif'].includes(format)) {
    throw new EngineError(ErrorCode.USAGE, `--format must be text, json or sarif (got ${format})`, {
      exitCode: ExitCode.config,
    });
  }
  // A bad docs base is refused (exit 2) before the blueprint is read.
  const base = format === 'sarif' ? docsBase(process.env) : undefined;
  // The modules the blueprint calls are imported as `flujo run` would: a missing export is a
  // resolution finding here too (exit 3), not a surprise at run time (ADR 76).
  const target = blueprintTarget(opts);
  const skills = existsSync(target.file) ? await skillCatalog(opts) : undefined;
  const result = await moduleFindings(loadFromCli(opts, skills));
  const shown = (f: Finding) => ({ ...f, file: relative(process.cwd(), f.file) || f.file });
  if (format === 'json') {
    out.json({
      is_valid: result.isValid,
      errors: result.errors.map(shown),
      warnings: result.warnings.map(shown),
      path: result.path,
    });
  } else if (format === 'sarif') {
    out.json(sarif(result, base));
  } else {
    for (const f of result.findings.map(shown)) {
      const mark = f.severity === 'error' ? out.color.bad('error') : 'warning';
      out.data(
        `${f.file}:${f.line}:${f.column}: ${mark} ${f.rule_id}: ${f.message}${f.step_name ? ` [step ${f.step_name}]` : ''}`,
      );
      if (f.suggestion) out.data(`  ${out.color.dim(`fix: ${f.suggestion}`)}`);
    }
    const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
    const counts = `${n(result.errors.length, 'error')}, ${n(result.warnings.length, 'warning')}`;
    out.data(
      result.isValid
        ? `${out.color.ok('✓')} ${result.path} is valid (${counts})`
        : `${out.color.bad('✗')} ${result.path} is invalid (${counts})`,
    );
  }
  if (opts.strict === false && result.exitCode === 4) return ExitCode.ok;
  return result.exitCode;
}
