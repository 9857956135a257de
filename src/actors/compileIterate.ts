/**
 * Loops and maps: a body re-entered once per iteration or item.
 * Each function compiles one node kind; `this` is the Compiler (src/actors/compile.ts).
 */
import { MAX_MAP_CONCURRENCY as MAX_SLOTS, maxLoopsProblem } from '../dsl/checks.js';
import type { LoopNode, MapNode } from '../dsl/ir.js';
import type { Compiler } from './compile.js';
import { PlanCompileError, forgetItem, iterationState, join, type Cfg } from './compileShared.js';

import { mapSlots, nextKey } from './compileMapSlots.js';
import type { Test } from './machine.js';
import { runtimePath, type RunMachineContext, type RunMachineEvent } from './vocabulary.js';

/** Each slot of a concurrent map is its own region with its own copy of the body. */
export function map(
  this: Compiler,
  node: MapNode,
  tpl: string,
  staticPath: string,
  id: string,
): Cfg {
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const slots = Math.max(1, Math.floor(node.concurrency ?? 1));
  if (slots > MAX_SLOTS)
    throw new PlanCompileError(
      `${node.name}: concurrency ${slots} is above the limit of ${MAX_SLOTS} (each slot is compiled into the machine)`,
    );
  // With one slot the body's iteration key is the map's own path; with several, each slot
  // has its own key (and its own compiled copy of the body), so nested loops never share one.
  const slotKey = (s: number) => (slots === 1 ? staticPath : `${staticPath}~${s}`);
  const bodyTpl = join(tpl, `body@{${slotKey(0)}}`);
  const itemsOf = this.code(node.items, `${node.name}.items`);
  const finalize = this.code(node.finalize, `${node.name}.finalize`);
  const itemsKey = (c: RunMachineContext) => `${rp(c)}#items`;
  const items = (c: RunMachineContext) => (c.inp[itemsKey(c)] as unknown[]) ?? [];
  const outputs = (c: RunMachineContext) =>
    items(c).map(
      (_, i) => c.out[runtimePath(bodyTpl, { ...c, it: { ...c.it, [slotKey(0)]: i + 1 } })] ?? null,
    );
  const ctxOf = this.ctxOf();
  const result = (c: RunMachineContext) => (finalize ? finalize(outputs(c), ctxOf(c)) : outputs(c));
  const body = this.gathered(() =>
    slots === 1
      ? this.node(node.body, bodyTpl, join(staticPath, 'body'))
      : mapSlots(this, node, { tpl, staticPath, id, slots, slotKey, items }),
  );
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
      {
        type: 'setIteration',
        params: { loop: slots === 1 ? staticPath : nextKey(staticPath), iteration: 1 },
      },
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
              this.errorAction(
                tpl,
                'MAP_NOT_A_LIST',
                () => `${node.name} needs a list to map over`,
              ),
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
          slots === 1
            ? { target: 'iter', actions: [this.inputFor(node.body, bodyTpl, (c) => items(c)[0])] }
            : { target: 'slots' },
        ],
      },
      ...(slots === 1
        ? { iter: sequentialItems(this, node, body, tpl, bodyTpl, staticPath, items, result) }
        : {
            slots: { ...body, onDone: { target: 'ok', actions: [this.copyOutput(tpl, result)] } },
          }),
    },
  };
}

/** One item after another: the body re-entered with the next item until the list is done. */
function sequentialItems(
  cx: Compiler,
  node: MapNode,
  body: Cfg,
  tpl: string,
  bodyTpl: string,
  staticPath: string,
  items: (c: RunMachineContext) => unknown[],
  result: (c: RunMachineContext) => unknown,
): Cfg {
  const iteration = (c: RunMachineContext) => c.it[staticPath] ?? 1;
  return iterationState(cx, body, tpl, bodyTpl, iteration, [
    {
      guard: {
        type: 'holds',
        params: { test: (c: RunMachineContext) => iteration(c) >= items(c).length },
      },
      target: 'ok',
      actions: [forgetItem(bodyTpl), cx.copyOutput(tpl, result)],
    },
    {
      target: 'iter',
      reenter: true,
      actions: [
        // Before the iteration moves on: the item's path carries its number.
        forgetItem(bodyTpl),
        {
          type: 'setIteration',
          params: ({ context }: { context: RunMachineContext }) => ({
            loop: staticPath,
            iteration: iteration(context) + 1,
          }),
        },
        cx.inputFor(node.body, bodyTpl, (c) => items(c)[iteration(c) - 1]),
      ],
    },
  ]);
}

export function loop(this: Compiler, node: LoopNode, tpl: string, staticPath: string): Cfg {
  // The builders refuse these; an IR made another way must not run one iteration for 0 or
  // fail at the ledger for NaN.
  const maxProblem = maxLoopsProblem(node.maxLoops);
  if (maxProblem) throw new PlanCompileError(`${node.name}: maxLoops ${maxProblem}`);
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
  // Once its output is parked on the loop, an iteration's body is read by nothing (ADR 38).
  const forgetBody = this.forget(bodyTpl, true);
  return {
    initial: 'iter',
    entry: [
      { type: 'setIteration', params: { loop: staticPath, iteration: 1 } },
      this.inputFor(node.body, bodyTpl, (c) => c.inp[rp(c)]),
    ],
    states: {
      iter: iterationState(this, body, tpl, bodyTpl, iteration, [
        {
          guard: { type: 'holds', params: { test: exitNow } },
          target: 'ok',
          actions: [this.copyOutput(tpl, result), forgetBody],
        },
        {
          guard: {
            type: 'holds',
            params: {
              test: (c: RunMachineContext, e: RunMachineEvent) => atMax(c, e) && exit !== undefined,
            },
          },
          target: 'fail',
          actions: [
            this.errorAction(
              tpl,
              'MAX_LOOPS',
              () =>
                `${node.name} reached max_loops (${node.maxLoops}) without meeting its exit condition`,
            ),
          ],
        },
        {
          guard: { type: 'holds', params: { test: atMax } },
          target: 'ok',
          actions: [this.copyOutput(tpl, result), forgetBody],
        },
        {
          target: 'iter',
          reenter: true,
          actions: [
            // Park the last iteration's output on the loop, move the iteration on, then feed
            // the new iteration (whose path now carries the new number).
            this.copyOutput(tpl, bodyOut),
            forgetBody,
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
      ]),
    },
  };
}
