/**
 * A hitl message recorded by a release before ADR 40 (ADR 93). Such a release rendered an object
 * with its keys in the order the code that made it had built them (an agent's reply, the caller's
 * context), and recorded that text; the ledger keeps the object itself in canonical order only,
 * so no refold, not even that release's own, renders the text again. The fold takes the recorded
 * message when it shows the same value as today's rendering with the keys in another order, in a
 * run not known to hold its values as recorded (src/dsl/engineFlags.ts IMPLIED_FLAGS); every other
 * difference, and any difference in a run that records ADR 84's flags, is still a divergence.
 */
import { IMPLIED_FLAGS, knownToHave } from '../dsl/engineFlags.js';
import type { NewEvent } from '../events/catalogue.js';
import { bytesEqual, encodeCanonical } from '../events/codec.js';
import type { FoldState } from './foldState.js';
import type { RunMachineContext } from './vocabulary.js';

/**
 * Whether the recorded decision `got` is today's `want` but for the key order of the object its
 * message shows. If it is, the question outstanding in the fold keeps the recorded message (what
 * a later snapshot holds), as the release that asked it kept it.
 */
export function takesRecordedMessage(state: FoldState, want: NewEvent, got: NewEvent): boolean {
  if (want.type !== 'HumanInputRequested' || got.type !== 'HumanInputRequested') return false;
  const flags = (state.snapshot.context as Partial<RunMachineContext>).flags;
  if (knownToHave(flags, IMPLIED_FLAGS.runValuesAsRecorded)) return false;
  const recorded = got.data.message;
  if (!sameValueOtherOrder(recorded, want.data.message)) return false;
  // Everything else (the path, the schema) byte for byte.
  const asRecorded = { type: want.type, data: { ...want.data, message: recorded } };
  if (!bytesEqual(encodeCanonical(asRecorded), encodeCanonical(got))) return false;
  const asked = state.outstanding.human.get(got.data.path);
  if (asked) state.outstanding.human.set(got.data.path, { ...asked, message: recorded });
  return true;
}

/** An object or list written compact, as JSON.stringify writes it (a release before ADR 77). */
function compactJson(text: string): object | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return v !== null && typeof v === 'object' && JSON.stringify(v) === text ? v : undefined;
}

/** Two texts of the same value whose objects list their keys in another order. */
function sameValueOtherOrder(a: string, b: string): boolean {
  if (a === b) return false;
  const x = compactJson(a);
  const y = compactJson(b);
  if (x === undefined || y === undefined) return false;
  try {
    // Canonical CBOR sorts every map's keys: the same bytes are the same keys and values.
    return bytesEqual(encodeCanonical(x as never), encodeCanonical(y as never));
  } catch {
    return false; // not recordable (a __proto__ key): no claim that they are the same
  }
}
