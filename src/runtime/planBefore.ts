/**
 * Fingerprints a run recorded by an earlier release matches although its pipeline did not change.
 *
 * ADR 90 put an `ask_user` step's declared schema on its node (`answerSchema`), which changes the
 * fingerprint of a blueprint that declares one. A run recorded before has no
 * `ask-user-answer-schema` flag and asks with `{}` whatever the node holds, so the plan without
 * `answerSchema` is the plan it was recorded with: its resume is not a pipeline change. A run that
 * has the flag, or a fingerprint that differs in anything else, is still refused (PLAN_CHANGED).
 */
import { ENGINE_FLAGS } from '../dsl/engineFlags.js';
import { planFingerprint } from '../dsl/fingerprint.js';
import type { Plan } from '../dsl/ir.js';
import { decodeRecord } from '../events/envelope.js';
import type { LedgerStore } from '../ports.js';

/** The IR with every hitl node's `answerSchema` left out, and whether any node had one. */
function withoutAnswerSchemas(ir: unknown): { ir: unknown; changed: boolean } {
  let changed = false;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const hitl = o.kind === 'hitl';
    for (const [k, x] of Object.entries(o)) {
      if (hitl && k === 'answerSchema') {
        changed = true;
        continue;
      }
      out[k] = walk(x);
    }
    return out;
  };
  const stripped = walk(ir);
  return { ir: stripped, changed };
}

const before = new WeakMap<Plan, string | null>();

/** The plan's fingerprint as a release before ADR 90 computed it, or null when it is the same. */
export function fingerprintBeforeAnswerSchemas(plan: Plan): string | null {
  let f = before.get(plan);
  if (f === undefined) {
    const { ir, changed } = withoutAnswerSchemas(plan.ir);
    f = changed ? planFingerprint({ ...plan, ir: ir as Plan['ir'] }) : null;
    before.set(plan, f);
  }
  return f;
}

/**
 * Whether a run whose recorded fingerprint is not `plan`'s was recorded with this same pipeline by
 * a release before ADR 90: its fingerprint is the plan's without `answerSchema`, and its
 * `RunStarted` does not record `ask-user-answer-schema`. Reads one event, only in that case.
 */
export async function recordedBeforeAnswerSchemas(
  ledger: LedgerStore,
  runId: string,
  plan: Plan,
  recorded: string,
): Promise<boolean> {
  if (fingerprintBeforeAnswerSchemas(plan) !== recorded) return false;
  const [first] = await ledger.read(runId, { fromSeq: 1, limit: 1 });
  if (!first) return false;
  const started = decodeRecord(runId, first.seq, first.body);
  if (started.type !== 'RunStarted') return false;
  return !started.data.engine.flags.includes(ENGINE_FLAGS.askUserAnswerSchema);
}
