/**
 * Step mappings to Plan IR nodes: the dispatch on `kind`, basic steps and hitl; branching kinds
 * (parallel options, dynamic_router, conditional) are in ./stepsBranches.ts.
 * Loops are in ./stepsIterate.ts, maps in ./stepsMap.ts, state machines in ./stepsStateMachine.ts, imports in
 * ./imports.ts, cache and agentic loops in their own files; the reading helpers are in ./env.ts.
 */
import { schemaProblem } from '../dsl/jsonSchema.js';
import { sinkToProblem } from '../dsl/checks.js';
import type { CodeRef, HitlNode, PlanNode, SequenceNode, StepNode } from '../dsl/ir.js';
import { thisOf, type Env, type Where } from './env.js';
import { nearest } from './findings.js';
import { importStep } from './imports.js';
import { stepConfig } from './stepConfig.js';
import {
  COMMON_IGNORED,
  COMMON_KEYS,
  IMPORT_CONFIG_KEYS,
  KIND_IGNORED,
  KIND_KEYS,
  KINDS,
  UNSUPPORTED_KINDS,
} from './keys.js';
import { resolveAgent } from './agents.js';
import { agenticLoop } from './agenticLoop.js';
import { cacheStep } from './cache.js';
import { checkParallelWrites } from './parallelWrites.js';
import { loop, map } from './stepsIterate.js';
import { conditional, fanOutBranchesOf, fanOutOptions, router } from './stepsBranches.js';
import { placeScalar } from './sourceMap.js';
import { stateMachine } from './stepsStateMachine.js';
import { noteUnusedOutputs } from './unusedOutput.js';
import { hasTemplate } from './template.js';
import { entry, plain, type YNode } from './yamlTree.js';

type Mut<T> = { -readonly [K in keyof T]: T[K] };

export const get = (n: YNode, k: string) => entry(n, k)?.value;

/** An identity node: passes its input through (or its `input` template's value). */
export function identity(name: string, extra: Partial<Mut<SequenceNode>> = {}): SequenceNode {
  return { kind: 'sequence', name, steps: [], ...extra };
}

/** A list of step mappings (or `{steps: [...]}`, or one step mapping) as one node. */
export function buildSteps(
  env: Env,
  node: YNode | undefined,
  name: string,
  where: Where,
): PlanNode {
  if (!node) return identity(name);
  if (node.t === 'map' && entry(node, 'steps') && !entry(node, 'kind') && !entry(node, 'name')) {
    env.checkKeys(node, ['steps'], name, null);
    return buildSteps(env, get(node, 'steps'), name, where);
  }
  if (node.t === 'map') {
    return buildStep(env, node, { ...where, yamlPath: where.yamlPath }) ?? identity(name);
  }
  if (node.t !== 'seq') {
    if (plain(node) !== null) env.report('V-K4', `${name}: expected a list of steps`, node.pos);
    return identity(name);
  }
  noteUnusedOutputs(env, node.items);
  const steps = node.items.flatMap((item, i) => {
    const built = buildStep(env, item, { ...where, yamlPath: `${where.yamlPath}[${i}]` });
    return built ? [built] : [];
  });
  return steps.length === 1 ? (steps[0] as PlanNode) : { kind: 'sequence', name, steps };
}

/** Common fields: input template, updates_context, sink_to. */
export function common(env: Env, node: YNode, name: string, where: Where) {
  const out: { name: string; input?: CodeRef; updatesContext?: boolean; sinkTo?: string } = {
    name,
  };
  const input = get(node, 'input');
  if (input) out.input = env.template(input, name, where);
  const uc = env.bool(get(node, 'updates_context'), `${name}: updates_context`, name);
  if (uc) out.updatesContext = true;
  const sinkNode = get(node, 'sink_to');
  const sink = env.str(sinkNode, `${name}: sink_to`, name);
  const sinkRoot = sink?.replace(/^context\./, '').split('.')[0];
  const sinkProblem =
    sink === undefined
      ? undefined
      : sinkRoot === '__map_items' || sinkRoot === '__cache'
        ? `${JSON.stringify(sink)} is kept by the engine (a map's items, the cache), not by steps`
        : sinkToProblem(sink);
  if (sinkProblem && sinkNode)
    env.report('V-K4', `${name}: sink_to ${sinkProblem}`, sinkNode.pos, { step: name });
  else if (sink !== undefined) out.sinkTo = sink.replace(/^context\./, '');
  return out;
}

