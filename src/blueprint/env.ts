/**
 * The state one blueprint file is compiled in: its findings, agents, imports and the helpers
 * every kind uses to read keys with positions and to check templates and expressions.
 *
 * Over 400 lines: the position-keeping key readers and the template and expression checks share
 * one findings list; not split yet.
 */
import type { CodeRef, TemplateValue } from '../dsl/ir.js';
import { expressionNames, parseExpression } from './expr.js';
import {
  finding,
  markResolution,
  nearest,
  type Finding,
  type RuleId,
  type Severity,
} from './findings.js';
import { SCOPE_ROOTS } from './keys.js';
import { hasTemplate, parseTemplate, TEMPLATE_FILTERS, templatePaths } from './template.js';
import type { UnusedCandidate } from './unusedOutput.js';
import { plain, type Pos, type YNode } from './yamlTree.js';

/** Reads blueprint files; the node:fs implementation lives in src/adapters/fs. */
export interface BlueprintFiles {
  read(absPath: string): string;
  exists?(absPath: string): boolean;
  /** The path with every symlink resolved, when the port can tell (throws if it does not exist). */
  realpath?(absPath: string): string;
}

/** The skill registry as the loader sees it (built elsewhere). */
export interface SkillCatalog {
  has(id: string): boolean;
  kind?(id: string): 'skill' | 'hitl';
  /** All ids, for "did you mean" suggestions. */
  ids?(): Iterable<string>;
  /**
   * `read`: the skill gets `{ input, context }`; `merge`: its output is deep-merged into the
   * context (docs/skills.md).
   */
  context?(id: string): 'read' | 'merge' | undefined;
}

export interface LoadOptions {
  readonly files: BlueprintFiles;
  /** Project root: blueprint, import, prompt and code files must be inside it. */
  readonly root: string;
  readonly allowOutsideRoot?: boolean;
  readonly skills?: SkillCatalog;
}

/** A project module a step calls (`uses: ./skills/clean.ts#normalize`); resolved outside. */
export interface CodeModuleRef {
  /** The plan function name (`code:<path from root>#<export>`). */
  readonly name: string;
  readonly absPath: string;
  readonly exportName: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /**
   * Called as a loop's `iteration_input_mapper`: Flujo hands it the number of the iteration
   * whose output it maps, one less than the engine's `iterationInput` gets (the next one).
   */
  readonly iterationMapper?: true;
}

export interface AgentSpec {
  readonly name: string;
  readonly model: string;
  readonly config: Record<string, unknown>;
  readonly retries?: number;
  readonly timeoutMs?: number;
  /** A system prompt rendered per call (it reads the run); `config.system` holds a static one. */
  readonly system?: CodeRef;
}

/** Where in the step tree we are: drives V-T2 and HITL-NESTED-001. */
export interface Where {
  readonly inLoop: boolean;
  readonly inMap: boolean;
  readonly condInLoop: boolean;
  readonly yamlPath: string;
  /** Inside a map body: the context path where the map parks the current item (`this`). */
  readonly thisPath?: string;
  /** A loop's exit_expression or propagation template: `iteration` is bound there. */
  readonly iteration?: boolean;
  /** The item paths of every map around this point, so a nested map never takes one of them. */
  readonly mapPaths?: readonly string[];
}

/** State shared by every file of one load (the root and its imports). */
export interface Shared {
  readonly opts: LoadOptions;
  readonly findings: Finding[];
  readonly modules: Map<string, CodeModuleRef>;
  /** Step names referenced as `steps.<name>`: the compiler keeps their outputs. */
  readonly referenced: Set<string>;
  hidden: number;
}

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

