/**
 * Fingerprints a run recorded by an earlier release matches although its pipeline did not change.
 *
 * Later releases put fields on plan nodes, each gated by an engine flag: ADR 90 an `ask_user`
 * step's declared schema (`answerSchema`, `ask-user-answer-schema`), ADR 95 a hitl skill's
 * declared one (`skillAnswerSchema`, `hitl-skill-answer-schema`), ADR 111 a hitl skill's message
 * taken from the param it names (`skillMessage`, `hitl-skill-message-param`), all on hitl nodes;
 * ADR 123 a step's output kept for `steps['x-y']` or a whole `steps` (`keepOutput` on any node,
 * `step-outputs-kept-for-every-read`). Each changes the fingerprint of a blueprint that has one.
 * A run recorded without a field's flag acts as it did (asks with `{}`, `params.question`, keeps
 * no such output) whatever that field holds, so the plan without the field is the plan it was
 * recorded with: its resume is not a pipeline change. A run that has the flag of a field its
 * recorded fingerprint lacks, or a fingerprint that differs in anything else, is still refused
 * (PLAN_CHANGED).
 */
import { ENGINE_FLAGS, type EngineFlag } from '../dsl/engineFlags.js';
import { planFingerprint } from '../dsl/fingerprint.js';
import type { Plan, PlanIR, PlanNode } from '../dsl/ir.js';
import { mapTree } from '../dsl/nodes.js';
import { decodeRecord } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';

/**
 * The node fields a release added, each with the flag a run acts on it under: hitl nodes' (ADR
 * 90, 95, 111), and any node's `keepOutput` (ADR 123).
 */
const GATED: readonly (readonly [string, EngineFlag])[] = [
  ['answerSchema', ENGINE_FLAGS.askUserAnswerSchema],
  ['skillAnswerSchema', ENGINE_FLAGS.hitlSkillAnswerSchema],
  ['skillMessage', ENGINE_FLAGS.hitlSkillMessageParam],
  ['keepOutput', ENGINE_FLAGS.stepOutputsKeptForEveryRead],
];
/** Gated fields any kind of node may carry; the others are a hitl node's. */
const ANY_NODE: ReadonlySet<string> = new Set(['keepOutput']);

/**
 * The IR with the named fields of its nodes left out (hitl nodes', and `keepOutput` of any), and
 * the fields it had. Only nodes are touched: a step's `input` constant, a schema or a context default holding `kind: 'hitl'`
 * is the user's data, and an earlier release hashed it as it is.
 */
function withoutFields(ir: PlanIR, fields: readonly string[]): { ir: PlanIR; removed: string[] } {
  const removed = new Set<string>();
  const root = mapTree(ir.root, (node) => {
    const gated = fields.filter((f) => node.kind === 'hitl' || ANY_NODE.has(f));
    if (!gated.some((f) => Object.hasOwn(node, f))) return node;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(node)) {
      if (gated.includes(k)) removed.add(k);
      else out[k] = x;
    }
    return out as unknown as PlanNode;
  });
  return { ir: { ...ir, root }, removed: [...removed] };
}

/** A fingerprint an earlier release computed for this plan, and the flags its runs lack. */
export interface FingerprintBefore {
  readonly fingerprint: string;
  readonly lacks: readonly EngineFlag[];
}

const before = new WeakMap<Plan, readonly FingerprintBefore[]>();

/**
 * The plan's fingerprints with some of the gated fields left out (every non-empty set of them
 * that the plan has), each with the flags of the fields left out: a run recorded with that
 * fingerprint is this plan's only if it lacks all of them. Empty when the plan has none.
 */
export function fingerprintsBefore(plan: Plan): readonly FingerprintBefore[] {
  let found = before.get(plan);
  if (found === undefined) {
    const out = new Map<string, EngineFlag[]>();
    for (let mask = 1; mask < 1 << GATED.length; mask += 1) {
      const fields = GATED.filter((_, i) => mask & (1 << i)).map(([f]) => f);
      const { ir, removed } = withoutFields(plan.ir, fields);
      if (!removed.length) continue;
      const fingerprint = planFingerprint({ ...plan, ir });
      const lacks = GATED.filter(([f]) => removed.includes(f)).map(([, flag]) => flag);
      if (!out.has(fingerprint)) out.set(fingerprint, lacks);
    }
    found = [...out].map(([fingerprint, lacks]) => ({ fingerprint, lacks }));
    before.set(plan, found);
  }
  return found;
}

/**
 * Whether a run whose recorded fingerprint is not `plan`'s was recorded with this same pipeline by
 * an earlier release: its fingerprint is the plan's without some gated fields, and its
 * `RunStarted` records none of their flags. Reads one event, only in that case.
 */
export async function recordedBeforeAnswerSchemas(
  ledger: LedgerStore,
  runId: string,
  plan: Plan,
  recorded: string,
): Promise<boolean> {
  const matching = fingerprintsBefore(plan).filter((f) => f.fingerprint === recorded);
  if (!matching.length) return false;
  const [first] = await ledger.read(runId, { fromSeq: 1, limit: 1 });
  if (!first) return false;
  const started = decodeRecord(runId, first.seq, first.body);
  if (started.type !== 'RunStarted') return false;
  const flags = started.data.engine.flags;
  return matching.some((f) => f.lacks.every((flag) => !flags.includes(flag)));
}
