/**
 * A map that runs up to `concurrency` items at once. The machine is compiled before the list is
 * known, so the fan-out is a fixed number of slots — one parallel region each, with its own copy
 * of the body — that take items in list order from a shared counter until the list runs out.
 * Claims happen in region entry actions, which XState runs one region after another in document
 * order, so which slot takes which item is a pure function of the recorded facts.
 */
import type { MapNode } from '../dsl/ir.js';
import type { Compiler } from './compile.js';
import { forgetItem, iterationState, join, type Cfg } from './compileShared.js';
import type { RunMachineContext } from './vocabulary.js';

/** The `it` key holding the next unclaimed item (1-based). */
export const nextKey = (staticPath: string) => `${staticPath}#next`;

export interface SlotsSpec {
  readonly tpl: string;
  readonly staticPath: string;
  /** The map node's state id, for a failing item to fail the whole map at once. */
  readonly id: string;
  readonly slots: number;
  readonly slotKey: (slot: number) => string;
  readonly items: (c: RunMachineContext) => unknown[];
}

export function mapSlots(cx: Compiler, node: MapNode, spec: SlotsSpec): Cfg {
  const { tpl, staticPath, id, slots, slotKey, items } = spec;
  const next = nextKey(staticPath);
  const regions: Cfg = {};
  for (let s = 0; s < slots; s++) {
    const key = slotKey(s);
    const bodyTpl = join(tpl, `body@{${key}}`);
    const item = (c: RunMachineContext) => c.it[key] ?? 0;
    const body = cx.node(node.body, bodyTpl, join(staticPath, `body~${s}`));
    regions[`s${s}`] = {
      initial: 'claim',
      states: {
        claim: {
          entry: [
            {
              type: 'setIteration',
              params: ({ context }: { context: RunMachineContext }) => ({
                loop: key,
                iteration: context.it[next] ?? 1,
              }),
            },
            {
              type: 'setIteration',
              params: ({ context }: { context: RunMachineContext }) => ({
                loop: next,
                iteration: item(context) + 1,
              }),
            },
          ],
          always: [
            {
              guard: {
                type: 'holds',
                params: { test: (c: RunMachineContext) => item(c) > items(c).length },
              },
              target: 'done',
            },
            {
              target: 'run',
              actions: [cx.inputFor(node.body, bodyTpl, (c) => items(c)[item(c) - 1])],
            },
          ],
        },
        // The item is forgotten before `claim` moves the slot's key (the item's path) on.
        run: iterationState(
          cx,
          body,
          tpl,
          bodyTpl,
          item,
          [{ target: 'claim', actions: [forgetItem(bodyTpl)] }],
          `#${id}.fail`,
        ),
        done: { type: 'final' },
      },
    };
  }
  return { type: 'parallel', states: regions };
}
