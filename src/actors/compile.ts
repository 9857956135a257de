/**
 * Compiles a Plan into the run machine. Each node becomes a compound state that ends in one of
 * two final states, `ok` or `fail`; its parent moves on from `onDone`, branching on which one.
 * A step waits for its agent's reply, retries (after a durable timer when it backs off) and
 * falls back; a sequence chains children; a parallel node runs regions and joins; a conditional
 * picks a branch with an eventless transition; a loop re-enters its body; a hitl step waits for
 * the human's answer. See docs/adr/0008 for the mapping and what it leaves to later work.
 */
import type { ErrorInfo } from '../events/catalogue.js';
import type {
  CodeRef,
  ConditionalNode,
  HitlNode,
  LoopNode,
  MapNode,
  ParallelNode,
  Plan,
  PlanNode,
  RouterNode,
  StateMachineNode,
  SequenceNode,
  StepNode,
} from '../dsl/ir.js';
import { applyNodeOutput, mergeBranches, mergeContexts } from './data.js';
import { runMachineSetup, type RunMachine, type Test } from './machine.js';
import {
  runtimePath,
  stepError,
  type RunMachineContext,
  type RunMachineEvent,
  type RunMachineInput,
} from './vocabulary.js';

type Cfg = Record<string, unknown>;
type Fn = (...args: unknown[]) => unknown;

export const ROOT_PATH = '.';
const join = (base: string, seg: string) => (base === ROOT_PATH ? seg : `${base}/${seg}`);
const childOk = (e: RunMachineEvent) =>
  (e as unknown as { output?: { ok?: boolean } }).output?.ok === true;

/** Thrown while compiling: the plan cannot become a machine. */
export class PlanCompileError extends Error {
  override readonly name = 'PlanCompileError';
}

class Compiler {
  private ids = 0;
  /** The parallel branch whose own context copy the nodes being compiled read and write. */
  private scope: string | null = null;
  private readonly plan: Plan;
  constructor(plan: Plan) {
    this.plan = plan;
  }

