/**
 * One agent call, provider-independent: send (with retries), read structured output, and when the
 * reply is not valid JSON or does not match the schema, make ONE repair request that shows the
 * errors. Both requests are billed and counted. A server that rejects native structured output
 * (a 400 naming response_format / json_schema / output_config) is asked again in prompt mode, and
 * remembered for the rest of the process.
 */
import { ErrorCode } from '../../errors.js';
import type { AgentCallHooks, AgentRepair, AgentReply, Logger } from '../../ports.js';
import { AgentCallError, withRetries, type RetryPolicy } from './http.js';
import { REPAIR_MESSAGE_MAX_BYTES } from './estimate.js';
import {
  repairMessage,
  type ProviderContext,
  type ProviderReply,
  type ProviderRequest,
  type ProviderSend,
} from './provider.js';
import { dropStrictNulls, parseModelJson, validateAgainst, type OutputShape } from './schema.js';

export interface CallPlan {
  readonly send: ProviderSend;
  readonly request: Omit<ProviderRequest, 'native' | 'repair'>;
  readonly shape?: OutputShape;
  readonly ctx: ProviderContext;
  readonly policy: RetryPolicy;
  readonly hooks?: AgentCallHooks;
  readonly price: (usage: { input: number; output: number }) => number;
  /**
   * Null when a repair of `first` with this message stays within the call's estimate, else why
   * not; then it is not sent (ADR 0056). Absent: repairs are not bounded.
   */
  readonly repairWithin?: (first: ProviderReply, message: string) => string | null;
  /** Servers known to lack native structured output (by base URL and model). */
  readonly noNative: Set<string>;
  readonly logger?: Logger;
}

const SCHEMA_UNSUPPORTED = /response_format|json_schema|output_config|structured output/i;
const TEXT_CAP = 4096;

type Checked = { ok: true; output: unknown } | { ok: false; reason: string; errors: string[] };

function check(reply: ProviderReply, shape: OutputShape): Checked {
  const parsed = parseModelJson(reply.text);
  const cut =
    reply.finishReason === 'length' ||
    reply.finishReason === 'max_tokens' ||
    reply.finishReason === 'max_output_tokens';
  const cutNote = cut ? ['the reply was cut off at max_tokens (raise settings.max_tokens)'] : [];
  if (!parsed.ok) return { ok: false, reason: 'invalid_json', errors: [parsed.error, ...cutNote] };
  // A strict-mode null for a property the user left optional is absence, not a value.
  const value = dropStrictNulls(parsed.value, shape.sent);
  const inner = shape.wrapped ? (value as { value?: unknown } | null)?.value : value;
  if (shape.wrapped && (value === null || typeof value !== 'object' || !('value' in value)))
    return { ok: false, reason: 'schema_mismatch', errors: ['(root) must have property "value"'] };
  const errors = validateAgainst(shape.user, inner);
  return errors.length
    ? { ok: false, reason: 'schema_mismatch', errors }
    : { ok: true, output: inner };
}

