/**
 * The template and expression checks of a blueprint file: syntax (with the error placed in the
 * file), the filters and the names a template or expression reads (V-T1..V-T6, TEMPLATE-001).
 * Env (./env.ts) calls them with itself; they report into its findings.
 */
import type { CodeRef, TemplateValue } from '../dsl/ir.js';
import type { Env } from './env.js';
import type { Where } from './envTypes.js';
import { expressionNames, expressionPaths, parseExpression } from './expr.js';
import { nearest } from './findings.js';
import { SCOPE_ROOTS } from './keys.js';
import { inFile, place, placeScalar, type PlacedText } from './sourceMap.js';
import {
  hasTemplate,
  jinjaStatementOffset,
  parseTemplate,
  TEMPLATE_FILTERS,
  templatePaths,
  templateUnrecordable,
} from './template.js';
import { positionOf } from './templateErrors.js';
import type { Pos, YNode } from './yamlTree.js';

/** Filter names authors reach for that mean one of ours (Flujo's V-T3 fixer has the first two). */
const FILTER_FIXES: Readonly<Record<string, string>> = {
  to_json: 'tojson',
  lowercase: 'lower',
  uppercase: 'upper',
  len: 'length',
};

/** `{thisPath}` when a code reference inside a map body mentions `this`. */
export function thisOf(value: TemplateValue, where: Where): { thisPath?: string } {
  if (!where.thisPath) return {};
  return /\bthis\b/.test(JSON.stringify(value)) ? { thisPath: where.thisPath } : {};
}

/** Checks the templates inside a value (reported where they are) and returns its CodeRef. */
export function template(env: Env, node: YNode, step: string | null, where: Where): CodeRef {
  const texts: PlacedText[] = [];
  const walk = (n: YNode): TemplateValue => {
    if (n.t === 'seq') return n.items.map(walk);
    if (n.t === 'map') return Object.fromEntries(n.entries.map((e) => [e.key, walk(e.value)]));
    const v = n.value;
    if (typeof v === 'string') {
      checkTemplate(env, v, n.pos, step, where, n.quoted ? 1 : 0);
      if (hasTemplate(v)) texts.push({ pos: n.pos, shift: n.quoted ? 1 : 0, text: v });
      return v;
    }
    return typeof v === 'number' || typeof v === 'boolean' || v === null ? v : String(v);
  };
  const template = walk(node);
  return place(
    { template, ...thisOf(template, where) },
    { what: 'template', file: env.file, step, at: node.pos, texts },
  );
}

/**
 * The place of a text that is a whole file of its own (a `from_file` prompt): its syntax errors
 * are in `file`, line for line; what has no place in the text (an unknown name) is at `from`,
 * where the blueprint names the file.
 */
export interface FilePos extends Pos {
  readonly file: string;
  readonly from: Pos;
}

/** Line 1, column 1 of `file`, placing a text position at the same line and column there. */
export function wholeFile(file: string, from: Pos): FilePos {
  const locate = (line: number, column: number) => ({ line, column });
  return { file, from, line: 1, column: 1, endLine: 1, locate };
}

const namesPlace = (pos: Pos): Pos => ('from' in pos ? (pos as FilePos).from : pos);

/** env.report, in the file `pos` names when it is a FilePos (a prompt file's own errors). */
function reportAt(
  env: Env,
  pos: Pos,
  rule: Parameters<Env['report']>[0],
  message: string,
  at: { line: number; column: number },
  extra: Parameters<Env['report']>[3],
): void {
  const before = env.shared.findings.length;
  env.report(rule, message, at, extra);
  const f = env.shared.findings[before];
  if ('file' in pos && typeof pos.file === 'string' && f)
    env.shared.findings[before] = { ...f, file: pos.file };
}

/** Checks a template's syntax and the names it reads; `names` are extra bound roots (prompts). */
export function checkTemplate(
  env: Env,
  src: string,
  pos: Pos,
  step: string | null,
  where: Where,
  shift = 0,
  names: readonly string[] = [],
): void {
  const jinja = jinjaStatementOffset(src);
  if (jinja >= 0) {
    // At the `{%` itself (was the value's start: its opening quote).
    const at = positionOf(src, jinja);
    reportAt(
      env,
      pos,
      'TEMPLATE-001',
      `'{% %}' blocks are not supported; use {{ expr }} and {{#if}} / {{#each}}`,
      inFile({ pos, shift }, at.line, at.column),
      { step },
    );
    // Its `{{ }}` tags are still parsed, so an unknown filter beside it (`| to_json`) is V-T3 in
    // the same pass. The names they read are not checked: a `{% for x in … %}` binds its own.
    if (hasTemplate(src)) {
      try {
        parseTemplate(src);
      } catch (e) {
        syntaxError(env, e, pos, step, 'template', shift);
      }
    }
    return;
  }
  if (!hasTemplate(src)) {
    const t = src.trim();
    if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
      try {
        JSON.parse(t);
      } catch {
        env.report('V-T6', `input looks like JSON but does not parse`, namesPlace(pos), { step });
      }
    }
    return;
  }
  let paths: string[];
  try {
    const parsed = parseTemplate(src);
    paths = templatePaths(parsed, true);
    const bad = templateUnrecordable(parsed);
    // A run would fail on it with no place but the template's (LEDGER_ENCODE): said here, where.
    if (bad) {
      const at = positionOf(src, bad.pos);
      reportAt(
        env,
        pos,
        'TEMPLATE-001',
        `template error: ${bad.what} makes a value no run can record`,
        inFile({ pos, shift }, at.line, at.column),
        // Found since 032f841: a run recorded with it in a branch not taken goes on (ADR 106).
        { step, later: true },
      );
    }
  } catch (e) {
    syntaxError(env, e, pos, step, 'template', shift);
    return;
  }
  for (const p of paths) {
    if (!names.includes(segmentsOf(p)[0]?.key ?? ''))
      checkPath(env, p, namesPlace(pos), step, where, false, names);
  }
}