  /** Reads the context the nodes compiled now see: their branch's copy, or the run's. */
  ctxOf(): (c: RunMachineContext) => Record<string, unknown> {
    const scope = this.scope;
    return scope === null ? (c) => c.ctx : (c) => c.bctx[runtimePath(scope, c)] ?? c.ctx;
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

  code(ref: CodeRef | undefined, where: string): Fn | undefined {
    if (!ref) return undefined;
    if ('expr' in ref) {
      throw new PlanCompileError(
        `${where}: expressions need the expression evaluator (not built yet)`,
      );
    }
    const fn = this.plan.functions[ref.fn];
    if (!fn)
      throw new PlanCompileError(`${where}: function ${JSON.stringify(ref.fn)} is not in the plan`);
    return fn as unknown as Fn;
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
            ...(node.updatesContext || node.sinkTo
              ? [
                  {
                    type: 'setRunContext',
                    params: ({ context }: { context: RunMachineContext }) => ({
                      scope: scope === null ? null : runtimePath(scope, context),
                      ctx: applyNodeOutput(node, ctxOf(context), context.out[rp(context)]),
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
        return this.step(node, tpl, staticPath);
      case 'sequence':
        return this.sequence(node, tpl, staticPath);
      case 'parallel':
        return this.parallel(node, tpl, staticPath, id);
      case 'conditional':
        return this.conditional(node, tpl, staticPath);
      case 'loop':
        return this.loop(node, tpl, staticPath);
      case 'map':
        return this.map(node, tpl, staticPath);
      case 'dynamic_router':
        return this.router(node, tpl, staticPath, id);
      case 'state_machine':
        return this.stateMachine(node, tpl, staticPath);
      case 'hitl':
        return this.hitl(node, tpl);
    }
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

  copyOutput(tpl: string, from: (c: RunMachineContext) => unknown) {
    return {
      type: 'setOutput',
      params: ({ context }: { context: RunMachineContext }) => ({
        path: runtimePath(tpl, context),
        value: from(context),
      }),
    };
  }

  step(node: StepNode, tpl: string, staticPath: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const attempt = (c: RunMachineContext) => c.att[rp(c)] ?? 1;
    const isReply: Test = (c, e) =>
      (e.type === 'AGENT_RESPONDED' || e.type === 'AGENT_FAILED') &&
      e.path === rp(c) &&
      e.attempt === attempt(c);
    const canRetry: Test = (c, e) =>
      e.type === 'AGENT_FAILED' && e.error.retryable && attempt(c) <= node.retries;
    const retryTarget = node.backoffMs > 0 ? 'wait' : 'call';
    const states: Cfg = {
      call: {
        entry: [
          {
            type: 'callAgent',
            params: ({ context }: { context: RunMachineContext }) => ({
              path: rp(context),
              attempt: attempt(context),
              agent: node.agent,
              input: context.inp[rp(context)] ?? null,
              ...(node.config ? { config: node.config } : {}),
              ...(node.timeoutMs ? { timeoutMs: node.timeoutMs } : {}),
            }),
          },
        ],
        on: {
          AGENT_RESPONDED: {
            guard: { type: 'isFact', params: { test: isReply } },
            target: 'ok',
            actions: [
              {
                type: 'setOutput',
                params: ({
                  context,
                  event,
                }: {
                  context: RunMachineContext;
                  event: RunMachineEvent;
                }) => ({
                  path: rp(context),
                  value: (event as { output: unknown }).output,
                }),
              },
            ],
          },
          AGENT_FAILED: [
            {
              guard: {
                type: 'holds',
                params: {
                  test: (c: RunMachineContext, e: RunMachineEvent) =>
                    isReply(c, e) && canRetry(c, e),
                },
              },
              target: retryTarget,
              reenter: true,
              actions: [
                {
                  type: 'setAttempt',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    path: rp(context),
                    attempt: attempt(context) + 1,
                  }),
                },
              ],
            },
            {
              guard: { type: 'isFact', params: { test: isReply } },
              target: node.fallback ? 'fallback' : 'fail',
              actions: [
                {
                  type: 'setError',
                  params: ({
                    context,
                    event,
                  }: {
                    context: RunMachineContext;
                    event: RunMachineEvent;
                  }) => ({
                    path: rp(context),
                    error: (event as { error: ErrorInfo }).error,
                  }),
                },
              ],
            },
          ],
        },
      },
    };
    if (node.backoffMs > 0) {
      const timerId = (c: RunMachineContext) => `retry-${attempt(c)}`;
      states.wait = {
        entry: [
          {
            type: 'scheduleTimer',
            params: ({ context }: { context: RunMachineContext }) => ({
              path: rp(context),
              timerId: timerId(context),
              delayMs: node.backoffMs * 2 ** (attempt(context) - 2),
              reason: 'retry backoff',
            }),
          },
        ],
        on: {
          TIMER_FIRED: {
            guard: {
              type: 'isFact',
              params: {
                test: (c: RunMachineContext, e: RunMachineEvent) =>
                  e.type === 'TIMER_FIRED' && e.path === rp(c) && e.timerId === timerId(c),
              },
            },
            target: 'call',
          },
        },
      };
    }
    if (node.fallback) {
      const fbTpl = join(tpl, 'fallback');
      const fb = this.node(node.fallback, fbTpl, join(staticPath, 'fallback'));
      states.fallback = {
        ...fb,
        onDone: this.childDone(
          tpl,
          fbTpl,
          [this.copyOutput(tpl, (c) => c.out[runtimePath(fbTpl, c)])],
          'ok',
        ),
      };
      // The fallback gets the step's own input.
      (states.call as { on: { AGENT_FAILED: Cfg[] } }).on.AGENT_FAILED[1]!.actions = [
        ...((states.call as { on: { AGENT_FAILED: Cfg[] } }).on.AGENT_FAILED[1]!
          .actions as unknown[]),
        this.inputFor(node.fallback, fbTpl, (c) => c.inp[rp(c)]),
      ];
    }
    // No entry assign for the first attempt: an absent attempt reads as 1, and a runtime path
    // (which carries loop iterations) is never entered twice. Every assign copies the context.
    return { initial: 'call', states };
  }

  sequence(node: SequenceNode, tpl: string, staticPath: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    if (node.steps.length === 0) {
      return { initial: 'ok', entry: [this.copyOutput(tpl, (c) => c.inp[rp(c)])], states: {} };
    }
    const states: Cfg = {};
    node.steps.forEach((child, i) => {
      const childTpl = join(tpl, String(i));
      const next = node.steps[i + 1];
      const onOk = next
        ? [this.inputFor(next, join(tpl, String(i + 1)), (c) => c.out[runtimePath(childTpl, c)])]
        : [this.copyOutput(tpl, (c) => c.out[runtimePath(childTpl, c)])];
      states[`c${i}`] = {
        ...this.node(child, childTpl, join(staticPath, String(i))),
        onDone: this.childDone(tpl, childTpl, onOk, next ? `c${i + 1}` : 'ok'),
      };
    });
    const first = node.steps[0] as PlanNode;
    return {
      initial: 'c0',
      entry: [this.inputFor(first, join(tpl, '0'), (c) => c.inp[rp(c)])],
      states,
    };
  }

  parallel(node: ParallelNode, tpl: string, staticPath: string, id: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const fan = this.fanOut(node, tpl, staticPath, id, (c) => c.inp[rp(c)]);
    return { initial: 'run', entry: fan.entry, states: fan.states };
  }

  /**
   * Branches side by side on one input, then `join` merges the outputs of those that succeeded.
   * With a `gate`, a branch runs only if the gate selects it (the dynamic router); otherwise
   * every branch runs. Under `propagate` a failing branch fails the node at once.
   */
  fanOut(
    node: ParallelNode | RouterNode,
    tpl: string,
    staticPath: string,
    id: string,
    input: (c: RunMachineContext) => unknown,
    gate?: (c: RunMachineContext, key: string) => boolean,
  ): { entry: unknown[]; states: Cfg } {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const keys = Object.keys(node.branches);
    const regions: Cfg = {};
    const entry: unknown[] = [];
    keys.forEach((key, i) => {
      const branch = node.branches[key] as PlanNode;
      const bTpl = join(tpl, key);
      const go = {
        ...this.within(bTpl, () => this.node(branch, bTpl, join(staticPath, key))),
        onDone:
          node.onBranchFailure === 'propagate'
            ? [
                { guard: 'succeeded', target: 'done' },
                { ...this.failWithChild(tpl, bTpl), target: `#${id}.fail` },
              ]
            : [{ target: 'done' }],
      };
      const setInput = this.inputFor(branch, bTpl, input);
      const openScope = {
        type: 'openScope',
        params: ({ context }: { context: RunMachineContext }) => ({
          key: runtimePath(bTpl, context),
          from: ctxOf(context),
        }),
      };
      regions[`b${i}`] = gate
        ? {
            initial: 'check',
            states: {
              check: {
                always: [
                  {
                    guard: {
                      type: 'holds',
                      params: { test: (c: RunMachineContext) => gate(c, key) },
                    },
                    target: 'go',
                    actions: [
                      {
                        type: 'selectBranch',
                        params: ({ context }: { context: RunMachineContext }) => ({
                          path: rp(context),
                          branch: key,
                        }),
                      },
                      openScope,
                      setInput,
                    ],
                  },
                  { target: 'done' },
                ],
              },
              go,
              done: { type: 'final' },
            },
          }
        : { initial: 'go', states: { go, done: { type: 'final' } } };
      if (!gate) entry.push(openScope, setInput);
    });
    const ctxOf = this.ctxOf();
    const scope = this.scope;
    const ran = (c: RunMachineContext) => keys.filter((k) => !gate || gate(c, k));
    const merged = (c: RunMachineContext) =>
      mergeContexts(
        ctxOf(c),
        ran(c)
          .filter((k) => !(runtimePath(join(tpl, k), c) in c.err))
          .map((k) => c.bctx[runtimePath(join(tpl, k), c)] ?? {}),
        node.merge,
      );
    const outputs = (c: RunMachineContext) => {
      const ok: Record<string, unknown> = {};
      for (const key of ran(c)) {
        const p = runtimePath(join(tpl, key), c);
        if (p in c.out && !(p in c.err)) ok[key] = c.out[p];
      }
      return ok;
    };
    return {
      entry,
      states: {
        run: { type: 'parallel', states: regions, onDone: { target: 'join' } },
        join: {
          always: [
            {
              guard: { type: 'holds', params: { test: (c: RunMachineContext) => !merged(c).ok } },
              target: 'fail',
              actions: [
                {
                  type: 'setError',
                  params: ({ context }: { context: RunMachineContext }) => {
                    const m = merged(context);
                    return {
                      path: rp(context),
                      error: stepError(
                        'MERGE_CONFLICT',
                        `branches of ${node.name} wrote different values to context.${m.ok ? '?' : m.key} (merge strategy ${node.merge})`,
                      ),
                    };
                  },
                },
              ],
            },
            {
              guard: {
                type: 'holds',
                params: {
                  test: (c: RunMachineContext) =>
                    Object.keys(outputs(c)).length > 0 || ran(c).length === 0,
                },
              },
              target: 'ok',
              actions: [
                {
                  type: 'setRunContext',
                  params: ({ context }: { context: RunMachineContext }) => {
                    const m = merged(context);
                    return {
                      scope: scope === null ? null : runtimePath(scope, context),
                      ctx: m.ok ? m.ctx : ctxOf(context),
                    };
                  },
                },
                this.copyOutput(tpl, (c) => mergeBranches(node, keys, outputs(c))),
              ],
            },
            {
              target: 'fail',
              actions: [
                {
                  type: 'setError',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    path: rp(context),
                    error: stepError('ALL_BRANCHES_FAILED', `every branch of ${node.name} failed`),
                  }),
                },
              ],
            },
          ],
        },
      },
    };
  }

  router(node: RouterNode, tpl: string, staticPath: string, id: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const routeTpl = join(tpl, 'router');
    const valid = Object.keys(node.branches);
    const routes = (c: RunMachineContext): string[] => {
      const out = c.out[runtimePath(routeTpl, c)];
      return (Array.isArray(out) ? out : out === undefined || out === null ? [] : [out]).map(
        String,
      );
    };
    const unknown = (c: RunMachineContext) => routes(c).filter((r) => !valid.includes(r));
    const fan = this.fanOut(
      node,
      tpl,
      staticPath,
      id,
      (c) => c.inp[rp(c)],
      (c, key) => routes(c).includes(key),
    );
    return {
      initial: 'route',
      entry: [this.inputFor(node.router, routeTpl, (c) => c.inp[rp(c)])],
      states: {
        route: {
          ...this.node(node.router, routeTpl, join(staticPath, 'router')),
          onDone: [
            {
              guard: {
                type: 'holds',
                params: {
                  test: (c: RunMachineContext, e: RunMachineEvent) =>
                    childOk(e) && unknown(c).length > 0,
                },
              },
              target: 'fail',
              actions: [
                {
                  type: 'setError',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    path: rp(context),
                    error: stepError(
                      'UNKNOWN_ROUTE',
                      `${node.name} chose ${JSON.stringify(unknown(context))}; its branches are ${JSON.stringify(valid)}`,
                    ),
                  }),
                },
              ],
            },
            { guard: 'succeeded', target: 'run' },
            this.failWithChild(tpl, routeTpl),
          ],
        },
        ...fan.states,
      },
    };
  }