export class Env {
  readonly file: string;
  readonly dir: string;
  readonly shared: Shared;
  readonly agents = new Map<string, AgentSpec>();
  readonly imports = new Map<string, { path: string; pos: Pos }>();
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
    } = {},
  ): void {
    const f = finding(rule, message, { file: this.file, line: at.line, column: at.column }, extra);
    const out = this.aliasStack.length ? { ...f, import_stack: [...this.aliasStack] } : f;
    this.shared.findings.push(extra.resolution ? markResolution(out) : out);
  }

  /** Names of helper nodes the loader adds: `__` prefix, template-safe (no dots). */
  hiddenName(base: string, what: string): string {
    return `__${base.replace(/\W/g, '_')}_${what}${this.shared.hidden++}`;
  }

  /** Reports keys of `node` outside `allowed` (V-K1) and `ignored` ones (V-K5 warning). */
  checkKeys(
    node: YNode,
    allowed: readonly string[],
    what: string,
    step: string | null,
    ignored: readonly string[] = [],
  ): void {
    if (node.t !== 'map') return;
    for (const e of node.entries) {
      if (allowed.includes(e.key)) continue;
      if (ignored.includes(e.key)) {
        this.report(
          'V-K5',
          `${what}: '${e.key}' is accepted but not acted on by this engine`,
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
    const walk = (n: YNode): TemplateValue => {
      if (n.t === 'seq') return n.items.map(walk);
      if (n.t === 'map') return Object.fromEntries(n.entries.map((e) => [e.key, walk(e.value)]));
      const v = n.value;
      if (typeof v === 'string') {
        this.checkTemplate(v, n.pos, step, where, n.quoted ? 1 : 0);
        return v;
      }
      return typeof v === 'number' || typeof v === 'boolean' || v === null ? v : String(v);
    };
    const template = walk(node);
    return { template, ...thisOf(template, where) };
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
    if (/\{%/.test(src)) {
      this.report(
        'TEMPLATE-001',
        `'{% %}' blocks are not supported; use {{ expr }} and {{#if}} / {{#each}}`,
        pos,
        { step },
      );
      return;
    }
    if (!hasTemplate(src)) {
      const t = src.trim();
      if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
        try {
          JSON.parse(t);
        } catch {
          this.report('V-T6', `input looks like JSON but does not parse`, pos, { step });
        }
      }
      return;
    }
    let paths: string[];
    try {
      paths = templatePaths(parseTemplate(src), true);
    } catch (e) {
      this.syntaxError(e, pos, step, 'template', shift);
      return;
    }
    for (const p of paths) {
      if (!names.includes(p.split('.')[0] ?? '')) this.checkPath(p, pos, step, where);
    }
  }

  /** Parses an expression (a `{{ }}` wrapper is accepted) and checks the names it reads. */
  expression(node: YNode, step: string | null, where: Where): CodeRef | undefined {
    const src = this.str(node, 'expression', step);
    if (src === undefined) return undefined;
    let names: string[];
    try {
      names = expressionNames(parseExpression(src));
    } catch (e) {
      this.syntaxError(e, node.pos, step, 'expression', node.t === 'scalar' && node.quoted ? 1 : 0);
      return undefined;
    }
    for (const n of names) this.checkPath(n, node.pos, step, where, true);
    for (const m of src.matchAll(/\bsteps(?:\.([A-Za-z_][\w-]*)|\[\s*['"]([^'"]+)['"]\s*\])/g)) {
      this.checkPath(`steps.${m[1] ?? m[2]}`, node.pos, step, where);
    }
    return { expr: src, ...thisOf(src, where) };
  }

  /** Template positions are relative to the text; a quoted scalar's text starts one column on. */
  private syntaxError(
    e: unknown,
    pos: Pos,
    step: string | null,
    what: string,
    shift: number,
  ): void {
    const err = e as { line?: number; column?: number; reason?: string; message?: string };
    const inText = { line: err.line ?? 1, column: err.column ?? 1 };
    // In the file where the scalar's source can place it; else from the value's start, which is
    // exact for a one-line plain or quoted value and otherwise points at the value itself.
    const placed = pos.locate?.(inText.line, inText.column);
    const { line, column } =
      placed ??
      (inText.line === 1
        ? { line: pos.line, column: pos.column + shift + inText.column - 1 }
        : { line: pos.line, column: pos.column });
    const reason = err.reason ?? err.message ?? String(e);
    const filter = /^unknown filter '([^']+)'/.exec(reason)?.[1];
    if (filter !== undefined) {
      const fix = FILTER_FIXES[filter] ?? nearest(filter, TEMPLATE_FILTERS);
      this.report(
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
    this.report('TEMPLATE-001', `${what} error: ${reason}`, { line, column }, { step });
  }

  private checkPath(path: string, pos: Pos, step: string | null, where: Where, expr = false): void {
    const segs = path.split('.');
    const root = segs[0] ?? '';
    if (['true', 'false', 'True', 'False', 'None', 'null'].includes(root)) return;
    if (!(SCOPE_ROOTS as readonly string[]).includes(root)) {
      const near = nearest(root, SCOPE_ROOTS);
      this.report('V-T5', `unknown ${expr ? 'name' : 'template variable'} '${root}'`, pos, {
        step,
        suggestion: near ? `use '${near}'` : `use one of ${SCOPE_ROOTS.join(', ')}`,
      });
      return;
    }
    if (root === 'previous_step' && segs[1] === 'output') {
      this.report(
        'V-T1',
        `'previous_step.output': previous_step is already the previous step's output`,
        pos,
        {
          step,
          suggestion: `use 'previous_step' (or 'steps.<name>.output')`,
        },
      );
    }
    if (root === 'this' && !where.inMap) {
      this.report('V-T2', `'this' is only bound inside a map body`, pos, { step });
    }
    if (root === 'iteration' && !where.iteration) {
      this.report(
        'V-T5',
        `'iteration' is only bound in a loop's exit_expression and propagation template`,
        pos,
        { step },
      );
    }
    if (root === 'steps' && segs[1]) {
      const name = segs[1];
      this.shared.referenced.add(name);
      if (!this.names.has(name)) {
        const near = nearest(name, this.names.keys());
        this.report('V-T4', `'steps.${name}' names no step that runs before this one`, pos, {
          step,
          suggestion: near ? `did you mean 'steps.${near}'?` : null,
        });
      }
    }
  }
}