/** Parses an expression (a `{{ }}` wrapper is accepted) and checks the names it reads. */
export function expression(
  env: Env,
  node: YNode,
  step: string | null,
  where: Where,
): CodeRef | undefined {
  const src = env.str(node, 'expression', step);
  if (src === undefined) return undefined;
  let names: string[];
  let paths: string[];
  try {
    const parsed = parseExpression(src);
    names = expressionNames(parsed);
    paths = expressionPaths(parsed);
  } catch (e) {
    syntaxError(env, e, node.pos, step, 'expression', node.t === 'scalar' && node.quoted ? 1 : 0);
    return undefined;
  }
  for (const n of names) checkPath(env, n, node.pos, step, where, true);
  // `steps['x-y']` is referenced below, as it always was in an expression; the rest is ADR 123's.
  for (const p of paths) {
    const segs = segmentsOf(p);
    if (segs[0]?.key !== 'steps' || segs.length === 1) keptReads(env, segs);
  }
  for (const m of src.matchAll(/\bsteps(?:\.([A-Za-z_][\w-]*)|\[\s*['"]([^'"]+)['"]\s*\])/g)) {
    checkPath(env, `steps.${m[1] ?? m[2]}`, node.pos, step, where);
  }
  return placeScalar({ expr: src, ...thisOf(src, where) }, env.file, step, node);
}

/** Template positions are relative to the text; a quoted scalar's text starts one column on. */
function syntaxError(
  env: Env,
  e: unknown,
  pos: Pos,
  step: string | null,
  what: string,
  shift: number,
): void {
  const err = e as { line?: number; column?: number; reason?: string; message?: string };
  // In the file where the scalar's source can place it; else from the value's start, which is
  // exact for a one-line plain or quoted value and otherwise points at the value itself.
  const { line, column } = inFile({ pos, shift }, err.line ?? 1, err.column ?? 1);
  const reason = err.reason ?? err.message ?? String(e);
  const filter = /^unknown filter '([^']+)'/.exec(reason)?.[1];
  if (filter !== undefined) {
    const fix = FILTER_FIXES[filter] ?? nearest(filter, TEMPLATE_FILTERS);
    reportAt(
      env,
      pos,
      'V-T3',
      `unknown template filter '${filter}'`,
      { line, column },
      {
        step,
        suggestion: fix ? `use '${fix}'` : `use one of ${TEMPLATE_FILTERS.join(', ')}`,
      },
    );
    return;
  }
  reportAt(env, pos, 'TEMPLATE-001', `${what} error: ${reason}`, { line, column }, { step });
}

/** One key of a data path, and whether it was written as a subscript (`["x-y"]`, `[0]`). */
interface Segment {
  readonly key: string;
  readonly sub: boolean;
}

