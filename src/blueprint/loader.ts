/**
 * The YAML blueprint loader: file -> positioned tree -> Plan IR plus findings. Pure: files come
 * through the BlueprintFiles port, and project modules are only listed (`modules`) for the
 * caller to import (src/adapters/fs/blueprintCode.ts). `flujo validate` prints the findings;
 * `flujo run` refuses a blueprint with any error finding (exit 4, or 3 when a file, module or
 * import is not found, whatever else is wrong: ADR 76). Findings come sorted by file and place.
 */
import { posix } from 'node:path';

import type { Plan, PlanNode } from '../dsl/ir.js';
import { Env, type CodeModuleRef, type LoadOptions, type Shared } from './env.js';
import { agentsSection } from './agentsSection.js';
import { resolveEntries } from './allowedImports.js';
import { countPlan, newMemo, once, parseOnce, placeOf } from './loadOnce.js';
import { outsideWords } from './projectRoot.js';
import { withSkillLookups } from './skillCatalog.js';
import { byPosition, exitCodeOf, matchesRule, type Finding } from './findings.js';
import { TOP_IGNORED, TOP_KEYS, VERSIONS } from './keys.js';
import { buildSteps } from './steps.js';
import { reportUnusedOutputs } from './unusedOutput.js';
import { mapSources } from './sourceMap.js';
import { markRecorded } from './walk.js';
import { entry, plain, type Pos, type YNode } from './yamlTree.js';

export type { BlueprintFiles, CodeModuleRef, LoadOptions, SkillCatalog } from './env.js';

export interface LoadResult {
  /** Absent when there is an error finding. */
  readonly plan?: Plan;
  readonly findings: readonly Finding[];
  readonly errors: readonly Finding[];
  readonly warnings: readonly Finding[];
  /** Project modules the plan calls; import them before compiling the plan. */
  readonly modules: readonly CodeModuleRef[];
  readonly path: string;
  readonly isValid: boolean;
  /** 0 valid, 3 a file, module or import could not be resolved (ADR 76), else 4 invalid. */
  readonly exitCode: 0 | 3 | 4;
}

/** Loads and validates the blueprint at `path` (absolute, or relative to `options.root`). */
export function loadBlueprint(path: string, options: LoadOptions): LoadResult {
  const abs = posix.resolve(options.root, path);
  const shared: Shared = {
    // A hand-written registry without ids() or context() is read through list() and get().
    opts: options.skills ? { ...options, skills: withSkillLookups(options.skills) } : options,
    findings: [],
    modules: new Map(),
    referenced: new Set(),
    hidden: 0,
    allow: resolveEntries(
      options.allowedImports ?? [],
      posix.resolve(options.root),
      options.files.realpath,
    ),
    memo: newMemo(),
  };
  const top = loadFile(shared, abs, [], [], undefined);
  // A file imported by several steps reports its findings once (ADR 153).
  const findings = byPosition(once(shared.findings));
  const errors = findings.filter((f) => f.severity === 'error');
  const warnings = findings.filter((f) => f.severity === 'warning');
  const exitCode = exitCodeOf(findings);
  const plan: Plan | undefined =
    top && errors.length === 0
      ? {
          ir: {
            version: 1,
            name: top.name,
            root: markRecorded(top.root, shared.referenced, shared.kept),
          },
          functions: {},
        }
      : undefined;
  if (plan) mapSources(plan.ir);
  return {
    ...(plan ? { plan } : {}),
    findings,
    errors,
    warnings,
    modules: [...shared.modules.values()],
    path: abs,
    isValid: errors.length === 0,
    exitCode,
  };
}

