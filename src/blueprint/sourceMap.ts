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

/** One template or expression text in a file; `shift` is 1 for a quoted scalar. */
export interface PlacedText {
  readonly pos: Pos;
  readonly shift: number;
}

/** A code reference's place: the file, the step, the value node, and its texts with templates. */
export interface CodePlace {
  readonly what: 'template' | 'expression';
  readonly file: string;
  readonly step: string | null;
  readonly at: Pos;
  readonly texts: readonly PlacedText[];
}

const placed = new WeakMap<object, CodePlace>();
const byPlan = new WeakMap<PlanIR, ReadonlyMap<string, CodePlace>>();

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
): T {
  if (!node) return ref;
  const shift = node.t === 'scalar' && node.quoted ? 1 : 0;
  const what = 'expr' in ref ? 'expression' : 'template';
  return place(ref, { what, file, step, at: node.pos, texts: [{ pos: node.pos, shift }] });
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
      return [...own, [`${n.name}.message`, n.render]];
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

/** Builds the plan's map once it is complete; a label two places share is left out. */
export function mapSources(ir: PlanIR): void {
  const out = new Map<string, CodePlace>();
  const twice = new Set<string>();
  for (const n of allNodes(ir.root)) {
    for (const [label, ref] of labelled(n)) {
      const where = ref && placed.get(ref);
      if (!where) continue;
      if (out.has(label)) twice.add(label);
      out.set(label, where);
    }
  }
  for (const label of twice) out.delete(label);
  byPlan.set(ir, out);
}

/** The places of a loaded blueprint's code references by compiler label; none for the DSL. */
export function sourcesOf(ir: PlanIR): ReadonlyMap<string, CodePlace> | undefined {
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
}

const CODES = ['TEMPLATE_UNDEFINED', 'TEMPLATE_LIMIT', 'TEMPLATE_SYNTAX', 'EXPRESSION_ERROR'];

/**
 * The blueprint place of a run's PLAN_CODE_FAILED whose code is a template or an expression of
 * this plan (`pipeline code threw: <label>: [<CODE>] <reason> (at line L, column C)`), or
 * undefined (another failure, a DSL plan, a label the map does not hold).
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
  for (const k of sources.keys())
    if (body.startsWith(`${k}: `) && k.length > (label?.length ?? -1)) label = k;
  if (label === undefined) return undefined;
  const rest = body.slice(label.length + 2);
  if (!CODES.some((c) => rest.startsWith(`[${c}] `))) return undefined;
  const where = sources.get(label) as CodePlace;
  const at = /\(at line (\d+), column (\d+)\)$/.exec(rest);
  const [text] = where.texts;
  const exact = where.texts.length === 1 && text !== undefined;
  const pos =
    exact && at ? inFile(text, Number(at[1]), Number(at[2])) : exact ? text.pos : where.at;
  const { file, step, what } = where;
  return { file, line: pos.line, column: pos.column, step, label, what, exact };
}