export async function callModel(plan: CallPlan): Promise<AgentReply> {
  const { ctx, shape } = plan;
  const id = `${ctx.endpoint.baseUrl}|${plan.request.model}`;
  let native = !!shape && ctx.config.schemaSupport !== 'prompt' && !plan.noNative.has(id);
  const send = async (repair?: ProviderRequest['repair']): Promise<ProviderReply> => {
    const once = () => plan.send({ ...plan.request, native, ...(repair ? { repair } : {}) }, ctx);
    try {
      return await withRetries(once, ctx.scope, plan.policy, plan.hooks);
    } catch (e) {
      const err = e as AgentCallError;
      if (!native || err.status !== 400 || !SCHEMA_UNSUPPORTED.test(err.message)) throw e;
      plan.noNative.add(id);
      native = false;
      plan.logger?.warn(
        { baseUrl: ctx.endpoint.baseUrl, model: plan.request.model },
        'server rejected native structured output; using prompt + validation',
      );
      return withRetries(once, ctx.scope, plan.policy, plan.hooks);
    }
  };

  const first = await send();
  refuseIfRefused(first, plan.price);
  // A reply that did not say what it used makes the call's usage unknown: it is reported as
  // 0 tokens and $0 with `usageUnknown`, and a budget counts it at its reservation (ADR 0055).
  const base = (
    r: ProviderReply,
    output: unknown,
    usage: { input: number; output: number },
    unknown = !!r.usageUnknown,
  ) => ({
    output,
    text: r.text,
    ...(unknown
      ? { usage: { input: 0, output: 0 }, costMicros: 0, usageUnknown: true }
      : { usage, costMicros: plan.price(usage) }),
    model: r.model,
    ...(r.finishReason ? { finishReason: r.finishReason } : {}),
    ...(ctx.config.recordRaw ? { raw: r.raw } : {}),
  });
  if (!shape) return base(first, first.text, first.usage);
  const firstCheck = check(first, shape);
  if (firstCheck.ok) return base(first, firstCheck.output, first.usage);

  const repair: AgentRepair = {
    reason: firstCheck.reason,
    errors: firstCheck.errors,
    text: first.text.slice(0, TEXT_CAP),
    usage: first.usage,
    costMicros: plan.price(first.usage),
  };
  const errors = fitErrors(firstCheck.errors);
  const over = plan.repairWithin?.(first, repairMessage(errors));
  if (over) {
    const err = new AgentCallError(
      ErrorCode.AGENT_OUTPUT_INVALID,
      `the reply did not match the output schema: ${firstCheck.errors.join('; ')}; no repair was sent: ${over}`,
      { retryable: true },
    );
    throw billed(err, repair.usage, repair.costMicros, repair, first.usageUnknown);
  }
  let second: ProviderReply;
  try {
    second = await send({ previous: first.text, errors });
    refuseIfRefused(second, plan.price);
  } catch (e) {
    const err = e as AgentCallError;
    // The repair's own reply may say it used nothing readable: then the whole call is unknown.
    throw billed(
      err,
      repair.usage,
      repair.costMicros,
      repair,
      first.usageUnknown || err.usageUnknown,
    );
  }
  const usage = {
    input: first.usage.input + second.usage.input,
    output: first.usage.output + second.usage.output,
  };
  const unknown = !!(first.usageUnknown || second.usageUnknown);
  const secondCheck = check(second, shape);
  if (secondCheck.ok) return { ...base(second, secondCheck.output, usage, unknown), repair };
  const err = new AgentCallError(
    ErrorCode.AGENT_OUTPUT_INVALID,
    `the reply did not match the output schema after one repair: ${secondCheck.errors.join('; ')}`,
    { retryable: true },
  );
  return Promise.reject(billed(err, usage, plan.price(usage), repair, unknown));
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
const ERROR_CHARS = 300;

/**
 * The errors a repair shows, cut so that its message fits REPAIR_MESSAGE_MAX_BYTES (the size the
 * estimate allows for): each at most 300 characters, then as many as fit, then how many more.
 */
function fitErrors(errors: readonly string[]): string[] {
  const room = REPAIR_MESSAGE_MAX_BYTES - utf8(repairMessage(['…and 99999 more']));
  const kept: string[] = [];
  let used = 0;
  for (const e of errors) {
    const chars = [...e];
    const line = chars.length > ERROR_CHARS ? `${chars.slice(0, ERROR_CHARS).join('')}…` : e;
    const size = utf8(line) + 3; // the "\n- " before it
    if (used + size > room) break;
    kept.push(line);
    used += size;
  }
  if (kept.length < errors.length) kept.push(`…and ${errors.length - kept.length} more`);
  return kept;
}

function refuseIfRefused(r: ProviderReply, price: CallPlan['price']): void {
  if (r.refusal === undefined) return;
  const err = new AgentCallError(ErrorCode.AGENT_REFUSED, `the model refused: ${r.refusal}`, {
    retryable: false,
  });
  if (r.usageUnknown) err.usageUnknown = true;
  else {
    err.usage = r.usage;
    err.costMicros = price(r.usage);
  }
  throw err;
}

function billed(
  err: AgentCallError,
  usage: { input: number; output: number },
  costMicros: number,
  repair: AgentRepair,
  usageUnknown?: boolean,
): AgentCallError {
  if (!(err instanceof AgentCallError)) return err;
  err.repair = repair;
  // What the call used is unknown: no cost is said, so a budget counts its reservation.
  if (usageUnknown) {
    err.usageUnknown = true;
    delete err.usage;
    delete err.costMicros;
    return err;
  }
  err.usage = usage;
  err.costMicros = costMicros;
  return err;
}