/** Loads an imported file relative to `parent`; reports missing files and cycles there. */
export function loadChild(parent: Env, rel: string, alias: string, at: Pos): PlanNode | undefined {
  const abs = posix.resolve(parent.dir, rel);
  const chain = [...parent.fileStack, parent.file];
  if (chain.includes(abs)) {
    const names = [...chain.slice(chain.indexOf(abs)), abs].map((f) =>
      posix.relative(parent.shared.opts.root, f),
    );
    parent.report('V-I3', `cyclic import: ${names.join(' -> ')}`, at, {
      suggestion: `remove the import of '${alias}' from one of these files`,
    });
    return undefined;
  }
  // Past the plan's node limit nothing more is loaded: V-I7 is reported once (ADR 153).
  if (parent.shared.memo.over) return undefined;
  const before = parent.shared.findings.length;
  const out = loadFile(parent.shared, abs, chain, [...parent.aliasStack, alias], {
    env: parent,
    at,
  });
  const errors = byPosition(
    parent.shared.findings
      .slice(before)
      .filter((f) => f.severity === 'error' && f.file !== parent.file),
  );
  const first = errors[0];
  if (first) {
    const where = `${posix.relative(parent.shared.opts.root, first.file)}:${first.line}:${first.column}`;
    parent.report(
      'V-I4',
      `imported blueprint '${alias}' has ${errors.length === 1 ? '1 error' : `${errors.length} errors`}; the first is ${first.rule_id} at ${where}: ${first.message}`,
      at,
      {
        suggestion: `fix ${posix.relative(parent.shared.opts.root, abs)} (run flujo validate on it)`,
      },
    );
  }
  return out?.root;
}

function loadFile(
  shared: Shared,
  abs: string,
  fileStack: string[],
  aliasStack: string[],
  from: { env: Env; at: Pos } | undefined,
): { root: PlanNode; name: string } | undefined {
  const env = new Env(abs, posix.dirname(abs), shared, fileStack, aliasStack);
  const fail = (
    rule: 'V-I1' | 'YAML-LOAD',
    msg: string,
    at: { line: number; column: number },
    suggestion?: string,
  ) => {
    (from && rule === 'V-I1' ? from.env : env).report(
      rule,
      msg,
      from && rule === 'V-I1' ? from.at : at,
      { suggestion: suggestion ?? null },
    );
    return undefined;
  };
  const place = placeOf(shared, abs);
  if (!place.inside) {
    return fail(
      'V-I1',
      `${abs} is ${outsideWords(shared.opts)}`,
      { line: 1, column: 1 },
      shared.opts.boundary === undefined
        ? 'move the file into the project, or pass --project with a wider root'
        : "move the file into the blueprint's folder, or the blueprint into the project",
    );
  }
  // Read and parsed once per load, however many steps import it (ADR 153).
  const parsed = parseOnce(shared, abs, place.key);
  if (parsed.t === 'missing') {
    return fail(
      'V-I1',
      `${abs} does not exist`,
      { line: 1, column: 1 },
      'check the path (imports are relative to the importing file)',
    );
  }
  if (parsed.t === 'unreadable')
    return fail('V-I1', `cannot read ${abs}: ${(parsed.error as Error).message}`, {
      line: 1,
      column: 1,
    });
  if (parsed.t === 'yaml') {
    // Every duplicate key (or other parse error), not only the first: one edit fixes them all.
    for (const m of parsed.error.more) env.report('YAML-LOAD', m.message, m);
    return fail('YAML-LOAD', parsed.error.message, parsed.error);
  }
  const { tree } = parsed;
  // Taken for a run already recorded with them (ADR 106): said, not refused.
  for (const n of parsed.notes)
    env.report('YAML-LOAD', `${n.message} (a new run is refused)`, n, { severity: 'warning' });
  if (tree.t !== 'map')
    return fail('YAML-LOAD', 'a blueprint is a mapping with version, name and steps', tree.pos);
  const before = shared.findings.length;
  const result = compileTop(env, tree);
  reportUnusedOutputs(env);
  suppress(shared.findings, before, abs, parsed.comments, parsed.ranges);
  if (result)
    countPlan(shared, result.root, [...fileStack, abs], (message, suggestion) =>
      (from ? from.env : env).report('V-I7', message, from ? from.at : tree.pos, { suggestion }),
    );
  return result;
}

