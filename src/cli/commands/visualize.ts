/** `flujo visualize PATH [--format mermaid|text]`: validates, then draws the pipeline. */
import { visualizePlan } from '../../blueprint/describe.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { loadFromCli, validate } from './validate.js';

export async function visualizeCommand(
  opts: GlobalOptions & { path?: string; format?: string },
  out: Output,
): Promise<number> {
  const format = opts.format ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'text') {
    throw new EngineError(ErrorCode.USAGE, `--format must be mermaid or text (got ${format})`, {
      exitCode: ExitCode.config,
    });
  }
  const result = await loadFromCli(opts);
  if (!result.plan) return validate({ ...opts, format: 'text' }, out, result);
  out.data(visualizePlan(result.plan.ir, format));
  return 0;
}
