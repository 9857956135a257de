/**
 * The Plan IR: the one intermediate form of a pipeline. The TypeScript builder (./builder.ts)
 * and the YAML loader both produce it; the actor compiler (src/actors) turns it into an XState
 * machine. The IR is plain data, so its canonical CBOR can be hashed into the pipeline
 * fingerprint. Code it refers to (TS functions for mappers, conditions, function steps) lives
 * beside it in `Plan.functions`, addressed by name; the fingerprint covers their names, not their
 * source text (src/dsl/fingerprint.ts says why).
 */

/** A pure function the plan calls by name: `(args) => value`. Must be deterministic. */
export type PlanFunction = (...args: never[]) => unknown;

/** JSON-like data whose strings may be `{{ … }}` templates (YAML `input:` mappings). */
export type TemplateValue =
  | string
  | number
  | boolean
  | null
  | readonly TemplateValue[]
  | { readonly [key: string]: TemplateValue };

/**
 * A reference to code: a named function of the plan, a safe expression (YAML), a template
 * rendered against the role's named scope (YAML `input:`, `output_template`…), or a context
 * operation (YAML loop `init` / `state`) that yields the new value of `target`. The last three
 * stay plain data, so the fingerprint covers them; src/blueprint/runtimeEval.ts evaluates them.
 */
export type CodeRef =
  | { readonly fn: string }
  | { readonly expr: string; readonly thisPath?: string }
  | {
      readonly template: TemplateValue;
      readonly thisPath?: string;
      /** Names bound before rendering, each rendered first against the same scope (prompts). */
      readonly vars?: { readonly [name: string]: TemplateValue };
    }
  | {
      readonly contextOp: 'set' | 'append' | 'merge';
      readonly target: string;
      readonly value: TemplateValue;
      readonly thisPath?: string;
      /**
       * A context path `previous_step` is read from instead of the value the operation is
       * handed: a loop's later `init` / `state` operations see the loop input or the iteration's
       * output, not the result of the operation before them.
       */
      readonly from?: string;
      /**
       * `set` under a rendered key of the object at `target` (the whole context when `target`
       * is empty: the node merges the result into it): a loop's `propagation: {field, path,
       * prefix}` storing each iteration's output as `<prefix><n>`.
       */
      readonly key?: string;
    }
  | { readonly history: HistoryOp }
  | { readonly cache: CacheOp };

/**
 * A cache step's work on the run context's cache (`context.__cache`), called as (value, context);
 * see src/blueprint/cacheOps.ts. `lookup` says `hit` or `miss` for the input, `get` reads the
 * entry, `put` returns the cache with the output stored under the key of the input it kept at
 * `context.step_outputs.<inputFrom>`. `key` is the wrapped step's fingerprint.
 */
export type CacheOp =
  | { readonly op: 'lookup' | 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly inputFrom: string };

/**
 * A conversational loop's work on `context.conversation_history` (a list of `{role, content}`),
 * called as (value, context); see src/blueprint/history.ts. `seed` starts the history from the
 * loop input (or a step's output); `sync` appends an iteration's turns; `trim` truncates by turns
 * or estimated tokens; `needs_summary`, `older` and `summarized` drive summarisation by an agent.
 */
export type HistoryOp =
  | { readonly op: 'seed'; readonly prefix?: string; readonly fromStep?: string }
  | {
      readonly op: 'sync';
      /** The steps whose outputs become turns, in body order. */
      readonly turns: readonly { readonly step: string; readonly role: 'user' | 'assistant' }[];
      /** `ai_turn_source: last`: the iteration's output is the last (assistant) turn. */
      readonly last: boolean;
    }
  | { readonly op: 'trim'; readonly maxTurns?: number; readonly maxTokens?: number }
  | { readonly op: 'needs_summary'; readonly maxTurns: number }
  | { readonly op: 'older' | 'summarized'; readonly ratio: number };

export const MergeStrategy = [
  'context_update',
  'overwrite',
  'no_merge',
  'error_on_conflict',
  'keep_first',
] as const;
export type MergeStrategy = (typeof MergeStrategy)[number];

