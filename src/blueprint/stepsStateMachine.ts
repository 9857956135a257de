/** `kind: StateMachine`: states, transitions with `when`, end states, reachability (V-SM1). */
import type { PlanNode, StateTransition } from '../dsl/ir.js';
import type { Env, Where } from './env.js';
import { nearest } from './findings.js';
import { TRANSITION_KEYS } from './keys.js';
import { buildSteps, get, type Base } from './steps.js';
import { plain, type YNode } from './yamlTree.js';

export function stateMachine(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const start = env.str(get(node, 'start_state'), `${name}: start_state`, name);
  if (!start)
    env.report('V-K4', `${name}: a state machine needs 'start_state'`, node.pos, { step: name });
  const endNode = get(node, 'end_states');
  const endRaw = endNode ? plain(endNode) : [];
  const end = (Array.isArray(endRaw) ? endRaw : [endRaw]).map(String);
  const statesNode = get(node, 'states');
  const states: Record<string, PlanNode> = {};
  if (statesNode?.t === 'map') {
    for (const e of statesNode.entries) {
      // A state's name is recorded as the machine enters it, and printed.
      env.controlName(`${name}: state name`, e.key, e.keyPos, name);
      states[e.key] = buildSteps(env, e.value, `${name}.${e.key}`, {
        ...where,
        yamlPath: `${where.yamlPath}.states.${e.key}`,
      });
    }
  } else
    env.report(
      'V-K4',
      `${name}: 'states' must map state names to steps`,
      statesNode?.pos ?? node.pos,
      { step: name },
    );
  // An end state with no steps is recorded by name as well (a state named above is reported there).
  const endItems = endNode?.t === 'seq' ? endNode.items : endNode ? [endNode] : [];
  end.forEach((state, i) => {
    if (!Object.hasOwn(states, state))
      env.controlName(`${name}: end state`, state, (endItems[i] ?? node).pos, name);
  });
  const known = new Set([...Object.keys(states), ...end]);
  const transitions: StateTransition[] = [];
  const tNode = get(node, 'transitions');
  for (const t of tNode?.t === 'seq' ? tNode.items : []) {
    env.checkKeys(t, TRANSITION_KEYS, `${name}: transition`, name);
    const from = env.str(get(t, 'from'), 'from', name);
    const to = env.str(get(t, 'to'), 'to', name);
    const on = env.oneOf(
      get(t, 'on') ?? { t: 'scalar', value: 'success', pos: t.pos },
      ['success', 'failure', 'pause'] as const,
      `${name}: on`,
      name,
    );
    for (const [k, v] of [
      ['from', from],
      ['to', to],
    ] as const) {
      if (v && v !== '*' && !known.has(v)) {
        const near = nearest(v, known);
        env.report(
          'V-SM1',
          `${name}: transition ${k} '${v}' is not a state`,
          get(t, k)?.pos ?? t.pos,
          {
            step: name,
            severity: 'error',
            suggestion: near ? `use '${near}'` : null,
          },
        );
      }
    }
    const whenNode = get(t, 'when');
    const when = whenNode
      ? env.expression(whenNode, name, { ...where, transition: true })
      : undefined;
    if (from && to && on) transitions.push({ from, on, to, ...(when ? { when } : {}) });
  }
  if (start && !known.has(start)) {
    env.report(
      'V-SM1',
      `${name}: start_state '${start}' is not a state`,
      get(node, 'start_state')?.pos ?? node.pos,
      { step: name, severity: 'error' },
    );
    return undefined;
  }
  // Reachability: from start along transitions (next_state can reach anything, so only warn).
  const reach = new Set<string>(start ? [start] : []);
  for (let changed = true; changed;) {
    changed = false;
    for (const t of transitions) {
      if ((t.from === '*' || reach.has(t.from)) && !reach.has(t.to))
        [changed] = [reach.add(t.to) !== undefined];
    }
  }
  if (transitions.length) {
    for (const s of known) {
      if (!reach.has(s)) {
        const pos =
          statesNode?.t === 'map'
            ? (statesNode.entries.find((e) => e.key === s)?.keyPos ?? node.pos)
            : node.pos;
        env.report('V-SM1', `${name}: state '${s}' is unreachable from '${start}'`, pos, {
          step: name,
        });
      }
    }
  }
  // A count of visits: 0 was taken for the default (100), 0.5 failed the step at once.
  const maxT = env.count(get(node, 'max_transitions'), `${name}: max_transitions`, name, 1);
  return {
    kind: 'state_machine',
    ...base,
    start: start ?? '',
    end,
    states,
    transitions,
    // As before counts were checked (5db5502), for a run recorded with 0 (the default) or 0.5 (0).
    ...(maxT ? { maxVisits: Math.floor(maxT) } : {}),
  };
}
