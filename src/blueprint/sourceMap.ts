/**
 * Where the templates and expressions of a loaded blueprint sit in its files, kept beside the
 * plan, never in it: the Plan IR and so every fingerprint stay as they were (ADR 102). A run's
 * recorded failure names the code by its compiler label (`<node>.<role>`) and the place within
 * the template's text; `placeOf` turns that into the blueprint's file:line:column for whoever
 * prints the failure with the blueprint at hand. The recorded message itself does not change: a
 * position in it would differ after a comment is added above the step, which leaves the
 * fingerprint alone, and the replay of the run would then diverge at its failure.
 */
import { allNodes } from '../dsl/nodes.js';
import type { CodeRef, PlanIR, PlanNode } from '../dsl/ir.js';
import type { Pos, YNode } from './yamlTree.js';

/**
 * One template or expression text in a file; `shift` is 1 for a quoted scalar. `text` is the
 * text itself, to tell which of several places with one label can hold a recorded position.
 */
export interface PlacedText {
  readonly pos: Pos;
  readonly shift: number;
  readonly text?: string;
}

/** A code reference's place: the file, the step, the value node, and its texts with templates. */
export interface CodePlace {
  readonly what: 'template' | 'expression';
  readonly file: string;
  readonly step: string | null;
  readonly at: Pos;
  readonly texts: readonly PlacedText[];
  /**
   * What the code is, when the label does not say it (the label names a hidden step, or the
   * step using an agent): `agent writer's system prompt`, `step rounds' init (set context.log)`.
   */
  readonly role?: string;
}

const placed = new WeakMap<object, CodePlace>();
const byPlan = new WeakMap<PlanIR, ReadonlyMap<string, readonly CodePlace[]>>();

/** Records where `ref`'s texts are (the loader calls it as it builds code references). */
export function place<T extends CodeRef>(ref: T, where: CodePlace): T {
  placed.set(ref, where);
  return ref;
}

/** Places a code reference whose one text is the scalar `node` (an expression, a message). */
export function placeScalar<T extends CodeRef>(
  ref: T,
  file: string,
  step: string | null,
  node: YNode | undefined,
  role?: string,
): T {
  if (!node) return ref;
  const shift = node.t === 'scalar' && node.quoted ? 1 : 0;
  const what = 'expr' in ref ? 'expression' : 'template';
  const text = node.t === 'scalar' && typeof node.value === 'string' ? node.value : undefined;
  return place(ref, {
    what,
    file,
    step,
    at: node.pos,
    texts: [{ pos: node.pos, shift, ...(text !== undefined ? { text } : {}) }],
    ...(role !== undefined ? { role } : {}),
  });
}

/** The place of `from` for `to`, a code reference the loader rewrote from it; `role` if given. */
export function placeLike<T extends CodeRef>(to: T, from: CodeRef, role?: string): T {
  const where = placed.get(from);
  if (where) placed.set(to, role === undefined ? where : { ...where, role });
  return to;
}

/** A text position as a file position: the scalar's own source where it can place it. */
export function inFile(
  text: PlacedText,
  line: number,
  column: number,
): { line: number; column: number } {
  const { pos, shift } = text;
  return (
    pos.locate?.(line, column) ??
    (line === 1
      ? { line: pos.line, column: pos.column + shift + column - 1 }
      : { line: pos.line, column: pos.column })
  );
}

/** The compiler's labels (src/actors: `this.code(ref, where)`) for a node's code references. */
function labelled(n: PlanNode): [string, CodeRef | undefined][] {
  const own: [string, CodeRef | undefined][] = [[`${n.name}.input`, n.input]];
  switch (n.kind) {
    case 'step':
      return [...own, [`${n.name}.system`, n.system]];
    case 'hitl':
      // Both messages compile under one label (ADR 111's skillMessage for a flagged run).
      return [
        ...own,
        [`${n.name}.message`, n.render],
        [`${n.name}.message`, n.skillMessage?.render],
      ];
    case 'conditional':
      return [...own, [`${n.name}.condition`, n.condition]];
    case 'map':
      return [...own, [`${n.name}.items`, n.items], [`${n.name}.finalize`, n.finalize]];
    case 'loop':
      return [
        ...own,
        [`${n.name}.exit`, n.exit],
        [`${n.name}.iterationInput`, n.iterationInput],
        [`${n.name}.output`, n.output],
      ];
    case 'state_machine':
      return [
        ...own,
        ...n.transitions.map(
          (t) => [`${n.name}.transitions(${t.from} -> ${t.to}).when`, t.when] as [string, CodeRef],
        ),
      ];
    default:
      return own;
  }
}

/**
 * Builds the plan's map once it is complete. A label can stand for several places: a step of an
 * imported blueprint named as one of the parent's, or one blueprint imported twice. The recorded
 * message names only the label, so `placeOf` keeps the places that can hold its position.
 */
