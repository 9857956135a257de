/**
 * What bounds a blueprint load (ADR 153). A file is read and parsed once per load, by its real
 * path, however many steps import it: each use still compiles it (its helper names and the
 * steps it reads are its own, so the plan is as before), but its findings are reported once.
 * And the plan has at most MAX_PLAN_NODES nodes: an import is inlined once per step that uses
 * it, so a file imported twice on each of 15 levels made 2^15 copies (11 s, 250 MB); past the
 * limit the load stops with V-I7, naming the import chain, whatever `# flujo: ignore` says.
 */
import { posix } from 'node:path';

import type { PlanNode } from '../dsl/ir.js';
import type { LoadOptions, Shared } from './envTypes.js';
import { ignoreComments, type Finding } from './findings.js';
import { MAX_PLAN_NODES } from './keys.js';
import { insideRoot } from './projectRoot.js';
import { children, stepRanges } from './walk.js';
import { parseYamlTree, YamlLoadError, type Pos, type YamlNote, type YNode } from './yamlTree.js';

/** A file as read and parsed, once per load. */
export type Parsed =
  | { readonly t: 'missing' }
  | { readonly t: 'unreadable'; readonly error: unknown }
  | { readonly t: 'yaml'; readonly error: YamlLoadError }
  | {
      readonly t: 'ok';
      readonly src: string;
      readonly tree: YNode;
      readonly notes: readonly YamlNote[];
      readonly comments: ReadonlyMap<number, string[]>;
      readonly ranges: readonly Pos[];
    };

/** Per load: files by path and by real path, and the count of plan nodes compiled so far. */
export interface LoadMemo {
  readonly byPath: Map<string, { readonly inside: boolean; readonly key: string }>;
  readonly byReal: Map<string, Parsed>;
  /** Plan nodes counted so far (each node object once), and whether V-I7 was reported. */
  nodes: number;
  over: boolean;
  readonly counted: WeakSet<PlanNode>;
}

export function newMemo(): LoadMemo {
  return { byPath: new Map(), byReal: new Map(), nodes: 0, over: false, counted: new WeakSet() };
}

/** Whether `abs` is inside the root (insideRoot), and the key its text is kept under. */
export function placeOf(shared: Shared, abs: string): { inside: boolean; key: string } {
  const known = shared.memo.byPath.get(abs);
  if (known) return known;
  let key = abs;
  try {
    key = shared.opts.files.realpath?.(abs) ?? abs;
  } catch {
    // not there: the existence check reports it
  }
  const place = { inside: insideRoot(shared.opts, abs), key };
  shared.memo.byPath.set(abs, place);
  return place;
}

/** The file at `abs` read and parsed, the first time it is asked for; after that, as it was. */
export function parseOnce(shared: Shared, abs: string, key: string): Parsed {
  const known = shared.memo.byReal.get(key);
  if (known) return known;
  const parsed = parse(shared.opts, abs);
  shared.memo.byReal.set(key, parsed);
  return parsed;
}

function parse(opts: LoadOptions, abs: string): Parsed {
  const files = opts.files;
  if (files.exists && !files.exists(abs)) return { t: 'missing' };
  let src: string;
  try {
    src = files.read(abs);
  } catch (e) {
    // Bytes that are not UTF-8: named where they are, as a YAML error would be.
    if (e instanceof YamlLoadError) return { t: 'yaml', error: e };
    return { t: 'unreadable', error: e };
  }
  const notes: YamlNote[] = [];
  try {
    const tree = parseYamlTree(src, opts.recordedRun ? { notes } : undefined);
    return { t: 'ok', src, tree, notes, comments: ignoreComments(src), ranges: stepRanges(tree) };
  } catch (e) {
    if (!(e instanceof YamlLoadError)) throw e;
    return { t: 'yaml', error: e };
  }
}

/** Counts the nodes of `root` not counted before; reports V-I7 the first time the sum passes. */
export function countPlan(
  shared: Shared,
  root: PlanNode,
  chain: readonly string[],
  report: (message: string, suggestion: string) => void,
): void {
  const memo = shared.memo;
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop() as PlanNode;
    if (memo.counted.has(n)) continue;
    memo.counted.add(n);
    memo.nodes += 1;
    for (const c of children(n)) stack.push(c);
  }
  if (memo.over || memo.nodes <= MAX_PLAN_NODES) return;
  memo.over = true;
  const files = chain.map((f) => posix.relative(shared.opts.root, f) || f);
  report(
    `the plan passes ${MAX_PLAN_NODES} nodes, the limit, loading ${files.join(' -> ')}: each step that uses an import inlines its own copy of that file and of the files it imports`,
    'use each import from fewer steps (a loop or a state machine runs one import step many times), or split the pipeline into several runs',
  );
}

/**
 * The findings with repeats left out: a file imported by several steps is compiled once per
 * step, and its findings, the same each time but for the import chain, are kept the first time.
 */
export function once(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = JSON.stringify([
      f.rule_id,
      f.severity,
      f.message,
      f.file,
      f.line,
      f.column,
      f.step_name,
      f.suggestion,
    ]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
