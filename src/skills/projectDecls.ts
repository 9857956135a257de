/**
 * Reading `skills.yaml` (see ./project.ts): every declaration is checked before any module is
 * imported, and every problem is reported at once, each at the file:line:column of the key or
 * value at fault (the `yaml` package's LineCounter), in one SKILLS_CONFIG_INVALID (exit 2).
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { Ajv2020 } from 'ajv/dist/2020.js';
import { AJV_OPTIONS } from '../dsl/jsonSchema.js';
import { utf8TextOf } from '../adapters/fs/utf8Text.js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';

import { allowedBy, allowFix, allowWords, resolveEntries } from '../blueprint/allowedImports.js';
import { ConfigError, ErrorCode, unreadableFile } from '../errors.js';
import type { JsonSchema } from './types.js';

const KNOWN = new Set([
  'id',
  'path',
  'export',
  'description',
  'side_effects',
  'input_schema',
  'output_schema',
  'arg_schema',
]);
// Flujo catalog fields we accept and do not use (yet).
const IGNORED = new Set([
  'capabilities',
  'safety_level',
  'auth_required',
  'auth_scope',
  'version',
  'scope',
  'est_cost',
]);
const ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export interface Decl {
  readonly id: string;
  readonly at: string;
  readonly spec: string;
  readonly exportName: string;
  readonly description: string;
  readonly sideEffects: boolean;
  readonly schemas: { input?: JsonSchema; output?: JsonSchema; params?: JsonSchema };
}

export const inside = (root: string, p: string) => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** What skills.yaml is read with: the project root and flujo.toml's allow-list. */
export interface AllowOptions {
  readonly projectRoot: string;
  /** flujo.toml's `blueprint_allowed_imports` (src/blueprint/allowedImports.ts, ADR 152). */
  readonly allowedImports?: readonly string[];
  /** The settings file a fix names (default `flujo.toml`). */
  readonly configFile?: string;
}

/** A path with its symlinks resolved, or as it is when it does not exist. */
export function realOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** The allow-list resolved against the project root; a bad entry is CONFIG_INVALID. */
export function allowedIn(projectRoot: string, opts: AllowOptions) {
  const raw = opts.allowedImports ?? [];
  try {
    return {
      raw,
      root: realOr(projectRoot),
      file: opts.configFile ?? 'flujo.toml',
      entries: resolveEntries(raw, projectRoot, realOr),
    };
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    throw new ConfigError(ErrorCode.CONFIG_INVALID, e.message, {
      key: 'blueprint_allowed_imports',
    });
  }
}

