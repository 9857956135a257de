/**
 * Project skills from `skills.yaml` next to the blueprint, close to Flujo's catalog: a mapping
 * from id to `{path, description, side_effects, input_schema, output_schema, arg_schema}` (a
 * list of entries with `id` is accepted too). `path` is a JS/TS module relative to the file,
 * `./skills/clean.mjs` or `./skills/clean.ts:clean`; `export` names the function (default: the
 * `:name` suffix, else `default`). Declarations are checked first and every problem is reported
 * at once with file:line:column (exit 2); then modules are imported, and one that cannot be
 * loaded or lacks the export is SKILL_MODULE_LOAD (exit 3). Modules are imported only from
 * inside the project, unless flujo.toml's `blueprint_allowed_imports` allows their real path or
 * names their package (src/blueprint/allowedImports.ts, ADR 152).
 */
import { realpath } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { ConfigError, EngineError, ErrorCode, ExitCode } from '../errors.js';
import { exportProblem } from '../moduleExports.js';
import { allowedBy, allowFix } from '../blueprint/allowedImports.js';
import { allowedIn, inside, readSkillDecls, type AllowOptions, type Decl } from './projectDecls.js';
import type { Skill, SkillCallContext } from './types.js';

export interface LoadProjectSkillsOptions extends AllowOptions {
  /** Dynamic import (tests and bundlers may supply their own). */
  readonly import?: (url: string) => Promise<Record<string, unknown>>;
}

/** A project skill's function: the step input, the call's params, the call context. */
export type ProjectSkillFn = (
  input: unknown,
  params: Readonly<Record<string, unknown>>,
  ctx: SkillCallContext,
) => unknown;

export async function loadProjectSkills(
  file: string,
  opts: LoadProjectSkillsOptions,
): Promise<Skill[]> {
  const decls = await readSkillDecls(file, opts);
  const projectRoot = path.resolve(opts.projectRoot);
  return Promise.all(decls.map((d) => loadOne(d, projectRoot, opts)));
}

async function loadOne(
  d: Decl,
  projectRoot: string,
  opts: LoadProjectSkillsOptions,
): Promise<Skill> {
  const fail = (why: string, cause?: unknown): never => {
    throw new EngineError(ErrorCode.SKILL_MODULE_LOAD, `${d.at}: skill '${d.id}': ${why}`, {
      exitCode: ExitCode.import,
      retryable: false,
      cause,
      details: { skill: d.id, module: d.spec, export: d.exportName },
    });
  };
  let url = d.spec;
  if (!path.isAbsolute(d.spec)) {
    // An allow-listed package resolves from the project, not from Flujo's own node_modules.
    try {
      url = pathToFileURL(createRequire(path.join(projectRoot, 'skills.js')).resolve(d.spec)).href;
    } catch (e) {
      fail(
        `cannot resolve package ${d.spec} from ${projectRoot}; install it in the project (npm install ${d.spec}), or fix 'path' here`,
        e,
      );
    }
  } else {
    const real = await realpath(d.spec).catch((e: unknown) =>
      fail(
        `cannot find module ${d.spec}; create it, or fix 'path' here (a ./path is relative to the folder skills.yaml is in)`,
        e,
      ),
    );
    // Checked on the real path: a link in the project may lead out only where flujo.toml allows.
    const allow = allowedIn(projectRoot, opts);
    if (!inside(allow.root, real) && !allowedBy(allow.entries, real))
      throw new ConfigError(
        ErrorCode.SKILLS_CONFIG_INVALID,
        `${d.at}: skill '${d.id}': module ${d.spec} resolves to ${real}, outside the project; a symlink may not lead out of it (${allowFix(allow.raw, allow.root, real, allow.file)})`,
        { skill: d.id },
      );
    url = pathToFileURL(real).href;
  }
  const load = opts.import ?? ((u: string) => import(u) as Promise<Record<string, unknown>>);
  const hint = /\.[mc]?ts$/.test(d.spec)
    ? ' (TypeScript modules load when Flujo runs under tsx; otherwise point at the compiled .js)'
    : '';
  const mod = await load(url).catch((e: unknown) =>
    fail(`cannot load module ${d.spec}: ${(e as Error).message}${hint}`, e),
  );
  const fn = mod[d.exportName];
  // An export is named in skills.yaml as `path: ./m.mjs:name` (or `export: name`).
  const wrong = exportProblem(mod, d.exportName, (n) => `'${n}'`);
  if (wrong) fail(`module ${d.spec} ${wrong.problem}; ${wrong.fix}`);
  const run = fn as ProjectSkillFn;
  return {
    id: d.id,
    description: d.description,
    kind: 'skill',
    sideEffects: d.sideEffects,
    source: d.at,
    ...(d.schemas.input ? { inputSchema: d.schemas.input } : {}),
    ...(d.schemas.params ? { paramsSchema: d.schemas.params } : {}),
    ...(d.schemas.output ? { outputSchema: d.schemas.output } : {}),
    run: (input, params, ctx) => run(input, params, ctx),
  };
}
