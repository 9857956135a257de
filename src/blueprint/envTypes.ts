/** The ports and shapes a blueprint load is made of: what the loader reads and what it keeps. */
import type { CodeRef } from '../dsl/ir.js';
import type { AllowEntry } from './allowedImports.js';
import type { Finding } from './findings.js';
import type { LoadMemo } from './loadOnce.js';

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
  /**
   * A registry's own lookups, read when it lacks `ids` or `context` (one written before those
   * were part of `SkillRegistry`): the ids of `list()`, the `context` of `get(id)`.
   */
  list?(): Iterable<{ readonly id: string }>;
  get?(id: string): { readonly context?: 'read' | 'merge' | undefined } | undefined;
  /**
   * A `hitl` skill's declaration: its `inputSchema` checks the answer of a step that declares no
   * schema of its own (ADR 95). `SkillRegistry` answers it.
   */
  hitl?(
    id: string,
  ):
    | { readonly messageParam: string; readonly inputSchema: Readonly<Record<string, unknown>> }
    | undefined;
}

export interface LoadOptions {
  readonly files: BlueprintFiles;
  /** Project root: blueprint, import, prompt and code files must be inside it. */
  readonly root: string;
  readonly allowOutsideRoot?: boolean;
  /**
   * The folder files are confined to when it is not `root`: a blueprint named by a path outside
   * the project (`flujo run ../x.yaml`) reads only inside its own folder, as one inside the
   * project reads only inside the project (see outsideProject in ./projectRoot.ts).
   */
  readonly boundary?: string;
  /**
   * flujo.toml's `blueprint_allowed_imports`: the code modules outside the root a blueprint may
   * call (paths, relative to the root or absolute, and globs; ./allowedImports.ts, ADR 152).
   * Imported blueprints and prompt files stay inside the root.
   */
  readonly allowedImports?: readonly string[];
  /** The settings file a fix names (default `flujo.toml`). */
  readonly configFile?: string;
  readonly skills?: SkillCatalog;
  /**
   * Loading the pipeline of a run already recorded, to resume, replay or answer it (ADR 106): a
   * rule added after such a run could have been recorded (a step name with a control character,
   * an unquoted integer beyond 2^53 − 1) is a warning, so the run goes on with what it recorded;
   * a new run is refused.
   */
  readonly recordedRun?: boolean;
  /**
   * The pipeline name the run being taken up recorded (`RunStarted.pipeline.name`): a blueprint
   * with no `name:` of its own is named so, not after its file, so a renamed or moved file still
   * makes the plan the run recorded (ADR 142). A `name:` the file sets is its name.
   */
  readonly recordedName?: string;
  /**
   * The model ids the agent port takes: undefined for one it takes, else why not. The CLI passes
   * `flujo run`'s rule (`openai:<model>`, `anthropic:<model>`), so a step naming another is a
   * V-A6 finding, not a refusal when the run starts. Without it, any `provider:model` of a
   * provider name Flujo knows is taken: a library's own agent port decides.
   */
  readonly modelProblem?: (agent: string) => string | undefined;
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
  /**
   * A state machine transition's `when`: its scope is the transition's (context, output,
   * previous_step, steps, resume_input), which has no `this`, inside a map body too (ADR 140).
   */
  readonly transition?: boolean;
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
  /**
   * Step outputs read otherwise (ADR 123): by a subscript (`steps['x-y']`) or through
   * `context.step_outputs` (`names`), or `steps` / `context.step_outputs` read whole or by a
   * computed name (`all`). The compiler keeps them under `step-outputs-kept-for-every-read`.
   */
  kept?: { readonly names: Set<string>; all: boolean };
  hidden: number;
  /** LoadOptions.allowedImports resolved against the root (./allowedImports.ts). */
  readonly allow: readonly AllowEntry[];
  /** Files read once per load, and the plan's node count (./loadOnce.ts, ADR 153). */
  readonly memo: LoadMemo;
}
