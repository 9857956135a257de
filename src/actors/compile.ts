/**
 * Compiles a Plan into the run machine. Each node becomes a compound state that ends in one of
 * two final states, `ok` or `fail`; its parent moves on from `onDone`, branching on which one.
 * A step waits for its agent's reply, retries (after a durable timer when it backs off) and
 * falls back; a sequence chains children; a parallel node runs regions and joins; a conditional
 * picks a branch with an eventless transition; a loop re-enters its body; a hitl step waits for
 * the human's answer. See docs/adr/0008 for the mapping and what it leaves to later work.
 */
import { sinkToProblem } from '../dsl/checks.js';
import type { CodeRef, Plan, PlanNode } from '../dsl/ir.js';
import { blueprintCode, type Role } from '../blueprint/runtimeEval.js';
import { applyNodeOutput } from './data.js';
import { LedgerEncodeError } from '../errors.js';
import { asRecorded, freezeDeep } from './frozen.js';
import { runMachineSetup, type RunMachine } from './machine.js';
import {
  runtimePath,
  stepError,
  type RunMachineContext,
  type RunMachineInput,
} from './vocabulary.js';

import { parallel, router } from './compileFanOut.js';
import { conditional, sequence, stateMachine } from './compileFlow.js';
import { loop, map } from './compileIterate.js';
import { PlanCodeError, PlanCompileError, ROOT_PATH, type Cfg, type Fn } from './compileShared.js';
import { hitl, step } from './compileStep.js';
import { DEFAULT_REPLY_DEPTH, pathShape, replyDepthsOf } from './replyDepths.js';

export { PlanCompileError, ROOT_PATH } from './compileShared.js';

export class Compiler {
  private ids = 0;
  /** The parallel branch whose own context copy the nodes being compiled read and write. */
  scope: string | null = null;
  /**
   * Static paths of the state machines whose state is being compiled, outermost first: a hitl
   * compiled inside marks each of them as having asked on its current visit (`on: pause`).
   */
  readonly askScopes: string[] = [];
  private readonly plan: Plan;
  constructor(plan: Plan) {
    this.plan = plan;
  }

  /** Reads the context the nodes compiled now see: their branch's copy, or the run's. */
  ctxOf(): (c: RunMachineContext) => Record<string, unknown> {
    const scope = this.scope;
    return scope === null ? (c) => c.ctx : (c) => c.bctx[runtimePath(scope, c)] ?? c.ctx;
  }

  /** How many maps, parallels and routers enclose the nodes being compiled. */
  private gathers = 0;
  /** Each step's reply depth by the shape of its path (replyDepths.ts). */
  readonly replyDepths = new Map<string, number>();

  /**
   * Compiles a map's body or a branch of a parallel or router: each records its children's
   * outputs one level deeper in its own `StepCompleted`.
   */
  gathered<T>(fn: () => T): T {
    this.gathers += 1;
    try {
      return fn();
    } finally {
      this.gathers -= 1;
    }
  }

  /**
   * Notes the depth a step at `tpl` measures its reply at: two, and one for each gatherer around
   * it, and never less than the six that leave room for four gatherers after it (a reply passed
   * on unchanged, by an empty sequence or such, into a later parallel; ADR 114).
   */
  replyAt(tpl: string): void {
    this.replyDepths.set(pathShape(tpl), Math.max(DEFAULT_REPLY_DEPTH, 2 + this.gathers));
  }

  within<T>(scope: string, fn: () => T): T {
    const outer = this.scope;
    this.scope = scope;
    try {
      return fn();
    } finally {
      this.scope = outer;
    }
  }