export function buildStep(env: Env, node: YNode, where: Where): PlanNode | undefined {
  if (node.t !== 'map') {
    env.report('V-K4', `a step must be a mapping with at least 'name'`, node.pos);
    return undefined;
  }
  const kindNode = get(node, 'kind');
  const kind = (kindNode ? env.str(kindNode, 'kind', null) : 'step') ?? 'step';
  const nameNode = get(node, 'name') ?? get(node, 'step');
  const name = env.str(nameNode, 'name', null) ?? `${kind}_${where.yamlPath.replace(/\W+/g, '_')}`;
  if (!nameNode)
    env.report('V-K4', `a step needs a 'name'`, node.pos, {
      suggestion: `add 'name: <step name>'`,
    });
  // A run recorded with the name before it was refused still resumes and replays (ADR 106).
  if (nameNode) env.controlName('step name', name, nameNode.pos, name);
  if (!(KINDS as readonly string[]).includes(kind)) {
    const near = nearest(kind, KINDS);
    env.report(
      'V-K2',
      `unknown kind '${kind}'${near ? ` (did you mean '${near}'?)` : ''}`,
      kindNode?.pos ?? node.pos,
      {
        step: name,
        suggestion: near ? `kind: ${near}` : `use one of ${KINDS.join(', ')}`,
      },
    );
    return undefined;
  }
  const canon = kind === 'state_machine' ? 'StateMachine' : kind;
  env.checkKeys(node, [...COMMON_KEYS, ...(KIND_KEYS[canon] ?? [])], `step '${name}'`, name, [
    ...COMMON_IGNORED,
    ...(KIND_IGNORED[canon] ?? []),
  ]);
  if ((UNSUPPORTED_KINDS as readonly string[]).includes(canon)) {
    env.report('V-K5', `not yet supported: kind '${kind}'`, kindNode?.pos ?? node.pos, {
      step: name,
    });
    return undefined;
  }
  const prior = env.names.get(name);
  if (prior && nameNode) {
    env.report('V-K8', `step name '${name}' is already used at line ${prior.line}`, nameNode.pos, {
      step: name,
    });
  }
  const built = buildKind(env, canon, node, name, where);
  if (nameNode) env.names.set(name, nameNode.pos);
  return built;
}

export type Base = ReturnType<typeof common>;

function buildKind(
  env: Env,
  kind: string,
  node: YNode,
  name: string,
  where: Where,
): PlanNode | undefined {
  const base = common(env, node, name, where);
  // A basic step checks its config itself (an import step takes more keys). Another kind's was
  // not checked before 5db5502: its errors are a later rule's (ADR 106). It acts on none of its
  // config, retries and timeouts included (ADR 141).
  if (kind !== 'step') {
    const from = env.shared.findings.length;
    stepConfig(env, node, name, { notActedBy: kind });
    env.laterSince(from);
    fallbackNotRun(env, node, name, `a step of kind '${kind}'`);
  }
  switch (kind) {
    case 'step':
      return basicStep(env, node, name, where, base);
    case 'parallel': {
      const options = fanOutOptions(env, node, name);
      checkParallelWrites(env, get(node, 'branches'), name, options.merge);
      return {
        kind: 'parallel',
        ...base,
        ...fanOutBranchesOf(env, get(node, 'branches'), name, where),
        ...options,
      };
    }
    case 'dynamic_router':
      return router(env, node, name, where, base);
    case 'conditional':
      return conditional(env, node, name, where, base);
    case 'loop':
      return loop(env, node, name, where, base);
    case 'map':
      return map(env, node, name, where, base);
    case 'hitl':
      return hitl(env, node, name, where, base);
    case 'cache':
      return cacheStep(env, node, name, where, base);
    case 'agentic_loop':
      return agenticLoop(env, node, name, where, base);
    case 'StateMachine':
      return stateMachine(env, node, name, where, base);
  }
  return undefined;
}

/**
 * `fallback:` on a step other than a basic agent step: nothing would run it (Flujo's `fallback`
 * is for basic steps only). A V-K4 error at the key, for a new run; the pipeline of a run already
 * recorded loads with it as a warning, its plan unchanged (ADR 135, 106).
 */
function fallbackNotRun(env: Env, node: YNode, name: string, what: string, instead?: string) {
  const fb = entry(node, 'fallback');
  if (!fb) return;
  env.report(
    'V-K4',
    `${name}: 'fallback' is for basic steps only: ${what} never runs it`,
    fb.keyPos,
    {
      step: name,
      suggestion: `give the fallback to the basic step inside that may fail${instead ? `, or use ${instead}` : ''}; or remove it`,
      later: true,
    },
  );
}