export function mapSources(ir: PlanIR): void {
  const out = new Map<string, CodePlace[]>();
  for (const n of allNodes(ir.root)) {
    for (const [label, ref] of labelled(n)) {
      const where = ref && placed.get(ref);
      if (!where) continue;
      const known = out.get(label);
      if (!known) out.set(label, [where]);
      else if (!known.some((k) => samePlace(k, where))) known.push(where);
    }
  }
  byPlan.set(ir, out);
}

/** One text in one file: a blueprint imported twice is loaded twice, to the same places. */
function samePlace(a: CodePlace, b: CodePlace): boolean {
  return (
    a === b ||
    (a.file === b.file &&
      a.at.line === b.at.line &&
      a.at.column === b.at.column &&
      a.role === b.role &&
      a.texts.length === b.texts.length)
  );
}

/** The places of a loaded blueprint's code references by compiler label; none for the DSL. */
export function sourcesOf(ir: PlanIR): ReadonlyMap<string, readonly CodePlace[]> | undefined {
  return byPlan.get(ir);
}

export interface FailurePlace {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly step: string | null;
  /** The compiler label: `<node>.<role>`. */
  readonly label: string;
  readonly what: 'template' | 'expression';
  /** False when the value holds several templates and the failing one is not known. */
  readonly exact: boolean;
  /** What the code is when the label does not say it (CodePlace.role). */
  readonly role?: string;
  /** Other places the label stands for that could hold the recorded position, in plan order. */
  readonly also?: readonly { file: string; line: number; column: number }[];
}

const CODES = ['TEMPLATE_UNDEFINED', 'TEMPLATE_LIMIT', 'TEMPLATE_SYNTAX', 'EXPRESSION_ERROR'];
/** What src/actors/compile.ts says after the label of code that returned such a value. */
const UNRECORDABLE = ' returned a value the ledger cannot record: ';

/**
 * The blueprint place of a run's PLAN_CODE_FAILED whose code is a template or an expression of
 * this plan (`pipeline code threw: <label>: [<CODE>] <reason> (at line L, column C)`), or
 * undefined (another failure, a DSL plan, a label the map does not hold). A label standing for
 * several places is placed at the first that can hold the position; the others are `also`.
 */
export function placeOf(
  ir: PlanIR,
  error: { readonly code: string; readonly message: string },
): FailurePlace | undefined {
  const sources = sourcesOf(ir);
  const prefix = 'pipeline code threw: ';
  if (!sources || error.code !== 'PLAN_CODE_FAILED' || !error.message.startsWith(prefix))
    return undefined;
  const body = error.message.slice(prefix.length);
  let label: string | undefined;
  let sep = ': ';
  for (const k of sources.keys())
    for (const s of [': ', UNRECORDABLE])
      if (body.startsWith(`${k}${s}`) && k.length > (label?.length ?? -1)) [label, sep] = [k, s];
  if (label === undefined) return undefined;
  const rest = body.slice(label.length + sep.length);
  // A value the template built that the ledger cannot record (`{{ 1e400 }}`, a `__proto__` key):
  // placed at the template, the position in it not known.
  if (sep === UNRECORDABLE) {
    const [first, ...others] = (sources.get(label) ?? []).map((w) => inBlueprint(w, undefined));
    if (!first) return undefined;
    const also = others.map(({ file, line, column }) => ({ file, line, column }));
    return { ...first, label, ...(also.length > 0 ? { also } : {}) };
  }
  if (!CODES.some((c) => rest.startsWith(`[${c}] `))) return undefined;
  const m = /\(at line (\d+), column (\d+)\)$/.exec(rest);
  const at = m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
  const all = sources.get(label) ?? [];
  const fit = all.filter((w) => holds(w, at));
  const [first, ...others] = (fit.length > 0 ? fit : all).map((w) => inBlueprint(w, at));
  if (!first) return undefined;
  const also = others.map(({ file, line, column }) => ({ file, line, column }));
  return { ...first, label, ...(also.length > 0 ? { also } : {}) };
}

/** Whether one of the place's texts has the recorded position (any, when a text is not known). */
function holds(where: CodePlace, at: { line: number; column: number } | undefined): boolean {
  if (!at || where.texts.length === 0) return true;
  return where.texts.some(({ text }) => {
    if (text === undefined) return true;
    const line = text.split('\n')[at.line - 1];
    return line !== undefined && at.column <= line.length + 1;
  });
}

function inBlueprint(
  where: CodePlace,
  at: { line: number; column: number } | undefined,
): Omit<FailurePlace, 'label'> {
  const [text] = where.texts;
  const exact = where.texts.length === 1 && text !== undefined;
  const pos = exact && at ? inFile(text, at.line, at.column) : exact ? text.pos : where.at;
  const { file, step, what, role } = where;
  return {
    file,
    line: pos.line,
    column: pos.column,
    step,
    what,
    exact,
    ...(role !== undefined ? { role } : {}),
  };
}
