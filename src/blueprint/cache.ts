/**
 * `kind: cache` (Flujo §1.3): `wrapped_step` runs once per distinct input; a later run of the
 * node with the same input takes the stored output. The cache is the run context's `__cache`
 * (cacheOps.ts), so the hit or miss is a recorded branch choice (BranchSelected `hit` / `miss`)
 * that replay repeats from the ledger alone. Shape of the IR:
 *
 *   sequence [ keep input -> conditional(lookup) { hit: get, miss: [wrapped, put, output] } ]
 */
import type { PlanNode } from '../dsl/ir.js';
import { contentHash } from '../events/chain.js';
import { encodeCanonical } from '../events/codec.js';
import { CACHE_KEY } from './cacheOps.js';
import type { Env, Where } from './env.js';
import { buildStep, get, identity, type Base } from './steps.js';
import type { YNode } from './yamlTree.js';

function fingerprint(node: PlanNode): string {
  try {
    return contentHash(encodeCanonical(node)).slice(0, 16);
  } catch {
    return contentHash(new TextEncoder().encode(JSON.stringify(node))).slice(0, 16);
  }
}

export function cacheStep(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const w = get(node, 'wrapped_step');
  if (!w || w.t !== 'map') {
    env.report(
      'V-K4',
      `${name}: a cache step needs 'wrapped_step' (one step mapping)`,
      w?.pos ?? node.pos,
      {
        step: name,
      },
    );
    return undefined;
  }
  const wrapped = buildStep(env, w, { ...where, yamlPath: `${where.yamlPath}.wrapped_step` });
  if (!wrapped) return undefined;
  const key = `${name}#${fingerprint(wrapped)}`;
  const input = env.hiddenName(name, 'input');
  const output = env.hiddenName(name, 'output');
  return {
    kind: 'sequence',
    ...base,
    steps: [
      identity(input, { record: [`step_outputs.${input}`] }),
      {
        kind: 'conditional',
        name: env.hiddenName(name, 'lookup'),
        condition: { cache: { op: 'lookup', key } },
        branches: {
          hit: identity(env.hiddenName(name, 'hit'), { input: { cache: { op: 'get', key } } }),
          miss: {
            kind: 'sequence',
            name: env.hiddenName(name, 'miss'),
            steps: [
              { ...wrapped, record: [...(wrapped.record ?? []), `step_outputs.${output}`] },
              identity(env.hiddenName(name, 'put'), {
                input: { cache: { op: 'put', key, inputFrom: input } },
                sinkTo: CACHE_KEY,
              }),
              identity(env.hiddenName(name, 'result'), {
                input: { template: `{{ steps.${output}.output }}` },
              }),
            ],
          },
        },
      },
    ],
  };
}