const SEGMENT = /\.([^.[]+)|\[(-?[0-9]+)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/** `a.b[0]["k x"]` (a static path as templatePaths writes it) as its root and keys. */
export function segmentsOf(path: string): Segment[] {
  const root = /^[^.[]*/.exec(path)?.[0] ?? '';
  const out: Segment[] = [{ key: root, sub: false }];
  for (let i = root.length; i < path.length;) {
    SEGMENT.lastIndex = i;
    const m = SEGMENT.exec(path);
    if (!m) break;
    const [, dotted, index, quoted] = m;
    out.push(
      dotted !== undefined
        ? { key: dotted, sub: false }
        : { key: index ?? (JSON.parse(quoted ?? '""') as string), sub: true },
    );
    i = SEGMENT.lastIndex;
  }
  return out;
}

/**
 * Step outputs read other than as `steps.<name>` (ADR 123): a step read by a subscript or
 * through `context.step_outputs` is kept by name; `steps` or `context.step_outputs` read whole
 * (`| tojson`, `#each`) or by a computed name (`steps[context.which]`) keeps every step's.
 */
function keptReads(env: Env, segs: readonly Segment[]): void {
  const [root, first, second] = segs;
  let name: string | undefined;
  if (root?.key === 'steps') name = first?.key;
  else if (root?.key === 'context' && first?.key === 'step_outputs') name = second?.key;
  else return;
  const kept = (env.shared.kept ??= { names: new Set(), all: false });
  if (name === undefined) kept.all = true;
  else kept.names.add(name);
}

function checkPath(
  env: Env,
  path: string,
  pos: Pos,
  step: string | null,
  where: Where,
  expr = false,
  names: readonly string[] = [],
): void {
  const parsed = segmentsOf(path);
  const segs = parsed.map((s) => s.key);
  const root = segs[0] ?? '';
  if (['true', 'false', 'True', 'False', 'None', 'null'].includes(root)) return;
  // A template renders an unknown name as undefined; an expression fails where it reads one (a
  // `when` does not match): an error for a new run since ADR 131, so a warning for a run already
  // recorded, whose plan it leaves as it was (ADR 106).
  const unbound = expr
    ? { severity: 'error' as const, later: true, fails: ': an expression fails where it reads it' }
    : { fails: '' };
  if (!(SCOPE_ROOTS as readonly string[]).includes(root)) {
    env.report(
      'V-T5',
      `unknown ${expr ? 'name' : 'template variable'} '${root}'${unbound.fails}`,
      pos,
      { step, suggestion: unknownRootFix(root, where, names), ...unbound },
    );
    return;
  }
  if (root === 'previous_step' && segs[1] === 'output') {
    env.report(
      'V-T1',
      `'previous_step.output': previous_step is already the previous step's output`,
      pos,
      {
        step,
        suggestion: `use 'previous_step' (or 'steps.<name>.output')`,
      },
    );
  }
  if (root === 'this' && where.transition) {
    // A `when` that reads `this` never matches (its evaluation fails, and a failing `when` does
    // not match), inside a map body as outside: no map parks the item in a transition's scope.
    env.report(
      'V-T5',
      `'this' is not bound in a transition's when (it sees context, output, previous_step, steps, resume_input)${unbound.fails}`,
      pos,
      {
        step,
        suggestion: `read the item from what the state's steps output ('previous_step') or wrote into the context`,
        ...unbound,
      },
    );
  } else if (root === 'this' && !where.inMap) {
    env.report('V-T2', `'this' is only bound inside a map body`, pos, { step });
  }
  if (root === 'iteration' && !where.iteration) {
    env.report(
      'V-T5',
      `'iteration' is only bound in a loop's exit_expression and propagation template${unbound.fails}`,
      pos,
      { step, ...unbound },
    );
  }
  if (!expr && !(root === 'steps' && parsed[1]?.sub === false)) keptReads(env, parsed);
  if (root === 'steps' && segs[1] !== undefined) {
    const name = segs[1];
    // `steps.<name>` keeps the output as it always has (`record`); a subscript is ADR 123's
    // (keptReads). Before c9d9fb1 the name was the path's text up to the next dot, so
    // `steps.x[0]` named `x[0]`, not `x`: the name it read then is recorded as it was, and `x`
    // is kept under ADR 123's flag (keepOutput), so a run recorded before keeps its plan.
    if (!parsed[1]?.sub) {
      const named = path.split('.')[1] ?? '';
      env.shared.referenced.add(named);
      if (named !== name) keptReads(env, parsed);
    }
    if (!env.names.has(name)) {
      const near = nearest(name, env.names.keys());
      env.report('V-T4', `'steps.${name}' names no step that runs before this one`, pos, {
        step,
        suggestion: near ? `did you mean 'steps.${near}'?` : null,
      });
    }
  }
}

/**
 * The roots a template or expression may read here without a finding, for V-T5's fix: `this`
 * in a map body (not in a transition's `when`), `iteration` in a loop's exit_expression and
 * propagation template, and a prompt's own variables (`names`).
 */
function rootsHere(where: Where, names: readonly string[]): string[] {
  return [
    ...SCOPE_ROOTS.filter(
      (r) =>
        (r !== 'this' || (where.inMap && !where.transition)) &&
        (r !== 'iteration' || where.iteration === true),
    ),
    ...names,
  ];
}

/** `use 'iteration'` only where it is bound; elsewhere where it is, and what is bound here. */
function unknownRootFix(root: string, where: Where, names: readonly string[]): string {
  const here = rootsHere(where, names);
  const near = nearest(root, [...SCOPE_ROOTS, ...names]);
  if (near && here.includes(near)) return `use '${near}'`;
  const only =
    near === 'this'
      ? where.transition
        ? `'this' is not bound in a transition's when; `
        : `'this' is bound only in a map body; `
      : near === 'iteration'
        ? `'iteration' is bound only in a loop's exit_expression and propagation template; `
        : '';
  return `${only}use one of ${here.join(', ')}`;
}