export function basicStep(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  base: Base,
): PlanNode | undefined {
  const uses = get(node, 'uses');
  const usesStr = env.str(uses, `${name}: uses`, name);
  if (uses && usesStr?.startsWith('imports.')) {
    stepConfig(env, node, name, { importKeys: IMPORT_CONFIG_KEYS, notActedBy: 'import' });
    fallbackNotRun(
      env,
      node,
      name,
      'an import step',
      "config.on_failure: 'skip' or 'continue_with_default'",
    );
    return importStep(env, node, name, usesStr.slice('imports.'.length), uses, where, base);
  }
  // A passthrough's or ask_user's config is checked too, and acts on nothing (ADR 141).
  const agent = resolveAgent(env, node, name, where);
  const from = env.shared.findings.length;
  const notActedBy = agent === 'none' ? 'passthrough' : agent?.kind === 'hitl' ? 'ask' : undefined;
  const cfg = stepConfig(env, node, name, notActedBy ? { notActedBy } : {});
  // Theirs was not checked before 5db5502: its errors are a later rule's (ADR 106).
  if (notActedBy) env.laterSince(from);
  if (agent === 'none') {
    const fb = get(node, 'fallback');
    if (fb)
      env.report('V-K4', `${name}: 'fallback' needs a step with an agent`, fb.pos, { step: name });
    env.report(
      'V-A1',
      `step '${name}' has no agent or uses: it passes its input through`,
      node.pos,
      {
        step: name,
        suggestion: `add 'agent: { id: flujo.builtins.passthrough }' to make that explicit`,
      },
    );
    return identity(name, base);
  }
  if (agent === undefined) return undefined;
  if (agent.kind === 'hitl') {
    fallbackNotRun(env, node, name, 'a step that asks a person');
    return { kind: 'hitl', ...base, ...agent.hitl } satisfies HitlNode;
  }
  const fbNode = get(node, 'fallback');
  let fallback: StepNode | undefined;
  if (fbNode) {
    const fb = buildStep(env, fbNode, { ...where, yamlPath: `${where.yamlPath}.fallback` });
    if (fb && fb.kind === 'step') fallback = fb;
    else if (fb)
      env.report('V-K4', `${name}: a fallback must be a single basic step`, fbNode.pos, {
        step: name,
      });
  }
  const outputSchema = get(node, 'output_schema');
  const osProblem = outputSchema
    ? schemaProblem(plain(outputSchema) as Record<string, unknown>)
    : null;
  if (osProblem && outputSchema)
    env.report(
      'V-K4',
      `${name}: output_schema is not a valid JSON Schema: ${osProblem}`,
      outputSchema.pos,
      { step: name },
    );
  const config = {
    ...agent.config,
    ...(outputSchema ? { outputSchema: plain(outputSchema) } : {}),
  };
  const contextMode =
    agent.kind === 'skill' ? env.shared.opts.skills?.context?.(agent.agent.slice(6)) : undefined;
  return {
    kind: 'step',
    ...base,
    // Context skills: `merge` ones return a patch for the run context; `read` ones are handed
    // the context beside their input (the skill cannot reach it any other way).
    ...(contextMode === 'merge' ? { updatesContext: true } : {}),
    ...(contextMode === 'read'
      ? {
          input: {
            template: {
              input:
                base.input && 'template' in base.input
                  ? base.input.template
                  : '{{ previous_step }}',
              context: '{{ context }}',
            },
          },
        }
      : {}),
    agent: agent.agent,
    retries: cfg.retries ?? agent.retries ?? 1,
    backoffMs: 0,
    ...((cfg.timeoutMs ?? agent.timeoutMs) ? { timeoutMs: cfg.timeoutMs ?? agent.timeoutMs } : {}),
    ...(fallback ? { fallback } : {}),
    ...(Object.keys(config).length ? { config } : {}),
    ...(agent.system ? { system: agent.system } : {}),
  } satisfies StepNode;
}

export function codeOrExpr(
  env: Env,
  node: YNode,
  name: string,
  fnKey: string,
  exprKey: string,
  where: Where,
): CodeRef | undefined {
  const expr = get(node, exprKey);
  if (expr) return env.expression(expr, name, where);
  const fn = get(node, fnKey);
  if (fn) {
    const ref = resolveAgent(env, node, name, where, fnKey);
    if (ref && ref !== 'none' && ref.kind === 'code') return { fn: ref.fnName };
    if (ref && ref !== 'none')
      env.report(
        'V-K4',
        `${name}: '${fnKey}' must name a module function (./file.ts#export)`,
        fn.pos,
        { step: name },
      );
  }
  return undefined;
}

function hitl(env: Env, node: YNode, name: string, where: Where, base: Base): PlanNode {
  if (where.condInLoop) {
    env.report(
      'HITL-NESTED-001',
      `hitl '${name}' sits in a conditional inside a loop or map (Flujo skips it there; this engine pauses)`,
      node.pos,
      { step: name },
    );
  }
  const msgNode = get(node, 'message');
  const message = env.str(msgNode, `${name}: message`, name) ?? '';
  if (msgNode) env.checkTemplate(message, msgNode.pos, name, where);
  const schema = get(node, 'input_schema');
  const inputSchema = (schema ? plain(schema) : {}) as Record<string, unknown>;
  // Checked now: an invalid schema would take the run to a pause no answer can pass.
  const problem = schema ? schemaProblem(inputSchema) : null;
  if (problem && schema)
    env.report('V-K4', `${name}: input_schema is not a valid JSON Schema: ${problem}`, schema.pos, {
      step: name,
    });
  return {
    kind: 'hitl',
    ...base,
    message,
    ...(hasTemplate(message)
      ? {
          render: placeScalar(
            { template: message, ...thisOf(message, where) },
            env.file,
            name,
            msgNode,
          ),
        }
      : {}),
    inputSchema,
    record: ['resume_input'],
  };
}
