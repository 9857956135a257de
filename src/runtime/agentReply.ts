/**
 * What an agent port returns is a fact the ledger records (ADR 118): checked field by field before
 * it is, so that a port's bad reply fails its attempt, recorded, instead of failing the commit
 * (the run left running, every resume failing the same way) or a later read. The built-in model
 * adapters always pass; a port written by a library user, or a function step's thrown error that
 * says what it cost, may not.
 */
import { asRecorded } from '../actors/frozen.js';
import type { EventData } from '../events/catalogue.js';
import type { AgentReply } from '../ports.js';
import { redactDeep } from '../redact.js';

/** A repair as the ledger records it. */
type AgentRepair = NonNullable<EventData<'AgentResponded'>['repair']>;

type Usage = { readonly input: number; readonly output: number };

/** A count or micro-dollars as the ledger records them: a whole number of at least 0. */
export const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

const shown = (v: unknown): string => {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v === null || typeof v !== 'object')
    return typeof v === 'string' ? JSON.stringify(v) : String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
};

/** `usage` as recorded, or why not. */
function usageOf(v: unknown): Usage | string {
  const u = v as { input?: unknown; output?: unknown } | null;
  if (u === null || typeof u !== 'object' || Array.isArray(u))
    return `usage must be { input, output }, got ${shown(v)}`;
  if (!isCount(u.input) || !isCount(u.output))
    return `usage.input and usage.output must be whole numbers of at least 0, got ${shown(u.input)} and ${shown(u.output)}`;
  return { input: u.input, output: u.output };
}

/** A repair as recorded, or why not. */
function repairOf(v: unknown): AgentRepair | string {
  const r = v as Partial<Record<keyof AgentRepair, unknown>> | null;
  if (r === null || typeof r !== 'object' || Array.isArray(r))
    return `repair must be an object, got ${shown(v)}`;
  if (typeof r.reason !== 'string') return `repair.reason must be text, got ${shown(r.reason)}`;
  if (!Array.isArray(r.errors) || !r.errors.every((e) => typeof e === 'string'))
    return 'repair.errors must be a list of text';
  if (r.text !== undefined && typeof r.text !== 'string')
    return `repair.text must be text, got ${shown(r.text)}`;
  const usage = usageOf(r.usage);
  if (typeof usage === 'string') return `repair.${usage}`;
  if (!isCount(r.costMicros))
    return `repair.costMicros must be a whole number of at least 0, got ${shown(r.costMicros)}`;
  return {
    reason: r.reason.toWellFormed(),
    errors: (r.errors as string[]).map((e) => e.toWellFormed()),
    ...(r.text !== undefined ? { text: (r.text as string).toWellFormed() } : {}),
    usage,
    costMicros: r.costMicros,
  };
}

/**
 * The reply's fields other than `output` (which respondedFact measures at its step's depth), as
 * the ledger will record them, or the first problem. Text is made well-formed (a provider's
 * reply may hold a lone surrogate escape), as errors are.
 */
export function replyFields(
  reply: unknown,
): { readonly ok: Omit<AgentReply, 'output'> } | { readonly problem: string } {
  const r = reply as Partial<Record<keyof AgentReply, unknown>> | null;
  if (r === null || typeof r !== 'object' || Array.isArray(r))
    return {
      problem: `the agent port returned ${shown(reply)}, not a reply { output, usage, costMicros, model }`,
    };
  const usage = usageOf(r.usage);
  if (typeof usage === 'string') return { problem: usage };
  if (!isCount(r.costMicros))
    return {
      problem: `costMicros must be a whole number of at least 0, got ${shown(r.costMicros)}`,
    };
  if (typeof r.model !== 'string') return { problem: `model must be text, got ${shown(r.model)}` };
  for (const f of ['text', 'finishReason'] as const)
    if (r[f] !== undefined && typeof r[f] !== 'string')
      return { problem: `${f} must be text, got ${shown(r[f])}` };
  let repair: AgentRepair | undefined;
  if (r.repair !== undefined) {
    const checked = repairOf(r.repair);
    if (typeof checked === 'string') return { problem: checked };
    repair = checked;
  }
  let raw: unknown;
  if (r.raw !== undefined) {
    try {
      // The provider's body as it came, but for what it echoes of the key or the auth header:
      // secrets never enter the ledger (agents.md, ADR 42).
      raw = asRecorded(redactDeep(r.raw), 'raw', 2);
    } catch (e) {
      return { problem: (e as Error).message.replace(/^\[[A-Z_]+\] /, '') };
    }
  }
  // Field by field, not by spreads: this is on every step's path (bench/engine).
  const ok: {
    -readonly [K in keyof Omit<AgentReply, 'output'>]: Omit<AgentReply, 'output'>[K];
  } = { usage, costMicros: r.costMicros, model: r.model.toWellFormed() };
  if (r.text !== undefined) ok.text = (r.text as string).toWellFormed();
  if (r.finishReason !== undefined) ok.finishReason = (r.finishReason as string).toWellFormed();
  if (repair) ok.repair = repair;
  if (raw !== undefined) ok.raw = raw;
  return { ok };
}

/**
 * What a failed call still cost, as its error says, in the fields the ledger records: each one
 * only when it is what it should be (a cost of NaN, or a repair holding a Date, is left out
 * rather than failing the record of the failure).
 */
export function billedFields(e: unknown): {
  costMicros?: number;
  usage?: Usage;
  repair?: AgentRepair;
} {
  const x = e as { usage?: unknown; costMicros?: unknown; repair?: unknown } | null;
  if (!x || typeof x !== 'object' || !isCount(x.costMicros)) return {};
  const usage = x.usage === undefined ? undefined : usageOf(x.usage);
  const repair = x.repair === undefined || x.repair === null ? undefined : repairOf(x.repair);
  return {
    costMicros: x.costMicros,
    ...(usage !== undefined && typeof usage !== 'string' ? { usage } : {}),
    ...(repair !== undefined && typeof repair !== 'string' ? { repair } : {}),
  };
}
