/**
 * `flujo explain PATH [--json]`: validates, then describes the pipeline in plain language. With
 * --json, one object `{pipeline, path, explanation: [lines]}`, or validate's JSON when invalid.
 */
import { explainPlan } from '../../blueprint/describe.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { loadFromCli, validate } from './validate.js';

export async function explainCommand(
  opts: GlobalOptions & { path?: string; json?: boolean },
  out: Output,
): Promise<number> {
  const result = await loadFromCli(opts);
  if (!result.plan) return validate({ ...opts, format: opts.json ? 'json' : 'text' }, out, result);
  const text = explainPlan(result.plan.ir);
  if (opts.json)
    out.json({ pipeline: result.plan.ir.name, path: result.path, explanation: text.split('\n') });
  else out.data(text);
  return 0;
}
