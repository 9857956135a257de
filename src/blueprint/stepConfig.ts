/**
 * A step's `config:` (Flujo's per-step settings), checked apart from what runs the step. Split
 * out of steps.ts, which builds the step around it.
 */
import type { Env } from './env.js';
import { STEP_CONFIG_ACTED, STEP_CONFIG_KEYS, STEP_CONFIG_SAMPLING } from './keys.js';
import { entry, type YNode } from './yamlTree.js';

const get = (n: YNode, k: string) => entry(n, k)?.value;

/** Why an import step's retry and timeout keys do nothing, and where they do something. */
const IMPORT_NOT_ACTED: Readonly<Record<string, string>> = {
  max_retries: `an import step does not retry its child; set max_retries on the child's steps`,
  timeout_s: `an import step does not time its child out; set timeout_s on the child's steps`,
  timeout: `an import step does not time its child out; set timeout_s on the child's steps`,
};

/**
 * A step's `config:`, checked the same whatever runs the step (an agent, a skill, ask_user, a
 * module, an import, nothing) and whatever its kind: unknown keys (V-K1), Flujo's keys this engine
 * does not act on (V-K5), `max_retries` and `timeout_s` (V-A7). `importKeys`: an import step's,
 * which takes them besides and acts on no step key, retries and timeouts included (ADR 140).
 * Returns what a basic step acts on.
 */
export function stepConfig(
  env: Env,
  node: YNode,
  name: string,
  { importKeys }: { importKeys?: readonly string[] } = {},
): { retries?: number; timeoutMs?: number } {
  const cfg = get(node, 'config');
  if (!cfg) return {};
  const sampling: readonly string[] = STEP_CONFIG_SAMPLING;
  const acted: readonly string[] = importKeys ? [] : STEP_CONFIG_ACTED;
  const ignored = STEP_CONFIG_KEYS.filter((k) => !acted.includes(k) && !sampling.includes(k));
  env.checkKeys(
    cfg,
    [...acted, ...sampling, ...(importKeys ?? [])],
    `${name}: config`,
    name,
    ignored,
    importKeys ? IMPORT_NOT_ACTED : {},
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
