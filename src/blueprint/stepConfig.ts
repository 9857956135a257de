/**
 * A step's `config:` (Flujo's per-step settings), checked apart from what runs the step. Split
 * out of steps.ts, which builds the step around it.
 */
import type { Env } from './env.js';
import { STEP_CONFIG_ACTED, STEP_CONFIG_KEYS, STEP_CONFIG_SAMPLING } from './keys.js';
import { entry, type YNode } from './yamlTree.js';

const get = (n: YNode, k: string) => entry(n, k)?.value;

/** Why `what` does not act on a retry count or a timeout, and where they work (`on`). */
const elsewhere = (what: string, child: string, on: string) => ({
  max_retries: `${what} does not retry ${child}; set max_retries ${on}`,
  timeout_s: `${what} does not time ${child} out; set timeout_s ${on}`,
  timeout: `${what} does not time ${child} out; set timeout_s ${on}`,
});
const ASKS = {
  max_retries: 'a step that asks a person is not retried: it pauses until it is answered',
  timeout_s: 'a step that asks a person waits for its answer without a timeout',
  timeout: 'a step that asks a person waits for its answer without a timeout',
};
const PASSES = {
  max_retries: 'a step with no agent or uses passes its input through: there is nothing to retry',
  timeout_s: 'a step with no agent or uses passes its input through: there is nothing to time out',
  timeout: 'a step with no agent or uses passes its input through: there is nothing to time out',
};

/**
 * The steps that act on none of a step's config keys, with why their retry and timeout keys do
 * nothing and where those work: an import (ADR 140), each kind that is not a basic step, a basic
 * step that asks a person (`ask_user`) and one with no agent (a passthrough) (ADR 141). Only a
 * basic step that calls an agent, a skill or a module retries and times out.
 */
export const CONFIG_NOT_ACTED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  import: elsewhere('an import step', 'its child', "on the child's steps"),
  parallel: elsewhere('a parallel step', 'its branches', "on the branches' steps"),
  dynamic_router: elsewhere(
    'a dynamic_router step',
    'its router agent or branches',
    "on the branches' steps",
  ),
  conditional: elsewhere('a conditional step', 'its branches', "on the branches' steps"),
  loop: elsewhere('a loop step', 'its body', "on the body's steps"),
  map: elsewhere('a map step', 'its body', "on the body's steps"),
  StateMachine: elsewhere('a state machine', 'its states', "on the states' steps"),
  cache: elsewhere('a cache step', 'its wrapped step', "in wrapped_step's config"),
  agentic_loop: {
    max_retries: `an agentic loop does not retry its planner or tools; set max_retries on the agents they name (agents: <name>: max_retries)`,
    timeout_s: `an agentic loop does not time its planner or tools out; set timeout on the agents they name (agents: <name>: timeout)`,
    timeout: `an agentic loop does not time its planner or tools out; set timeout on the agents they name (agents: <name>: timeout)`,
  },
  hitl: ASKS,
  ask: ASKS,
  passthrough: PASSES,
};

/**
 * A step's `config:`, checked the same whatever runs the step (an agent, a skill, ask_user, a
 * module, an import, nothing) and whatever its kind: unknown keys (V-K1), Flujo's keys this engine
 * does not act on (V-K5), `max_retries` and `timeout_s` (V-A7). `notActedBy`: a step that acts on
 * no step key, retries and timeouts included, each then a V-K5 warning saying why
 * (CONFIG_NOT_ACTED). `importKeys`: the import options an import step takes besides. Returns what
 * a basic step acts on.
 */
export function stepConfig(
  env: Env,
  node: YNode,
  name: string,
  { importKeys, notActedBy }: { importKeys?: readonly string[]; notActedBy?: string } = {},
): { retries?: number; timeoutMs?: number } {
  const cfg = get(node, 'config');
  if (!cfg) return {};
  const sampling: readonly string[] = STEP_CONFIG_SAMPLING;
  const acted: readonly string[] = notActedBy ? [] : STEP_CONFIG_ACTED;
  const ignored = STEP_CONFIG_KEYS.filter((k) => !acted.includes(k) && !sampling.includes(k));
  env.checkKeys(
    cfg,
    [...acted, ...sampling, ...(importKeys ?? [])],
    `${name}: config`,
    name,
    ignored,
    (notActedBy && CONFIG_NOT_ACTED[notActedBy]) || {},
  );
  // Accepted (Flujo has them) but a step's config does not reach the model: say where they go.
  if (cfg.t === 'map')
    for (const e of cfg.entries)
      if (sampling.includes(e.key))
        env.report(
          'V-K5',
          `${name}: config: '${e.key}' is accepted but not acted on: a step's config does not reach the model`,
          e.keyPos,
          {
            step: name,
            severity: 'warning',
            suggestion: `set it in the agent's model_settings (agents: <name>: model_settings: { ${e.key}: … })`,
          },
        );
  const retries = env.count(
    get(cfg, 'max_retries'),
    `${name}: config.max_retries`,
    name,
    0,
    'V-A7',
  );
  const timeout = env.num(
    get(cfg, 'timeout_s') ?? get(cfg, 'timeout'),
    `${name}: config.timeout_s`,
    name,
    'V-A7',
  );
  return {
    // Floored, as before counts were checked (5db5502): a run recorded with 1.5 retried once.
    ...(retries !== undefined ? { retries: Math.floor(retries) } : {}),
    ...(timeout !== undefined ? { timeoutMs: Math.round(timeout * 1000) } : {}),
  };
}
