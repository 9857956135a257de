/**
 * Steps and human-input steps: the leaves that wait for outside facts.
 * Each function compiles one node kind; `this` is the Compiler (src/actors/compile.ts).
 */
import type { ErrorInfo } from '../events/catalogue.js';
import { ENGINE_FLAGS } from '../dsl/engineFlags.js';
import { sortedJson } from '../dsl/keyOrder.js';
import type { HitlNode, StepNode } from '../dsl/ir.js';
import type { Compiler } from './compile.js';
import { join, type Cfg } from './compileShared.js';
import type { Test } from './machine.js';
import {
  HITL_NOT_PROPAGATED,
  runtimePath,
  type Release,
  type RunMachineContext,
  type RunMachineEvent,
} from './vocabulary.js';

/** On leaving the state, releases the wait it held (vocabulary.ts `Release`). */
const releasing = (release: (c: RunMachineContext) => Release) => [
  { type: 'release', params: ({ context }: { context: RunMachineContext }) => release(context) },
];

/** Takes the node's output from the fact that ended the wait. */
const outputFrom = (
  rp: (c: RunMachineContext) => string,
  pick: (e: RunMachineEvent) => unknown,
) => ({
  type: 'setOutput',
  params: ({ context, event }: { context: RunMachineContext; event: RunMachineEvent }) => ({
    path: rp(context),
    value: pick(event),
  }),
});

export function step(this: Compiler, node: StepNode, tpl: string, staticPath: string): Cfg {
  this.replyAt(tpl);
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const attempt = (c: RunMachineContext) => c.att[rp(c)] ?? 1;
  const isReply: Test = (c, e) =>
    (e.type === 'AGENT_RESPONDED' || e.type === 'AGENT_FAILED') &&
    e.path === rp(c) &&
    e.attempt === attempt(c);
  const canRetry: Test = (c, e) =>
    e.type === 'AGENT_FAILED' && e.error.retryable && attempt(c) <= node.retries;
  const retryTarget = node.backoffMs > 0 ? 'wait' : 'call';
  // A per-call system prompt (YAML templated prompts) goes into config, so the request hash
  // covers the rendered text and replay renders the same one from the same context.
  const system = this.code(node.system, `${node.name}.system`);
  const ctxOf = this.ctxOf();
  const configOf = (c: RunMachineContext, input: unknown) => {
    if (!system) return node.config;
    const v = system(input, ctxOf(c));
    return { ...node.config, system: typeof v === 'string' ? v : jsonOf(c, v) };
  };
  const states: Cfg = {
    call: {
      entry: [
        {
          type: 'callAgent',
          params: ({ context }: { context: RunMachineContext }) => ({
            path: rp(context),
            attempt: attempt(context),
            agent: node.agent,
            input: context.inp[rp(context)] ?? null,
            ...(node.config || system
              ? { config: configOf(context, context.inp[rp(context)] ?? null) }
              : {}),
            ...(node.timeoutMs ? { timeoutMs: node.timeoutMs } : {}),
          }),
        },
      ],
      exit: releasing((c) => ({ kind: 'call', path: rp(c), attempt: attempt(c) })),
      on: {
        AGENT_RESPONDED: {
          guard: { type: 'isFact', params: { test: isReply } },
          target: 'ok',
          actions: [outputFrom(rp, (e) => (e as { output: unknown }).output)],
        },
        AGENT_FAILED: [
          {
            guard: {
              type: 'holds',
              params: {
                test: (c: RunMachineContext, e: RunMachineEvent) => isReply(c, e) && canRetry(c, e),
              },
            },
            target: retryTarget,
            reenter: true,
            actions: [
              {
                type: 'setAttempt',
                params: ({ context }: { context: RunMachineContext }) => ({
                  path: rp(context),
                  attempt: attempt(context) + 1,
                }),
              },
            ],
          },
          {
            guard: { type: 'isFact', params: { test: isReply } },
            target: node.fallback ? 'fallback' : 'fail',
            // With a fallback the step's own error is not kept: a fallback that succeeds makes
            // the step succeed (a fan-out reads a branch's error as its failure), and one that
            // fails fails the step with the fallback's error.
            actions: node.fallback
              ? []
              : [
                  {
                    type: 'setError',
                    params: ({
                      context,
                      event,
                    }: {
                      context: RunMachineContext;
                      event: RunMachineEvent;
                    }) => ({
                      path: rp(context),
                      error: ownError((event as { error: ErrorInfo }).error),
                    }),
                  },
                ],
          },
        ],
      },
    },
  };
  if (node.backoffMs > 0) {
    const timerId = (c: RunMachineContext) => `retry-${attempt(c)}`;
    states.wait = {
      entry: [
        {
          type: 'scheduleTimer',
          params: ({ context }: { context: RunMachineContext }) => ({
            path: rp(context),
            timerId: timerId(context),
            delayMs: node.backoffMs * 2 ** (attempt(context) - 2),
            reason: 'retry backoff',
          }),
        },
      ],
      exit: releasing((c) => ({ kind: 'timer', path: rp(c), timerId: timerId(c) })),
      on: {
        TIMER_FIRED: {
          guard: {
            type: 'isFact',
            params: {
              test: (c: RunMachineContext, e: RunMachineEvent) =>
                e.type === 'TIMER_FIRED' && e.path === rp(c) && e.timerId === timerId(c),
            },
          },
          target: 'call',
        },
      },
    };
  }
  if (node.fallback) {
    const fbTpl = join(tpl, 'fallback');
    const fb = this.node(node.fallback, fbTpl, join(staticPath, 'fallback'));
    states.fallback = {
      ...fb,
      onDone: this.childDone(
        tpl,
        fbTpl,
        [this.copyOutput(tpl, (c) => c.out[runtimePath(fbTpl, c)])],
        'ok',
      ),
    };
    // The fallback gets the step's own input.
    (states.call as { on: { AGENT_FAILED: Cfg[] } }).on.AGENT_FAILED[1]!.actions = [
      ...((states.call as { on: { AGENT_FAILED: Cfg[] } }).on.AGENT_FAILED[1]!
        .actions as unknown[]),
      this.inputFor(node.fallback, fbTpl, (c) => c.inp[rp(c)]),
    ];
  }
  // No entry assign for the first attempt: an absent attempt reads as 1, and a runtime path
  // (which carries loop iterations) is never entered twice. Every assign copies the context.
  return { initial: 'call', states };
}