  /**
   * The function a code reference stands for. Plan functions are called as they are; YAML
   * expressions, templates and context operations get the named scope of their `role` (how the
   * caller passes its arguments: see src/blueprint/runtimeEval.ts).
   */
  code(ref: CodeRef | undefined, where: string, role: Role = 'value'): Fn | undefined {
    if (!ref) return undefined;
    let fn: Fn;
    if (!('fn' in ref)) {
      try {
        fn = blueprintCode(ref, role);
      } catch (e) {
        throw new PlanCompileError(`${where}: ${(e as Error).message}`);
      }
    } else {
      const f = this.plan.functions[ref.fn];
      if (!f)
        throw new PlanCompileError(
          `${where}: function ${JSON.stringify(ref.fn)} is not in the plan`,
        );
      fn = f as unknown as Fn;
    }
    // What threw is named in the run's failure (codeFailure.ts).
    const call: Fn = (...args) => {
      try {
        return fn(...args);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        throw new PlanCodeError(`${where}: ${message}`, { cause: e });
      }
    };
    if (role === 'transition') return call; // a guard: only its truth is used
    // A value plan code returns is data the run records (a step's input, a loop's output, the
    // items of a map): one the ledger cannot record fails the run here, inside the transition,
    // with PLAN_CODE_FAILED naming the code — not at the append, where the decision could not be
    // written and the run was left running. The run holds the value as recorded (ADR 40).
    return (...args) => {
      const v = call(...args);
      const t = typeof v;
      if (v == null || t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(v)))
        return v;
      try {
        // Measured two levels down, where a decision records it (`AgentCallRequested.input`):
        // deeper and the append failed, so no run recorded such a value and refolds agree.
        return asRecorded(v, 'returned value', 2);
      } catch (e) {
        if (!(e instanceof LedgerEncodeError)) throw e;
        throw new PlanCodeError(
          `${where} returned a value the ledger cannot record: ${e.message}`,
          {
            cause: e,
          },
        );
      }
    };
  }

  /** The value a child starts with: its own input mapper applied to what its parent hands it. */
  inputFor(child: PlanNode, tpl: string, value: (c: RunMachineContext) => unknown) {
    const mapper = this.code(child.input, `${child.name}.input`);
    const ctxOf = this.ctxOf();
    return {
      type: 'setInput',
      params: ({ context }: { context: RunMachineContext }) => {
        const v = value(context);
        return { path: runtimePath(tpl, context), value: mapper ? mapper(v, ctxOf(context)) : v };
      },
    };
  }

  node(node: PlanNode, tpl: string, staticPath: string): Cfg {
    // The builders check this too (ADR 49); a plan built by hand is checked here.
    const sinkProblem = node.sinkTo === undefined ? undefined : sinkToProblem(node.sinkTo);
    if (sinkProblem) throw new PlanCompileError(`${node.name}: sinkTo ${sinkProblem}`);
    const id = `n${this.ids++}`;
    const scope = this.scope;
    const ctxOf = this.ctxOf();
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const body = this.kind(node, tpl, staticPath, id);
    const entry = [
      {
        type: 'scheduleStep',
        params: ({ context }: { context: RunMachineContext }) => ({
          path: rp(context),
          name: node.name,
          kind: node.kind,
        }),
      },
      ...((body.entry as unknown[]) ?? []),
    ];
    return {
      ...body,
      id,
      entry,
      states: {
        ...(body.states as Cfg),
        ok: {
          type: 'final',
          entry: [
            ...(node.updatesContext ||
            node.sinkTo ||
            node.record?.length ||
            node.keepContext ||
            node.keepOutput
              ? [
                  {
                    type: 'setRunContext',
                    params: ({ context }: { context: RunMachineContext }) => ({
                      scope: scope === null ? null : runtimePath(scope, context),
                      ctx: applyNodeOutput(
                        node,
                        keepOnly(ctxOf(context), node.keepContext),
                        context.out[rp(context)],
                        context.flags,
                      ),
                    }),
                  },
                ]
              : []),
            {
              type: 'completeStep',
              params: ({ context }: { context: RunMachineContext }) => ({
                path: rp(context),
                output: context.out[rp(context)] ?? null,
              }),
            },
          ],
          output: { ok: true },
        },
        fail: {
          type: 'final',
          entry: [
            {
              type: 'failStep',
              params: ({ context }: { context: RunMachineContext }) => ({
                path: rp(context),
                error: context.err[rp(context)] ?? stepError('STEP_FAILED', `${node.name} failed`),
                ...(node.kind === 'step' ? { attempt: context.att[rp(context)] ?? 1 } : {}),
              }),
            },
          ],
          output: { ok: false },
        },
      },
    };
  }

  kind(node: PlanNode, tpl: string, staticPath: string, id: string): Cfg {
    switch (node.kind) {
      case 'step':
        return step.call(this, node, tpl, staticPath);
      case 'sequence':
        return sequence.call(this, node, tpl, staticPath, id);
      case 'parallel':
        return parallel.call(this, node, tpl, staticPath, id);
      case 'conditional':
        return conditional.call(this, node, tpl, staticPath);
      case 'loop':
        return loop.call(this, node, tpl, staticPath);
      case 'map':
        return map.call(this, node, tpl, staticPath, id);
      case 'dynamic_router':
        return router.call(this, node, tpl, staticPath, id);
      case 'state_machine':
        return stateMachine.call(this, node, tpl, staticPath);
      case 'hitl':
        return hitl.call(this, node, tpl, [...this.askScopes]);
      default: {
        // Only a plan built by hand gets here (the DSL and the blueprint loader know the kinds).
        const { name, kind } = node as { name?: unknown; kind?: unknown };
        throw new PlanCompileError(
          `${typeof name === 'string' ? name : `node at ${staticPath}`}: unknown node kind ${JSON.stringify(kind)}`,
        );
      }
    }
  }

  /** Records `code` and a message (from the context) as this node's error. */
  errorAction(tpl: string, code: string, message: (context: RunMachineContext) => string) {
    return {
      type: 'setError',
      params: ({ context }: { context: RunMachineContext }) => ({
        path: runtimePath(tpl, context),
        error: stepError(code, message(context)),
      }),
    };
  }

  /** Fails this node with its child's error. */
  failWithChild(tpl: string, childTpl: string): Cfg {
    return {
      target: 'fail',
      actions: [
        {
          type: 'setError',
          params: ({ context }: { context: RunMachineContext }) => ({
            path: runtimePath(tpl, context),
            error:
              context.err[runtimePath(childTpl, context)] ??
              stepError('STEP_FAILED', 'a child step failed'),
          }),
        },
      ],
    };
  }

  /** Moves to `okTarget` when the child succeeded, else fails carrying its error. */
  childDone(tpl: string, childTpl: string, onOk: unknown[], okTarget: string): unknown[] {
    return [
      { guard: 'succeeded', target: okTarget, actions: onOk },
      this.failWithChild(tpl, childTpl),
    ];
  }

  /**
   * Drops what the node at `tpl` kept by runtime path, and with `inner` what every node below it
   * kept, once its output has been handed on (machine.ts `forget`, ADR 38).
   */
  forget(tpl: string, inner: boolean) {
    return {
      type: 'forget',
      params: ({ context }: { context: RunMachineContext }) => ({
        path: runtimePath(tpl, context),
        inner,
      }),
    };
  }

  copyOutput(tpl: string, from: (c: RunMachineContext) => unknown) {
    return {
      type: 'setOutput',
      params: ({ context }: { context: RunMachineContext }) => ({
        path: runtimePath(tpl, context),
        value: from(context),
      }),
    };
  }
}

