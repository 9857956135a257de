/**
 * `uses: imports.<alias>`: the child blueprint, compiled by the same loader, runs as a one-branch
 * parallel node so that it works on its own context (discarded: `no_merge`): a fresh one, or a
 * copy of the parent's with `inherit_context: true`. What
 * flows back is the child's output and, with `updates_context` + `outputs`, the mapped context
 * values. `on_failure: skip | continue_with_default` adds a passthrough branch and ignores the
 * failed one, so the step's output is then its input.
 */
import type { CodeRef, PlanNode, TemplateValue } from '../dsl/ir.js';
import type { Env, Where } from './env.js';
import { nearest } from './findings.js';
import { loadChild } from './loader.js';
import { identity } from './steps.js';
import { mapTree } from './walk.js';
import { entry, plain, type YNode } from './yamlTree.js';

type Base = { name: string; input?: CodeRef; updatesContext?: boolean; sinkTo?: string };

function nest(path: string, value: TemplateValue): Record<string, TemplateValue> {
  const [head, ...rest] = path.replace(/^context\./, '').split('.');
  return { [head ?? path]: rest.length ? nest(rest.join('.'), value) : value };
}

function deepAssign(a: Record<string, TemplateValue>, b: Record<string, TemplateValue>) {
  for (const [k, v] of Object.entries(b)) {
    const cur = a[k];
    if (
      cur &&
      typeof cur === 'object' &&
      !Array.isArray(cur) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
    ) {
      deepAssign(cur as Record<string, TemplateValue>, v as Record<string, TemplateValue>);
    } else a[k] = v;
  }
}

/** `outputs` as [child path, parent path] pairs: a list of {child, parent}, a map, or pairs. */
function outputPairs(env: Env, node: YNode, name: string): [string, string][] {
  const v = plain(node);
  const out: [string, string][] = [];
  if (Array.isArray(v)) {
    for (const item of v) {
      if (Array.isArray(item) && item.length === 2) out.push([String(item[0]), String(item[1])]);
      else if (item && typeof item === 'object') {
        const o = item as Record<string, unknown>;
        const c = o.child ?? o.from;
        const p = o.parent ?? o.to;
        if (typeof c === 'string' && typeof p === 'string') out.push([c, p]);
        else
          env.report('V-I2', `${name}: each outputs entry needs child and parent`, node.pos, {
            step: name,
          });
      }
    }
  } else if (v && typeof v === 'object') {
    for (const [c, p] of Object.entries(v)) out.push([c, String(p)]);
  } else
    env.report('V-I2', `${name}: outputs must be a list or a mapping`, node.pos, { step: name });
  for (const [c, p] of out) {
    if (!/^(context\.)?[A-Za-z_][\w.]*$/.test(c) || !/^(context\.)?[A-Za-z_][\w.]*$/.test(p)) {
      env.report(
        'V-I2',
        `${name}: outputs paths must be dotted context paths (got ${c} -> ${p})`,
        node.pos,
        { step: name },
      );
    }
  }
  return out;
}

