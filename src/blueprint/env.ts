/**
 * The state one blueprint file is compiled in: its findings, agents, imports and the helpers
 * every kind uses to read keys with positions and to check templates and expressions. The
 * template and expression checks are in ./envTemplates.ts, the load's ports and shapes in
 * ./envTypes.ts (re-exported here).
 */
import { stepNameProblem } from '../dsl/checks.js';
import type { CodeRef } from '../dsl/ir.js';
import * as checks from './envTemplates.js';
import type { AgentSpec, Shared, Where } from './envTypes.js';
import {
  finding,
  isResolution,
  markResolution,
  nearest,
  type Finding,
  type RuleId,
  type Severity,
} from './findings.js';
import type { UnusedCandidate } from './unusedOutput.js';
import { plain, type Pos, type YNode } from './yamlTree.js';

export { thisOf } from './envTemplates.js';
export type {
  AgentSpec,
  BlueprintFiles,
  CodeModuleRef,
  LoadOptions,
  Shared,
  SkillCatalog,
  Where,
} from './envTypes.js';

export class Env {
  readonly file: string;
  readonly dir: string;
  readonly shared: Shared;
  readonly agents = new Map<string, AgentSpec>();
  /** Agents declared but not usable, with why (`it has no 'model'`) and where: a step names them. */
  readonly invalidAgents = new Map<string, { why: string; line: number }>();
  readonly imports = new Map<string, { path: string; pos: Pos }>();
  /** Import aliases a step uses; the others are loaded once more, to be checked. */
  readonly usedImports = new Set<string>();
  /** Import chain of files, outermost first (for cycle detection). */
  readonly fileStack: readonly string[];
  readonly aliasStack: readonly string[];
  /** Step names defined so far in this file, in document order. */
  readonly names = new Map<string, Pos>();
  /** V-A5 candidates, reported once the whole file is read (./unusedOutput.ts). */
  readonly unused: UnusedCandidate[] = [];
  constructor(
    file: string,
    dir: string,
    shared: Shared,
    fileStack: string[],
    aliasStack: string[],
  ) {
    this.file = file;
    this.dir = dir;
    this.shared = shared;
    this.fileStack = fileStack;
    this.aliasStack = aliasStack;
  }

  report(
    rule: RuleId,
    message: string,
    at: Pos | { line: number; column: number },
    extra: {
      step?: string | null;
      suggestion?: string | null;
      severity?: Severity;
      /** A file or module that cannot be resolved: the CLI exits 3 for it (ADR 76). */
      resolution?: boolean;
      /**
       * An error of a rule added after runs were recorded with what it refuses: a warning for the
       * pipeline of a run already recorded, saying a new run is refused (ADR 106).
       */
      later?: boolean;
    } = {},
  ): void {
    const f = finding(rule, message, { file: this.file, line: at.line, column: at.column }, extra);
    const out = this.aliasStack.length ? { ...f, import_stack: [...this.aliasStack] } : f;
    const mine = extra.later ? this.asLater(out) : out;
    this.shared.findings.push(extra.resolution ? markResolution(mine) : mine);
  }

  /**
   * The findings reported since `from` (up to `to`, a length of shared.findings) as a later
   * rule's (`report`'s `later`): for checks that report through shared code (checkKeys, an
   * import's load), or before it is known whether the rule is a later one for this step.
   */
  laterSince(from: number, to = this.shared.findings.length): void {
    const all = this.shared.findings;
    for (let i = from; i < to; i += 1) {
      const f = all[i];
      if (!f) continue;
      const later = this.asLater(f);
      if (later !== f) all[i] = isResolution(f) ? markResolution(later) : later;
    }
  }

  /** An error `f`, as a warning for a run already recorded (ADR 106); else `f` itself. */
  private asLater<F extends Finding>(f: F): F {
    // The plan's node limit (ADR 153) is never a warning: past it the plan is cut short.
    if (!this.shared.opts.recordedRun || f.severity !== 'error' || f.rule_id === 'V-I7') return f;
    return { ...f, severity: 'warning', message: `${f.message} (a new run is refused)` } as F;
  }

  /**
   * A name the user chose that runs record and the lens prints (a step's, a branch's, a state's,
   * the pipeline's) holding a control character: V-K4 at it, as `<what> "…" holds …`. A warning
   * for the pipeline of a run already recorded, which must go on with the names it has (ADR 106).
   * True when reported.
   */
  controlName(what: string, name: string, at: Pos, step: string | null): boolean {
    const problem = stepNameProblem(name);
    if (!problem) return false;
    this.report('V-K4', `${what} ${problem}`, at, {
      step,
      suggestion: 'write the name without control characters (a newline, a tab, ESC…)',
      ...(this.shared.opts.recordedRun ? { severity: 'warning' as const } : {}),
    });
    return true;
  }

