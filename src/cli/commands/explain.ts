/** `flujo explain PATH`: validates, then describes the pipeline in plain language. */
import { explainPlan } from '../../blueprint/describe.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { loadFromCli, validate } from './validate.js';

export async function explainCommand(
  opts: GlobalOptions & { path?: string },
  out: Output,
): Promise<number> {
  const result = loadFromCli(opts);
  if (!result.plan) return validate({ ...opts, format: 'text' }, out);
  out.data(explainPlan(result.plan.ir));
  return 0;
}
