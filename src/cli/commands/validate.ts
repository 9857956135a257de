/**
 * `flujo validate [PATH] [--format text|json|sarif] [--no-strict] [--imports]`: loads the
 * blueprint with every check, imports the modules it calls, and prints the findings sorted by
 * file, line and column. Exit 0 when valid (or --no-strict), 3 when a file, module or export
 * could not be resolved (whatever else is wrong: ADR 76), else 4 when an error finding exists in
 * strict mode.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { outsideProject } from '../../blueprint/projectRoot.js';
import { pathToFileURL } from 'node:url';

import { moduleFindings, nodeBlueprintFiles } from '../../adapters/fs/blueprintFiles.js';
import { finding } from '../../blueprint/findings.js';
import type { SkillCatalog } from '../../blueprint/env.js';
import { loadBlueprint, type LoadResult } from '../../blueprint/loader.js';
import { loadConfig } from '../../config/load.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { allowedImportsOf, catalogOf, modelIdProblem, pipelineSkills } from '../agents.js';
import {
  DEFAULT_PIPELINE,
  isPipelineModule,
  loadPipelineFile,
  pipelinePath,
} from '../pipelineFile.js';
import { findingAsShown } from '../jsonRefusal.js';
import { findProjectRoot } from '../project.js';
import { docsBase, sarif } from './validateSarif.js';

export interface ValidateOptions extends GlobalOptions {
  readonly path?: string;
  readonly format?: string;
  readonly strict?: boolean;
  readonly imports?: boolean;
}

/**
 * The blueprint PATH names and the project root it is checked in. Without PATH, the project's
 * pipeline.yaml, the project found as `flujo run` finds it (--project, FLUJO_PROJECT_ROOT, else
 * the nearest folder up holding flujo.toml or pipeline.yaml); it was pipeline.yaml in the current
 * folder, so `flujo validate` in a project's subfolder said there was none while `run` ran it.
 * With PATH, the project around the file.
 */
function blueprintTarget(opts: GlobalOptions & { path?: string }): { file: string; root: string } {
  const cwd = process.cwd();
  if (opts.path === undefined) {
    const root = findProjectRoot(opts.project, process.env, cwd);
    return { file: join(root, DEFAULT_PIPELINE), root };
  }
  const file = resolve(cwd, opts.path);
  // --project checked as every command checks it: a missing folder or a file is refused.
  const root =
    opts.project !== undefined
      ? findProjectRoot(opts.project, process.env, cwd)
      : findProjectRoot(undefined, process.env, existsSync(file) ? dirname(file) : cwd);
  return { file, root };
}

/**
 * The skills `flujo run` would give this blueprint: Flujo's builtins and the skills.yaml beside
 * it, else the project root's. Without them an unknown skill id passed validation and was
 * refused by run.
 */
async function skillCatalog(opts: GlobalOptions & { path?: string }): Promise<SkillCatalog> {
  const { file, root } = blueprintTarget(opts);
  return catalogOf(await pipelineSkills(loadConfig({ root, env: process.env }), file));
}

/**
 * Resolves PATH (default: pipeline.yaml in the project) and loads it: a YAML blueprint with every
 * check, or a pipeline module as `flujo run` loads it. Shared with explain and visualize.
 */
export async function loadFromCli(
  opts: GlobalOptions & { path?: string },
  skills?: SkillCatalog,
): Promise<LoadResult> {
  const { file, root } = blueprintTarget(opts);
  // Refused as run refuses it: CONFIG_INVALID (exit 2), a close name suggested, a folder named.
  pipelinePath(opts.path === undefined ? undefined : file, root, process.cwd());
  if (isPipelineModule(file)) return loadModuleTarget(file, root);
  return loadBlueprint(file, {
    files: nodeBlueprintFiles,
    root,
    // A blueprint outside the project reads only inside its own folder, as run reads it.
    ...outsideProject(root, file),
    // The modules flujo.toml allows outside the project, as `run` reads them (ADR 152).
    ...allowedImportsOf(loadConfig({ root, env: process.env })),
    // validate checks what `run` checks: the skills it gives and the model ids it takes (one it
    // refuses, CONFIG_UNKNOWN_MODEL, is a finding). explain and visualize describe without them.
    ...(skills ? { skills, modelProblem: modelIdProblem } : {}),
  });
}

