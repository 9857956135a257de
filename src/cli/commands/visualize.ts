/**
 * `flujo visualize PATH [--format mermaid|text] [--json]`: validates, then draws the pipeline.
 * With --json, one object `{pipeline, path, format, diagram}` (the diagram as printed without
 * it), or validate's JSON when invalid, as `explain --json`.
 */
import { visualizePlan } from '../../blueprint/describe.js';
import { EngineError, ErrorCode, ExitCode } from '../../errors.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { loadFromCli, validate } from './validate.js';

export async function visualizeCommand(
  opts: GlobalOptions & { path?: string; format?: string; json?: boolean },
  out: Output,
): Promise<number> {
  const format = opts.format ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'text') {
    throw new EngineError(ErrorCode.USAGE, `--format must be mermaid or text (got ${format})`, {
      exitCode: ExitCode.config,
    });
  }
  const result = await loadFromCli(opts);
  if (!result.plan) return validate({ ...opts, format: opts.json ? 'json' : 'text' }, out, result);
  const diagram = visualizePlan(result.plan.ir, format);
  if (opts.json) out.json({ pipeline: result.plan.ir.name, path: result.path, format, diagram });
  else out.data(diagram);
  return 0;
}