function compileTop(env: Env, tree: YNode): { root: PlanNode; name: string } | undefined {
  for (const e of tree.t === 'map' ? tree.entries : []) {
    if ((TOP_IGNORED as readonly string[]).includes(e.key)) {
      env.report('V-K6', `'${e.key}' is accepted and ignored`, e.keyPos);
    }
  }
  env.checkKeys(tree, [...TOP_KEYS, ...TOP_IGNORED], 'blueprint', null);
  const versionNode = entry(tree, 'version')?.value;
  const version = versionNode ? String(plain(versionNode)) : '0.1';
  const normalized = version === '2' ? '2.0' : version;
  if (versionNode && !(VERSIONS as readonly string[]).includes(normalized)) {
    env.report('V-K3', `unsupported blueprint version '${version}'`, versionNode.pos, {
      suggestion: `use version: "0.1" (or "2.0", which Flujo's examples use and means the same)`,
    });
  }
  const nameNode = entry(tree, 'name')?.value;
  // Nameless: the name its run recorded when one is taken up (a renamed file resumes, ADR 142),
  // else the file's stem. An imported file is named by its own stem either way.
  const name =
    env.str(nameNode, 'name', null) ??
    (env.fileStack.length === 0 ? env.shared.opts.recordedName : undefined) ??
    posix.basename(env.file).replace(/\.ya?ml$/, '');
  // Recorded in RunStarted, printed by `run` and every lens command (ADR 108).
  env.controlName('pipeline name', name, nameNode?.pos ?? tree.pos, null);
  agentsSection(env, entry(tree, 'agents')?.value);
  importsSection(env, entry(tree, 'imports')?.value);
  const steps = entry(tree, 'steps');
  if (!steps) {
    env.report('V-K4', `a blueprint needs 'steps'`, tree.pos, {
      suggestion: `add 'steps:' with at least one step`,
    });
    return undefined;
  }
  const root = buildSteps(env, steps.value, name, {
    inLoop: false,
    inMap: false,
    condInLoop: false,
    yamlPath: 'steps',
  });
  checkUnusedImports(env);
  return {
    root: root.kind === 'sequence' ? root : { kind: 'sequence', name, steps: [root] },
    name,
  };
}

/**
 * An import no step uses is loaded as a used one is, and its findings kept: V-I1 (missing,
 * outside the project root), V-I3 (a cycle, a self-import too), V-I4 (its errors). They went
 * unchecked, and the blueprint validated clean. Only its findings: it is loaded beside the load
 * (its own modules, step references and helper-name counter), so the plan and the modules a
 * run imports are those of the blueprint without it. Its errors are a later rule's (ADR 106): a
 * run recorded before 21f4949 with such an import resumes and replays, warned.
 */
function checkUnusedImports(env: Env): void {
  const unused = [...env.imports].filter(([alias]) => !env.usedImports.has(alias));
  if (unused.length === 0) return;
  const { kept, ...shared } = env.shared;
  const probe: Shared = {
    ...shared,
    modules: new Map(),
    referenced: new Set(),
    ...(kept ? { kept: { names: new Set<string>(), all: false } } : {}),
  };
  const beside = new Env(env.file, env.dir, probe, [...env.fileStack], [...env.aliasStack]);
  const from = env.shared.findings.length;
  for (const [alias, imp] of unused) loadChild(beside, imp.path, alias, imp.pos);
  env.laterSince(from);
}

function importsSection(env: Env, node: YNode | undefined): void {
  if (!node) return;
  if (node.t !== 'map') {
    env.report('V-K4', `'imports' must map aliases to relative file paths`, node.pos);
    return;
  }
  for (const e of node.entries) {
    // An alias names the import's step (`<step>:<alias>`) and its branch, both recorded.
    env.controlName('import alias', e.key, e.keyPos, null);
    const p = env.str(e.value, `import '${e.key}'`, null);
    if (p) env.imports.set(e.key, { path: p, pos: e.value.pos });
  }
}

/**
 * Drops findings of this file suppressed by `# flujo: ignore <ids>` on the finding's own line,
 * or on the first line of (or the line before) the innermost step mapping holding it.
 */
function suppress(
  findings: Finding[],
  from: number,
  file: string,
  comments: ReadonlyMap<number, readonly string[]>,
  ranges: readonly Pos[],
): void {
  if (comments.size === 0) return;
  const kept = findings.slice(0, from);
  for (const f of findings.slice(from)) {
    // The plan's node limit holds whatever a comment says: past it the plan is cut short.
    if (f.file !== file || f.rule_id === 'V-I7') {
      kept.push(f);
      continue;
    }
    const inner = ranges
      .filter((r) => r.line <= f.line && f.line <= r.endLine)
      .sort((a, b) => a.endLine - a.line - (b.endLine - b.line))[0];
    const lines = [f.line, ...(inner ? [inner.line, inner.line - 1] : [])];
    const ids = lines.flatMap((l) => comments.get(l) ?? []);
    if (!ids.some((p) => matchesRule(p, f.rule_id))) kept.push(f);
  }
  findings.length = 0;
  findings.push(...kept);
}
