/**
 * The writer's draft, taken out of its reply and checked: the YAML block of the reply, `name:`
 * injected, then the blueprint validated in memory as the file it will be written to. What the
 * draft names (imports, prompt files, modules) is read only inside the root the written file is
 * validated and run in (ADR 150); the modules it calls are not imported, since that would run
 * code the model chose (ADR 151): they are listed as unchecked.
 */
import { posix } from 'node:path';

import { isMap, parseDocument, type Pair } from 'yaml';

import { nodeBlueprintFiles } from '../../adapters/fs/blueprintFiles.js';
import type { SkillCatalog } from '../../blueprint/env.js';
import { loadBlueprint } from '../../blueprint/loader.js';
import { insideRoot } from '../../blueprint/projectRoot.js';
import { modelIdProblem } from '../agents.js';

export interface ArchitectFinding {
  readonly rule_id: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  /** The file it is in, relative to the draft's root: the draft's own, an import, a prompt file. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly step_name: string | null;
  readonly suggestion: string | null;
}

/** The output of the validation step, and (with the plan) of the whole run. */
export interface Draft {
  readonly yaml: string;
  readonly name: string;
  readonly valid: boolean;
  readonly findings: readonly ArchitectFinding[];
  /**
   * The modules the draft calls, `path#export` relative to the draft's root: they exist inside
   * it, but their exports were not checked (ADR 151). Absent in runs recorded before.
   */
  readonly unchecked_modules?: readonly string[];
}

export interface ArchitectDeps {
  /**
   * The root the draft is confined to: the project root, or the output folder when that is
   * outside the project (draftRoot). Imports, prompt files and modules are read only inside it.
   */
  readonly root: string;
  /** Absolute path of the file being created (findings point at it; imports resolve beside it). */
  readonly file: string;
  readonly skills: SkillCatalog;
}

/**
 * The root a draft written into `dir` is checked in: the project root when `dir` is inside it,
 * else `dir` itself — the root `flujo validate` and `flujo run` find for the written file there
 * (its pipeline.yaml marks it). Never wider: a draft is never read outside it (ADR 150).
 */
export function draftRoot(projectRoot: string, dir: string): string {
  const rel = posix.relative(projectRoot, dir);
  const outside = rel === '..' || rel.startsWith('../') || posix.isAbsolute(rel);
  return outside ? dir : projectRoot;
}

/** A name for a pipeline made from its goal: lower-case words joined by dashes. */
export function slugOf(goal: string): string {
  const slug = goal
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'pipeline';
}

/** A fence line: up to any indent, three or more backticks or tildes, then the info string. */
const FENCE = /^([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$/;

interface Fenced {
  readonly tag: string;
  readonly body: string;
}

/**
 * The fenced blocks of a reply, in order (CommonMark's rules, loosely: a block closes at a fence
 * of its own character at least as long; an unclosed one runs to the end; each line loses the
 * opening fence's indent).
 */
function fencedBlocks(text: string): Fenced[] {
  const lines = text.split(/\r?\n/);
  const blocks: Fenced[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '', tag = ''] = open;
    // A backtick fence's info string holds no backtick (`[^`]*` above); a closing fence none.
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] ?? '';
      const close = /^[ \t]*(`{3,}|~{3,})[ \t]*$/.exec(line)?.[1] ?? '';
      if (close[0] === fence[0] && close.length >= fence.length) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    blocks.push({ tag: tag.toLowerCase(), body: body.join('\n') });
    i = j;
  }
  return blocks;
}

/**
 * The YAML inside a reply: the first fenced block tagged `yaml` or `yml`, else the first untagged
 * block, else the whole text. A block tagged otherwise (```bash) is never taken.
 */
export function yamlOf(reply: unknown): string {
  const text = typeof reply === 'string' ? reply : JSON.stringify(reply);
  const blocks = fencedBlocks(text);
  const block =
    blocks.find((b) => b.tag === 'yaml' || b.tag === 'yml') ?? blocks.find((b) => b.tag === '');
  if (!block) return text.trim() + '\n';
  return block.body.replace(/^(?:[ \t]*\n)+/, '').trimEnd() + '\n';
}

/**
 * Sets `name:` (a new key goes right after `version:`, else first), keeping comments; text
 * that is not a YAML mapping is left as it is (the validator reports it).
 */
export function withName(
  text: string,
  name: string | undefined,
  goal: string,
): { yaml: string; name: string } {
  const doc = parseDocument(text);
  const fallback = name ?? slugOf(goal);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return { yaml: text, name: fallback };
  const current = doc.get('name');
  const chosen = name ?? (typeof current === 'string' && current.trim() ? current : fallback);
  if (doc.has('name')) doc.set('name', chosen);
  else {
    const items = doc.contents.items as Pair[];
    const at = items.findIndex((p) => (p.key as { value?: unknown })?.value === 'version');
    items.splice(at + 1, 0, doc.createPair('name', chosen) as Pair);
  }
  return { yaml: doc.toString(), name: chosen };
}

/**
 * Validates blueprint text as if it were `deps.file`, with the project's skills, confined to
 * `deps.root`: the loader refuses a file outside it (V-I1, V-A6) before reading it, and the files
 * port it is given reads nothing outside it either, so no finding can quote such a file's text.
 */
export function checkDraft(
  text: string,
  deps: ArchitectDeps,
): { findings: ArchitectFinding[]; modules: string[] } {
  const confined = { root: deps.root, files: nodeBlueprintFiles };
  const files = {
    ...nodeBlueprintFiles,
    read: (p: string) => {
      if (p === deps.file) return text;
      if (!insideRoot(confined, p)) throw new Error(`${p} is outside ${deps.root}`);
      return nodeBlueprintFiles.read(p);
    },
    exists: (p: string) => (p === deps.file ? true : (nodeBlueprintFiles.exists?.(p) ?? false)),
    realpath: (p: string) => (p === deps.file ? p : (nodeBlueprintFiles.realpath?.(p) ?? p)),
  };
  const result = loadBlueprint(deps.file, {
    files,
    root: deps.root,
    skills: deps.skills,
    // A draft `run` would refuse for its model id is a finding the architect can fix.
    modelProblem: modelIdProblem,
  });
  const rel = (abs: string) => posix.relative(deps.root, abs) || abs;
  return {
    findings: result.findings.map((f) => ({
      rule_id: f.rule_id,
      severity: f.severity,
      message: f.message,
      file: rel(f.file),
      line: f.line,
      column: f.column,
      step_name: f.step_name,
      suggestion: f.suggestion,
    })),
    modules: [...new Set(result.modules.map((m) => `${rel(m.absPath)}#${m.exportName}`))],
  };
}
