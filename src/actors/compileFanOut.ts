/**
 * Parallel nodes and the dynamic router: regions side by side, then a join.
 * Each function compiles one node kind; `this` is the Compiler (src/actors/compile.ts).
 */
import type { ParallelNode, PlanNode, RouterNode } from '../dsl/ir.js';
import { branchNames, branchOrderProblem, branchSegment } from '../dsl/paths.js';
import type { Compiler } from './compile.js';
import { PlanCompileError, childOk, join, type Cfg } from './compileShared.js';
import { mergeBranches, mergeContexts } from './data.js';
import {
  runtimePath,
  stoppedUnasked,
  type RunMachineContext,
  type RunMachineEvent,
} from './vocabulary.js';

export function parallel(
  this: Compiler,
  node: ParallelNode,
  tpl: string,
  staticPath: string,
  id: string,
): Cfg {
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const fan = fanOut.call(this, node, tpl, staticPath, id, (c) => c.inp[rp(c)]);
  return { initial: 'run', entry: fan.entry, exit: fan.exit, states: fan.states };
}

/**
 * Branches side by side on one input, then `join` merges the outputs of those that succeeded.
 * With a `gate`, a branch runs only if the gate selects it (the dynamic router); otherwise
 * every branch runs. Under `propagate` a failing branch fails the node at once.
 */
export function fanOut(
  this: Compiler,
  node: ParallelNode | RouterNode,
  tpl: string,
  staticPath: string,
  id: string,
  input: (c: RunMachineContext) => unknown,
  gate?: (c: RunMachineContext, key: string) => boolean,
): { entry: unknown[]; exit: unknown[]; states: Cfg } {
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const keys = declared(node);
  // Whether the merged output holds a branch's output one level deeper (data.ts mergeBranches):
  // `first`, `last` and `union` keep its depth, `keys` drops it (ADR 114).
  const nests = node.reduce === undefined || node.reduce === 'values' || node.reduce === 'concat';
  // A branch's path segment (paths.ts): its name, unless that could be taken for another path.
  const reserved = node.kind === 'dynamic_router' ? 'router' : undefined;
  const at = (base: string, key: string) => join(base, branchSegment(key, reserved));
  const regions: Cfg = {};
  const entry: unknown[] = [];
  keys.forEach((key, i) => {
    const branch = node.branches[key] as PlanNode;
    const bTpl = at(tpl, key);
    const compileBranch = () => this.node(branch, bTpl, at(staticPath, key));
    const go = {
      ...this.within(bTpl, () => (nests ? this.gathered(compileBranch) : compileBranch())),
      onDone:
        node.onBranchFailure === 'propagate'
          ? [
              { guard: 'succeeded', target: 'done' },
              { ...this.failWithChild(tpl, bTpl), target: `#${id}.fail` },
            ]
          : [
              // A hitl step that did not ask is no failure to ignore: it stops the node (ADR 61).
              {
                ...this.failWithChild(tpl, bTpl),
                target: `#${id}.fail`,
                guard: {
                  type: 'holds',
                  params: {
                    test: (c: RunMachineContext, e: RunMachineEvent) =>
                      !childOk(e) && stoppedUnasked(c, runtimePath(bTpl, c)),
                  },
                },
              },
              { target: 'done' },
            ],
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
        .filter((k) => !(runtimePath(at(tpl, k), c) in c.err))
        .map((k) => c.bctx[runtimePath(at(tpl, k), c)] ?? {}),
      node.merge,
    );
  const outputs = (c: RunMachineContext) => {
    const ok: Record<string, unknown> = {};
    for (const key of ran(c)) {
      const p = runtimePath(at(tpl, key), c);
      if (p in c.out && !(p in c.err)) ok[key] = c.out[p];
    }
    return ok;
  };
  return {
    entry,
    exit: [
      {
        type: 'closeScopes',
        params: ({ context }: { context: RunMachineContext }) => ({
          keys: keys.map((k) => runtimePath(at(tpl, k), context)),
        }),
      },
    ],
    states: {
      // XState never ends a parallel state with no regions: no branches go straight to the
      // join, which completes with the merge of no outputs (ADR 48).
      run:
        keys.length === 0
          ? { always: { target: 'join' } }
          : { type: 'parallel', states: regions, onDone: { target: 'join' } },
      join: {
        always: [
          {
            guard: { type: 'holds', params: { test: (c: RunMachineContext) => !merged(c).ok } },
            target: 'fail',
            actions: [
              this.errorAction(tpl, 'MERGE_CONFLICT', (context) => {
                const m = merged(context);
                const key = `context.${m.ok ? '?' : m.key}`;
                // error_on_conflict refuses any second write of a key, equal values included.
                return node.merge === 'error_on_conflict'
                  ? `more than one branch of ${node.name} wrote ${key} (merge strategy error_on_conflict allows one writer per key)`
                  : `branches of ${node.name} wrote different values to ${key} (merge strategy ${node.merge})`;
              }),
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
              this.errorAction(
                tpl,
                'ALL_BRANCHES_FAILED',
                () => `every branch of ${node.name} failed`,
              ),
            ],
          },
        ],
      },
    },
  };
}

export function router(
  this: Compiler,
  node: RouterNode,
  tpl: string,
  staticPath: string,
  id: string,
): Cfg {
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const routeTpl = join(tpl, 'router');
  const valid = declared(node);
  const routes = (c: RunMachineContext): string[] => {
    const out = c.out[runtimePath(routeTpl, c)];
    return (Array.isArray(out) ? out : out === undefined || out === null ? [] : [out]).map(String);
  };
  const unknown = (c: RunMachineContext) => routes(c).filter((r) => !valid.includes(r));
  const fan = fanOut.call(
    this,
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
    exit: fan.exit,
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
              this.errorAction(
                tpl,
                'UNKNOWN_ROUTE',
                (context) =>
                  `${node.name} chose ${JSON.stringify(unknown(context))}; its branches are ${JSON.stringify(valid)}`,
              ),
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

/** The branches in their declared order (ParallelNode.branchOrder), checked. */
function declared(node: ParallelNode | RouterNode): readonly string[] {
  const problem = node.branchOrder && branchOrderProblem(node.branches, node.branchOrder);
  if (problem) throw new PlanCompileError(`${node.name}: branchOrder ${problem}`);
  return branchNames(node);
}
