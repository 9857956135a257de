/**
 * Validation findings: what `flujo validate` reports and what `flujo run` refuses on. Each names a
 * rule id (Flujo's where one fits, V-K* for our stricter key checks), the place (1-based line and
 * column of the offending key or value) and, where we can, a fix.
 */
import { MAX_PLAN_NODES } from './keys.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly rule_id: string;
  readonly severity: Severity;
  readonly message: string;
  readonly step_name: string | null;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly suggestion: string | null;
  /** The chain of import aliases that led to the file, outermost first. */
  readonly import_stack?: readonly string[];
}

/** Every rule the loader can report, with its default severity and a one-line summary. */
export const RULES = {
  'YAML-LOAD': ['error', 'the file is not valid YAML, or exceeds the alias / nesting limits'],
  'V-K1': ['error', 'unknown key in a step or section'],
  'V-K2': ['error', 'unknown step kind'],
  'V-K3': ['error', 'unsupported blueprint version'],
  'V-K4': ['error', 'a key has a value of the wrong type or a missing required key'],
  'V-K5': ['error', 'a kind or option Flujo documents that this engine does not support yet'],
  'V-K6': ['warning', 'a top-level key Flujo ignores (pipeline_config, description, vars)'],
  'V-K7': ['error', 'a Python import path where a TypeScript module reference is needed'],
  'V-K8': ['error', 'two steps share a name'],
  'V-A1': ['warning', 'a step without agent or uses runs as a passthrough'],
  'V-A5': ['warning', 'the previous output is not used and not merged into the context'],
  'V-A6': ['error', 'unknown agent, skill id, code module or model id'],
  'V-A7': [
    'warning',
    'max_retries is not a whole number of at least 0, or timeout not a non-negative number',
  ],
  'V-I1': ['error', 'an imported file does not exist'],
  'V-I2': ['error', 'an import outputs mapping has an invalid root'],
  'V-I3': ['error', 'cyclic import'],
  'V-I4': ['error', 'the imported blueprint has errors'],
  'V-I5': ['warning', 'input_to / input_scratchpad_key are inconsistent'],
  'V-I6': ['warning', 'inherit_conversation has no effect with inherit_context: true'],
  'V-I7': ['error', `the plan, its imports inlined, passes ${MAX_PLAN_NODES} nodes`],
  'V-T1': ['warning', 'previous_step.output (previous_step is already the output)'],
  'V-T2': ['warning', '`this` outside a map body'],
  'V-T3': ['error', 'unknown template filter (an error: the template cannot render)'],
  'V-T4': ['warning', 'steps.X refers to an unknown step or one that runs later'],
  'V-T5': ['warning', 'unknown variable root (an error in an expression, which fails on it)'],
  'V-T6': ['warning', 'an input that looks like JSON but does not parse'],
  'TEMPLATE-001': ['error', 'a template has a syntax error or uses {% %}'],
  'V-P1': ['warning', 'parallel branches may write the same context path, where the merge fails'],
  'V-L1': ['warning', 'a loop has no exit condition and no max_loops'],
  'V-CF1': ['warning', 'a loop whose exit expression is constantly false'],
  'V-SM1': ['warning', 'a state machine state is unreachable or a transition names no state'],
  'HITL-NESTED-001': ['warning', 'hitl inside a conditional inside a loop or map'],
  'MODULE-LOAD': ['error', 'a pipeline module does not load, or exports no pipeline a run takes'],
} as const satisfies Record<string, readonly [Severity, string]>;
export type RuleId = keyof typeof RULES;

/** Rules whose errors are resolution failures: the CLI exits 3 for them, not 4. */
export const RESOLUTION_RULES: ReadonlySet<string> = new Set([
  'V-I1',
  'V-I3',
  'V-I7',
  'MODULE-LOAD',
]);

/**
 * Findings of other rules that are resolution failures too: a `uses:` module, an agent `path:`
 * or a prompt file that is missing or outside the project (V-A6), a module without the export
 * (ADR 76). Kept beside the finding, not in it, so the JSON shape of a finding stays as it is.
 */
const resolutionFindings = new WeakSet<Finding>();

export function markResolution(f: Finding): Finding {
  resolutionFindings.add(f);
  return f;
}

/** Whether an error finding makes the CLI exit 3 (import or module resolution) rather than 4. */
export function isResolution(f: Finding): boolean {
  return RESOLUTION_RULES.has(f.rule_id) || resolutionFindings.has(f);
}

/**
 * Findings in reading order: by file, then line, then column; findings at the same place keep
 * the order the loader reported them in (Array.prototype.sort is stable).
 */
export function byPosition<T extends Pick<Finding, 'file' | 'line' | 'column'>>(
  findings: readonly T[],
): T[] {
  return [...findings].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
  );
}

/** The CLI exit code for a set of findings: 0 none is an error, 3 one is a resolution failure, else 4. */
export function exitCodeOf(findings: readonly Finding[]): 0 | 3 | 4 {
  const errors = findings.filter((f) => f.severity === 'error');
  return errors.length === 0 ? 0 : errors.some(isResolution) ? 3 : 4;
}

export interface Place {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export function finding(
  rule: RuleId,
  message: string,
  at: Place,
  extra: { step?: string | null; suggestion?: string | null; severity?: Severity } = {},
): Finding {
  return {
    rule_id: rule,
    severity: extra.severity ?? RULES[rule][0],
    message,
    step_name: extra.step ?? null,
    file: at.file,
    line: at.line,
    column: at.column,
    suggestion: extra.suggestion ?? null,
  };
}

/** The nearest candidate by edit distance, when it is close enough to be a likely typo. */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function distance(a: string, b: string): number {
  // Damerau (optimal string alignment) so that `inptu` -> `input` is one edit.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** `# flujo: ignore V-T1, V-P*` comments, by 1-based line. */
export function ignoreComments(src: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  src.split('\n').forEach((line, i) => {
    const m = /#\s*flujo:\s*ignore\b(.*)$/.exec(line);
    if (m) out.set(i + 1, (m[1] ?? '').split(/[\s,]+/).filter(Boolean));
  });
  return out;
}

/** Whether a rule id matches a suppression pattern (`V-T1`, `V-*`, `*`). */
export function matchesRule(pattern: string, rule: string): boolean {
  if (!pattern.includes('*')) return pattern.toUpperCase() === rule.toUpperCase();
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
    'i',
  );
  return re.test(rule);
}
