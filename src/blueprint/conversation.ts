/**
 * Conversational loops (`loop.conversation: true`): the history is `context.conversation_history`
 * (a list of `{role, content}`), changed only by helper nodes whose outputs the run machine writes
 * into the context (so it is recorded and replays). Before the loop the history is seeded from the
 * loop input (or `init.history.start_with`); after each iteration the iteration's turns are
 * appended (`ai_turn_source`, `user_turn_sources`) and `history_management` applied: truncation
 * by turns or estimated tokens, or summarisation by an agent step (a recorded agent call). Model
 * steps of the body see the history in their system prompt (`history_template`), rendered per call.
 */
import type { CodeRef, HistoryOp, PlanNode, StepNode, TemplateValue } from '../dsl/ir.js';
import { withOps } from './contextOps.js';
import type { Env, Where } from './env.js';
import { HISTORY_KEY } from './history.js';
import { placeLike } from './sourceMap.js';
import { basicStep, get, identity } from './steps.js';
import { allNodes, mapTree } from './walk.js';
import { entry, plain, type YNode } from './yamlTree.js';

export const HISTORY_KEYS = [
  'strategy',
  'max_tokens',
  'max_turns',
  'summarize_ratio',
  'summarizer',
];
const DEFAULT_TEMPLATE =
  '{{#if history}}\n\nConversation so far:\n{{#each history}}{{ this.role }}: {{ this.content }}\n{{/each}}{{/if}}';
/** Turns kept before `summarize` folds the older ones into one summary turn. */
const DEFAULT_SUMMARY_TURNS = 10;

export interface Conversation {
  readonly body: PlanNode;
  /** Run once before the loop, in order (before the loop's own `init`). */
  readonly before: PlanNode[];
  /** Run after every iteration (before the loop's own `state`). */
  readonly after: PlanNode[];
}

const op = (env: Env, owner: string, what: string, history: HistoryOp): PlanNode =>
  identity(env.hiddenName(owner, what), { input: { history }, sinkTo: HISTORY_KEY });

/** Body step names that never use the history (`use_history: false`). */
function optedOut(node: YNode | undefined, out = new Set<string>()): Set<string> {
  if (!node) return out;
  if (node.t === 'seq') node.items.forEach((n) => optedOut(n, out));
  if (node.t !== 'map') return out;
  const name = plain(get(node, 'name') ?? node);
  if (plain(get(node, 'use_history') ?? node) === false && typeof name === 'string') out.add(name);
  node.entries.forEach((e) => optedOut(e.value, out));
  return out;
}

function withHistoryPrompt(body: PlanNode, template: string, skip: Set<string>): PlanNode {
  const history = '{{ context.conversation_history }}';
  return mapTree(body, (n) => {
    if (n.kind !== 'step' || skip.has(n.name) || /^(skill|fn):/.test(n.agent)) return n;
    const sys = n.system;
    const system: CodeRef =
      sys && 'template' in sys && typeof sys.template === 'string'
        ? // The agent's text comes first, so a position in it is where it was (ADR 112).
          placeLike({ template: sys.template + template, vars: { ...sys.vars, history } }, sys)
        : {
            template: `${typeof n.config?.system === 'string' ? n.config.system : ''}${template}`,
            vars: { history },
          };
    return { ...n, system } satisfies StepNode;
  });
}

function names(env: Env, node: YNode | undefined, what: string, owner: string): string[] {
  if (!node) return [];
  const v = plain(node);
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === 'string')) {
    env.report('V-K4', `${owner}: ${what} must be a list of step names`, node.pos, { step: owner });
    return [];
  }
  return list as string[];
}