/**
 * A pipeline module (.js, .mjs, .ts…) loaded as `flujo run` and `run --dry-run` load it: imported,
 * its plan compiled, its names and its calls of hitl skills checked. Valid with no finding, or
 * one MODULE-LOAD finding with run's message (exit 3, as run's MODULE_LOAD or SKILL_NOT_CALLABLE)
 * at the place the module failed. The blueprint rules do not apply: the DSL's builder checks what
 * it builds. A broken flujo.toml or skills.yaml stops it as it stops run (exit 2 or 3).
 */
async function loadModuleTarget(file: string, root: string): Promise<LoadResult> {
  const cfg = loadConfig({ root, env: process.env });
  const none = { modules: [], path: file, warnings: [] };
  try {
    // The skills a run reads, read first as run reads them: a broken skills.yaml stops this as it
    // stops run, also for a module that calls no skill.
    const { plan } = await loadPipelineFile(file, cfg, await pipelineSkills(cfg, file));
    return { ...none, plan, findings: [], errors: [], isValid: true, exitCode: 0 };
  } catch (e) {
    if (
      !(e instanceof EngineError) ||
      (e.code !== ErrorCode.MODULE_LOAD && e.code !== ErrorCode.SKILL_NOT_CALLABLE)
    )
      throw e;
    // run's message without its code and file (the finding says both), but a code other than
    // MODULE_LOAD's kept: `SKILL_NOT_CALLABLE: …`.
    let message = e.message.slice(`[${e.code}] `.length);
    if (message.startsWith(`${file}: `)) message = message.slice(file.length + 2);
    if (e.code !== ErrorCode.MODULE_LOAD) message = `${e.code}: ${message}`;
    const steps = e.details.steps;
    const step = Array.isArray(steps) && typeof steps[0] === 'string' ? steps[0] : null;
    const f = finding('MODULE-LOAD', message, { file, ...moduleErrorPlace(file, e) }, { step });
    return { ...none, findings: [f], errors: [f], isValid: false, exitCode: 3 };
  }
}

/**
 * Where in `file` a module failed to load: the first place in it on the stack of the error or its
 * causes (a builder's PlanBuildError thrown at a step's definition, any error the module throws as
 * it is imported; under tsx, the .ts line), else, for a syntax error in a .js/.mjs/.cjs file (whose
 * import names no place), where `node --check` puts its caret; else 1:1.
 */
function moduleErrorPlace(file: string, e: Error): { line: number; column: number } {
  // Node names a module by its real path (through a symlink too).
  const names = [...new Set([file, realpathSync(file)])];
  const escape = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const at = new RegExp(
    `(?:${names
      .flatMap((n) => [pathToFileURL(n).href, n])
      .map(escape)
      .join('|')}):(\\d+):(\\d+)`,
  );
  let syntax = false;
  // A cause chain may loop (an error that is its own cause): each error is read once.
  const seen = new Set<Error>();
  for (let err: unknown = e; err instanceof Error && !seen.has(err); err = err.cause) {
    seen.add(err);
    const m = at.exec(`${err.message}\n${err.stack ?? ''}`);
    if (m) return { line: Number(m[1]), column: Number(m[2]) };
    if (err instanceof SyntaxError) syntax = true;
  }
  if (syntax && ['.js', '.mjs', '.cjs'].includes(extname(file).toLowerCase())) {
    // `node --check` parses the file without running it and prints `FILE:LINE`, the line and a
    // caret under the column.
    const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
    const lines = (r.stderr ?? '').split('\n');
    const named = names.find((n) => lines[0]?.startsWith(`${n}:`));
    const head = named ? Number(lines[0]!.slice(named.length + 1)) : NaN;
    const caret = lines[2]?.indexOf('^') ?? -1;
    if (Number.isInteger(head) && head > 0)
      return { line: head, column: caret >= 0 ? caret + 1 : 1 };
  }
  return { line: 1, column: 1 };
}

/**
 * `loaded`: the result explain or visualize already has for a pipeline module (complete, unlike a
 * blueprint's, which validate loads again with its skills and the modules it calls).
 */
export async function validate(
  opts: ValidateOptions,
  out: Output,
  loaded?: LoadResult,
): Promise<number> {
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
  const result = isPipelineModule(target.file)
    ? (loaded ?? (await loadFromCli(opts)))
    : await moduleFindings(
        await loadFromCli(opts, existsSync(target.file) ? await skillCatalog(opts) : undefined),
      );
  if (format === 'json') {
    out.json({
      is_valid: result.isValid,
      errors: result.errors.map((f) => findingAsShown(f)),
      warnings: result.warnings.map((f) => findingAsShown(f)),
      path: result.path,
    });
  } else if (format === 'sarif') {
    out.json(sarif(result, base));
  } else {
    for (const f of result.findings.map((f) => findingAsShown(f))) {
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
