/**
 * The typed TypeScript DSL. Builders return `Flow<I, O>` values that know their input and output
 * types; `definePipeline` turns one into a Plan (the same IR the YAML loader produces), naming
 * each function after the path of the node that uses it, so the fingerprint is the same in every
 * process that builds the same pipeline.
 *
 * @example
 *   const p = definePipeline('greet', sequence(
 *     step('upper', (s: string) => s.toUpperCase()),
 *     step('wrap', (s: string) => `<${s}>`),
 *   ));
 *   const result = await engine.run(p.plan, 'hi'); // result.output: '<HI>'
 *
 * Over 400 lines on purpose: the builders here share the private `flow`/`common` makers and each
 * is a signature plus a few lines of IR. The parts that stand alone are split out: the types
 * (./flowTypes.ts), `agentStep`, `stateMachine`, `subPipeline` and the checks (./checks.ts).
 */
import type { z } from 'zod';

import type {
  CodeRef,
  MergeStrategy,
  Plan,
  PlanFunction,
  PlanNode,
  ReducePreset,
  StepNode,
} from './ir.js';
import { schemaOf } from './outputSchema.js';
import {
  MAX_MAP_CONCURRENCY,
  PlanBuildError,
  checkWholeNumbers,
  declaredOrder,
  maxLoopsProblem,
  sinkToProblem,
} from './checks.js';
import type { BranchesIn, Chained, FanOutOutput, In, Last, Out, PresetOf } from './flowTypes.js';
import { branchSegment, recordedOrder } from './paths.js';

type Ctx = Record<string, unknown>;
type Fns = Record<string, PlanFunction>;
type Make = (path: string, fns: Fns) => PlanNode;

/** @internal Paths as the compiler writes them: the root is `.`, its children `0`, `1`, `a`…. */
export const join = (base: string, seg: string) => (base === '.' ? seg : `${base}/${seg}`);

/** A pipeline fragment from I to O. */
export interface Flow<I, O> {
  readonly make: Make;
  /** `a.then(b)`: run b on a's output. */
  then<O2>(next: Flow<O, O2>): Flow<I, O2>;
  /** Type-only markers. */
  readonly __in?: (i: I) => void;
  readonly __out?: O;
}

/** A node's `input` option: its input from the previous output and the run context. */
export type InputFrom<I> = (previous: unknown, context: Ctx) => I;

/**
 * The options every node takes. `M` is the `input` given (undefined: none), by default either.
 */
export interface CommonOptions<I, M extends InputFrom<I> | undefined = InputFrom<I> | undefined> {
  /** Compute this node's input from the previous output and the run context. */
  readonly input?: M;
  readonly updatesContext?: boolean;
  readonly sinkTo?: string;
}

/**
 * What a node takes from the previous part: its input `I`, or anything when its `input` option
 * (`M`, a function when given) computes that from the previous output (given to it as `unknown`)
 * and the run context. (Exported for the DSL's own modules.)
 */
export type Takes<I, M> = undefined extends M ? I : unknown;

export interface StepOptions<
  I,
  O,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
> extends CommonOptions<I, M> {
  readonly retries?: number;
  readonly backoffMs?: number;
  readonly timeoutMs?: number;
  readonly fallback?: Flow<I, O>;
}

/** @internal Registers `fn` under `name` and refers to it (for the DSL's own modules). */
export const ref = (fns: Fns, name: string, fn: unknown): CodeRef => {
  fns[name] = fn as PlanFunction;
  return { fn: name };
};

/** @internal Builds a Flow from its IR maker (for the DSL's own modules). */
export function flowOf<I, O>(make: Make): Flow<I, O> {
  return flow(make);
}

function flow<I, O>(make: Make): Flow<I, O> {
  return {
    make,
    then<O2>(next: Flow<O, O2>): Flow<I, O2> {
      // Typed by `then`'s own signature; sequence's check of the parts is of no use on I and O.
      return sequence(
        this as Flow<never, unknown>,
        next as Flow<never, unknown>,
      ) as unknown as Flow<I, O2>;
    },
  };
}

/** @internal The fields every node shares (for the DSL's own modules). */
export function commonFields<I>(
  path: string,
  fns: Fns,
  name: string,
  opts: CommonOptions<I> | undefined,
) {
  return common(path, fns, name, opts);
}