export function importStep(
  env: Env,
  node: YNode,
  name: string,
  alias: string,
  usesNode: YNode,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const imp = env.imports.get(alias);
  if (!imp) {
    const near = nearest(alias, env.imports.keys());
    env.report('V-A6', `${name}: no import '${alias}' in the imports section`, usesNode.pos, {
      step: name,
      suggestion: near ? `use 'imports.${near}'` : `declare it under 'imports:'`,
    });
    return undefined;
  }
  // Its keys and the step config keys were checked by the caller (stepConfig.ts).
  const cfg = entry(node, 'config')?.value;
  const get = (k: string) => (cfg ? entry(cfg, k)?.value : undefined);
  const inputTo =
    env.oneOf(
      get('input_to'),
      ['initial_prompt', 'import_artifacts', 'both'] as const,
      `${name}: input_to`,
      name,
    ) ?? 'initial_prompt';
  const key =
    env.str(get('input_scratchpad_key'), `${name}: input_scratchpad_key`, name) ?? 'initial_input';
  if (get('input_scratchpad_key') && inputTo === 'initial_prompt') {
    env.report(
      'V-I5',
      `${name}: input_scratchpad_key has no effect with input_to: initial_prompt`,
      get('input_scratchpad_key')!.pos,
      { step: name },
    );
  }
  const onFailure =
    env.oneOf(
      get('on_failure'),
      ['abort', 'skip', 'continue_with_default'] as const,
      `${name}: on_failure`,
      name,
    ) ?? 'abort';
  const propagate = env.bool(get('propagate_hitl'), `${name}: propagate_hitl`, name) ?? true;
  const inherit = env.bool(get('inherit_context'), `${name}: inherit_context`, name) ?? false;
  const conversation =
    env.bool(get('inherit_conversation'), `${name}: inherit_conversation`, name) ?? true;
  if (inherit && get('inherit_conversation')) {
    env.report(
      'V-I6',
      `${name}: inherit_conversation has no effect with inherit_context: true (the child sees the whole context)`,
      get('inherit_conversation')!.pos,
      { step: name },
    );
  }
  const outputsNode = get('outputs');
  const pairs = outputsNode ? outputPairs(env, outputsNode, name) : [];
  env.usedImports.add(alias);
  const loaded = loadChild(env, imp.path, alias, imp.pos);
  if (!loaded) return undefined;

  const hidden = (what: string) => env.hiddenName(name, what);
  const child = propagate ? loaded : suppressHitl(loaded);
  // Flujo's child context: a copy of the parent's with inherit_context, else a fresh one that
  // keeps only the import artifacts (Flujo seeds them) and, with inherit_conversation, the
  // conversation and hitl histories.
  const setup: PlanNode[] = inherit
    ? []
    : [
        identity(hidden('fresh'), {
          keepContext: [
            'import_artifacts',
            ...(conversation ? ['conversation_history', 'hitl_history'] : []),
          ],
        }),
      ];
  if (inputTo !== 'import_artifacts') {
    setup.push(
      identity(hidden('prompt'), {
        input: { template: '{{ previous_step }}' },
        sinkTo: 'initial_prompt',
      }),
    );
  }
  if (inputTo !== 'initial_prompt') {
    const stash = hidden('stash');
    setup.push(
      identity(stash, { record: [`step_outputs.${stash}`] }),
      identity(hidden('merge'), {
        input: { contextOp: 'merge', target: 'import_artifacts', value: '{{ previous_step }}' },
        sinkTo: 'import_artifacts',
      }),
      identity(hidden('set'), {
        input: {
          contextOp: 'set',
          target: `import_artifacts.${key}`,
          value: `{{ steps.${stash}.output }}`,
        },
        sinkTo: `import_artifacts.${key}`,
      }),
      identity(hidden('restore'), { input: { template: `{{ steps.${stash}.output }}` } }),
    );
  }
  const mapped = Boolean(base.updatesContext) && pairs.length > 0;
  const ctx: Record<string, TemplateValue> = {};
  for (const [c, p] of pairs)
    deepAssign(ctx, nest(p, `{{ context.${c.replace(/^context\./, '')} }}`));
  const tail: PlanNode[] = mapped
    ? [
        identity(hidden('outputs'), {
          input: { template: { output: '{{ previous_step }}', context: ctx } },
        }),
      ]
    : [];
  const seq: PlanNode = {
    kind: 'sequence',
    name: `${name}:${alias}`,
    steps: [...setup, child, ...tail],
  };
  const branch = propagate ? seq : untilHitl(env, name, seq, mapped);
  const skip = onFailure !== 'abort';
  const fan = hidden('import');
  const parallel: PlanNode = {
    kind: 'parallel',
    name: fan,
    branches: {
      [alias]: branch,
      ...(skip
        ? {
            [`${alias}~skip`]: identity(
              hidden('skip'),
              mapped ? { input: { template: { output: '{{ previous_step }}', context: {} } } } : {},
            ),
          }
        : {}),
    },
    merge: 'no_merge',
    onBranchFailure: skip ? 'ignore' : 'propagate',
    reduce: 'first',
    ...(mapped ? { record: [`step_outputs.${fan}`] } : {}),
  };
  const { updatesContext, ...rest } = base;
  if (!mapped)
    return {
      kind: 'sequence',
      ...rest,
      ...(updatesContext ? { updatesContext } : {}),
      steps: [parallel],
    };
  return {
    kind: 'sequence',
    ...rest,
    steps: [
      parallel,
      identity(hidden('apply'), {
        input: { template: '{{ previous_step.context }}' },
        updatesContext: true,
      }),
      identity(hidden('result'), { input: { template: `{{ steps.${fan}.output.output }}` } }),
    ],
  };
}

/**
 * `propagate_hitl: false`: no hitl step of the child asks (HitlNode.propagate: false); reaching
 * one stops the child with HITL_NOT_PROPAGATED wherever it sits — a parallel branch (even under
 * `on_branch_failure: ignore`), a map item, a state machine state (its `on: failure` rules do not
 * take it), a nested import (its `on_failure` does not take it either). `untilHitl` catches the
 * stop and gives Flujo's output for a suppressed pause, `{}` (ADR 61). A nested import with
 * `propagate_hitl: false` of its own catches its child's stop first, as Flujo's does.
 */
function suppressHitl(child: PlanNode): PlanNode {
  return mapTree(child, (n) => (n.kind === 'hitl' ? { ...n, propagate: false } : n));
}

/** Runs `seq`; when it stopped at a hitl step that did not ask, the output is `{}`. */
function untilHitl(env: Env, name: string, seq: PlanNode, mapped: boolean): PlanNode {
  return {
    kind: 'state_machine',
    name: env.hiddenName(name, 'until_hitl'),
    start: 'child',
    end: ['stopped', 'done'],
    states: {
      child: seq,
      stopped: identity(env.hiddenName(name, 'stopped'), {
        input: { template: mapped ? { output: {}, context: {} } : {} },
      }),
    },
    transitions: [
      { from: 'child', on: 'success', to: 'done' },
      { from: 'child', on: 'hitl_not_propagated', to: 'stopped' },
    ],
  };
}
