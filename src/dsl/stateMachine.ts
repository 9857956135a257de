/**
 * `stateMachine`: Flujo's StateMachine construct. Split out of ./builder.ts, which re-exports it.
 */
import { type CommonOptions, type Flow, commonFields, flowOf, join, ref } from './builder.js';
import { checkWholeNumbers } from './checks.js';
import { branchSegment } from './paths.js';

type Ctx = Record<string, unknown>;

export interface StateMachineOptions extends CommonOptions<unknown> {
  readonly start: string;
  readonly end: readonly string[];
  readonly transitions: readonly {
    readonly from: string;
    readonly on: 'success' | 'failure' | 'pause';
    readonly to: string;
    readonly when?: (
      context: Ctx,
      output: { event: string; last_output: unknown; last_step: string },
    ) => boolean;
  }[];
  readonly maxVisits?: number;
}

/** Flujo's StateMachine: named states, first matching transition wins, `context.next_state` as fallback. */
export function stateMachine(
  name: string,
  states: Record<string, Flow<never, unknown>>,
  opts: StateMachineOptions,
): Flow<unknown, unknown> {
  checkWholeNumbers(name, [['maxVisits', opts.maxVisits, 1]]);
  return flowOf((path, fns) => ({
    kind: 'state_machine',
    ...commonFields(path, fns, name, opts),
    start: opts.start,
    end: opts.end,
    states: Object.fromEntries(
      Object.entries(states).map(([k, f]) => [k, f.make(join(path, branchSegment(k)), fns)]),
    ),
    transitions: opts.transitions.map((t, i) => ({
      from: t.from,
      on: t.on,
      to: t.to,
      ...(t.when ? { when: ref(fns, `${path}.transitions.${i}.when`, t.when) } : {}),
    })),
    ...(opts.maxVisits ? { maxVisits: opts.maxVisits } : {}),
  }));
}