export async function readSkillDecls(file: string, opts: AllowOptions): Promise<Decl[]> {
  let text: string;
  try {
    text = utf8TextOf(
      await readFile(file),
      file,
      (message) => new ConfigError(ErrorCode.SKILLS_CONFIG_INVALID, message, { file }),
    );
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(ErrorCode.SKILLS_CONFIG_INVALID, unreadableFile(file, 'YAML', e), {
      file,
    });
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const rel = path.relative(process.cwd(), file);
  const shown = rel && !rel.startsWith('..') ? rel : file;
  const findings: Finding[] = [];
  const where = (node: Node | null | undefined): string => {
    const { line, col } = lc.linePos(node?.range?.[0] ?? 0);
    return `${shown}:${line}:${col}`;
  };
  const report = (node: Node | null | undefined, message: string) => {
    const { line, col } = lc.linePos(node?.range?.[0] ?? 0);
    findings.push({ file: shown, line, column: col, message });
  };
  for (const e of doc.errors) {
    const { line, col } = lc.linePos(e.pos[0]);
    findings.push({
      file: shown,
      line,
      column: col,
      message: e.message.split('\n')[0] ?? 'YAML error',
    });
  }

  // Normalise both shapes to (id node, entry node) pairs.
  const entries: { idNode: Node | null; id: unknown; entry: Node | null }[] = [];
  let root = doc.contents as Node | null;
  if (
    isMap(root) &&
    root.items.length === 1 &&
    isScalar(root.items[0]?.key) &&
    root.items[0].key.value === 'skills' &&
    isSeq(root.items[0].value)
  )
    root = root.items[0].value;
  if (isSeq(root)) {
    for (const item of root.items as Node[]) {
      const idPair = isMap(item)
        ? (item.items as Pair<Node, Node>[]).find((p) => isScalar(p.key) && p.key.value === 'id')
        : undefined;
      entries.push({
        idNode: idPair?.value ?? item,
        id: isScalar(idPair?.value) ? idPair.value.value : undefined,
        entry: item,
      });
    }
  } else if (isMap(root)) {
    for (const p of root.items as Pair<Node, Node>[])
      entries.push({
        idNode: p.key,
        id: isScalar(p.key) ? p.key.value : undefined,
        entry: p.value,
      });
  } else if (root !== null && doc.errors.length === 0) {
    report(
      root,
      'skills.yaml must map skill ids to their declarations (or list entries with an id)',
    );
  }

  const ajv = new Ajv2020(AJV_OPTIONS);
  const decls: Decl[] = [];
  const seen = new Set<string>();
  const dir = path.dirname(file);
  const projectRoot = path.resolve(opts.projectRoot);
  const allow = allowedIn(projectRoot, opts);
  for (const { idNode, id, entry } of entries) {
    if (typeof id !== 'string' || !ID_RE.test(id)) {
      report(
        idNode,
        `skill id ${JSON.stringify(id ?? null)} must be a string of letters, digits, '_', '.', ':' or '-'`,
      );
      continue;
    }
    if (id.startsWith('flujo.'))
      report(idNode, `skill id '${id}' is reserved for Flujo's builtins; choose another prefix`);
    if (seen.has(id)) report(idNode, `skill '${id}' is declared twice`);
    seen.add(id);
    if (!isMap(entry)) {
      report(
        entry ?? idNode,
        `skill '${id}' must be a mapping with path, description and side_effects`,
      );
      continue;
    }
    const get = (key: string) =>
      (entry.items as Pair<Node, Node>[]).find((p) => isScalar(p.key) && p.key.value === key);
    for (const p of entry.items as Pair<Node, Node>[]) {
      const k = isScalar(p.key) ? String(p.key.value) : '';
      if (!KNOWN.has(k) && !IGNORED.has(k))
        report(
          p.key,
          `skill '${id}': unknown key '${k}'; expected ${[...KNOWN].filter((x) => x !== 'id').join(', ')}`,
        );
    }
    const str = (key: string, required: boolean): string | undefined => {
      const p = get(key);
      if (!p) {
        if (required) report(idNode, `skill '${id}' needs '${key}'`);
        return undefined;
      }
      if (isScalar(p.value) && typeof p.value.value === 'string' && p.value.value.trim())
        return p.value.value;
      report(p.value ?? p.key, `skill '${id}': '${key}' must be a non-empty string`);
      return undefined;
    };
    const pathStr = str('path', true);
    const description = str('description', true);
    let exportName = str('export', false);
    const se = get('side_effects');
    if (se && !(isScalar(se.value) && typeof se.value.value === 'boolean'))
      report(se.value ?? se.key, `skill '${id}': 'side_effects' must be true or false`);
    const schemas: Decl['schemas'] = {};
    for (const [key, slot] of [
      ['input_schema', 'input'],
      ['output_schema', 'output'],
      ['arg_schema', 'params'],
    ] as const) {
      const p = get(key);
      if (!p) continue;
      const value: unknown = p.value?.toJSON?.() ?? (isScalar(p.value) ? p.value.value : undefined);
      if (!isMap(p.value) && !(isScalar(p.value) && typeof value === 'boolean')) {
        report(p.value ?? p.key, `skill '${id}': '${key}' must be a JSON Schema mapping`);
        continue;
      }
      try {
        ajv.compile(value as object);
        schemas[slot] = value as JsonSchema;
      } catch (e) {
        report(
          p.value,
          `skill '${id}': '${key}' is not a valid JSON Schema: ${(e as Error).message}`,
        );
      }
    }
    if (!pathStr) continue;
    let spec = pathStr;
    const colon = pathStr.lastIndexOf(':');
    if (colon > 0 && /^[A-Za-z_$][\w$]*$/.test(pathStr.slice(colon + 1))) {
      spec = pathStr.slice(0, colon);
      exportName ??= pathStr.slice(colon + 1);
    }
    const pathNode = get('path')?.value;
    const isFile = spec.startsWith('.') || path.isAbsolute(spec);
    if (isFile) {
      const resolved = path.resolve(dir, spec);
      const real = realOr(resolved);
      if (!inside(projectRoot, resolved) && !allowedBy(allow.entries, real))
        report(
          pathNode,
          `skill '${id}': module ${spec} is outside the project ${projectRoot}; ${allowFix(allow.raw, allow.root, real, allow.file)}`,
        );
      spec = resolved;
    } else if (!allow.entries.some((e) => e.kind === 'package' && e.raw === spec)) {
      // `mypkg.skills:Factory` is Flujo's (Python) form: say what a JS/TS module path is too.
      const python = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/.test(spec)
        ? `; if '${pathStr}' is a Python module path, name a JS/TS module instead: ./${spec.split('.').join('/')}.ts:${exportName ?? 'default'}`
        : '';
      report(
        pathNode,
        `skill '${id}': package '${spec}' is not allow-listed; to load it from the project's node_modules, ${allowWords(allow.raw, spec, allow.file)}; or use a ./relative module${python}`,
      );
    }
    if (description)
      decls.push({
        id,
        at: where(pathNode),
        spec,
        exportName: exportName ?? 'default',
        description,
        sideEffects: se !== undefined && isScalar(se.value) && se.value.value === true,
        schemas,
      });
  }
  if (findings.length > 0) {
    findings.sort((a, b) => a.line - b.line || a.column - b.column);
    const first = findings[0] as Finding;
    throw new ConfigError(
      ErrorCode.SKILLS_CONFIG_INVALID,
      findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.message}`).join('\n'),
      { file: first.file, line: first.line, column: first.column, findings },
    );
  }
  return decls;
}