/**
 * An agent's error as its step's: an agent (a skill, a function step) that throws the code of a
 * hitl step that did not ask gets STEP_ERROR instead, so that it cannot pass the failure
 * handlers or end a `propagate_hitl: false` import with `{}` (ADR 61). AgentFailed keeps its code.
 */
const ownError = (error: ErrorInfo): ErrorInfo =>
  error.code === HITL_NOT_PROPAGATED ? { ...error, code: 'STEP_ERROR' } : error;

/** The `it` key a state machine's visit number is copied to when one of its states asked. */
export const askedKey = (machineStaticPath: string) => `asked:${machineStaticPath}`;

export function hitl(
  this: Compiler,
  node: HitlNode,
  tpl: string,
  /** Enclosing state machines (static paths): the answer marks their current visit as asked. */
  askScopes: readonly string[] = [],
): Cfg {
  if (node.propagate === false) {
    // Not asked: the step stops at once; its enclosing `on: hitl_not_propagated` rule takes it.
    return {
      initial: 'stop',
      states: {
        stop: {
          always: {
            target: 'fail',
            actions: [
              this.errorAction(
                tpl,
                HITL_NOT_PROPAGATED,
                () =>
                  `${node.name} was not asked: its import has propagate_hitl: false, so the import stops here with {}`,
              ),
            ],
          },
        },
      },
    };
  }
  const rp = (c: RunMachineContext) => runtimePath(tpl, c);
  const asked = { text: node.message, render: this.code(node.render, `${node.name}.message`) };
  // The param its hitl skill names, for a run recorded with it (ADR 111); else `params.question`.
  const named = node.skillMessage && {
    text: node.skillMessage.message,
    render: this.code(node.skillMessage.render, `${node.name}.message`),
  };
  const ctxOf = this.ctxOf();
  const message = (c: RunMachineContext) => {
    const { text, render } =
      named && c.flags?.includes(ENGINE_FLAGS.hitlSkillMessageParam) ? named : asked;
    if (!render) return text;
    const v = render(c.inp[rp(c)] ?? null, ctxOf(c)) ?? '';
    if (typeof v === 'string') return v;
    // For a person: an object or list is indented JSON (ADR 77); the recorded message is what
    // run, resume, pause.message and the web lens all show. A run recorded before that keeps
    // its compact message (ADR 84). The keys come sorted since ADR 126 (a context the run built
    // listed them as added, which a snapshot does not keep); before, in the order the run held
    // them, the ledger's for values it read (ADR 40); a message recorded before ADR 40 lists
    // them as its code built them (ADR 93).
    return jsonOf(c, v, c.flags?.includes(ENGINE_FLAGS.hitlMessageIndented) ? 2 : undefined);
  };
  return {
    initial: 'wait',
    states: {
      wait: {
        entry: [
          {
            type: 'requestHuman',
            params: ({ context }: { context: RunMachineContext }) => ({
              path: rp(context),
              message: message(context),
              // An ask_user step's declared schema, for a run recorded with it (ADR 90); else its
              // hitl skill's, for a run recorded with that (ADR 95).
              inputSchema:
                node.answerSchema && context.flags?.includes(ENGINE_FLAGS.askUserAnswerSchema)
                  ? node.answerSchema
                  : node.skillAnswerSchema &&
                      context.flags?.includes(ENGINE_FLAGS.hitlSkillAnswerSchema)
                    ? node.skillAnswerSchema
                    : node.inputSchema,
            }),
          },
        ],
        exit: releasing((c) => ({ kind: 'human', path: rp(c) })),
        on: {
          HUMAN_INPUT: {
            guard: {
              type: 'isFact',
              params: {
                test: (c: RunMachineContext, e: RunMachineEvent) =>
                  e.type === 'HUMAN_INPUT' && e.path === rp(c),
              },
            },
            target: 'ok',
            actions: [
              outputFrom(rp, (e) => (e as { input: unknown }).input),
              ...askScopes.map((sp) => ({
                type: 'setIteration',
                params: ({ context }: { context: RunMachineContext }) => ({
                  loop: askedKey(sp),
                  iteration: context.it[sp] ?? 1,
                }),
              })),
            ],
          },
        },
      },
    },
  };
}

/**
 * A rendered object as JSON text (a system prompt, a hitl message): its keys sorted at every
 * depth in runs recorded with `object-keys-in-order` (ADR 126), as templates list them.
 */
function jsonOf(c: RunMachineContext, v: unknown, indent?: number): string {
  return c.flags?.includes(ENGINE_FLAGS.objectKeysInOrder)
    ? (sortedJson(v, indent) as string)
    : JSON.stringify(v, null, indent);
}
