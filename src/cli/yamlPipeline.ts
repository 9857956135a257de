/** YAML blueprints for `flujo run`: the blueprint loader, validated, with its findings. */
import type { EffectiveConfig } from '../config/load.js';
import type { Plan } from '../dsl/ir.js';
import { ConfigError, ErrorCode } from '../errors.js';

export function loadYamlPipeline(
  file: string,
  _cfg: EffectiveConfig,
): Promise<{ plan: Plan; warnings: string[] }> {
  return Promise.reject(
    new ConfigError(ErrorCode.CONFIG_INVALID, `${file}: YAML blueprints are not supported yet`),
  );
}
