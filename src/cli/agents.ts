/** The agent port a CLI run uses: skills and model providers, configured from the project. */
import type { EffectiveConfig } from '../config/load.js';
import type { AgentPort } from '../ports.js';

export function agentsFor(_cfg: EffectiveConfig): AgentPort | undefined {
  return undefined;
}
