/**
 * Sequences, conditionals and state machines: moving between children.
 * Each function compiles one node kind; `this` is the Compiler (src/actors/compile.ts).
 */
import { ENGINE_FLAGS } from '../dsl/engineFlags.js';
import type { ConditionalNode, PlanNode, SequenceNode, StateMachineNode } from '../dsl/ir.js';
import { branchSegment } from '../dsl/paths.js';
import type { Compiler } from './compile.js';
import { askedKey } from './compileStep.js';
import { PlanCompileError, childOk, join, type Cfg, type Fn } from './compileShared.js';
import {
  runtimePath,
  stoppedUnasked,
  type RunMachineContext,
  type RunMachineEvent,
} from './vocabulary.js';

export function sequence(
  this: Compiler,
  node: SequenceNode,
  tpl: string,
  staticPath: string,
  id: string,
): Cfg {
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  if (node.steps.length === 0) {
    return { initial: 'ok', entry: [this.copyOutput(tpl, (c) => c.inp[rp(c)])], states: {} };
  }
  const children = node.steps.map((child, i) =>
    this.node(child, join(tpl, String(i)), join(staticPath, String(i))),
  );
  const states: Cfg = {};
  node.steps.forEach((child, i) => {
    const childTpl = join(tpl, String(i));
    const next = node.steps[i + 1];
    const leaf = child.kind === 'step' || child.kind === 'hitl';
    // A step's fallback runs below the step's path; other leaves keep one entry per record.
    const inner = !leaf || (child.kind === 'step' && child.fallback !== undefined);
    const onOk = [
      next
        ? this.inputFor(next, join(tpl, String(i + 1)), (c) => c.out[runtimePath(childTpl, c)])
        : this.copyOutput(tpl, (c) => c.out[runtimePath(childTpl, c)]),
      this.forget(childTpl, inner),
    ];
    const cfg = children[i] as Cfg;
    if (leaf) {
      shortcut(cfg, next ? `#${(children[i + 1] as Cfg).id as string}` : `#${id}.ok`, onOk);
    }
    states[`c${i}`] = {
      ...cfg,
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

/**
 * A leaf child's success goes straight to what its sequence does next: the transitions of its
 * waiting states that end it in `ok` take `ok`'s entry actions and the sequence's own `onDone`
 * actions and target the next sibling (or the sequence's `ok`). The actions run in the order
 * the two microsteps ran them (exit, transition, `ok`'s entry, the sequence's transition, the
 * next sibling's entry), so the decisions recorded are the same; XState takes one microstep a
 * step instead of two and raises no done event. Other ways into `ok` (a fallback that succeeded)
 * still go through `ok` and the child's `onDone`.
 */
function shortcut(child: Cfg, target: string, onOk: readonly unknown[]): void {
  const states = child.states as Record<string, Cfg>;
  const okEntry = (states.ok?.entry as unknown[] | undefined) ?? [];
  for (const state of Object.values(states)) {
    const on = state.on as Record<string, Cfg | Cfg[]> | undefined;
    if (!on) continue;
    for (const handlers of Object.values(on)) {
      for (const t of Array.isArray(handlers) ? handlers : [handlers]) {
        if (t.target !== 'ok') continue;
        t.target = target;
        t.actions = [...((t.actions as unknown[] | undefined) ?? []), ...okEntry, ...onOk];
      }
    }
  }
}

export function conditional(
  this: Compiler,
  node: ConditionalNode,
  tpl: string,
  staticPath: string,
): Cfg {
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const condition = this.code(node.condition, `${node.name}.condition`) as Fn;
  const ctxOf = this.ctxOf();
  const keys = Object.keys(node.branches);
  // A boolean picks `true` / `false`; without those (nor a default) Flujo matches the branch
  // whose name is the same but for case — `"True":`, written in Python's spelling.
  const boolBranch = (key: unknown): string | undefined => {
    if (typeof key !== 'boolean' || keys.includes(String(key)) || node.default) return undefined;
    return keys.find((k) => k.toLowerCase() === String(key));
  };
  const states: Cfg = {};
  const choices: unknown[] = [];
  const arms: [string, string, PlanNode][] = keys.map((k, i) => [
    k,
    `b${i}`,
    node.branches[k] as PlanNode,
  ]);
  if (node.default) arms.push(['default', 'default', node.default]);
  for (const [key, state, branch] of arms) {
    const isDefault = state === 'default';
    // A branch named `default` beside the default branch gets its own segment (paths.ts).
    const seg = isDefault ? 'default' : branchSegment(key, node.default ? 'default' : undefined);
    const bTpl = join(tpl, seg);
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
      ...this.node(branch, bTpl, join(staticPath, seg)),
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
      this.errorAction(
        tpl,
        'NO_BRANCH',
        (context) =>
          `no branch of ${node.name} for key ${JSON.stringify(context.sel[rp(context)] ?? null)} and no default`,
      ),
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
          return { path: rp(context), branch: boolBranch(key) ?? String(key) };
        },
      },
    ],
    states,
  };
}

export function stateMachine(
  this: Compiler,
  node: StateMachineNode,
  tpl: string,
  staticPath: string,
): Cfg {
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
  const stateTpl = (k: string) => join(tpl, `${branchSegment(k)}@{${staticPath}}`);
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
  // A state ends in success, in failure, or stopped at a hitl step that did not ask (ADR 61):
  // `on: failure` rules never take the last, only `on: hitl_not_propagated` ones do.
  const outcome = (k: string) => (c: RunMachineContext, e: RunMachineEvent) =>
    childOk(e)
      ? 'success'
      : stoppedUnasked(c, runtimePath(stateTpl(k), c))
        ? 'hitl_not_propagated'
        : 'failure';
  const tooMany = {
    guard: { type: 'holds', params: { test: (c: RunMachineContext) => visit(c) >= maxVisits } },
    target: 'fail',
    actions: [
      this.errorAction(
        tpl,
        'MAX_TRANSITIONS',
        () => `${node.name} visited ${maxVisits} states without reaching an end state`,
      ),
    ],
  };
  const states: Cfg = {};
  // Only a machine with a pause rule that moves needs to know which states asked: the others
  // compile (and snapshot) as before.
  const pauseRules = node.transitions.some((t) => t.on === 'pause' && t.from !== t.to);
  names.forEach((k, i) => {
    if (pauseRules) this.askScopes.push(staticPath);
    let body: Cfg;
    try {
      body = this.node(node.states[k] as PlanNode, stateTpl(k), join(staticPath, branchSegment(k)));
    } finally {
      if (pauseRules) this.askScopes.pop();
    }
    // Whether state k asked a person on this visit: any answer inside it (in a loop, a map, a
    // parallel branch, an import, a nested machine) marked this machine's current visit.
    const askedHere = (c: RunMachineContext) => c.it[askedKey(staticPath)] === visit(c);
    const rules: unknown[] = [];
    if (node.end.includes(k)) {
      rules.push(
        { guard: 'succeeded', target: 'ok', actions: [this.copyOutput(tpl, outOf(k))] },
        this.failWithChild(tpl, stateTpl(k)),
      );
    } else {
      // Whether rule t's `when` holds (a rule without one always does).
      const whenOf = (t: (typeof node.transitions)[number], event: string) => {
        const when = this.code(
          t.when,
          `${node.name}.transitions(${t.from} -> ${t.to}).when`,
          'transition',
        );
        return (c: RunMachineContext) =>
          !when ||
          Boolean(when(ctxOf(c), { event, last_output: outOf(k)(c) ?? null, last_step: k }));
      };
      // A transition rule of state k: `holds` for the event, and its `when` if it has one.
      const ruleOf = (
        t: (typeof node.transitions)[number],
        event: string,
        holds: (c: RunMachineContext, e: RunMachineEvent) => boolean,
      ) => {
        const when = whenOf(t, event);
        return {
          guard: {
            type: 'holds',
            params: {
              test: (c: RunMachineContext, e: RunMachineEvent) => holds(c, e) && when(c),
            },
          },
          target: target(t.to),
          reenter: true,
          actions: move(k, t.to),
        };
      };
      const from = (t: (typeof node.transitions)[number]) => t.from === k || t.from === '*';
      // A state stopped at a hitl step that did not ask leaves by its own rule or fails the
      // machine with the stop, before MAX_TRANSITIONS could stand in for it (ADR 61).
      const stopped = (c: RunMachineContext, e: RunMachineEvent) =>
        outcome(k)(c, e) === 'hitl_not_propagated';
      for (const t of node.transitions)
        if (from(t) && t.on === 'hitl_not_propagated') rules.push(ruleOf(t, t.on, stopped));
      rules.push({
        ...this.failWithChild(tpl, stateTpl(k)),
        guard: { type: 'holds', params: { test: stopped } },
      });
      rules.push(tooMany);
      // `on: pause` (Flujo): the state to be in after a person answered. A state that asked on
      // this visit leaves by its first matching pause rule once it completes; a rule back to the
      // state itself is Flujo's "stay here while paused" — the state goes on and its success or
      // failure rules apply as usual. Such a rule that matches is the first match: the rules
      // after it are not tried (ADR 134; a run recorded before skipped it, `when` and all).
      const stays: ((c: RunMachineContext) => boolean)[] = [];
      for (const t of node.transitions) {
        if (!from(t) || t.on !== 'pause') continue;
        if (t.to === k) {
          stays.push(whenOf(t, 'pause'));
          continue;
        }
        const earlier = [...stays];
        const stayed = (c: RunMachineContext) =>
          earlier.length > 0 &&
          (c.flags?.includes(ENGINE_FLAGS.firstPauseRuleWins) ?? false) &&
          earlier.some((holds) => holds(c));
        rules.push(ruleOf(t, 'pause', (c, e) => childOk(e) && askedHere(c) && !stayed(c)));
      }
      for (const t of node.transitions)
        if (from(t) && (t.on === 'success' || t.on === 'failure'))
          rules.push(ruleOf(t, t.on, (c, e) => outcome(k)(c, e) === t.on));
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
          this.errorAction(
            tpl,
            'NO_TRANSITION',
            () =>
              `${node.name}: no transition from state ${k} on success, and context.next_state is not set`,
          ),
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
      // Entered again (in a loop, a later map item): a mark of an earlier entry's visit is stale.
      ...(pauseRules
        ? [{ type: 'setIteration', params: { loop: askedKey(staticPath), iteration: 0 } }]
        : []),
      names.includes(start)
        ? this.inputFor(node.states[start] as PlanNode, stateTpl(start), (c) => c.inp[rp(c)])
        : this.copyOutput(tpl, (c) => c.inp[rp(c)]),
    ],
    states,
  };
}