  /**
   * A model id the agent port refuses (LoadOptions.modelProblem): V-A6 at `at`, and false. A
   * warning for the pipeline of a run already recorded (ADR 106), and true: it goes on.
   */
  modelId(agent: string, at: Pos, step: string | null, what: string): boolean {
    const problem = this.shared.opts.modelProblem?.(agent);
    if (problem === undefined) return true;
    this.report('V-A6', `${what}: ${problem}`, at, {
      step,
      suggestion:
        'an OpenAI-compatible server (Ollama, vLLM, Mistral, Groq…) is openai:<model> with OPENAI_BASE_URL in the environment or the env_file flujo.toml names',
      ...(this.shared.opts.recordedRun ? { severity: 'warning' as const } : {}),
    });
    return Boolean(this.shared.opts.recordedRun);
  }

  /** Names of helper nodes the loader adds: `__` prefix, template-safe (no dots). */
  hiddenName(base: string, what: string): string {
    return `__${base.replace(/\W/g, '_')}_${what}${this.shared.hidden++}`;
  }

  /**
   * Reports keys of `node` outside `allowed` (V-K1) and `ignored` ones (V-K5 warning, saying
   * `why[key]` when given).
   */
  checkKeys(
    node: YNode,
    allowed: readonly string[],
    what: string,
    step: string | null,
    ignored: readonly string[] = [],
    why: Readonly<Record<string, string>> = {},
  ): void {
    if (node.t !== 'map') return;
    for (const e of node.entries) {
      if (allowed.includes(e.key)) continue;
      if (ignored.includes(e.key)) {
        const reason = Object.hasOwn(why, e.key) ? `: ${why[e.key]}` : '';
        this.report(
          'V-K5',
          `${what}: '${e.key}' is accepted but not acted on by this engine${reason}`,
          e.keyPos,
          {
            step,
            severity: 'warning',
          },
        );
        continue;
      }
      const near = nearest(e.key, allowed);
      this.report(
        'V-K1',
        `${what}: unknown key '${e.key}'${near ? ` (did you mean '${near}'?)` : ''}`,
        e.keyPos,
        {
          step,
          suggestion: near
            ? `rename '${e.key}' to '${near}'`
            : `remove '${e.key}'; allowed: ${allowed.join(', ')}`,
        },
      );
    }
  }

  str(node: YNode | undefined, what: string, step: string | null): string | undefined {
    if (!node) return undefined;
    const v = plain(node);
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.report('V-K4', `${what} must be a string`, node.pos, { step });
    return undefined;
  }

  num(
    node: YNode | undefined,
    what: string,
    step: string | null,
    rule: RuleId = 'V-K4',
  ): number | undefined {
    if (!node) return undefined;
    const v = plain(node);
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n) && n >= 0) return n;
    this.report(rule, `${what} must be a non-negative number, got ${JSON.stringify(v)}`, node.pos, {
      step,
    });
    return undefined;
  }

  /**
   * A count (max_loops, max_transitions, max_retries, max_turns…): a whole number of at least
   * `min`, or a numeric string holding one. Else a finding at the value: the runtime floored 2.5
   * and took 0 for "the default". A value `num` takes (a finite number of at least 0) was taken
   * before counts were checked (5db5502): it is returned as it is, for the caller to compile as
   * it did then (floored), and its finding is a later rule's (ADR 106), so a run recorded with it
   * keeps its plan. Undefined for any other value.
   */
  count(
    node: YNode | undefined,
    what: string,
    step: string | null,
    min: number,
    rule: RuleId = 'V-K4',
  ): number | undefined {
    if (!node) return undefined;
    const v = plain(node);
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= min) return n;
    const took = typeof n === 'number' && Number.isFinite(n) && n >= 0;
    this.report(
      rule,
      `${what} must be a whole number of at least ${min}, got ${JSON.stringify(v)}`,
      node.pos,
      { step, later: took },
    );
    return took ? n : undefined;
  }

  bool(node: YNode | undefined, what: string, step: string | null): boolean | undefined {
    if (!node) return undefined;
    const v = plain(node);
    if (typeof v === 'boolean') return v;
    this.report('V-K4', `${what} must be true or false`, node.pos, { step });
    return undefined;
  }

  oneOf<T extends string>(
    node: YNode | undefined,
    allowed: readonly T[],
    what: string,
    step: string | null,
  ): T | undefined {
    const s = this.str(node, what, step);
    if (s === undefined || !node) return undefined;
    if ((allowed as readonly string[]).includes(s)) return s as T;
    const near = nearest(s, allowed);
    this.report('V-K4', `${what}: '${s}' is not one of ${allowed.join(', ')}`, node.pos, {
      step,
      suggestion: near ? `use '${near}'` : null,
    });
    return undefined;
  }

  /** Checks the templates inside a value (reported where they are) and returns its CodeRef. */
  template(node: YNode, step: string | null, where: Where): CodeRef {
    return checks.template(this, node, step, where);
  }

  /** Checks a template's syntax and the names it reads; `names` are extra bound roots (prompts). */
  checkTemplate(
    src: string,
    pos: Pos,
    step: string | null,
    where: Where,
    shift = 0,
    names: readonly string[] = [],
  ): void {
    checks.checkTemplate(this, src, pos, step, where, shift, names);
  }

  /** Parses an expression (a `{{ }}` wrapper is accepted) and checks the names it reads. */
  expression(node: YNode, step: string | null, where: Where): CodeRef | undefined {
    return checks.expression(this, node, step, where);
  }
}