export const ReducePreset = ['keys', 'values', 'union', 'concat', 'first', 'last'] as const;
export type ReducePreset = (typeof ReducePreset)[number];

interface NodeBase {
  readonly name: string;
  /** Deep-merge an object output into the run context. */
  readonly updatesContext?: boolean;
  /** Write the output into the run context at this dotted path. */
  readonly sinkTo?: string;
  /** Compute this node's input from (previous output, context); default: previous output. */
  readonly input?: CodeRef;
  /**
   * Also write the output to these dotted context paths (after `sinkTo`). The YAML loader uses
   * it to keep `step_outputs.<name>` for `{{ steps.<name>.output }}` and `resume_input`.
   */
  readonly record?: readonly string[];
  /**
   * Also write the output to `step_outputs[<name>]` (the name as one key, dots and all), in a run
   * recorded with the engine flag `step-outputs-kept-for-every-read` (ADR 123). The YAML loader
   * sets it on a step a template reads by a subscript (`steps['x-y']`) or through
   * `context.step_outputs`, and on every step when one reads `steps` whole or by a computed name.
   */
  readonly keepOutput?: true;
  /**
   * When the node completes, the run context (of its scope) is cut down to these top-level keys
   * (an empty list: a fresh, empty context) before its output is written. The YAML loader uses it
   * for imports with `inherit_context: false`.
   */
  readonly keepContext?: readonly string[];
}

export interface StepNode extends NodeBase {
  readonly kind: 'step';
  /** The agent to call: a model id (`openai:gpt-4o`) or `fn:<name>` for a function step. */
  readonly agent: string;
  /** Attempts after the first (Flujo's `max_retries`). */
  readonly retries: number;
  /** Wait before attempt n+1: backoffMs * 2^(n-1), recorded as a durable timer. */
  readonly backoffMs: number;
  /** Per-attempt timeout. */
  readonly timeoutMs?: number;
  /** Runs when every attempt failed; its output stands in for this step's. */
  readonly fallback?: StepNode;
  /** Agent settings passed through to the agent port (model params, prompt, schema). */
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * A system prompt rendered per call from (input, context); the text replaces `config.system`,
   * so it is part of the recorded request hash. YAML agents with templated prompts use it.
   */
  readonly system?: CodeRef;
}

export interface SequenceNode extends NodeBase {
  readonly kind: 'sequence';
  readonly steps: readonly PlanNode[];
}

export interface ParallelNode extends NodeBase {
  readonly kind: 'parallel';
  readonly branches: Readonly<Record<string, PlanNode>>;
  /**
   * The declared order of the branches (they start, merge and reduce in it), present only when
   * it differs from `Object.keys(branches)`: JS puts integer-like names (`"1"`, `"2"`) first.
   */
  readonly branchOrder?: readonly string[];
  readonly merge: MergeStrategy;
  readonly onBranchFailure: 'propagate' | 'ignore';
  readonly reduce?: ReducePreset;
}

export interface ConditionalNode extends NodeBase {
  readonly kind: 'conditional';
  /** Yields the branch key from (previous output, context). */
  readonly condition: CodeRef;
  readonly branches: Readonly<Record<string, PlanNode>>;
  readonly default?: PlanNode;
}

export interface LoopNode extends NodeBase {
  readonly kind: 'loop';
  readonly body: PlanNode;
  readonly maxLoops: number;
  /** Truthy ends the loop after an iteration: (iteration output, context, iteration). */
  readonly exit?: CodeRef;
  /** The input of iteration n > 1: (previous iteration output, context, iteration). */
  readonly iterationInput?: CodeRef;
  /** The loop's output from (last iteration output, context). */
  readonly output?: CodeRef;
}

export interface MapNode extends NodeBase {
  readonly kind: 'map';
  /** The items, from (input, context); default: the node's input, which must be an array. */
  readonly items?: CodeRef;
  /** Runs once per item; by default one item at a time (Flujo's map is sequential). */
  readonly body: PlanNode;
  /**
   * How many items may run at once (default 1). Items are taken in list order; the output keeps
   * list order whatever order they finish in; context updates apply in the order items finish.
   */
  readonly concurrency?: number;
  /** The map's output from (list of body outputs, context); default: the list. */
  readonly finalize?: CodeRef;
}

