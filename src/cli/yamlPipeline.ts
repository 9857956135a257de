/**
 * YAML blueprints for `flujo run` / `resume`: loaded with every validation rule; an invalid one
 * is refused with the same findings as `flujo validate` (exit 4, or 3 for imports).
 */
import { relative } from 'node:path';
import { outsideProject } from '../blueprint/projectRoot.js';

import { nodeBlueprintFiles, withBlueprintCode } from '../adapters/fs/blueprintFiles.js';
import type { Finding } from '../blueprint/findings.js';
import { loadBlueprint } from '../blueprint/loader.js';
import type { EffectiveConfig } from '../config/load.js';
import type { Plan } from '../dsl/ir.js';
import { EngineError, ErrorCode } from '../errors.js';
import type { SkillRegistry } from '../skills/types.js';
import { allowedImportsOf, catalogOf, modelIdProblem } from './agents.js';
import type { RecordedLoad } from './pipelineFile.js';
import { flujoCommand, shellWord } from './shell.js';

const where = (f: Finding) => `${relative(process.cwd(), f.file) || f.file}:${f.line}:${f.column}`;

export function formatFinding(f: Finding): string {
  return `${where(f)}: ${f.severity} ${f.rule_id}: ${f.message}${f.suggestion ? ` (${f.suggestion})` : ''}`;
}

export async function loadYamlPipeline(
  file: string,
  cfg: EffectiveConfig,
  registry: SkillRegistry,
  /** The pipeline of a run already recorded (ADR 106, 142). */
  opts: RecordedLoad = {},
): Promise<{ plan: Plan; warnings: string[] }> {
  const result = loadBlueprint(file, {
    files: nodeBlueprintFiles,
    root: cfg.root,
    // A blueprint outside the project reads only inside its own folder.
    ...outsideProject(cfg.root, file),
    ...allowedImportsOf(cfg),
    skills: catalogOf(registry),
    modelProblem: modelIdProblem,
    ...(opts.recordedRun ? { recordedRun: true } : {}),
    ...(opts.recordedName !== undefined ? { recordedName: opts.recordedName } : {}),
  });
  if (!result.plan || !result.isValid) {
    const lines = result.errors.map(formatFinding);
    const shown = relative(process.cwd(), file) || file;
    const one = lines.length === 1;
    throw new EngineError(
      ErrorCode.BLUEPRINT_INVALID,
      `${shown} is not a valid blueprint (${lines.length} error${one ? '' : 's'}); fix ${one ? 'it' : 'them'} or see: ${flujoCommand(`validate ${shellWord(shown)}`)}\n${lines.join('\n')}`,
      { exitCode: result.exitCode === 3 ? 3 : 4, details: { errors: result.errors } },
    );
  }
  return { plan: await withBlueprintCode(result), warnings: result.warnings.map(formatFinding) };
}
