/**
 * A transition whose decisions the ledger cannot record (ADR 115). The machine decided them from
 * a fact, but one of them holds a value the codec refuses (nested deeper than the ledger records:
 * a value gathered by more maps and parallels than its own check left room for). The runtime
 * records the fact and, instead of the decisions, this RunFailed: the run ends, recorded, rather
 * than being left running with a commit no resume could make.
 *
 * The RunFailed is a function of the decisions alone, so a refold makes it again from the
 * decisions it makes now and compares it byte for byte, as any decision: a recorded one that the
 * decisions do not call for, or that names another event, is a divergence.
 */
import type { NewEvent } from '../events/catalogue.js';
import { encodeCanonical } from '../events/codec.js';
import { LedgerEncodeError } from '../errors.js';

export const DECISION_NOT_RECORDABLE = 'DECISION_NOT_RECORDABLE';

/** Characters (code points) of the value's path kept in the message (a path 250 levels deep is long). */
const PATH_SHOWN = 120;

/** The first decision event the ledger cannot record, and why; null when all can be. */
export function firstUnrecordable(
  decided: readonly NewEvent[],
): { event: NewEvent; error: LedgerEncodeError } | null {
  for (const event of decided) {
    try {
      // As the ledger seals it: {type, data} sits at the envelope's depth.
      encodeCanonical({ type: event.type, data: event.data });
    } catch (e) {
      if (e instanceof LedgerEncodeError) return { event, error: e };
      throw e;
    }
  }
  return null;
}

/** The RunFailed recorded in place of decisions that cannot be; null when all can be. */
export function notRecordableFailure(decided: readonly NewEvent[]): NewEvent | null {
  const found = firstUnrecordable(decided);
  if (!found) return null;
  const { event, error } = found;
  const where = (event.data as { path?: unknown }).path;
  // The step's name when this batch schedules it (a gatherer scheduled before is named by path).
  const scheduled = decided.find((e) => e.type === 'StepScheduled' && e.data.path === where) as
    Extract<NewEvent, { type: 'StepScheduled' }> | undefined;
  const step =
    typeof where !== 'string'
      ? ''
      : scheduled
        ? ` (step ${JSON.stringify(scheduled.data.name)} at ${where})`
        : ` (step ${where})`;
  // The codec says how deep; "levels" says of what.
  const reason = /^nested deeper than \d+$/.test(error.reason)
    ? `${error.reason} levels`
    : error.reason;
  // Cut between characters, not inside a surrogate pair (review: a key of emoji cut in half made
  // this RunFailed itself unrecordable, and the run was left running again).
  const chars = Array.from(error.path);
  const at =
    chars.length > PATH_SHOWN ? `${chars.slice(0, PATH_SHOWN).join('')}…` : error.path || '(root)';
  return {
    type: 'RunFailed',
    data: {
      error: {
        code: DECISION_NOT_RECORDABLE,
        // Well-formed whatever the value's keys hold (a key with a lone surrogate is in the path).
        message: (
          `the run's next ${event.type}${step} ` +
          `cannot be recorded: ${at}: ${reason}. The fact that led to it is recorded; ` +
          `the run ends here. Each map, parallel or router gathering a value nests it one level ` +
          `deeper: have the step return a flatter value`
        ).toWellFormed(),
        retryable: false,
      },
    },
  };
}