export interface RouterNode extends NodeBase {
  readonly kind: 'dynamic_router';
  /** A step whose output names the branches to run: a name or a list of names. */
  readonly router: StepNode;
  readonly branches: Readonly<Record<string, PlanNode>>;
  /** As ParallelNode.branchOrder. */
  readonly branchOrder?: readonly string[];
  readonly merge: MergeStrategy;
  readonly onBranchFailure: 'propagate' | 'ignore';
  readonly reduce?: ReducePreset;
}

export interface StateTransition {
  /** A state name, or `*` for any state. */
  readonly from: string;
  /**
   * `pause`: the state asked a person on this visit and completed (Flujo's `on: pause`).
   * `failure` never takes a hitl step that was not asked (HitlNode.propagate); only
   * `hitl_not_propagated` does — the rule imports with `propagate_hitl: false` are built on.
   */
  readonly on: 'success' | 'failure' | 'pause' | 'hitl_not_propagated';
  readonly to: string;
  /** Holds for (context, { event, last_output, last_step }); absent means always. */
  readonly when?: CodeRef;
}

export interface StateMachineNode extends NodeBase {
  readonly kind: 'state_machine';
  readonly start: string;
  /** Reaching one of these runs its steps (if any) and ends the node. */
  readonly end: readonly string[];
  readonly states: Readonly<Record<string, PlanNode>>;
  /** First match wins; without one, `context.next_state` names the next state. */
  readonly transitions: readonly StateTransition[];
  /** State visits before the node fails with MAX_TRANSITIONS (default 100). */
  readonly maxVisits?: number;
}

export interface HitlNode extends NodeBase {
  readonly kind: 'hitl';
  readonly message: string;
  /** Computes the message from (input, context) when it is a template (YAML); wins over `message`. */
  readonly render?: CodeRef;
  /** JSON Schema the human's answer must satisfy. */
  readonly inputSchema: Readonly<Record<string, unknown>>;
  /**
   * An `ask_user` step's declared answer schema (its `input_schema` or `output_schema`). A run
   * recorded with the engine flag `ask-user-answer-schema` asks with it instead of `inputSchema`
   * (`{}`, what a run recorded before keeps; ADR 90).
   */
  readonly answerSchema?: Readonly<Record<string, unknown>>;
  /**
   * A step using a registered hitl skill that declares no schema of its own: the skill's
   * `hitl.inputSchema` (when it is not `{}`). A run recorded with the engine flag
   * `hitl-skill-answer-schema` asks with it instead of `inputSchema` (ADR 95).
   */
  readonly skillAnswerSchema?: Readonly<Record<string, unknown>>;
  /**
   * A step using a registered hitl skill whose `hitl.messageParam` is not `question`: the message
   * (and its template) taken from that param, when it differs from `message` / `render` (taken
   * from `params.question`, what a run recorded before keeps). A run recorded with the engine flag
   * `hitl-skill-message-param` asks with it (ADR 111).
   */
  readonly skillMessage?: { readonly message: string; readonly render?: CodeRef };
  /**
   * `false`: the step never asks. It fails at once with HITL_NOT_PROPAGATED, a failure that
   * passes every handler of failures (a parallel's `ignore`, a state machine's `on: failure`)
   * up to the nearest state machine rule `on: hitl_not_propagated` (ADR 61).
   */
  readonly propagate?: false;
}

export type PlanNode =
  | StepNode
  | SequenceNode
  | ParallelNode
  | ConditionalNode
  | LoopNode
  | MapNode
  | RouterNode
  | StateMachineNode
  | HitlNode;

export interface PlanIR {
  readonly version: 1;
  readonly name: string;
  /** The author's label for this version of the pipeline; part of the fingerprint. */
  readonly revision?: string;
  readonly root: PlanNode;
}

/** A pipeline ready to run: the data IR plus the code it names. */
export interface Plan {
  readonly ir: PlanIR;
  readonly functions: Readonly<Record<string, PlanFunction>>;
}