  map(node: MapNode, tpl: string, staticPath: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const bodyTpl = join(tpl, `body@{${staticPath}}`);
    const itemsOf = this.code(node.items, `${node.name}.items`);
    const finalize = this.code(node.finalize, `${node.name}.finalize`);
    const iteration = (c: RunMachineContext) => c.it[staticPath] ?? 1;
    const itemsKey = (c: RunMachineContext) => `${rp(c)}#items`;
    const items = (c: RunMachineContext) => (c.inp[itemsKey(c)] as unknown[]) ?? [];
    const outputs = (c: RunMachineContext) =>
      items(c).map(
        (_, i) =>
          c.out[runtimePath(bodyTpl, { ...c, it: { ...c.it, [staticPath]: i + 1 } })] ?? null,
      );
    const ctxOf = this.ctxOf();
    const result = (c: RunMachineContext) =>
      finalize ? finalize(outputs(c), ctxOf(c)) : outputs(c);
    const body = this.node(node.body, bodyTpl, join(staticPath, 'body'));
    return {
      initial: 'start',
      entry: [
        {
          type: 'setInput',
          params: ({ context }: { context: RunMachineContext }) => {
            const input = context.inp[rp(context)];
            const list = itemsOf ? itemsOf(input, ctxOf(context)) : input;
            return { path: itemsKey(context), value: Array.isArray(list) ? list : null };
          },
        },
        { type: 'setIteration', params: { loop: staticPath, iteration: 1 } },
      ],
      states: {
        start: {
          always: [
            {
              guard: {
                type: 'holds',
                params: { test: (c: RunMachineContext) => c.inp[itemsKey(c)] === null },
              },
              target: 'fail',
              actions: [
                {
                  type: 'setError',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    path: rp(context),
                    error: stepError('MAP_NOT_A_LIST', `${node.name} needs a list to map over`),
                  }),
                },
              ],
            },
            {
              guard: {
                type: 'holds',
                params: { test: (c: RunMachineContext) => items(c).length === 0 },
              },
              target: 'ok',
              actions: [this.copyOutput(tpl, result)],
            },
            { target: 'iter', actions: [this.inputFor(node.body, bodyTpl, (c) => items(c)[0])] },
          ],
        },
        iter: {
          ...body,
          entry: [
            {
              type: 'startIteration',
              params: ({ context }: { context: RunMachineContext }) => ({
                path: rp(context),
                iteration: iteration(context),
              }),
            },
            ...(body.entry as unknown[]),
          ],
          onDone: [
            {
              ...this.failWithChild(tpl, bodyTpl),
              guard: {
                type: 'holds',
                params: { test: (_c: RunMachineContext, e: RunMachineEvent) => !childOk(e) },
              },
            },
            {
              guard: {
                type: 'holds',
                params: { test: (c: RunMachineContext) => iteration(c) >= items(c).length },
              },
              target: 'ok',
              actions: [this.copyOutput(tpl, result)],
            },
            {
              target: 'iter',
              reenter: true,
              actions: [
                {
                  type: 'setIteration',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    loop: staticPath,
                    iteration: iteration(context) + 1,
                  }),
                },
                this.inputFor(node.body, bodyTpl, (c) => items(c)[iteration(c) - 1]),
              ],
            },
          ],
        },
      },
    };
  }

  conditional(node: ConditionalNode, tpl: string, staticPath: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const condition = this.code(node.condition, `${node.name}.condition`) as Fn;
    const ctxOf = this.ctxOf();
    const keys = Object.keys(node.branches);
    const states: Cfg = {};
    const choices: unknown[] = [];
    const arms: [string, string, PlanNode][] = keys.map((k, i) => [
      k,
      `b${i}`,
      node.branches[k] as PlanNode,
    ]);
    if (node.default) arms.push(['default', 'default', node.default]);
    for (const [key, state, branch] of arms) {
      const bTpl = join(tpl, key);
      const isDefault = state === 'default';
      choices.push({
        guard: {
          type: 'holds',
          params: { test: (c: RunMachineContext) => isDefault || c.sel[rp(c)] === key },
        },
        target: state,
        actions: [
          {
            type: 'selectBranch',
            params: ({ context }: { context: RunMachineContext }) => ({
              path: rp(context),
              branch: key,
            }),
          },
          this.inputFor(branch, bTpl, (c) => c.inp[rp(c)]),
        ],
      });
      states[state] = {
        ...this.node(branch, bTpl, join(staticPath, key)),
        onDone: this.childDone(
          tpl,
          bTpl,
          [this.copyOutput(tpl, (c) => c.out[runtimePath(bTpl, c)])],
          'ok',
        ),
      };
    }
    choices.push({
      target: 'fail',
      actions: [
        {
          type: 'setError',
          params: ({ context }: { context: RunMachineContext }) => ({
            path: rp(context),
            error: stepError(
              'NO_BRANCH',
              `no branch of ${node.name} for key ${JSON.stringify(context.sel[rp(context)] ?? null)} and no default`,
            ),
          }),
        },
      ],
    });
    states.choose = { always: choices };
    return {
      initial: 'choose',
      entry: [
        {
          type: 'setSelection',
          params: ({ context }: { context: RunMachineContext }) => {
            const key = condition(context.inp[rp(context)], ctxOf(context));
            return {
              path: rp(context),
              branch: typeof key === 'boolean' ? String(key) : String(key),
            };
          },
        },
      ],
      states,
    };
  }

  loop(node: LoopNode, tpl: string, staticPath: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const bodyTpl = join(tpl, `body@{${staticPath}}`);
    const iteration = (c: RunMachineContext) => c.it[staticPath] ?? 1;
    const bodyOut = (c: RunMachineContext) => c.out[runtimePath(bodyTpl, c)];
    const exit = this.code(node.exit, `${node.name}.exit`);
    const nextInput = this.code(node.iterationInput, `${node.name}.iterationInput`);
    const output = this.code(node.output, `${node.name}.output`);
    const ctxOf = this.ctxOf();
    const result = (c: RunMachineContext) => (output ? output(bodyOut(c), ctxOf(c)) : bodyOut(c));
    const body = this.node(node.body, bodyTpl, join(staticPath, 'body'));
    const exitNow: Test = (c) => Boolean(exit?.(bodyOut(c), ctxOf(c), iteration(c)));
    const atMax: Test = (c) => iteration(c) >= node.maxLoops;
    return {
      initial: 'iter',
      entry: [
        { type: 'setIteration', params: { loop: staticPath, iteration: 1 } },
        this.inputFor(node.body, bodyTpl, (c) => c.inp[rp(c)]),
      ],
      states: {
        iter: {
          ...body,
          entry: [
            {
              type: 'startIteration',
              params: ({ context }: { context: RunMachineContext }) => ({
                path: rp(context),
                iteration: iteration(context),
              }),
            },
            ...(body.entry as unknown[]),
          ],
          onDone: [
            {
              ...this.failWithChild(tpl, bodyTpl),
              guard: {
                type: 'holds',
                params: { test: (_c: RunMachineContext, e: RunMachineEvent) => !childOk(e) },
              },
            },
            {
              guard: { type: 'holds', params: { test: exitNow } },
              target: 'ok',
              actions: [this.copyOutput(tpl, result)],
            },
            {
              guard: {
                type: 'holds',
                params: {
                  test: (c: RunMachineContext, e: RunMachineEvent) =>
                    atMax(c, e) && exit !== undefined,
                },
              },
              target: 'fail',
              actions: [
                {
                  type: 'setError',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    path: rp(context),
                    error: stepError(
                      'MAX_LOOPS',
                      `${node.name} reached max_loops (${node.maxLoops}) without meeting its exit condition`,
                    ),
                  }),
                },
              ],
            },
            {
              guard: { type: 'holds', params: { test: atMax } },
              target: 'ok',
              actions: [this.copyOutput(tpl, result)],
            },
            {
              target: 'iter',
              reenter: true,
              actions: [
                // Park the last iteration's output on the loop, move the iteration on, then feed
                // the new iteration (whose path now carries the new number).
                this.copyOutput(tpl, bodyOut),
                {
                  type: 'setIteration',
                  params: ({ context }: { context: RunMachineContext }) => ({
                    loop: staticPath,
                    iteration: iteration(context) + 1,
                  }),
                },
                this.inputFor(node.body, bodyTpl, (c) => {
                  const prev = c.out[rp(c)];
                  return nextInput ? nextInput(prev, ctxOf(c), iteration(c)) : prev;
                }),
              ],
            },
          ],
        },
      },
    };
  }

  stateMachine(node: StateMachineNode, tpl: string, staticPath: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    const names = Object.keys(node.states);
    const maxVisits = node.maxVisits ?? 100;
    for (const t of [node.start, ...node.transitions.map((t) => t.to)]) {
      if (!names.includes(t) && !node.end.includes(t)) {
        throw new PlanCompileError(`${node.name}: state ${JSON.stringify(t)} is not defined`);
      }
    }
    const ctxOf = this.ctxOf();
    const visit = (c: RunMachineContext) => c.it[staticPath] ?? 1;
    const stateTpl = (k: string) => join(tpl, `${k}@{${staticPath}}`);
    const target = (k: string) => (names.includes(k) ? `s_${names.indexOf(k)}` : 'ok');
    const outOf = (k: string) => (c: RunMachineContext) => c.out[runtimePath(stateTpl(k), c)];
    // Leaving state k for state `to`: park k's output on the node, count the visit, feed `to`.
    const move = (k: string, to: string) => [
      this.copyOutput(tpl, outOf(k)),
      {
        type: 'setIteration',
        params: ({ context }: { context: RunMachineContext }) => ({
          loop: staticPath,
          iteration: visit(context) + 1,
        }),
      },
      ...(names.includes(to)
        ? [this.inputFor(node.states[to] as PlanNode, stateTpl(to), (c) => c.out[rp(c)])]
        : []),
    ];
    const outcome = (e: RunMachineEvent) => (childOk(e) ? 'success' : 'failure');
    const tooMany = {
      guard: { type: 'holds', params: { test: (c: RunMachineContext) => visit(c) >= maxVisits } },
      target: 'fail',
      actions: [
        {
          type: 'setError',
          params: ({ context }: { context: RunMachineContext }) => ({
            path: rp(context),
            error: stepError(
              'MAX_TRANSITIONS',
              `${node.name} visited ${maxVisits} states without reaching an end state`,
            ),
          }),
        },
      ],
    };
    const states: Cfg = {};
    names.forEach((k, i) => {
      const body = this.node(node.states[k] as PlanNode, stateTpl(k), join(staticPath, k));
      const rules: unknown[] = [];
      if (node.end.includes(k)) {
        rules.push(
          { guard: 'succeeded', target: 'ok', actions: [this.copyOutput(tpl, outOf(k))] },
          this.failWithChild(tpl, stateTpl(k)),
        );
      } else {
        rules.push(tooMany);
        for (const t of node.transitions) {
          if ((t.from !== k && t.from !== '*') || t.on === 'pause') continue;
          const when = this.code(t.when, `${node.name}.transitions(${t.from} -> ${t.to}).when`);
          rules.push({
            guard: {
              type: 'holds',
              params: {
                test: (c: RunMachineContext, e: RunMachineEvent) =>
                  outcome(e) === t.on &&
                  (!when ||
                    Boolean(
                      when(ctxOf(c), {
                        event: t.on,
                        last_output: outOf(k)(c) ?? null,
                        last_step: k,
                      }),
                    )),
              },
            },
            target: target(t.to),
            reenter: true,
            actions: move(k, t.to),
          });
        }
        for (const next of [...names, ...node.end.filter((e) => !names.includes(e))]) {
          rules.push({
            guard: {
              type: 'holds',
              params: {
                test: (c: RunMachineContext, e: RunMachineEvent) =>
                  childOk(e) && ctxOf(c).next_state === next,
              },
            },
            target: target(next),
            reenter: true,
            actions: move(k, next),
          });
        }
        rules.push({
          ...this.failWithChild(tpl, stateTpl(k)),
          guard: {
            type: 'holds',
            params: { test: (_c: RunMachineContext, e: RunMachineEvent) => !childOk(e) },
          },
        });
        rules.push({
          target: 'fail',
          actions: [
            {
              type: 'setError',
              params: ({ context }: { context: RunMachineContext }) => ({
                path: rp(context),
                error: stepError(
                  'NO_TRANSITION',
                  `${node.name}: no transition from state ${k} on success, and context.next_state is not set`,
                ),
              }),
            },
          ],
        });
      }
      states[`s_${i}`] = {
        ...body,
        entry: [
          {
            type: 'selectBranch',
            params: ({ context }: { context: RunMachineContext }) => ({
              path: rp(context),
              branch: k,
            }),
          },
          ...(body.entry as unknown[]),
        ],
        onDone: rules,
      };
    });
    const start = node.start;
    return {
      initial: names.includes(start) ? `s_${names.indexOf(start)}` : 'ok',
      entry: [
        { type: 'setIteration', params: { loop: staticPath, iteration: 1 } },
        names.includes(start)
          ? this.inputFor(node.states[start] as PlanNode, stateTpl(start), (c) => c.inp[rp(c)])
          : this.copyOutput(tpl, (c) => c.inp[rp(c)]),
      ],
      states,
    };
  }

  hitl(node: HitlNode, tpl: string): Cfg {
    const rp = (c: RunMachineContext) => runtimePath(tpl, c);
    return {
      initial: 'wait',
      states: {
        wait: {
          entry: [
            {
              type: 'requestHuman',
              params: ({ context }: { context: RunMachineContext }) => ({
                path: rp(context),
                message: node.message,
                inputSchema: node.inputSchema,
              }),
            },
          ],
          on: {
            HUMAN_INPUT: {
              guard: {
                type: 'isFact',
                params: {
                  test: (c: RunMachineContext, e: RunMachineEvent) =>
                    e.type === 'HUMAN_INPUT' && e.path === rp(c),
                },
              },
              target: 'ok',
              actions: [
                {
                  type: 'setOutput',
                  params: ({
                    context,
                    event,
                  }: {
                    context: RunMachineContext;
                    event: RunMachineEvent;
                  }) => ({
                    path: rp(context),
                    value: (event as { input: unknown }).input,
                  }),
                },
              ],
            },
          },
        },
      },
    };
  }
}

/** Compiles a plan into its run machine. Throws PlanCompileError naming the node. */
export function compilePlan(plan: Plan): RunMachine {
  const compiler = new Compiler(plan);
  const root = compiler.node(plan.ir.root, ROOT_PATH, ROOT_PATH);
  return runMachineSetup.createMachine({
    id: 'run',
    context: ({ input }: { input: RunMachineInput }) => ({
      runId: input.runId,
      ctx: { initial_prompt: input.input, ...(input.context ?? {}) },
      inp: { [ROOT_PATH]: input.input },
      out: {},
      bctx: {},
      att: {},
      it: {},
      sel: {},
      err: {},
    }),
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
}
