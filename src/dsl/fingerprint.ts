/**
 * The pipeline fingerprint: BLAKE3 of the canonical CBOR of the IR (which names every function it
 * uses and carries the author's optional `revision`). Recorded in RunStarted; a resume under a
 * different fingerprint is refused unless the caller allows it.
 *
 * Function bodies are not hashed: their source text depends on the build tool (tsc, esbuild, a
 * bundler), so hashing it would refuse resumes after a mere rebuild. A changed function is caught
 * by replay, at the first decision that comes out differently (NondeterminismError). A resume
 * refolds only the events after the latest snapshot, so it catches one only there: one that
 * changes an earlier decision goes unseen, and the run goes on under the new code (review). Bump
 * `revision` to make a change explicit (docs/adr/0008).
 */
import { contentHash } from '../events/chain.js';
import { encodeCanonical } from '../events/codec.js';
import type { Plan } from './ir.js';

export function planFingerprint(plan: Plan): string {
  return contentHash(
    encodeCanonical({ ir: plan.ir, functions: Object.keys(plan.functions).sort() }),
  );
}