function common<I>(path: string, fns: Fns, name: string, opts: CommonOptions<I> | undefined) {
  const sinkProblem = opts?.sinkTo === undefined ? undefined : sinkToProblem(opts.sinkTo);
  if (sinkProblem) throw new PlanBuildError(`${name}: sinkTo ${sinkProblem}`);
  return {
    name,
    ...(opts?.input ? { input: ref(fns, `${path}.input`, opts.input) } : {}),
    ...(opts?.updatesContext ? { updatesContext: true } : {}),
    ...(opts?.sinkTo !== undefined ? { sinkTo: opts.sinkTo } : {}),
  };
}

/** @internal A step node (for the DSL's own modules). */
export function stepNode<I, O>(
  path: string,
  fns: Fns,
  name: string,
  agent: string,
  opts?: StepOptions<I, O>,
  config?: Record<string, unknown>,
): StepNode {
  checkWholeNumbers(name, [
    ['retries', opts?.retries, 0],
    ['backoffMs', opts?.backoffMs, 0],
    // 0 is no timeout, as when it is not given.
    ['timeoutMs', opts?.timeoutMs, 0],
  ]);
  const fallback = opts?.fallback?.make(join(path, 'fallback'), fns);
  if (fallback && fallback.kind !== 'step')
    throw new PlanBuildError(`${name}: a fallback must be a single step`);
  return {
    kind: 'step',
    ...common(path, fns, name, opts),
    agent,
    retries: opts?.retries ?? 0,
    backoffMs: opts?.backoffMs ?? 0,
    ...(opts?.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(fallback ? { fallback } : {}),
    ...(config ? { config } : {}),
  };
}

/** A function step: runs `fn` as a recorded activity (its result is in the ledger). */
export function step<I, O, M extends InputFrom<I> | undefined = InputFrom<I> | undefined>(
  name: string,
  fn: (input: I) => O | Promise<O>,
  opts?: StepOptions<I, Awaited<O>, M>,
): Flow<Takes<I, M>, Awaited<O>> {
  return flow((path, fns) => {
    fns[`${path}.fn`] = fn as PlanFunction;
    return stepNode(path, fns, name, `fn:${path}.fn`, opts);
  });
}

export {
  agentStep,
  type AgentStepOptions,
  type AgentStepOutput,
  type ModelAgentId,
} from './agentStep.js';

/**
 * Runs flows one after another, each on the previous one's output: part i + 1 must take what
 * part i gives (as `a.then(b)` must).
 */
export function sequence<const T extends readonly Flow<never, unknown>[]>(
  ...parts: T extends Chained<T> ? T : Chained<T>
): Flow<In<T[0]>, Out<Last<T>>> {
  return flow((path, fns) => ({
    kind: 'sequence',
    name: path === '.' ? 'pipeline' : 'sequence',
    steps: parts.map((p, i) => p.make(join(path, String(i)), fns)),
  }));
}

/** What a parallel does when a branch fails: fail at once, or go on without that branch. */
export type BranchFailure = 'propagate' | 'ignore';

/**
 * A parallel's or router's options. `R` and `F` are the `reduce` preset and `onBranchFailure`
 * given, which the output type follows, and `M` the `input`; by default each may be anything.
 */
export interface ParallelOptions<
  I,
  R extends ReducePreset | undefined = ReducePreset | undefined,
  F extends BranchFailure = BranchFailure,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
> extends CommonOptions<I, M> {
  readonly merge?: MergeStrategy;
  readonly onBranchFailure?: F;
  readonly reduce?: R;
  /**
   * Every branch name once, in the order the branches start, merge and reduce. Needed when a
   * name looks like an integer (`'1'`): a JS object lists those first, whatever order they were
   * written in. Without it the object's key order is the order.
   */
  readonly order?: readonly string[];
}

/**
 * The IR branches of a parallel or router, made in their declared order, each under the path
 * segment of its name (paths.ts); `reserved` is the node's own child segment.
 */
function fanOutBranches(
  name: string,
  path: string,
  fns: Fns,
  branches: Record<string, Flow<never, unknown>>,
  order: readonly string[] | undefined,
  reserved?: string,
) {
  const names = declaredOrder(name, branches, order);
  return {
    branches: Object.fromEntries(
      names.map((k) => [
        k,
        (branches[k] as Flow<never, unknown>).make(join(path, branchSegment(k, reserved)), fns),
      ]),
    ),
    ...recordedOrder(branches, names),
  };
}

/**
 * Runs branches side by side on the same input; the output maps branch names to outputs (each
 * optional under `onBranchFailure: 'ignore'`), or is the `reduce` preset's.
 */
export function parallel<
  const B extends Record<string, Flow<never, unknown>>,
  R extends ReducePreset | undefined = undefined,
  F extends BranchFailure = 'propagate',
  M extends InputFrom<BranchesIn<B>> | undefined = InputFrom<BranchesIn<B>> | undefined,
>(
  name: string,
  branches: B,
  opts?: ParallelOptions<BranchesIn<B>, R, F, M>,
): Flow<
  Takes<BranchesIn<B>, M>,
  FanOutOutput<B, PresetOf<R>, 'ignore' extends F ? 'one' : 'every'>
> {
  return flow((path, fns) => ({
    kind: 'parallel',
    ...common(path, fns, name, opts),
    ...fanOutBranches(name, path, fns, branches, opts?.order),
    merge: opts?.merge ?? 'context_update',
    onBranchFailure: opts?.onBranchFailure ?? 'propagate',
    ...(opts?.reduce ? { reduce: opts.reduce } : {}),
  }));
}

/** Picks one branch by key (a boolean picks `true` / `false`). */
export function conditional<I, O, M extends InputFrom<I> | undefined = InputFrom<I> | undefined>(
  name: string,
  condition: (input: I, context: Ctx) => string | number | boolean,
  branches: Record<string, Flow<I, O>>,
  opts?: CommonOptions<I, M> & { readonly default?: Flow<I, O> },
): Flow<Takes<I, M>, O> {
  return flow((path, fns) => ({
    kind: 'conditional',
    ...common(path, fns, name, opts),
    condition: ref(fns, `${path}.condition`, condition),
    branches: Object.fromEntries(
      Object.entries(branches).map(([k, b]) => [
        k,
        b.make(join(path, branchSegment(k, opts?.default ? 'default' : undefined)), fns),
      ]),
    ),
    ...(opts?.default ? { default: opts.default.make(join(path, 'default'), fns) } : {}),
  }));
}

export interface LoopOptions<
  I,
  O,
  R,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
> extends CommonOptions<I, M> {
  readonly maxLoops: number;
  /** Ends the loop after an iteration when true. Without it the loop runs maxLoops times. */
  readonly exit?: (output: O, context: Ctx, iteration: number) => boolean;
  /** The input of the next iteration; default: the last iteration's output. */
  readonly iterationInput?: (output: O, context: Ctx, iteration: number) => I;
  readonly output?: (output: O, context: Ctx) => R;
}

/** Repeats `body`; with `exit`, reaching maxLoops without it is a failure (Flujo's rule). */
export function loop<I, O, R = O, M extends InputFrom<I> | undefined = InputFrom<I> | undefined>(
  name: string,
  body: Flow<I, O>,
  opts: LoopOptions<I, O, R, M>,
): Flow<Takes<I, M>, R> {
  const problem = maxLoopsProblem(opts.maxLoops);
  if (problem) throw new PlanBuildError(`${name}: maxLoops ${problem}`);
  return flow((path, fns) => ({
    kind: 'loop',
    ...common(path, fns, name, opts),
    body: body.make(join(path, 'body'), fns),
    maxLoops: opts.maxLoops,
    ...(opts.exit ? { exit: ref(fns, `${path}.exit`, opts.exit) } : {}),
    ...(opts.iterationInput
      ? { iterationInput: ref(fns, `${path}.iterationInput`, opts.iterationInput) }
      : {}),
    ...(opts.output ? { output: ref(fns, `${path}.output`, opts.output) } : {}),
  }));
}

export interface MapOptions<
  I,
  Item,
  O,
  R,
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
> extends CommonOptions<I, M> {
  /** The list to map over, from (input, context); default: the input itself. */
  readonly items?: (input: I, context: Ctx) => readonly Item[];
  /** The output from the list of body outputs; default: the list. */
  readonly finalize?: (outputs: O[], context: Ctx) => R;
  /** How many items may run at once (default 1: one after another, like Flujo). */
  readonly concurrency?: number;
}

/**
 * Runs `body` once per item, in order (Flujo's map), or up to `concurrency` items at once; the
 * output is the list of body outputs in item order. With `items` the node takes what `items`
 * takes (anything, when it reads none), else the list itself.
 */
export function map<
  Item,
  O,
  I = unknown,
  R = O[],
  M extends InputFrom<I> | undefined = InputFrom<I> | undefined,
>(
  name: string,
  body: Flow<Item, O>,
  opts: MapOptions<I, Item, O, R, M> & {
    readonly items: (input: I, context: Ctx) => readonly Item[];
  },
): Flow<Takes<I, M>, R>;
export function map<
  Item,
  O,
  R = O[],
  M extends InputFrom<readonly Item[]> | undefined = InputFrom<readonly Item[]> | undefined,
>(
  name: string,
  body: Flow<Item, O>,
  opts?: MapOptions<readonly Item[], Item, O, R, M> & { readonly items?: undefined },
): Flow<Takes<readonly Item[], M>, R>;
/** Options of a type known only as `MapOptions` (whether `items` is given is not known). */
export function map<Item, O, I = readonly Item[], R = O[]>(
  name: string,
  body: Flow<Item, O>,
  opts?: MapOptions<I, Item, O, R>,
): Flow<I, R>;
export function map<Item, O, I, R>(
  name: string,
  body: Flow<Item, O>,
  opts: MapOptions<I, Item, O, R> = {},
): Flow<I, R> {
  checkWholeNumbers(name, [['concurrency', opts.concurrency, 1, MAX_MAP_CONCURRENCY]]);
  return flow((path, fns) => ({
    kind: 'map',
    ...common(path, fns, name, opts),
    body: body.make(join(path, 'body'), fns),
    ...(opts.items ? { items: ref(fns, `${path}.items`, opts.items) } : {}),
    ...(opts.finalize ? { finalize: ref(fns, `${path}.finalize`, opts.finalize) } : {}),
    ...(opts.concurrency !== undefined && opts.concurrency !== 1
      ? { concurrency: opts.concurrency }
      : {}),
  }));
}

/**
 * A dynamic router: `route` (a step, typically an agent) names the branches to run — one name or
 * a list — and those run side by side on the router's input, merged like `parallel`. A branch
 * it did not name is not in the output: its fields are optional, `first` / `last` may be null.
 */
export function router<
  const B extends Record<string, Flow<never, unknown>>,
  R extends Flow<never, string | readonly string[]>,
  P extends ReducePreset | undefined = undefined,
  M extends InputFrom<In<R> & BranchesIn<B>> | undefined =
    InputFrom<In<R> & BranchesIn<B>> | undefined,
>(
  name: string,
  route: R,
  branches: B,
  opts?: ParallelOptions<In<R> & BranchesIn<B>, P, BranchFailure, M>,
): Flow<Takes<In<R> & BranchesIn<B>, M>, FanOutOutput<B, PresetOf<P>, 'none'>> {
  return flow((path, fns) => {
    const routeNode = route.make(join(path, 'router'), fns);
    if (routeNode.kind !== 'step')
      throw new PlanBuildError(`${name}: the router must be a single step`);
    return {
      kind: 'dynamic_router',
      ...common(path, fns, name, opts),
      router: routeNode,
      ...fanOutBranches(name, path, fns, branches, opts?.order, 'router'),
      merge: opts?.merge ?? 'context_update',
      onBranchFailure: opts?.onBranchFailure ?? 'propagate',
      ...(opts?.reduce ? { reduce: opts.reduce } : {}),
    };
  });
}

export { stateMachine, type StateMachineOptions } from './stateMachine.js';

/** Pauses for a person; the answer (validated against `schema`) is the step's output. */
export function hitl<T>(
  name: string,
  opts: CommonOptions<unknown> & { readonly message: string; readonly schema: z.ZodType<T> },
): Flow<unknown, T> {
  return flow((path, fns) => ({
    kind: 'hitl',
    ...common(path, fns, name, opts),
    message: opts.message,
    inputSchema: schemaOf(name, 'answer', opts.schema),
  }));
}

/** A pipeline ready to run: its Plan and its types. */
export interface Pipeline<I, O> {
  readonly plan: Plan;
  readonly __in?: (i: I) => void;
  readonly __out?: O;
}

export function definePipeline<I, O>(
  name: string,
  root: Flow<I, O>,
  opts: { readonly revision?: string } = {},
): Pipeline<I, O> {
  const functions: Fns = {};
  const node = root.make('.', functions);
  return {
    plan: {
      ir: { version: 1, name, ...(opts.revision ? { revision: opts.revision } : {}), root: node },
      functions,
    },
  };
}