export function conversation(
  env: Env,
  l: YNode,
  owner: string,
  built: PlanNode,
  bodyNode: YNode | undefined,
  where: Where,
): Conversation {
  const inBody = allNodes(built).filter((n) => !n.name.startsWith('__') && !n.name.includes('.'));
  const known = new Set(inBody.map((n) => n.name));
  const check = (list: string[], node: YNode | undefined, what: string) => {
    for (const s of list) {
      if (!known.has(s))
        env.report(
          'V-K4',
          `${owner}: ${what} names '${s}', which is not a step of the loop body`,
          node?.pos ?? l.pos,
          { step: owner },
        );
    }
    return list.filter((s) => known.has(s));
  };
  const ai =
    env.oneOf(
      get(l, 'ai_turn_source'),
      ['last', 'all_agents', 'named_steps'] as const,
      `${owner}: ai_turn_source`,
      owner,
    ) ?? 'last';
  const named = check(
    names(env, get(l, 'named_steps'), 'named_steps', owner),
    get(l, 'named_steps'),
    'named_steps',
  );
  if (ai === 'named_steps' && !get(l, 'named_steps'))
    env.report('V-K4', `${owner}: ai_turn_source: named_steps needs 'named_steps'`, l.pos, {
      step: owner,
    });
  const userNode = get(l, 'user_turn_sources');
  const userSources = userNode ? names(env, userNode, 'user_turn_sources', owner) : ['hitl'];
  const userNamed = check(
    userSources.filter((s) => s !== 'hitl'),
    userNode,
    'user_turn_sources',
  );
  // Turns follow the body order: user turns from hitl steps (when `hitl` is a source) and named
  // user steps, assistant turns from agent steps (all_agents) or the named ones.
  const turns = inBody.flatMap((n): { step: string; role: 'user' | 'assistant' }[] => {
    if ((n.kind === 'hitl' && userSources.includes('hitl')) || userNamed.includes(n.name))
      return [{ step: n.name, role: 'user' }];
    if (
      (ai === 'all_agents' && n.kind === 'step') ||
      (ai === 'named_steps' && named.includes(n.name))
    )
      return [{ step: n.name, role: 'assistant' }];
    return [];
  });
  for (const t of turns) env.shared.referenced.add(t.step);
  // A human's answer joins the history as soon as it arrives (Flujo appends it on resume), so
  // the steps after the hitl step in the same iteration already see it.
  const atOnce = new Set(
    inBody.filter((n) => n.kind === 'hitl' && userSources.includes('hitl')).map((n) => n.name),
  );
  const withAnswers = mapTree(built, (n) =>
    n.kind === 'hitl' && atOnce.has(n.name)
      ? withOps(
          env,
          [
            op(env, owner, 'answer', {
              op: 'sync',
              turns: [{ step: n.name, role: 'user' }],
              last: false,
            }),
          ],
          n,
          owner,
          false,
        )
      : n,
  );

  const before: PlanNode[] = [op(env, owner, 'seed', { op: 'seed', ...seedOf(env, l, owner) })];
  const after: PlanNode[] = [
    op(env, owner, 'turns', {
      op: 'sync',
      turns: turns.filter((t) => !atOnce.has(t.step)),
      last: ai === 'last',
    }),
  ];
  const hm = get(l, 'history_management');
  if (hm) after.push(...management(env, hm, owner, where));

  const tplNode = get(l, 'history_template');
  let template = DEFAULT_TEMPLATE;
  if (tplNode) {
    template = `\n\n${env.str(tplNode, `${owner}: history_template`, owner) ?? ''}`;
    env.checkTemplate(template, tplNode.pos, owner, where, 0, ['history']);
  }
  return { body: withHistoryPrompt(withAnswers, template, optedOut(bodyNode)), before, after };
}

/** `init.history.start_with: {from_step, prefix}`: the first user turn. */
function seedOf(env: Env, l: YNode, owner: string): { prefix?: string; fromStep?: string } {
  const init = get(l, 'init');
  const h = init?.t === 'map' ? get(init, 'history') : undefined;
  if (!h) return {};
  env.checkKeys(h, ['start_with'], `${owner}: init.history`, owner);
  const sw = get(h, 'start_with');
  if (!sw) return {};
  env.checkKeys(sw, ['from_step', 'prefix'], `${owner}: init.history.start_with`, owner);
  const fromStep = env.str(get(sw, 'from_step'), `${owner}: from_step`, owner);
  const prefix = env.str(get(sw, 'prefix'), `${owner}: prefix`, owner);
  if (fromStep) {
    env.shared.referenced.add(fromStep);
    if (!env.names.has(fromStep))
      env.report(
        'V-T4',
        `${owner}: from_step '${fromStep}' names no step that runs before this loop`,
        get(sw, 'from_step')!.pos,
        { step: owner },
      );
  }
  return { ...(prefix !== undefined ? { prefix } : {}), ...(fromStep ? { fromStep } : {}) };
}