/** The context cut down to `keys` (NodeBase.keepContext); unchanged without a list. */
function keepOnly(ctx: Record<string, unknown>, keys: readonly string[] | undefined) {
  if (!keys) return ctx;
  return Object.fromEntries(keys.filter((k) => Object.hasOwn(ctx, k)).map((k) => [k, ctx[k]]));
}

/** Compiles a plan into its run machine. Throws PlanCompileError naming the node. */
export function compilePlan(plan: Plan): RunMachine {
  const compiler = new Compiler(plan);
  const root = compiler.node(plan.ir.root, ROOT_PATH, ROOT_PATH);
  // The root has no parent to map its input: apply its own mapper to the run's input here.
  const rootInput = compiler.code(plan.ir.root.input, `${plan.ir.root.name}.input`);
  const machine = runMachineSetup.createMachine({
    id: 'run',
    context: ({ input }: { input: RunMachineInput }) => {
      // Read-only to all code (ADR 40): it changes only through setRunContext.
      const ctx = freezeDeep({ initial_prompt: input.input, ...(input.context ?? {}) });
      return {
        runId: input.runId,
        ...(input.flags?.length ? { flags: input.flags } : {}),
        ctx,
        inp: { [ROOT_PATH]: rootInput ? rootInput(input.input, ctx) : input.input },
        out: {},
        bctx: {},
        att: {},
        it: {},
        sel: {},
        err: {},
      };
    },
    initial: 'main',
    states: {
      main: {
        ...root,
        onDone: [
          {
            guard: 'succeeded',
            target: 'completed',
            actions: [
              {
                type: 'completeRun',
                params: ({ context }: { context: RunMachineContext }) => ({
                  output: context.out[ROOT_PATH] ?? null,
                }),
              },
            ],
          },
          {
            target: 'failed',
            actions: [
              {
                type: 'failRun',
                params: ({ context }: { context: RunMachineContext }) => ({
                  error: context.err[ROOT_PATH] ?? stepError('RUN_FAILED', 'the run failed'),
                }),
              },
            ],
          },
        ],
      },
      completed: { type: 'final' },
      failed: { type: 'final' },
    },
  } as never) as RunMachine;
  replyDepthsOf.set(machine, compiler.replyDepths);
  return machine;
}