function management(env: Env, hm: YNode, owner: string, where: Where): PlanNode[] {
  env.checkKeys(hm, HISTORY_KEYS, `${owner}: history_management`, owner);
  const what = (k: string) => `${owner}: history_management.${k}`;
  const strategy = env.oneOf(
    get(hm, 'strategy'),
    ['truncate_tokens', 'truncate_turns', 'summarize'] as const,
    what('strategy'),
    owner,
  );
  const maxTurns = env.count(get(hm, 'max_turns'), what('max_turns'), owner, 0);
  const maxTokens = env.count(get(hm, 'max_tokens'), what('max_tokens'), owner, 0);
  if (strategy === 'truncate_turns' || strategy === 'truncate_tokens') {
    const limit = strategy === 'truncate_turns' ? maxTurns : maxTokens;
    const key = strategy === 'truncate_turns' ? 'max_turns' : 'max_tokens';
    if (limit === undefined) {
      // A value that is not a count is already a V-K4 error at it.
      if (!get(hm, key))
        env.report('V-K4', `${owner}: strategy ${strategy} needs '${key}'`, hm.pos, {
          step: owner,
        });
      return [];
    }
    // Floored, as before counts were checked (5db5502): a run recorded with 2.5 kept 2.
    const trim: HistoryOp =
      strategy === 'truncate_turns'
        ? { op: 'trim', maxTurns: Math.floor(limit) }
        : { op: 'trim', maxTokens: Math.floor(limit) };
    return [op(env, owner, 'trim', trim)];
  }
  if (strategy !== 'summarize') return [];
  const ratio = env.num(get(hm, 'summarize_ratio'), what('summarize_ratio'), owner) ?? 0.5;
  if (ratio <= 0 || ratio > 1)
    env.report(
      'V-K4',
      `${what('summarize_ratio')} must be in (0, 1]`,
      get(hm, 'summarize_ratio')!.pos,
      { step: owner },
    );
  const agentNode = entry(hm, 'summarizer');
  if (!agentNode) {
    env.report(
      'V-K4',
      `${owner}: strategy summarize needs 'summarizer' (the agent that summarises older turns)`,
      hm.pos,
      {
        step: owner,
        suggestion: `add 'summarizer: agents.<name>' (or a model id, or {id: <skill>})`,
      },
    );
    return [];
  }
  const key =
    agentNode.value.t === 'scalar' && String(plain(agentNode.value)).startsWith('agents.')
      ? 'uses'
      : 'agent';
  const spec: YNode = {
    t: 'map',
    pos: agentNode.keyPos,
    entries: [{ key, keyPos: agentNode.keyPos, value: agentNode.value }],
  };
  const stepName = `${owner}.summarizer`;
  const summarizer = basicStep(env, spec, stepName, where, {
    name: stepName,
    input: { history: { op: 'older', ratio } },
  });
  if (!summarizer) return [];
  return [
    {
      kind: 'conditional',
      name: env.hiddenName(owner, 'summarize'),
      condition: {
        history: { op: 'needs_summary', maxTurns: Math.floor(maxTurns ?? DEFAULT_SUMMARY_TURNS) },
      },
      branches: {
        true: {
          kind: 'sequence',
          name: env.hiddenName(owner, 'fold'),
          steps: [summarizer, op(env, owner, 'summarized', { op: 'summarized', ratio })],
        },
        false: identity(env.hiddenName(owner, 'keep')),
      },
    },
  ];
}

/** The history as text, one `role: content` line per turn (loop `output: {text: conversation_history}`). */
export const HISTORY_TEXT =
  '{{#each context.conversation_history}}{{ this.role }}: {{ this.content }}{{#if @last}}{{else}}\n{{/if}}{{/each}}';

/** Replaces the bare word `conversation_history` in a loop `output:` mapping by the history text. */
export function historyOutput(v: TemplateValue): TemplateValue {
  if (v === 'conversation_history') return HISTORY_TEXT;
  if (Array.isArray(v)) return v.map(historyOutput);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, historyOutput(x as TemplateValue)]),
    );
  return v;
}
